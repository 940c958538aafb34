//! `cargo run -p bridge-tests --bin demo`: walks the whole flow against a running `bridge-local`
//! (or `aws-local`) with the fake Azure DevOps and fake Sentry it starts itself, printing each
//! request: connect, create a work item from a Sentry issue (the signed request Sentry sends), a
//! state change each way, a comment each way. Options: `--bridge URL` (default
//! `http://127.0.0.1:8080`), `--data-dir DIR` (where the admin token is, default `./.bridge-data`;
//! `BRIDGE_ADMIN_TOKEN` wins).

use bridge_tests::demo::Demo;
use bridge_tests::fake_ado::FakeAdo;
use bridge_tests::fake_sentry::FakeSentry;

fn option(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bridge = option(&args, "--bridge").unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let data_dir = option(&args, "--data-dir").unwrap_or_else(|| "./.bridge-data".into());
    let token = std::env::var("BRIDGE_ADMIN_TOKEN")
        .ok()
        .or_else(|| std::fs::read_to_string(format!("{data_dir}/admin-token")).ok())
        .map(|t| t.trim().to_string());
    let Some(admin_token) = token else {
        eprintln!(
            "no admin token: start bridge-local first (it writes {data_dir}/admin-token) or set BRIDGE_ADMIN_TOKEN"
        );
        std::process::exit(2);
    };
    let ado = FakeAdo::start().await;
    let sentry = FakeSentry::start().await;
    println!(
        "fake Azure DevOps: {}   fake Sentry: {}\n",
        ado.org_url(),
        sentry.base_url()
    );
    let demo = Demo {
        bridge: bridge.trim_end_matches('/').to_string(),
        admin_token,
        ado: &ado,
        sentry: &sentry,
        client: reqwest::Client::new(),
    };
    if let Err(error) = demo.run().await {
        eprintln!("\nstopped: {error}");
        std::process::exit(1);
    }
}
