//! Commits set on a Sentry release (docs/benchmarks.md, repositories): a range of 50 commits (the
//! baseline) and of 500 (`BENCH_COMMITS`), each with five changes (a folder, an add, a rename
//! with an edit, a delete, an edit) and a message the list cuts. Prints the calls to Azure
//! DevOps per commit (from the fake's own request log), the time, and each ratio to the
//! baseline's: calls and time grow with the commits and nothing else, with no cap on the range.
//!
//! The fakes run in this process, on loopback; the bridge is `bridge-local`'s router on the
//! embedded store. `cargo bench -p bridge-tests --bench release_commits`.

use std::time::Instant;

use bridge_tests::fake_ado::{FakeCommit, WEB_REPOSITORY_ID};
use bridge_tests::server::{Backend, TestServer, start_with};
use serde_json::json;

/// One release of the `count` commits after the repository's base; returns (calls, seconds).
async fn release(server: &TestServer, integration: &str, version: &str, first: usize, count: usize) -> (usize, f64) {
    let base = server.ado.state(|s| {
        s.repositories
            .iter()
            .find(|r| r.id == WEB_REPOSITORY_ID)
            .map(|r| r.commits[0].sha.clone())
            .unwrap()
    });
    let history: Vec<FakeCommit> = (first..first + count).rev().map(FakeCommit::varied).collect();
    let head = history[0].sha.clone();
    server.ado.add_commits(WEB_REPOSITORY_ID, "main", history);
    let before = server.ado.requests_to("/_apis/git/").len();
    let started = Instant::now();
    let path = format!("/integrations/{integration}/repositories/{WEB_REPOSITORY_ID}/releases");
    let response = server
        .admin(reqwest::Method::POST, &path)
        .json(&json!({"version": version, "commit": head, "previous_commit": base}))
        .send()
        .await
        .unwrap();
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let outcome: serde_json::Value = response.json().await.unwrap();
    assert_eq!(outcome["commits"].as_u64(), Some(count as u64));
    let release = server.sentry.release(version).unwrap();
    assert_eq!(release.commits.len(), count);
    assert!(
        release
            .commits
            .iter()
            .all(|c| c["patch_set"].as_array().unwrap().len() == 5)
    );
    (server.ado.requests_to("/_apis/git/").len() - before, seconds)
}

#[tokio::main]
async fn main() {
    let commits: usize = std::env::var("BENCH_COMMITS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(500);
    let server = start_with(Backend::Local, false).await;
    let integration = server.create_integration().await;
    let path = format!("/integrations/{integration}/repositories");
    let registered = server
        .admin(reqwest::Method::POST, &path)
        .json(&json!({"repository": WEB_REPOSITORY_ID, "sentry_projects": ["backend"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), reqwest::StatusCode::CREATED);

    let baseline = 50;
    let (base_calls, base_seconds) = release(&server, &integration, "baseline", 1, baseline).await;
    let (calls, seconds) = release(&server, &integration, "measured", 1000, commits).await;
    let per = |calls: usize, n: usize| calls as f64 / n as f64;
    println!("release commits: {baseline} commits (baseline) vs {commits} commits");
    println!(
        "  Azure DevOps calls: {base_calls} ({:.2} per commit) vs {calls} ({:.2} per commit); ratio per commit {:.2}",
        per(base_calls, baseline),
        per(calls, commits),
        per(calls, commits) / per(base_calls, baseline)
    );
    println!(
        "  time: {:.3} s ({:.2} ms per commit) vs {:.3} s ({:.2} ms per commit); ratio per commit {:.2}",
        base_seconds,
        base_seconds * 1000.0 / baseline as f64,
        seconds,
        seconds * 1000.0 / commits as f64,
        (seconds / commits as f64) / (base_seconds / baseline as f64)
    );
    println!("  every commit has its 5 files (Sentry's own integration stops reading files after 91 commits)");
}
