//! Cold-start benchmark (docs/benchmarks.md: process start → ready ≤ 30 ms with config and SDK clients
//! built, no network).
//!
//! Spawns each release binary the way Lambda does — the Lambda environment variables set and
//! `AWS_LAMBDA_RUNTIME_API` pointing at a fake Runtime API on loopback — and times from `spawn`
//! to the function's first `GET …/runtime/invocation/next`: by then it has read its
//! configuration, built its AWS SDK clients and its router, and asks for work. `bridge-local` is
//! timed from `spawn` to its listener accepting a connection. The baseline, in the same run, is
//! spawning `/bin/true` and waiting for it to exit (what process creation alone costs here).
//!
//! The last line is what a Sentry user waits on: a signed Sentry webhook that lands on a cold
//! `work-items` process, through `aws-local` (moto for DynamoDB and Secrets Manager, the release
//! binaries), timed from sending it to the `202`, with the AWS round trips it waited for.
//!
//! Needs the release binaries: `cargo build --release`, then
//! `cargo bench -p bridge-tests --bench cold_start` (env `BENCH_STARTS` = starts per binary).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use bridge_tests::release::{free_loopback_address, release_binary, wait_until_listening};
use tokio::sync::mpsc;

const LAMBDA_FUNCTIONS: [&str; 4] = ["integrations", "webhook-intake", "sync-worker", "work-items"];
const TARGET_MS: f64 = 30.0;

/// A fake Lambda Runtime API: reports each `invocation/next` poll and never answers it (the
/// benchmark kills the function then).
async fn runtime_api() -> (String, mpsc::UnboundedReceiver<Instant>) {
    let (polls, received) = mpsc::unbounded_channel();
    let router = Router::new().route(
        "/2018-06-01/runtime/invocation/next",
        get(move || {
            let _ = polls.send(Instant::now());
            std::future::pending::<&'static str>()
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, router).await });
    (address, received)
}

fn lambda_command(name: &str, runtime_api: &str) -> Command {
    let mut command = Command::new(release_binary(name));
    command
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_SESSION_TOKEN", "bench")
        .env("TABLE_NAME", "sentry-bridge")
        .env("SECRET_PREFIX", "sentry-bridge/")
        .env("BRIDGE_PUBLIC_URL", "https://bench.execute-api.eu-west-1.amazonaws.com")
        .env("BRIDGE_SENTRY_URL", "https://bench.lambda-url.eu-west-1.on.aws")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

async fn lambda_start(name: &str, runtime_api: &str, polls: &mut mpsc::UnboundedReceiver<Instant>) -> Duration {
    let started = Instant::now();
    let child = lambda_command(name, runtime_api).spawn().unwrap();
    let polled = tokio::time::timeout(Duration::from_secs(10), polls.recv())
        .await
        .unwrap_or_else(|_| panic!("{name} never asked the Runtime API for work"))
        .unwrap();
    stop(child);
    polled - started
}

async fn local_start(data_dir: &Path) -> Duration {
    let address = free_loopback_address();
    let started = Instant::now();
    let child = Command::new(release_binary("bridge-local"))
        .args(["--listen", &address, "--data-dir"])
        .arg(data_dir)
        .env("BRIDGE_ADMIN_TOKEN", "bench-admin-token")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until_listening(&address, "bridge-local").await;
    let ready = started.elapsed();
    stop(child);
    ready
}

fn process_baseline() -> Duration {
    let started = Instant::now();
    Command::new("/bin/true").status().unwrap();
    started.elapsed()
}

struct Summary {
    median: Duration,
    p90: Duration,
    max: Duration,
}

fn summarize(mut samples: Vec<Duration>) -> Summary {
    samples.sort();
    let at = |p: f64| samples[((samples.len() as f64 * p).ceil() as usize).saturating_sub(1)];
    Summary {
        median: at(0.5),
        p90: at(0.9),
        max: *samples.last().unwrap(),
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// Cold `work-items` → `202` for a signed Sentry webhook, `starts` times: each time every
/// instance is killed first, so the webhook starts a new process. Returns the times and the
/// most sequential AWS round trips one took.
async fn cold_sentry_webhooks(starts: usize) -> (Vec<Duration>, usize) {
    use bridge_tests::aws_local::{aws_calls, topology};
    let linked =
        bridge_tests::server::Linked::create(bridge_tests::server::start_aws_local(Duration::from_secs(600)).await)
            .await;
    let server = linked.server;
    let stack = server.stack.as_ref().expect("aws-local");
    let work_items = stack.function(topology::WORK_ITEMS.name);
    let mut times = Vec::new();
    let mut most_trips = 0;
    for n in 0..=starts {
        work_items.kill_instances();
        while work_items.instances() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut comment = bridge_tests::sentry_app::fixture("webhook_comment_created.json");
        comment["data"]["comment_id"] = serde_json::json!(700_000 + n);
        let body = comment.to_string();
        let now = shared::clock::now_ms() / 1000;
        let started = Instant::now();
        let (status, answer) = bridge_tests::sentry_app::post_webhook(
            &server.client,
            &server.url("/hooks/sentry"),
            "comment",
            &body,
            "sentry-client-secret-value",
            now,
        )
        .await;
        let took = started.elapsed();
        assert_eq!(status.as_u16(), 202, "{answer}");
        let calls = stack.aws_calls[topology::WORK_ITEMS.name].since(started);
        most_trips = most_trips.max(aws_calls::sequential_round_trips(&calls));
        if n > 0 {
            times.push(took);
        }
    }
    server.stack.expect("aws-local").stop().await;
    (times, most_trips)
}

#[tokio::main]
async fn main() {
    let starts: usize = std::env::var("BENCH_STARTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let (runtime_api, mut polls) = runtime_api().await;
    let data_dir = tempfile::tempdir().unwrap();

    // Interleave the binaries so a noisy moment hits all of them alike; the first round warms
    // the page cache and is not counted.
    let mut baseline = Vec::new();
    let mut lambda: Vec<Vec<Duration>> = vec![Vec::new(); LAMBDA_FUNCTIONS.len()];
    let mut local = Vec::new();
    for round in 0..=starts {
        let base = process_baseline();
        let times: Vec<Duration> = {
            let mut times = Vec::new();
            for name in LAMBDA_FUNCTIONS {
                times.push(lambda_start(name, &runtime_api, &mut polls).await);
            }
            times
        };
        let local_time = local_start(data_dir.path()).await;
        if round == 0 {
            continue;
        }
        baseline.push(base);
        for (samples, time) in lambda.iter_mut().zip(times) {
            samples.push(time);
        }
        local.push(local_time);
    }

    let baseline = summarize(baseline);
    println!("cold start: {starts} starts per binary, release builds, no network (target <= {TARGET_MS} ms)");
    println!(
        "  {:<16} median {:>6.2} ms   p90 {:>6.2} ms   max {:>6.2} ms   (spawn + exit of /bin/true)",
        "baseline",
        ms(baseline.median),
        ms(baseline.p90),
        ms(baseline.max)
    );
    let rows = LAMBDA_FUNCTIONS
        .iter()
        .map(|name| (*name, "first invocation/next poll"))
        .chain([("bridge-local", "listener accepts")]);
    for ((name, ready), samples) in rows.zip(lambda.into_iter().chain([local])) {
        let summary = summarize(samples);
        println!(
            "  {:<16} median {:>6.2} ms   p90 {:>6.2} ms   max {:>6.2} ms   {:>5.1}x baseline   {} ({ready})",
            name,
            ms(summary.median),
            ms(summary.p90),
            ms(summary.max),
            ms(summary.median) / ms(baseline.median),
            if ms(summary.p90) <= TARGET_MS { "met" } else { "NOT met" },
        );
    }
    let (webhooks, trips) = cold_sentry_webhooks(starts).await;
    let webhook = summarize(webhooks);
    println!(
        "  {:<16} median {:>6.2} ms   p90 {:>6.2} ms   max {:>6.2} ms   {:>5.1}x baseline   {} (cold work-items -> 202 for a signed \
         Sentry webhook, aws-local on moto; at most {trips} sequential AWS round trips; target: inside Sentry's 1 s)",
        "sentry webhook",
        ms(webhook.median),
        ms(webhook.p90),
        ms(webhook.max),
        ms(webhook.median) / ms(baseline.median),
        if webhook.max < Duration::from_secs(1) {
            "met"
        } else {
            "NOT met"
        },
    );
}
