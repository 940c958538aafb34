//! Reconciliation cost (docs/benchmarks.md): one pass over 1 000 linked work items (the baseline) and
//! over 10 000, nothing drifted, then 10 000 with 1 % drifted. Counts the calls to each side
//! (from the report, checked against the fakes' own request logs), the inbox writes, the pass
//! time (and its ratio to the baseline's per link), and the process's resident memory.
//!
//! The fake Azure DevOps and fake Sentry run in this process, on loopback; the bridge is the
//! library on the embedded store. `cargo bench -p bridge-tests --bench reconcile`
//! (`BENCH_LINKS` changes the 10 000).

use std::time::Instant;

use bridge_tests::fake_ado::FakeWorkItem;
use bridge_tests::server::{Backend, TestServer, start_with};
use serde_json::{Map, Value, json};
use shared::records::{Link, LinkOrigin, LinkSyncState};
use shared::worker::Budget;

const BASELINE_LINKS: usize = 1_000;

/// Resident set size now and its peak so far (`VmRSS`, `VmHWM`), in MB.
fn memory_mb() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let read = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (read("VmRSS:"), read("VmHWM:"))
}

fn work_item(id: u64, rev: u64, state: &str) -> FakeWorkItem {
    let mut fields = Map::new();
    fields.insert("System.Title".into(), json!(format!("Issue {id}")));
    fields.insert("System.State".into(), json!(state));
    fields.insert("System.TeamProject".into(), json!("Fabrikam-Fiber"));
    fields.insert("System.WorkItemType".into(), json!("Bug"));
    FakeWorkItem {
        id,
        rev,
        project: "Fabrikam-Fiber".into(),
        work_item_type: "Bug".into(),
        fields,
        relations: Vec::new(),
        comments: Vec::new(),
        deleted: false,
    }
}

/// Links `from..to` (work item n, Sentry issue 9 000 000 + n), in sync on both sides.
async fn add_links(server: &TestServer, integration_id: &str, from: u64, to: u64) {
    server.ado.state(|s| {
        for id in from..to {
            s.work_items.insert(id, work_item(id, 1, "New"));
        }
    });
    for id in from..to {
        let issue = (9_000_000 + id).to_string();
        server.sentry.add_issue(&issue);
        let mut link = Link {
            integration_id: integration_id.to_string(),
            sentry_issue_id: issue,
            sentry_short_id: None,
            sentry_url: None,
            work_item_id: id,
            work_item_url: None,
            project: "Fabrikam-Fiber".into(),
            work_item_type: "Bug".into(),
            sync: LinkSyncState {
                sentry_status: Some("unresolved".into()),
                ado_state: Some("New".into()),
                last_applied_rev: Some(1),
                ..Default::default()
            },
            created_by: LinkOrigin::Link,
            created_at: 0,
            updated_at: 0,
            replaced_at: None,
            version: 0,
        };
        server.app.store.activate_link(&mut link, 0).await.expect("link");
    }
}

struct Pass {
    report: shared::reconcile::Report,
    seconds: f64,
    ado_requests: usize,
    /// Subscription lists, WIQL queries, batch reads.
    ado_paths: (usize, usize, usize),
    sentry_requests: usize,
}

async fn pass(server: &TestServer, integration_id: &str) -> Pass {
    let integration = server.app.store.get_integration(integration_id).await.unwrap().unwrap();
    let (ado_before, sentry_before) = (server.ado.requests().len(), server.sentry.calls().len());
    let started = Instant::now();
    let report = shared::reconcile::pass(&server.app, &integration, Budget::unlimited())
        .await
        .expect("no other pass");
    let seconds = started.elapsed().as_secs_f64();
    assert!(report.complete, "{report:?}");
    let made: Vec<String> = server.ado.requests()[ado_before..]
        .iter()
        .map(|r| r.path.clone())
        .collect();
    let count = |suffix: &str| made.iter().filter(|p| p.ends_with(suffix)).count();
    Pass {
        report,
        seconds,
        ado_paths: (count("/hooks/subscriptions"), count("/wiql"), count("/workitemsbatch")),
        ado_requests: made.len(),
        sentry_requests: server.sentry.calls().len() - sentry_before,
    }
}

fn print(label: &str, links: usize, pass: &Pass) {
    let r = &pass.report;
    println!(
        "{label}: {links} links in {:.2} s ({:.1} µs a link); calls: Azure DevOps {} (its log: {}: {} subscription list, \
         {} what-changed query, {} batch reads), Sentry {} (its log: {}); repairs queued {} in, {} out; conflicts {}",
        pass.seconds,
        pass.seconds * 1e6 / links as f64,
        r.calls.azure_devops,
        pass.ado_requests,
        pass.ado_paths.0,
        pass.ado_paths.1,
        pass.ado_paths.2,
        r.calls.sentry,
        pass.sentry_requests,
        r.links.repaired_inbound,
        r.links.repaired_outbound,
        r.links.conflicts,
    );
}

#[tokio::main]
async fn main() {
    let links: usize = std::env::var("BENCH_LINKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    // Without the in-process worker: this measures the pass, not the repairs it queues.
    let server = start_with(Backend::Local, false).await;
    let id = server.create_integration().await;
    let first = 1_000_000;

    add_links(&server, &id, first, first + BASELINE_LINKS as u64).await;
    let baseline = pass(&server, &id).await;
    print("baseline", BASELINE_LINKS, &baseline);

    add_links(&server, &id, first + BASELINE_LINKS as u64, first + links as u64).await;
    let (rss_before, _) = memory_mb();
    let quiet = pass(&server, &id).await;
    let (_, peak) = memory_mb();
    print("nothing drifted", links, &quiet);
    let ratio = (quiet.seconds / links as f64) / (baseline.seconds / BASELINE_LINKS as f64);
    println!("time a link, {links} links / {BASELINE_LINKS}: {ratio:.2}x");
    println!(
        "memory: {rss_before:.1} MB resident before the pass (fakes, store and {links} links included), peak {peak:.1} MB"
    );
    assert_eq!(
        quiet.report.links.repaired_inbound + quiet.report.links.repaired_outbound,
        0
    );

    // 1 % drifted: a person moved the work item (a delivery that never came).
    let drifted = links / 100;
    let now = shared::clock::rfc3339(shared::clock::now_ms());
    server.ado.state(|s| {
        for id in first..first + drifted as u64 {
            let mut item = work_item(id, 2, "Active");
            item.fields.insert("System.ChangedDate".into(), json!(now));
            s.work_items.insert(id, item);
        }
    });
    let pending_before = server
        .app
        .store
        .pending_events(&id, i64::MAX, usize::MAX)
        .await
        .unwrap()
        .len();
    let drift = pass(&server, &id).await;
    let pending_after = server
        .app
        .store
        .pending_events(&id, i64::MAX, usize::MAX)
        .await
        .unwrap()
        .len();
    print("1 % drifted", links, &drift);
    println!(
        "store writes for the repairs: {} queued events for {drifted} drifted links",
        pending_after - pending_before
    );
    assert_eq!(drift.report.links.repaired_inbound as usize, drifted);
    let summary: Value = json!({"links": links, "ado_calls": quiet.report.calls.azure_devops, "sentry_calls": quiet.report.calls.sentry});
    println!("{summary}");
}
