//! `bridge-local`: the whole bridge on one machine — every function's routes on one listener,
//! SQLite and a local secrets file under the data directory.

use std::process::ExitCode;

use shared::local::{self, TokenSource};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

/// mimalloc rather than glibc's malloc: under concurrent intake, glibc's arena locks and
/// fastbin consolidation held up the workers (docs/benchmarks.md); peak RSS stays far under the
/// 64 MB target.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    // Colour only on a terminal: logs piped to a file or a collector stay plain text.
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    local::run_program("bridge-local", local::USAGE, run).await
}

async fn run(options: local::LocalOptions) -> Result<(), String> {
    // Listening for Ctrl-C / SIGTERM from here on: one sent as soon as the server says it
    // listens is not missed.
    let signal = local::ShutdownSignal::listen();
    let (token, source) =
        local::admin_token(&options.data_dir, options.admin_token.as_deref()).map_err(|e| e.to_string())?;
    let listener = TcpListener::bind(options.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", options.listen))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let app = local::build_app(&options, bound, token).map_err(|e| e.to_string())?;
    match source {
        TokenSource::Environment => println!("admin token: from BRIDGE_ADMIN_TOKEN"),
        TokenSource::File(path) => println!("admin token: {}", path.display()),
        TokenSource::Generated(path) => println!("admin token: generated into {}", path.display()),
    }
    println!("data directory: {}", options.data_dir.display());
    let worker = shared::worker::spawn_local(app.clone(), std::time::Duration::from_secs(1));
    let reconciliation = options
        .reconcile_every
        .map(|every| shared::reconcile::spawn_local(app.clone(), every));
    println!("bridge-local listening on http://{bound}");
    let served = axum_serve(listener, local::router(app), signal).await;
    worker.abort();
    if let Some(reconciliation) = reconciliation {
        reconciliation.abort();
    }
    served
}

/// Serves until Ctrl-C or SIGTERM, then lets requests in flight finish — for at most
/// [`SHUTDOWN_GRACE`]: a client that keeps a connection open does not keep the server running.
async fn axum_serve(
    listener: TcpListener,
    router: shared::axum::Router,
    signal: local::ShutdownSignal,
) -> Result<(), String> {
    let (stopping, stop) = tokio::sync::watch::channel(false);
    let graceful = shared::axum::serve(listener, router).with_graceful_shutdown(async move {
        signal.received().await;
        let _ = stopping.send(true);
    });
    let mut stop = stop;
    let overdue = async move {
        let _ = stop.wait_for(|stopping| *stopping).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        served = graceful => served.map_err(|e| e.to_string())?,
        _ = overdue => println!("bridge-local: connections still open after {} s; stopping anyway", SHUTDOWN_GRACE.as_secs()),
    }
    println!("bridge-local stopped");
    Ok(())
}

/// How long a stop waits for requests in flight.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);
