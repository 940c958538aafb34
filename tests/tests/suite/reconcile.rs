//! Reconciliation end to end through HTTP against the fakes: subscriptions kept alive, a lost
//! Azure DevOps delivery and a lost (or never sent) Sentry webhook repaired by one pass, the
//! conflict rule, a deleted work item noted once, and a pass with nothing drifted writing
//! nothing on either side.

use bridge_tests::server::{Backend, LINKED_ISSUE as ISSUE, start};
use bridge_tests::wait::settled;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shared::clock;

use bridge_tests::server::Linked as Setup;

async fn setup() -> Setup {
    let setup = Setup::create(start(Backend::Local).await).await;
    settled(&setup.server.app, &setup.integration_id).await;
    setup
}

/// One pass through the admin route; waits until the worker applied what it queued.
async fn reconcile(setup: &Setup) -> Value {
    let path = format!("/integrations/{}/reconcile", setup.integration_id);
    let (status, report) = setup.server.call(Method::POST, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    settled(&setup.server.app, &setup.integration_id).await;
    report
}

/// Calls that change something: (Azure DevOps, Sentry). Batch reads and queries are POSTs that
/// read.
fn writes(setup: &Setup) -> (usize, usize) {
    let ado = setup
        .server
        .ado
        .requests()
        .iter()
        .filter(|r| r.method != Method::GET && !r.path.ends_with("/workitemsbatch") && !r.path.ends_with("/wiql"))
        .count();
    (ado, setup.server.sentry.writes().len())
}

fn field(setup: &Setup, name: &str) -> Value {
    setup.server.ado.state(|s| {
        s.work_items[&setup.work_item]
            .fields
            .get(name)
            .cloned()
            .unwrap_or(Value::Null)
    })
}

fn repaired(report: &Value) -> (u64, u64, u64) {
    let links = &report["links"];
    (
        links["repaired_inbound"].as_u64().unwrap(),
        links["repaired_outbound"].as_u64().unwrap(),
        links["conflicts"].as_u64().unwrap(),
    )
}

/// A pass that finds nothing changes nothing, and a second pass after any repair finds nothing.
async fn assert_nothing_left_to_repair(setup: &Setup) {
    let before = writes(setup);
    let report = reconcile(setup).await;
    assert_eq!(repaired(&report), (0, 0, 0), "{report}");
    assert_eq!(report["subscriptions"]["recreated"], 0);
    assert_eq!(writes(setup), before, "no write on either side");
}

#[tokio::test]
async fn a_pass_with_nothing_drifted_reads_a_little_and_writes_nothing() {
    let setup = setup().await;
    let before = writes(&setup);
    let report = reconcile(&setup).await;
    assert_eq!(report["complete"], true, "{report}");
    assert_eq!(report["links"]["checked"], 1);
    assert_eq!(repaired(&report), (0, 0, 0));
    assert_eq!(
        report["subscriptions"],
        json!({"checked": 4, "recreated": 0, "updated": 0})
    );
    assert_eq!(
        report["calls"],
        json!({"azure_devops": 2, "sentry": 1}),
        "the subscriptions, one batch read, one issue read"
    );
    assert_eq!(writes(&setup), before);
}

#[tokio::test]
async fn disabled_and_deleted_subscriptions_are_made_again_in_one_pass() {
    let setup = setup().await;
    let server = &setup.server;
    let integration = server
        .app
        .store
        .get_integration(&setup.integration_id)
        .await
        .unwrap()
        .unwrap();
    let recorded: Vec<String> = integration.azure_devops.subscriptions.values().cloned().collect();
    server.ado.set_subscription_status(&recorded[0], "disabledBySystem");
    server.ado.state(|s| s.subscriptions.remove(&recorded[1]));

    let report = reconcile(&setup).await;
    assert_eq!(
        report["subscriptions"],
        json!({"checked": 4, "recreated": 2, "updated": 0}),
        "{report}"
    );
    let integration = server
        .app
        .store
        .get_integration(&setup.integration_id)
        .await
        .unwrap()
        .unwrap();
    for id in integration.azure_devops.subscriptions.values() {
        let subscription = server.ado.subscription_raw(id).expect("present");
        assert_eq!(subscription["status"], "enabled");
    }
    assert_eq!(
        server.ado.subscriptions().len(),
        4,
        "the disabled one was replaced, not kept"
    );
    let path = format!("/integrations/{}/status", setup.integration_id);
    let (_, status) = server.call(Method::GET, &path, None).await;
    assert_eq!(status["healthy"], true, "{status}");
    assert_eq!(status["last_reconcile"]["subscriptions"]["recreated"], 2);
    assert_nothing_left_to_repair(&setup).await;

    // The re-created subscriptions deliver: a person's change reaches Sentry again.
    let ops = json!([{"op": "replace", "path": "/fields/System.State", "value": "Resolved"}]);
    setup.edit_as_person(ops).await;
    settled(&server.app, &setup.integration_id).await;
    assert_eq!(server.sentry.issue(ISSUE).status, "resolved");
}

#[tokio::test]
async fn a_lost_delivery_and_a_webhook_sentry_never_sent_are_repaired_by_one_pass() {
    let setup = setup().await;
    let server = &setup.server;
    // Jamal assigns the work item to Alice; the delivery is lost.
    server.ado.state(|s| s.lose_deliveries = 1);
    let ops = json!([{"op": "add", "path": "/fields/System.AssignedTo", "value": "alice@fabrikam.example"}]);
    setup.edit_as_person(ops).await;
    // Someone resolves the issue in Sentry; its webhook never arrives.
    server.sentry.set_status(ISSUE, "resolved");
    settled(&server.app, &setup.integration_id).await;
    assert_eq!(server.sentry.issue(ISSUE).assigned_to, None, "nothing arrived");
    assert_eq!(field(&setup, "System.State"), "New");

    let report = reconcile(&setup).await;
    assert_eq!(repaired(&report), (1, 1, 0), "{report}");
    assert_eq!(server.sentry.issue(ISSUE).assigned_to.as_deref(), Some("user:101"));
    assert_eq!(field(&setup, "System.State"), "Resolved");
    assert_eq!(server.sentry.issue(ISSUE).status, "resolved");
    assert_nothing_left_to_repair(&setup).await;
}

#[tokio::test]
async fn an_unassign_in_sentry_reaches_azure_devops_within_one_pass() {
    let setup = setup().await;
    let server = &setup.server;
    let mut assigned = bridge_tests::sentry_app::fixture("webhook_issue_assigned.json");
    assigned["data"]["assignee"] =
        json!({"type": "user", "name": "Alice", "id": 101, "email": "alice@fabrikam.example"});
    assert_eq!(server.sentry_webhook("issue", &assigned).await, StatusCode::ACCEPTED);
    settled(&server.app, &setup.integration_id).await;
    assert_eq!(field(&setup, "System.AssignedTo"), "alice@fabrikam.example");

    // Unassigned in Sentry: Sentry sends no webhook for that.
    server.sentry.set_assignee(ISSUE, None);
    let report = reconcile(&setup).await;
    assert_eq!(repaired(&report), (0, 1, 0), "{report}");
    assert_eq!(
        field(&setup, "System.AssignedTo"),
        Value::Null,
        "unassigned in Azure DevOps"
    );
    assert_nothing_left_to_repair(&setup).await;
}

#[tokio::test]
async fn when_both_sides_moved_azure_devops_wins_and_the_conflict_is_counted() {
    let setup = setup().await;
    let server = &setup.server;
    server.ado.state(|s| s.lose_deliveries = 1);
    let ops = json!([{"op": "replace", "path": "/fields/System.State", "value": "Resolved"}]);
    setup.edit_as_person(ops).await;
    server.sentry.set_status(ISSUE, "ignored");

    let report = reconcile(&setup).await;
    assert_eq!(repaired(&report), (1, 0, 1), "{report}");
    assert_eq!(server.sentry.issue(ISSUE).status, "resolved", "Azure DevOps won");
    assert_eq!(field(&setup, "System.State"), "Resolved");
    assert_nothing_left_to_repair(&setup).await;
}

#[tokio::test]
async fn a_work_item_deleted_without_a_notice_is_noted_on_the_issue_once() {
    let setup = setup().await;
    let server = &setup.server;
    server
        .ado
        .state(|s| s.work_items.get_mut(&setup.work_item).unwrap().deleted = true);
    let report = reconcile(&setup).await;
    assert_eq!(repaired(&report), (1, 0, 0), "{report}");
    let comments = server.sentry.issue(ISSUE).comments;
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert!(comments[0].1.contains("was deleted"), "{comments:?}");
    assert_nothing_left_to_repair(&setup).await;
    assert_eq!(server.sentry.issue(ISSUE).comments.len(), 1, "noted once");
}

/// A link that never synced anything with Sentry (one made before reconciliation existed, or an
/// existing work item linked to an issue already resolved) is not "repaired": the pass takes the
/// issue as it is as what was last synced, and writes nothing to Azure DevOps.
#[tokio::test]
async fn a_link_without_a_sentry_baseline_takes_the_issue_as_it_is() {
    let setup = setup().await;
    let server = &setup.server;
    let store = &server.app.store;
    let mut link = store.get_link(&setup.integration_id, ISSUE).await.unwrap().unwrap();
    link.sync.sentry_status = None;
    store.update_link(&mut link).await.unwrap();
    server.sentry.set_status(ISSUE, "resolved");
    let before = writes(&setup);

    let report = reconcile(&setup).await;
    assert_eq!(repaired(&report), (0, 0, 0), "{report}");
    assert_eq!(writes(&setup), before, "nothing written");
    assert_eq!(field(&setup, "System.State"), "New");
    let link = store.get_link(&setup.integration_id, ISSUE).await.unwrap().unwrap();
    assert_eq!(link.sync.sentry_status.as_deref(), Some("resolved"), "the baseline");

    // From there on, a change is a change: ignored in Sentry without a webhook is repaired.
    server.sentry.set_status(ISSUE, "ignored");
    let report = reconcile(&setup).await;
    assert_eq!(repaired(&report), (0, 1, 0), "{report}");
}

/// One pass of an integration at a time: while one runs (the scheduled one, say), asking for
/// another is a conflict; once it ends, a pass runs.
#[tokio::test]
async fn one_pass_of_an_integration_at_a_time() {
    let setup = setup().await;
    let store = &setup.server.app.store;
    let name = format!("reconcile#{}", setup.integration_id);
    let running = store.try_lease(&name, 60, clock::now_ms()).await.unwrap().unwrap();
    let path = format!("/integrations/{}/reconcile", setup.integration_id);
    let (busy, _) = setup.server.call(Method::POST, &path, None).await;
    assert_eq!(busy, StatusCode::CONFLICT);
    store.release_lease(&running).await.unwrap();
    assert_eq!(reconcile(&setup).await["complete"], true);
}
