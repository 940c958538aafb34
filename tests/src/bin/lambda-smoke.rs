//! `lambda-smoke DIR`: every function artifact in `DIR` (`cargo lambda build --release`'s
//! `target/lambda`, or `sam build`'s `.aws-sam/build`) started as Lambda starts it — under
//! `aws-local`'s Runtime API, against moto — and answering one invocation: each HTTP function one
//! request through the front (the answer its own code gives), `sync-worker` and `reconcile` one
//! scheduled event each. Exits non-zero naming the first function that did not answer. CI runs it
//! on the release artifacts, so what is deployed is what was tested to start.

use std::path::PathBuf;
use std::time::Duration;

use bridge_tests::aws_local::{self, AwsLocal, Options, topology};
use reqwest::{Method, StatusCode};
use shared::secrets::Secret;

const TOKEN: &str = "lambda-smoke-admin-token";

async fn check(stack: &AwsLocal) -> Result<(), String> {
    let client = reqwest::Client::new();
    let base = format!("http://{}", stack.address);
    let requests: [(&str, Method, &str, StatusCode); 4] = [
        // The admin API's own answers: the token checked by the function itself.
        ("integrations", Method::GET, "/integrations", StatusCode::OK),
        (
            "repositories",
            Method::GET,
            "/integrations/none/repositories",
            StatusCode::NOT_FOUND,
        ),
        // An unsigned Sentry webhook, refused by work-items' own check.
        ("work-items", Method::POST, "/hooks/sentry", StatusCode::UNAUTHORIZED),
        // A delivery for an integration that does not exist (yet): webhook-intake's own 404.
        (
            "webhook-intake",
            Method::POST,
            "/hooks/azure-devops/none",
            StatusCode::NOT_FOUND,
        ),
    ];
    for (function, method, path, expected) in requests {
        let response = client
            .request(method, format!("{base}{path}"))
            .bearer_auth(TOKEN)
            .body("{}")
            .send()
            .await
            .map_err(|e| format!("{function}: {e}"))?;
        if response.status() != expected {
            return Err(format!(
                "{function}: {path} answered {}, not {expected}",
                response.status()
            ));
        }
        println!("{function}: answered {expected}");
    }
    for function in [topology::SYNC_WORKER.name, topology::RECONCILE.name] {
        let answer = stack
            .function(function)
            .invoke(&aws_local::scheduled_event("lambda-smoke"))
            .await
            .map_err(|e| format!("{function}: {e:?}"))?;
        println!("{function}: answered {answer}");
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    let Some(binaries) = std::env::args().nth(1).map(PathBuf::from) else {
        eprintln!("usage: lambda-smoke DIR (target/lambda or .aws-sam/build)");
        std::process::exit(2);
    };
    let data_dir = tempfile_dir();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let moto_endpoint = tokio::task::spawn_blocking(|| bridge_tests::moto::endpoint().to_string())
        .await
        .expect("moto");
    let options = Options {
        data_dir: data_dir.clone(),
        public_url: None,
        admin_token: Secret::new(TOKEN),
        schedule_every: aws_local::NEVER,
        reconcile_every: aws_local::NEVER,
        binaries,
        moto_endpoint,
        table_name: "lambda-smoke".into(),
        secret_prefix: "lambda-smoke/".into(),
        timeouts: Vec::new(),
        environment: Vec::new(),
    };
    let stack = match AwsLocal::start(options, listener).await {
        Ok(stack) => stack,
        Err(error) => {
            eprintln!("lambda-smoke: {error}");
            std::process::exit(1);
        }
    };
    let outcome = tokio::time::timeout(Duration::from_secs(120), check(&stack)).await;
    stack.stop().await;
    let _ = std::fs::remove_dir_all(&data_dir);
    match outcome {
        Ok(Ok(())) => println!("every function artifact started and answered"),
        Ok(Err(error)) => {
            eprintln!("lambda-smoke: {error}");
            std::process::exit(1);
        }
        Err(_) => {
            eprintln!("lambda-smoke: no answer within 120 s");
            std::process::exit(1);
        }
    }
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lambda-smoke-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a data directory");
    dir
}
