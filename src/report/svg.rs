//! Renders DOT to SVG with Graphviz `dot`, when it is installed. The child
//! runs with a timeout and is killed past it; every failure is a reason in
//! words, never an error of the command (the page then shows the diagram
//! source instead).

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long `dot` may take.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// The program run (`FLOWPOLICY_DOT` overrides `dot` on PATH).
fn program() -> String {
    std::env::var("FLOWPOLICY_DOT")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "dot".to_string())
}

/// `dot -Tsvg` of `source`: the `<svg …>…</svg>` element (XML prolog and
/// doctype removed, ready to inline), or why there is none.
pub fn render(source: &str, timeout: Duration) -> Result<String, String> {
    render_with(&program(), source, timeout)
}

/// [`render`] with a given program (called as `PROG -Tsvg`).
pub fn render_with(prog: &str, source: &str, timeout: Duration) -> Result<String, String> {
    let mut child = Command::new(prog)
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("Graphviz `{prog}` could not be started ({e}); install graphviz to get the graph as an image"))?;
    let mut stdin = child.stdin.take().ok_or("no stdin for dot")?;
    let input = source.as_bytes().to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let mut stdout = child.stdout.take().ok_or("no stdout for dot")?;
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).map(|_| s)
    });
    let mut stderr = child.stderr.take().ok_or("no stderr for dot")?;
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "Graphviz `{prog}` took longer than {timeout:?} and was stopped"
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("waiting for Graphviz `{prog}`: {e}")),
        }
    };
    let _ = writer.join();
    let out = reader
        .join()
        .map_err(|_| "reading dot's output failed".to_string())?
        .map_err(|e| format!("reading dot's output: {e}"))?;
    let err = err_reader.join().unwrap_or_default();
    if !status.success() {
        return Err(format!(
            "Graphviz `{prog}` failed ({status}): {}",
            err.lines().next().unwrap_or("")
        ));
    }
    match out.find("<svg") {
        Some(i) => Ok(out[i..].to_string()),
        None => Err(format!("Graphviz `{prog}` wrote no SVG")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_program_is_a_reason_not_a_panic() {
        let e = render_with("flowpolicy-no-such-dot", "digraph {}", TIMEOUT).unwrap_err();
        assert!(e.contains("could not be started"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn a_hanging_program_is_stopped() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let prog = dir.path().join("slow-dot");
        std::fs::write(&prog, "#!/bin/sh\nexec sleep 30\n").unwrap();
        std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o755)).unwrap();
        let start = Instant::now();
        let e = render_with(
            prog.to_str().unwrap(),
            "digraph {}",
            Duration::from_millis(300),
        )
        .unwrap_err();
        assert!(e.contains("took longer"), "{e}");
        assert!(start.elapsed() < Duration::from_secs(10));
    }

    #[cfg(unix)]
    #[test]
    fn a_failing_program_is_a_reason() {
        let e = render_with("false", "digraph {}", TIMEOUT).unwrap_err();
        assert!(e.contains("failed"), "{e}");
    }
}
