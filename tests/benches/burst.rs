//! Reliability and memory benchmark (docs/benchmarks.md): a burst of Azure DevOps deliveries against
//! the release `bridge-local`, with duplicates, bad credentials, malformed bodies, an injected
//! Sentry outage and a `kill -9` of the server in the middle.
//!
//! The fake Azure DevOps and fake Sentry run in this process; the bridge is the real binary.
//! 20 work items are linked to 20 Sentry issues through the signed issue-link route, then
//! `BENCH_DELIVERIES` (default 10 000) distinct `workitem.commented` deliveries are sent, every
//! fifth twice, plus 5 % with a wrong password and 5 % malformed, from 16 concurrent senders.
//! The first 200 Sentry calls fail (503). After 40 % of the sends the server is killed with
//! SIGKILL and started again on the same port and data directory; a send that got no answer
//! is sent again, as Azure DevOps does. Then it waits until no event is pending or failed and
//! checks: every distinct comment is on its Sentry issue exactly once, every bad delivery got
//! its status, no event is dead. Prints the counts, rates and the peak RSS of both processes.
//!
//! Needs the release binary: `cargo build --release -p bridge-local`, then
//! `cargo bench -p bridge-tests --bench burst`.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use bridge_tests::fake_ado::{self, FakeAdo};
use bridge_tests::fake_sentry::{self, FakeSentry};
use bridge_tests::release::{free_loopback_address, release_binary, wait_until_listening};
use bridge_tests::sentry_app::post_signed;
use serde_json::{Value, json};
use tokio::sync::RwLock;

const ADMIN_TOKEN: &str = "burst-admin-token";
const CLIENT_SECRET: &str = "burst-client-secret";
const WORK_ITEMS: usize = 20;
const SENDERS: usize = 16;
const SENTRY_OUTAGE_CALLS: u32 = 200;
const PERSON: &str = "d291b0c4-a05c-4ea6-8df1-4b41d5f39eff";

/// The release server, started on `address` with `data_dir`, ready when this returns.
async fn start_bridge(address: &str, data_dir: &Path) -> Child {
    let child = Command::new(release_binary("bridge-local"))
        .args(["--listen", address, "--data-dir"])
        .arg(data_dir)
        .env("BRIDGE_ADMIN_TOKEN", ADMIN_TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start bridge-local");
    wait_until_listening(address, "bridge-local").await;
    child
}

/// Peak resident set size of a running process, from `/proc/{pid}/status` (`VmHWM`), in MB.
fn peak_rss_mb(child: &Child) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// Current anonymous (heap) and file-backed (mapped database pages) resident memory, in MB.
fn rss_split_mb(child: &Child) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(f64::NAN)
    };
    (field("RssAnon:"), field("RssFile:"))
}

/// A distinct `workitem.commented` delivery: comment `n` on `work_item`, by a person.
fn comment_delivery(n: usize, work_item: u64) -> String {
    json!({
        "subscriptionId": "burst", "notificationId": n, "id": format!("burst-{n}"),
        "eventType": "workitem.commented", "publisherId": "tfs", "resourceVersion": "1.0",
        "resource": {"id": work_item, "rev": 2 + n as u64,
            "revisedBy": {"id": PERSON, "name": "Jamal Hartnett <jamal@fabrikam.example>"},
            "fields": {"System.TeamProject": "Fabrikam-Fiber", "System.WorkItemType": "Bug",
                "System.State": "New", "System.Title": "burst",
                "System.ChangedBy": "Jamal Hartnett <jamal@fabrikam.example>",
                "System.History": format!("<div>burst comment {n}</div>")},
            "commentVersionRef": {"commentId": 1_000_000 + n as u64, "version": 1}},
        "resourceContainers": {"collection": {"id": fake_ado::COLLECTION_ID}},
        "createdDate": "2026-11-27T12:00:00Z"
    })
    .to_string()
}

#[derive(Clone)]
enum Send {
    Valid { n: usize, work_item: u64 },
    WrongPassword { n: usize, work_item: u64 },
    Malformed,
}

/// Every send in a fixed, mixed order: each distinct delivery once, every fifth twice, 5 % with a
/// wrong password, 5 % malformed.
fn plan(deliveries: usize, work_items: &[u64]) -> Vec<Send> {
    let mut sends = Vec::new();
    for n in 0..deliveries {
        let work_item = work_items[n % work_items.len()];
        sends.push(Send::Valid { n, work_item });
        if n % 5 == 0 {
            sends.push(Send::Valid { n, work_item });
        }
        if n % 20 == 7 {
            sends.push(Send::WrongPassword { n, work_item });
        }
        if n % 20 == 13 {
            sends.push(Send::Malformed);
        }
    }
    // A deterministic shuffle (LCG), so duplicates are apart and the mix is even.
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    for i in (1..sends.len()).rev() {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        sends.swap(i, (state >> 33) as usize % (i + 1));
    }
    sends
}

struct Target {
    url: String,
    password: String,
}

/// Sends one delivery until it gets an HTTP answer (a send into the restart gets none and is
/// sent again, as Azure DevOps does); returns the status and how many attempts got no answer.
async fn deliver(client: &reqwest::Client, target: &Target, send: &Send) -> (u16, usize) {
    let (body, password) = match send {
        Send::Valid { n, work_item } => (comment_delivery(*n, *work_item), target.password.clone()),
        Send::WrongPassword { n, work_item } => (comment_delivery(*n, *work_item), "wrong".to_string()),
        Send::Malformed => (
            "{\"eventType\": \"workitem.commented\", ".to_string(),
            target.password.clone(),
        ),
    };
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("azure-devops:{password}"))
    );
    let mut unanswered = 0;
    loop {
        let sent = client
            .post(&target.url)
            .header("authorization", &auth)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(response) => return (response.status().as_u16(), unanswered),
            Err(_) => {
                unanswered += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

async fn admin(
    client: &reqwest::Client,
    base: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut request = client.request(method, format!("{base}{path}")).bearer_auth(ADMIN_TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("admin API");
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{path}: {status} {answer}");
    answer
}

/// Links `issue` to a new work item through the signed issue-link create route.
async fn link_issue(client: &reqwest::Client, base: &str, issue: u64) -> u64 {
    let request = json!({"fields": {"title": format!("burst {issue}"), "ado_project": "Fabrikam-Fiber", "work_item_type": "Bug"},
        "issueId": issue, "installationId": fake_sentry::INSTALLATION,
        "webUrl": format!("https://acme.sentry.io/issues/{issue}/"), "project": {"slug": "backend", "id": 1},
        "actor": {"type": "user", "id": 1, "name": "Burst"}});
    let (_, answer) = post_signed(
        client,
        &format!("{base}/sentry/issue-link/create"),
        &request,
        CLIENT_SECRET,
    )
    .await;
    answer["identifier"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("issue-link create failed: {answer}"))
}

#[tokio::main]
async fn main() {
    let deliveries: usize = std::env::var("BENCH_DELIVERIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let ado = FakeAdo::start().await;
    let sentry = FakeSentry::start().await;
    let data_dir = tempfile::tempdir().unwrap();
    let address = free_loopback_address();
    let base = format!("http://{address}");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(SENDERS)
        .build()
        .unwrap();

    let first = start_bridge(&address, data_dir.path()).await;
    let created = admin(
        &client,
        &base,
        reqwest::Method::POST,
        "/integrations",
        Some(json!({
            "name": "burst",
            "azure_devops": {"organization_url": ado.org_url(), "auth": {"type": "pat", "token": fake_ado::VALID_PAT}},
            "sentry": {"base_url": sentry.base_url(), "organization_slug": fake_sentry::ORG,
                       "client_secret": CLIENT_SECRET, "auth_token": fake_sentry::TOKEN},
            "sync": {}
        })),
    )
    .await;
    let integration = created["id"].as_str().unwrap().to_string();
    let subscription = created["azure_devops"]["subscriptions"]["workitem.commented"]
        .as_str()
        .unwrap()
        .to_string();
    let password = ado.subscription_raw(&subscription).unwrap()["consumerInputs"]["basicAuthPassword"]
        .as_str()
        .unwrap()
        .to_string();
    let mut work_items = Vec::new();
    let mut issue_of = HashMap::new();
    for k in 0..WORK_ITEMS as u64 {
        let issue = 5001 + k;
        sentry.add_issue(&issue.to_string());
        let work_item = link_issue(&client, &base, issue).await;
        issue_of.insert(work_item, issue);
        work_items.push(work_item);
    }

    // The burst.
    let sends = Arc::new(plan(deliveries, &work_items));
    let target = Arc::new(RwLock::new(Target {
        url: format!("{base}/hooks/azure-devops/{integration}"),
        password,
    }));
    sentry.fail_next(SENTRY_OUTAGE_CALLS);
    let next = Arc::new(AtomicUsize::new(0));
    let kill_at = sends.len() * 2 / 5;
    let started = Instant::now();
    let mut senders = Vec::new();
    for _ in 0..SENDERS {
        let (client, sends, next, target) = (client.clone(), sends.clone(), next.clone(), target.clone());
        senders.push(tokio::spawn(async move {
            let mut results = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(send) = sends.get(i) else { break };
                let target = target.read().await;
                results.push((i, deliver(&client, &target, send).await));
            }
            results
        }));
    }
    // Kill -9 after 40 % of the sends, then start again on the same port and data.
    while next.load(Ordering::Relaxed) < kill_at {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let first_rss = peak_rss_mb(&first);
    let mut first = first;
    first.kill().unwrap();
    first.wait().unwrap();
    let killed_at = started.elapsed();
    let second = start_bridge(&address, data_dir.path()).await;
    let restart = started.elapsed() - killed_at;

    let mut statuses = vec![(0u16, 0usize); sends.len()];
    for sender in senders {
        for (i, result) in sender.await.unwrap() {
            statuses[i] = result;
        }
    }
    let burst = started.elapsed();

    // Drain: nothing pending or failed (a claim the kill orphaned waits out its lease).
    let drain_started = Instant::now();
    loop {
        let mut open = 0;
        for status in ["pending", "failed"] {
            let listed = admin(
                &client,
                &base,
                reqwest::Method::GET,
                &format!("/integrations/{integration}/events?status={status}"),
                None,
            )
            .await;
            open += listed["events"].as_array().map_or(0, Vec::len);
        }
        if open == 0 {
            break;
        }
        assert!(
            drain_started.elapsed() < Duration::from_secs(300),
            "{open} events never ended"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let drained = drain_started.elapsed();
    let dead = admin(
        &client,
        &base,
        reqwest::Method::GET,
        &format!("/integrations/{integration}/events?status=dead"),
        None,
    )
    .await["events"]
        .as_array()
        .map_or(0, |events| {
            for event in events {
                println!("  dead event {}: {}", event["id"], event["last_error"]);
            }
            events.len()
        });

    // Check every outcome.
    let mut applied = vec![0usize; deliveries];
    for issue in issue_of.values() {
        for (_, text) in sentry.issue(&issue.to_string()).comments {
            if let Some(n) = text
                .split("burst comment ")
                .nth(1)
                .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|digits| digits.parse::<usize>().ok())
            {
                applied[n] += 1;
            }
        }
    }
    let exactly_once = applied.iter().filter(|&&count| count == 1).count();
    let twice = applied.iter().filter(|&&count| count > 1).count();
    let mut by_kind: HashMap<&str, HashMap<u16, usize>> = HashMap::new();
    let mut unanswered = 0;
    for (send, (status, retries)) in sends.iter().zip(&statuses) {
        let kind = match send {
            Send::Valid { .. } => "valid",
            Send::WrongPassword { .. } => "wrong password",
            Send::Malformed => "malformed",
        };
        *by_kind.entry(kind).or_default().entry(*status).or_default() += 1;
        unanswered += retries;
    }
    let second_rss = peak_rss_mb(&second);
    let (anon, file) = rss_split_mb(&second);
    let mut second = second;
    let _ = second.kill();
    let _ = second.wait();

    println!(
        "burst: {} sends ({deliveries} distinct deliveries), {SENDERS} senders, first {SENTRY_OUTAGE_CALLS} Sentry calls fail, kill -9 after {kill_at} sends",
        sends.len()
    );
    println!(
        "  burst {:.2} s ({:.0} sends/s); killed at {:.2} s, listening again {:.0} ms later; {unanswered} sends got no answer and were sent again",
        burst.as_secs_f64(),
        sends.len() as f64 / burst.as_secs_f64(),
        killed_at.as_secs_f64(),
        restart.as_secs_f64() * 1e3
    );
    for kind in ["valid", "wrong password", "malformed"] {
        let mut counts: Vec<_> = by_kind.get(kind).cloned().unwrap_or_default().into_iter().collect();
        counts.sort();
        println!("  {kind:<15} answers: {counts:?}");
    }
    println!(
        "  drained {:.1} s after the burst; dead events: {dead}",
        drained.as_secs_f64()
    );
    println!(
        "  comments on Sentry: {exactly_once} of {deliveries} exactly once, {twice} more than once, {} missing",
        deliveries - exactly_once - twice
    );
    println!(
        "  peak RSS: {first_rss:.1} MB before the kill, {second_rss:.1} MB after the restart (target <= 64 MB); at the end {anon:.1} MB heap + {file:.1} MB mapped files"
    );
    let bad_ok = by_kind["wrong password"].keys().all(|&s| s == 401) && by_kind["malformed"].keys().all(|&s| s == 400);
    let valid_ok = by_kind["valid"].keys().all(|&s| s == 202 || s == 200);
    let verdict = exactly_once == deliveries && dead == 0 && bad_ok && valid_ok;
    println!(
        "  verdict: {}",
        if verdict {
            "every distinct delivery applied exactly once, every bad one rejected, nothing lost"
        } else {
            "FAILED"
        }
    );
    if !verdict {
        std::process::exit(1);
    }
}
