//! Dialing the agent's Hubble socket (`--server unix:…`, `--peer-service
//! unix:…`): HTTP/2 through a connector that opens the socket, and, when
//! that fails, what is wrong with the path in words a node's operator can
//! act on (missing, not a socket, not ours to open, nobody listening).

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

use super::error::{io_kind, RelayError};

/// Connects HTTP/2 over the Unix socket at `path`; a missing socket, a path
/// that is no socket, one we may not open or nobody listens on, is a
/// [`RelayError::Socket`] naming the cause.
pub(super) async fn connect(
    endpoint: &Endpoint,
    path: &Path,
    timeout: Duration,
) -> Result<Channel, RelayError> {
    let socket_error = |detail: String| RelayError::Socket {
        path: path.display().to_string(),
        detail,
    };
    let meta = match std::fs::metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(socket_error("no such file".into()))
        }
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            return Err(socket_error(
                "permission denied on a directory above it: run as root (in a pod, mount the \
                 host's directory and run as a user that may enter it)"
                    .into(),
            ))
        }
        Err(e) => return Err(socket_error(e.to_string())),
        Ok(meta) => meta,
    };
    if !meta.file_type().is_socket() {
        return Err(socket_error(not_a_socket(path, &meta)));
    }
    let owned = path.to_path_buf();
    let connector = tower::service_fn(move |_: tonic::transport::Uri| {
        let path = owned.clone();
        async move {
            let stream = tokio::net::UnixStream::connect(path).await?;
            Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
        }
    });
    match tokio::time::timeout(timeout * 2, endpoint.connect_with_connector(connector)).await {
        Err(_) => Err(socket_error(format!(
            "no answer within {:.1}s",
            (timeout * 2).as_secs_f64()
        ))),
        Ok(Err(e)) => Err(socket_error(match io_kind(&e) {
            Some(io::ErrorKind::PermissionDenied) => permission_denied(&meta),
            Some(io::ErrorKind::ConnectionRefused) => {
                "connection refused: nobody listens on it (is the Cilium agent running on this \
                 node, with Hubble enabled?)"
                    .into()
            }
            _ => super::error::chain_text(&e),
        })),
        Ok(Ok(channel)) => Ok(channel),
    }
}

/// What the path is instead of a socket.
fn not_a_socket(path: &Path, meta: &std::fs::Metadata) -> String {
    let t = meta.file_type();
    if t.is_dir() {
        return format!(
            "it is a directory, not a socket (the agent's is {})",
            path.join("hubble.sock").display()
        );
    }
    let what = if t.is_file() {
        "a regular file"
    } else if t.is_fifo() {
        "a named pipe"
    } else {
        "a device"
    };
    format!("it is {what}, not a socket")
}

/// Whom the socket lets in, and how to be one of them: connecting takes
/// write permission on it.
fn permission_denied(meta: &std::fs::Metadata) -> String {
    let (uid, gid, mode) = (meta.uid(), meta.gid(), meta.mode() & 0o7777);
    let who = if mode & 0o020 != 0 {
        format!(
            "run as root or in group {gid} (in a pod: `supplementalGroups: [{gid}]`, as \
             deploy/daemonset does)"
        )
    } else {
        format!("only its owner may connect: run as uid {uid}")
    };
    format!("permission denied: the socket belongs to uid {uid}, gid {gid}, mode {mode:04o}; {who}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint() -> Endpoint {
        Endpoint::from_static("http://localhost")
    }

    async fn detail(path: &Path) -> String {
        match connect(&endpoint(), path, Duration::from_secs(1)).await {
            Err(RelayError::Socket { detail, .. }) => detail,
            Err(e) => panic!("not a socket error: {e}"),
            Ok(_) => panic!("connected to {}", path.display()),
        }
    }

    /// Each way a path fails says why: missing, a directory, a file, a
    /// socket nobody listens on.
    #[tokio::test]
    async fn each_failure_names_its_cause() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(detail(&dir.path().join("none.sock")).await, "no such file");
        let in_dir = detail(dir.path()).await;
        assert!(
            in_dir.contains("it is a directory, not a socket")
                && in_dir.contains(&s(&dir.path().join("hubble.sock"))),
            "{in_dir}"
        );
        let file = dir.path().join("hubble.sock");
        std::fs::write(&file, "").unwrap();
        assert!(detail(&file)
            .await
            .ends_with("it is a regular file, not a socket"));
        std::fs::remove_file(&file).unwrap();
        // A socket whose listener is gone: bound, then dropped.
        drop(std::os::unix::net::UnixListener::bind(&file).unwrap());
        let refused = detail(&file).await;
        assert!(
            refused.contains("nobody listens on it") && refused.contains("Cilium agent"),
            "{refused}"
        );
    }

    fn s(p: &Path) -> String {
        p.display().to_string()
    }

    /// A socket we may not open names its owner, and the group to join
    /// only when the group may write to it.
    #[test]
    fn permission_denied_names_owner_and_group() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hubble.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&file).unwrap();
        let denied = |mode| {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
            permission_denied(&std::fs::metadata(&file).unwrap())
        };
        let gid = std::fs::metadata(&file).unwrap().gid();
        let group = denied(0o660);
        assert!(
            group.contains(&format!("gid {gid}, mode 0660"))
                && group.contains(&format!("supplementalGroups: [{gid}]")),
            "{group}"
        );
        let owner = denied(0o600);
        assert!(
            owner.contains("only its owner may connect") && !owner.contains("supplementalGroups"),
            "{owner}"
        );
    }
}
