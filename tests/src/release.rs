//! What the benchmarks that run the real release binaries share: finding a binary, a free
//! loopback address, and waiting for a server to listen.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// `target/release/{name}` (honouring `CARGO_TARGET_DIR`). Exits with status 2 and says what
/// to build when it is missing.
pub fn release_binary(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let path = target.join("release").join(name);
    if !path.is_file() {
        eprintln!(
            "{} is missing: run `cargo build --release` first, then the benchmark again",
            path.display()
        );
        std::process::exit(2);
    }
    path
}

/// A loopback address with a port that was free a moment ago.
pub fn free_loopback_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    listener.local_addr().expect("address").to_string()
}

/// Polls `address` until it accepts a connection; panics after ten seconds naming `what`.
pub async fn wait_until_listening(address: &str, what: &str) {
    let started = Instant::now();
    while tokio::net::TcpStream::connect(address).await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(10), "{what} never listened");
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
}
