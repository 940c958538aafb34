//! `bridge-local`: the whole bridge on one machine — every function's routes on one listener,
//! SQLite and a local secrets file under the data directory.

use std::process::ExitCode;

use shared::local::{self, TokenSource};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

/// mimalloc rather than glibc's malloc: under concurrent intake, glibc's arena locks and
/// fastbin consolidation held up the workers (README, Benchmark); peak RSS stays far under the
/// 64 MB target.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    local::run_program("bridge-local", local::USAGE, run).await
}

async fn run(options: local::LocalOptions) -> Result<(), String> {
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
    println!("bridge-local listening on http://{bound}");
    let served = axum_serve(listener, local::router(app)).await;
    worker.abort();
    served
}

async fn axum_serve(listener: TcpListener, router: shared::axum::Router) -> Result<(), String> {
    shared::axum::serve(listener, router)
        .with_graceful_shutdown(local::shutdown_signal())
        .await
        .map_err(|e| e.to_string())?;
    println!("bridge-local stopped");
    Ok(())
}
