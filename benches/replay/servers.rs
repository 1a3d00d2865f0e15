//! The servers of the `live` and `fanout-N` rows in a process of their own
//! (`FLOWPOLICY_BENCH_CHILD=serve-live` or `serve-fanout-N`), so each row's
//! peak RSS and CPU seconds are the client's alone — what `observe` needs —
//! not those of the 200 000 encoded responses the servers hold. The server
//! process prints one `ready` line (the address to dial, how many flows it
//! streams, the newest flow's time) and serves until its stdin closes.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// The server process, as the client row sees it.
pub struct Servers {
    child: Child,
    /// The Observer (`live`) or the peer service (`fanout-N`) to dial.
    pub addr: String,
    /// Flows the servers stream in all.
    pub wanted: u64,
    /// The newest flow's time (seconds, nanoseconds).
    pub last: (i64, i32),
}

/// In the client: starts the servers `row` needs over `dump` and waits until
/// they listen.
pub fn start(row: &str, dump: &Path) -> Servers {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env("FLOWPOLICY_BENCH_CHILD", format!("serve-{row}"))
        .env("FLOWPOLICY_BENCH_PATH", dump)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let f: Vec<&str> = line.split_whitespace().collect();
    let [_ready, addr, wanted, secs, nanos] = f.as_slice() else {
        panic!("the server process said {line:?}");
    };
    Servers {
        addr: addr.to_string(),
        wanted: wanted.parse().unwrap(),
        last: (secs.parse().unwrap(), nanos.parse().unwrap()),
        child,
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// In the server process: serves what `row` (`live`, `fanout-N`) streams
/// until stdin closes.
pub fn serve(row: &str, dump: &Path) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (addr, wanted, last) = match row.strip_prefix("fanout-") {
        Some(n) => super::fanout::serve_nodes(&rt, dump, n.parse().unwrap()),
        None => super::live::serve_all(&rt, dump),
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready {addr} {wanted} {} {}", last.0, last.1).unwrap();
    out.flush().unwrap();
    drop(out);
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}
