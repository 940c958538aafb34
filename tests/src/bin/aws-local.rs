//! `aws-local`: the AWS form of the bridge on one machine — the real Lambda binaries under a
//! local Runtime API, moto for DynamoDB and Secrets Manager, the table's stream and the
//! one-minute schedule feeding `sync-worker`, and one HTTP front routing like the stack.
//! `cargo run -p bridge-tests --bin aws-local -- --listen 127.0.0.1:8080 --data-dir DIR`.
//! Ctrl-C or SIGTERM stops every process it started.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use bridge_tests::aws_local::{self, AwsLocal, Options, topology};
use shared::local::{self, TokenSource};

const USAGE: &str = "usage: aws-local [--listen ADDR] [--data-dir DIR]

  --listen ADDR    address of the front (env BRIDGE_LISTEN, default 127.0.0.1:8080)
  --data-dir DIR   admin token and function logs (env BRIDGE_DATA_DIR, default ./.bridge-data)

  env BRIDGE_ADMIN_TOKEN       admin bearer token (default: generated into <data-dir>/admin-token)
  env BRIDGE_PUBLIC_URL        URL Azure DevOps and Sentry reach the front at (default http://<listen>)
  env AWS_LOCAL_SCHEDULE_SECS  how often the schedule invokes sync-worker (default 60, as deployed)
  env BRIDGE_RECONCILE_INTERVAL_SECS  how often the schedule invokes reconcile (default 300, as deployed; 0: never)
  env MOTO_ENDPOINT            use this moto server instead of starting one (python3 -m pip install 'moto[server]')";

#[tokio::main]
async fn main() -> ExitCode {
    local::run_program("aws-local", USAGE, run).await
}

fn schedule_every() -> Result<Duration, String> {
    match std::env::var("AWS_LOCAL_SCHEDULE_SECS") {
        Err(_) => Ok(topology::RETRY_DUE_EVERY),
        Ok(text) => text
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|secs| *secs >= 0.05 && secs.is_finite())
            .map(Duration::from_secs_f64)
            .ok_or_else(|| format!("AWS_LOCAL_SCHEDULE_SECS={text}: expected seconds, at least 0.05")),
    }
}

/// Under `cargo run`, builds the function binaries with the same profile first, so they are
/// never older than this front; otherwise expects them beside this executable.
fn function_binaries() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = exe
        .parent()
        .map(Path::to_path_buf)
        .ok_or("no directory for the executable")?;
    if let Ok(cargo) = std::env::var("CARGO") {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        // The whole workspace's binaries, so the functions are built with the same features as
        // every other build here (a subset would unify features differently and build twice).
        let mut build = std::process::Command::new(cargo);
        build
            .current_dir(&workspace)
            .args(["build", "--quiet", "--workspace", "--bins"]);
        if dir.file_name().is_some_and(|name| name == "release") {
            build.arg("--release");
        }
        println!("building the function binaries ({})", dir.display());
        let status = build.status().map_err(|e| format!("cannot run cargo: {e}"))?;
        if !status.success() {
            return Err("building the function binaries failed".into());
        }
    }
    for spec in topology::FUNCTIONS {
        aws_local::binary(&dir, &spec)?;
    }
    Ok(dir)
}

async fn run(options: local::LocalOptions) -> Result<(), String> {
    let signal = local::ShutdownSignal::listen();
    let (token, source) =
        local::admin_token(&options.data_dir, options.admin_token.as_deref()).map_err(|e| e.to_string())?;
    let binaries = function_binaries()?;
    let schedule_every = schedule_every()?;
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", options.listen))?;
    println!("starting moto (DynamoDB, Secrets Manager)");
    let moto_endpoint = tokio::task::spawn_blocking(|| bridge_tests::moto::endpoint().to_string())
        .await
        .map_err(|e| e.to_string())?;
    let stack = AwsLocal::start(
        Options {
            data_dir: options.data_dir.clone(),
            public_url: options.public_url.clone(),
            admin_token: token,
            schedule_every,
            reconcile_every: options.reconcile_every.unwrap_or(aws_local::NEVER),
            binaries,
            moto_endpoint: moto_endpoint.clone(),
            table_name: "sentry-ado-bridge".into(),
            secret_prefix: "aws-local/".into(),
            timeouts: Vec::new(),
            environment: Vec::new(),
        },
        listener,
    )
    .await?;
    match source {
        TokenSource::Environment => println!("admin token: from BRIDGE_ADMIN_TOKEN"),
        TokenSource::File(path) => println!("admin token: {}", path.display()),
        TokenSource::Generated(path) => println!("admin token: generated into {}", path.display()),
    }
    println!("moto: {moto_endpoint} (table sentry-ado-bridge, secrets under aws-local/; kept in memory for this run)");
    println!(
        "functions: {} (logs in {})",
        topology::FUNCTIONS.map(|f| f.name).join(", "),
        options.data_dir.join("logs").display()
    );
    println!(
        "sync-worker: the table's stream, and the schedule every {:.1} s",
        schedule_every.as_secs_f64()
    );
    match options.reconcile_every {
        Some(every) => println!("reconcile: the schedule every {:.0} s", every.as_secs_f64()),
        None => println!("reconcile: not scheduled (BRIDGE_RECONCILE_INTERVAL_SECS=0)"),
    }
    println!(
        "aws-local listening on http://{} (public URL {})",
        stack.address, stack.public_url
    );
    signal.received().await;
    stack.stop().await;
    println!("aws-local stopped");
    Ok(())
}
