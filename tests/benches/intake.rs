//! Intake benchmark (docs/benchmarks.md): the Azure DevOps hook route of the local server (SQLite,
//! secrets file) against a bare axum handler on the same machine, in the same run, with
//! real-shaped deliveries (the 5.2 KB `workitem.updated` fixture, a distinct event each).
//!
//! Alternates bare and bridge in rounds (so a slow moment of a shared machine hits one round,
//! not one side) and prints, per round, deliveries per second, client-observed p50/p99 over
//! loopback HTTP with concurrency and CPU time per request; then the median round's ratio
//! (target ≥ 50 %), the same route on an in-memory database (what the durable commit to the
//! file costs), and the route's in-process handler time (target p99 ≤ 2 ms).
//! Run: `cargo bench -p bridge-tests --bench intake`. Env: `BENCH_REQUESTS`, `BENCH_CONCURRENCY`,
//! `BENCH_ROUNDS`; for a profiler, `BENCH_PROFILE_HTTP=file|memory|bare` runs one line alone and
//! `BENCH_PROFILE_HANDLER=file|memory` the route in process.

/// bridge-local's allocator, so the route is measured as it runs there.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode, header};
use axum::routing::post;
use serde_json::{Value, json};
use shared::App;
use shared::config::{AdminAuth, Config};
use shared::records::*;
use shared::secrets::{AdoCredential, FileSecretStore, IntegrationSecrets, Secret, SecretStore};
use shared::store::{SqliteTable, Store};
use tower::ServiceExt;

const SECRET: &str = "bench-webhook-secret";
const INTEGRATION: &str = "bench";

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The bridge's app state on `table`, with one integration and one linked work item (42).
async fn bridge_app(dir: &std::path::Path, table: SqliteTable) -> Arc<App> {
    let store = Store::new(Arc::new(table));
    let secrets = FileSecretStore::open(&dir.join("secrets.json")).unwrap();
    let secret_ref = "local/bench".to_string();
    secrets
        .put(
            &secret_ref,
            &IntegrationSecrets {
                azure_devops: AdoCredential::Pat {
                    token: Secret::new("pat"),
                },
                webhook_secret: Secret::new(SECRET),
                previous_webhook_secret: None,
                previous_webhook_secret_expires_at: None,
                sentry_client_secret: Secret::new("c"),
                sentry_auth_token: Secret::new("t"),
            },
        )
        .await
        .unwrap();
    let mut integration = Integration {
        id: INTEGRATION.into(),
        name: "bench".into(),
        azure_devops: AzureDevOpsSettings {
            organization_url: "https://dev.azure.com/bench".into(),
            organization: "bench".into(),
            auth: AdoAuthKind::Pat,
            collection_id: None,
            bridge_identity_id: Some("bridge".into()),
            subscriptions: Default::default(),
            rotation_unfinished: false,
        },
        sentry: SentrySettings {
            base_url: "https://sentry.io".into(),
            organization_slug: "acme".into(),
            installation_uuid: None,
            app_uuid: None,
        },
        sync: Default::default(),
        secret_ref,
        state: Default::default(),
        created_at: 0,
        updated_at: 0,
        version: 0,
    };
    store.create_integration(&mut integration).await.unwrap();
    let mut link = Link {
        integration_id: INTEGRATION.into(),
        sentry_issue_id: "77".into(),
        sentry_short_id: None,
        sentry_url: None,
        work_item_id: 42,
        work_item_url: None,
        project: "Fabrikam".into(),
        work_item_type: "Bug".into(),
        sync: LinkSyncState::default(),
        created_by: LinkOrigin::Create,
        created_at: 0,
        updated_at: 0,
        replaced_at: None,
        version: 0,
    };
    store.activate_link(&mut link, 0).await.unwrap();
    let config = Config {
        public_url: "http://127.0.0.1".into(),
        sentry_facing_url: "http://127.0.0.1".into(),
        admin_auth: AdminAuth::Bearer(Secret::new("admin")),
        secret_prefix: "local/".into(),
        sentry_replay_window_secs: 300,
        stream_grace_ms: 0,
        retry: Default::default(),
        secret_grace_secs: 3600,
    };
    App::new(store, Arc::new(secrets), config)
}

/// A real-shaped `workitem.updated` delivery (5.4 KB: the fixture of a state and assignee
/// change on work item 42) with `@N@` where the notification id and revision go, `@ID@` where
/// the event id goes and `@T@` where the time the event was raised goes.
static TEMPLATE: LazyLock<String> = LazyLock::new(|| {
    let mut delivery: Value = serde_json::from_str(include_str!(
        "../../shared/tests/fixtures/azure-devops/workitem.updated.state_and_assignee.json"
    ))
    .unwrap();
    delivery["id"] = json!("@ID@");
    delivery["createdDate"] = json!("@T@");
    delivery["notificationId"] = json!("@N@");
    delivery["resource"]["rev"] = json!("@N@");
    delivery["resource"]["revision"]["rev"] = json!("@N@");
    delivery.to_string()
});

/// Delivery `n`: a distinct event with a GUID-like id in no particular order, as Azure DevOps
/// sends them, raised 100 us after delivery `n - 1`.
fn delivery(n: usize) -> Vec<u8> {
    let mut x = (n as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    let id = format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        x >> 32,
        (x >> 16) & 0xffff,
        x & 0xfff,
        n & 0xfff,
        n
    );
    let (seconds, ticks) = (n / 10_000, (n % 10_000) * 1_000);
    let created = format!(
        "2026-12-02T{:02}:{:02}:{:02}.{ticks:07}Z",
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60
    );
    TEMPLATE
        .replace("\"@N@\"", &(n + 2).to_string())
        .replace("@ID@", &id)
        .replace("@T@", &created)
        .into_bytes()
}

fn basic_header() -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("azure-devops:{SECRET}"))
    )
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize)
        .saturating_sub(1)
        .min(sorted.len() - 1)]
}

struct Run {
    per_second: f64,
    p50: Duration,
    p99: Duration,
    /// Process CPU time (user + system, both servers and the load) per request.
    cpu_per_request: Duration,
    /// The share of the machine's cores the process kept busy: below ~95 % the line was not
    /// limited by CPU alone (threads waited: for a lock, an fsync, or for work).
    busy: f64,
}

impl Run {
    /// A run of `requests` that took `elapsed`, with `cpu` seconds of CPU in all (servers and load).
    fn new(requests: usize, elapsed: f64, mut latencies: Vec<Duration>, cpu: f64) -> Self {
        latencies.sort();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        Self {
            per_second: requests as f64 / elapsed,
            p50: percentile(&latencies, 0.5),
            p99: percentile(&latencies, 0.99),
            cpu_per_request: Duration::from_secs_f64(cpu / requests as f64),
            busy: cpu / elapsed / cores,
        }
    }

    fn line(&self, name: &str) -> String {
        format!(
            "{name:<18}: {:>8.0} req/s   p50 {:>6.3} ms   p99 {:>6.3} ms   CPU {:>5.1} us/request, cores {:>3.0} % busy",
            self.per_second,
            self.p50.as_secs_f64() * 1e3,
            self.p99.as_secs_f64() * 1e3,
            self.cpu_per_request.as_secs_f64() * 1e6,
            self.busy * 100.0
        )
    }
}

/// Where the load runs: in this process beside the servers (`BENCH_CLIENT=inline`), or, by
/// default, in a copy of this binary, as Azure DevOps is another machine: the client's
/// allocations then do not wait on the servers' allocator locks.
fn client_in_own_process() -> bool {
    std::env::var("BENCH_CLIENT").map_or(true, |mode| mode != "inline")
}

/// The load as a child process is told it by these variables, and prints one line.
const CHILD_LOAD: &str = "BENCH_CHILD_LOAD";
const RESULT_PREFIX: &str = "load-result";

/// `requests` POSTs from `concurrency` tasks against `url`; every answer must be 2xx. The CPU
/// counted is this process's and, when the load runs in a child, the child's.
async fn load(url: &str, requests: usize, concurrency: usize, offset: usize) -> Run {
    if !client_in_own_process() {
        let cpu_before = process_cpu_seconds();
        let (elapsed, latencies) = send_load(url, requests, concurrency, offset).await;
        return Run::new(requests, elapsed, latencies, process_cpu_seconds() - cpu_before);
    }
    let cpu_before = process_cpu_seconds();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap());
    child
        .arg("--bench")
        .env(CHILD_LOAD, format!("{url} {requests} {concurrency} {offset}"))
        .stderr(std::process::Stdio::inherit());
    let output = tokio::task::spawn_blocking(move || child.output())
        .await
        .unwrap()
        .unwrap();
    let servers_cpu = process_cpu_seconds() - cpu_before;
    assert!(output.status.success(), "the load process failed");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let numbers: Vec<f64> = stdout
        .lines()
        .find_map(|line| line.strip_prefix(RESULT_PREFIX))
        .expect("the load process printed no result")
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    let (elapsed, load_cpu) = (numbers[0], numbers[1]);
    let latencies = numbers[2..]
        .iter()
        .map(|&us| Duration::from_secs_f64(us / 1e6))
        .collect();
    Run::new(requests, elapsed, latencies, servers_cpu + load_cpu)
}

/// The child's side of [`load`]: sends, then prints the elapsed seconds, its own CPU seconds and
/// each latency in microseconds.
fn run_child_load(spec: &str) {
    let parts: Vec<&str> = spec.split_whitespace().collect();
    let number = |i: usize| parts[i].parse::<usize>().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let cpu_before = process_cpu_seconds();
    let (elapsed, latencies) = runtime.block_on(send_load(parts[0], number(1), number(2), number(3)));
    let cpu = process_cpu_seconds() - cpu_before;
    let latencies: Vec<String> = latencies
        .iter()
        .map(|l| format!("{:.1}", l.as_secs_f64() * 1e6))
        .collect();
    println!("{RESULT_PREFIX} {elapsed} {cpu} {}", latencies.join(" "));
}

/// Sends the load; the elapsed seconds and each request's latency.
async fn send_load(url: &str, requests: usize, concurrency: usize, offset: usize) -> (f64, Vec<Duration>) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
    let auth = basic_header();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let (client, url, auth) = (client.clone(), url.to_string(), auth.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut n = worker;
            while n < requests {
                let body = delivery(offset + n);
                let sent = Instant::now();
                let response = client
                    .post(&url)
                    .header(header::AUTHORIZATION, &auth)
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert!(response.status().is_success(), "{}", response.status());
                response.bytes().await.unwrap();
                latencies.push(sent.elapsed());
                n += concurrency;
            }
            latencies
        }));
    }
    let mut latencies = Vec::with_capacity(requests);
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    (started.elapsed().as_secs_f64(), latencies)
}

/// User + system CPU time of this process so far (Linux `/proc/self/stat`, 100 ticks a second).
fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or_default().split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{address}/hooks/azure-devops/{INTEGRATION}")
}

fn main() {
    if let Ok(spec) = std::env::var(CHILD_LOAD) {
        return run_child_load(&spec);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let requests = env_number("BENCH_REQUESTS", 5_000);
        let concurrency = env_number("BENCH_CONCURRENCY", 16);
        let dir = tempfile::tempdir().unwrap();
        let app = bridge_app(
            dir.path(),
            SqliteTable::open(&dir.path().join("bench.sqlite3")).unwrap(),
        )
        .await;
        let bridge = shared::http::finish(shared::intake::routes(app.clone()).into_router());
        // The same route on an in-memory database: what the durable commit to the file costs.
        let memory_dir = tempfile::tempdir().unwrap();
        let memory_app = bridge_app(memory_dir.path(), SqliteTable::in_memory().unwrap()).await;
        let memory_url = serve(shared::http::finish(shared::intake::routes(memory_app.clone()).into_router())).await;
        let bare = Router::new().route(
            "/hooks/azure-devops/{id}",
            post(|body: Bytes| async move { (StatusCode::ACCEPTED, format!("{{\"received\":{}}}", body.len())) }),
        );
        if let Ok(only) = std::env::var("BENCH_PROFILE_HANDLER") {
            let target = if only == "memory" {
                shared::http::finish(shared::intake::routes(memory_app).into_router())
            } else {
                bridge.clone()
            };
            let auth = basic_header();
            let started = Instant::now();
            for n in 0..requests {
                let request = Request::post(format!("/hooks/azure-devops/{INTEGRATION}"))
                    .header(header::AUTHORIZATION, &auth)
                    .body(Body::from(delivery(40_000_000 + n)))
                    .unwrap();
                let response = target.clone().oneshot(request).await.unwrap();
                assert_eq!(response.status(), StatusCode::ACCEPTED);
            }
            println!(
                "{only}: {:.1} us per delivery",
                started.elapsed().as_secs_f64() * 1e6 / requests as f64
            );
            return;
        }
        let bridge_url = serve(bridge.clone()).await;
        if let Ok(only) = std::env::var("BENCH_PROFILE_HTTP") {
            let url = match only.as_str() {
                "memory" => memory_url.clone(),
                "bare" => serve(bare.clone()).await,
                _ => bridge_url.clone(),
            };
            load(&url, 500, concurrency, 20_000_000).await;
            println!("{}", load(&url, requests, concurrency, 0).await.line(&only));
            return;
        }
        let bare_url = serve(bare).await;

        // Warm both (connections, SQLite pages, secret cache).
        load(&bare_url, 500, concurrency, 10_000_000).await;
        load(&bridge_url, 500, concurrency, 20_000_000).await;
        load(&memory_url, 500, concurrency, 20_000_000).await;

        // Rounds of bare then bridge, so a slow moment of a shared machine hits one round, not
        // one side; the ratio reported is the median round's.
        let rounds = env_number("BENCH_ROUNDS", 5).max(1);
        let mut results = Vec::new();
        for round in 0..rounds {
            let offset = round * requests;
            let bare_run = load(&bare_url, requests, concurrency, offset).await;
            let bridge_run = load(&bridge_url, requests, concurrency, offset).await;
            results.push((bare_run, bridge_run));
        }
        let memory_run = load(&memory_url, requests, concurrency, 0).await;
        let queued = app.store.due_events(i64::MAX, requests * (rounds + 1)).await.unwrap().len();
        assert_eq!(queued, requests * rounds + 500, "every delivery queued exactly once");

        // Handler time: the route in process, one request at a time, no network.
        let auth = basic_header();
        let mut handler = Vec::with_capacity(2_000);
        for n in 0..2_000 {
            let request = Request::post(format!("/hooks/azure-devops/{INTEGRATION}"))
                .header(header::AUTHORIZATION, &auth)
                .body(Body::from(delivery(30_000_000 + n)))
                .unwrap();
            let started = Instant::now();
            let response = bridge.clone().oneshot(request).await.unwrap();
            handler.push(started.elapsed());
            assert_eq!(response.status(), StatusCode::ACCEPTED);
        }
        handler.sort();

        println!(
            "intake benchmark: {requests} real-shaped deliveries ({} bytes) per run, concurrency {concurrency}, loopback HTTP/1.1, the client {}",
            delivery(0).len(),
            if client_in_own_process() { "in a process of its own" } else { "in the servers' process (BENCH_CLIENT=inline)" }
        );
        let ratio = |(bare, bridge): &(Run, Run)| bridge.per_second / bare.per_second;
        for (round, result) in results.iter().enumerate() {
            println!("  round {}", round + 1);
            println!("    {}", result.0.line("bare axum handler"));
            println!("    {}", result.1.line("bridge intake"));
            println!("    ratio {:.1} %", 100.0 * ratio(result));
        }
        results.sort_by(|a, b| ratio(a).total_cmp(&ratio(b)));
        let (median_bare, median_bridge) = &results[results.len() / 2];
        println!(
            "  throughput ratio  : {:.1} % of bare, median of {rounds} rounds (target >= 50 %); CPU per request {:.1} vs {:.1} us",
            100.0 * ratio(&results[results.len() / 2]),
            median_bridge.cpu_per_request.as_secs_f64() * 1e6,
            median_bare.cpu_per_request.as_secs_f64() * 1e6
        );
        println!(
            "  cores busy        : bridge {:.0} %, bare {:.0} %; at equal use of the cores the ratio would be the CPU ratio, {:.1} %",
            median_bridge.busy * 100.0,
            median_bare.busy * 100.0,
            100.0 * median_bare.cpu_per_request.as_secs_f64() / median_bridge.cpu_per_request.as_secs_f64()
        );
        println!(
            "  same route, in-memory SQLite (no file writes): {:.0} req/s = {:.1} % of bare",
            memory_run.per_second,
            100.0 * memory_run.per_second / median_bare.per_second
        );
        println!(
            "  handler time      : p50 {:.3} ms   p99 {:.3} ms (in process, sequential; target p99 <= 2 ms)",
            percentile(&handler, 0.5).as_secs_f64() * 1e3,
            percentile(&handler, 0.99).as_secs_f64() * 1e3
        );
        println!(
            "  writes per delivery: 1 (one conditional insert; {queued} events queued for {} deliveries)",
            requests * rounds + 500
        );
    });
}
