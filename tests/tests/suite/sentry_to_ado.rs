//! Sentry → Azure DevOps end to end: webhooks built like Sentry's samples, signed over the exact
//! bytes sent, to the server's `/hooks/sentry`; the worker writes to the fake Azure DevOps.

use bridge_tests::fake_ado::{Fault, FaultKind};
use bridge_tests::fake_sentry;
use bridge_tests::sentry_app::fixture;
use bridge_tests::server::{ADMIN_TOKEN, Backend, TestServer, start_with};
use bridge_tests::wait::eventually;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shared::azure_devops::patch;
use shared::clock;
use shared::records::EventStatus;
use shared::sentry::signature::sign;

const CLIENT_SECRET: &str = "sentry-client-secret-value";
const ISSUE: &str = "6543210987";

use bridge_tests::server::Linked as Setup;

async fn settled(setup: &Setup) {
    bridge_tests::wait::settled(&setup.server.app, &setup.integration_id).await;
}

/// An integration, and a work item created from Sentry issue 6543210987 (so they are linked).
async fn setup() -> Setup {
    setup_on(Backend::Local, true).await
}

/// [`setup`] on `backend`, with or without the in-process worker (without, the test drives it).
async fn setup_on(backend: Backend, worker: bool) -> Setup {
    Setup::create(start_with(backend, worker).await).await
}

/// A person's change in Sentry, then its webhook: `body` (exact bytes) posted as Sentry would,
/// signed with `secret`, stamped `timestamp`.
async fn deliver(server: &TestServer, resource: &str, body: &str, secret: &str, timestamp: i64) -> (StatusCode, Value) {
    bridge_tests::sentry_app::happened_in(&server.sentry, resource, body);
    let url = server.url("/hooks/sentry");
    bridge_tests::sentry_app::post_webhook(&server.client, &url, resource, body, secret, timestamp).await
}

/// A webhook signed with the app's client secret, sent now.
async fn deliver_now(server: &TestServer, resource: &str, body: &str) -> (StatusCode, Value) {
    deliver(server, resource, body, CLIENT_SECRET, now()).await
}

fn now() -> i64 {
    clock::now_ms() / 1000
}

fn compact(value: &Value) -> String {
    serde_json::to_string(value).unwrap()
}

fn webhook(name: &str) -> String {
    compact(&fixture(name))
}

/// Delivers the sample `issue.resolved` webhook, signed, stamped now.
async fn resolve_in_sentry(setup: &Setup) -> (StatusCode, Value) {
    deliver_now(&setup.server, "issue", &webhook("webhook_issue_resolved.json")).await
}

/// A person sets the work item's state in Azure DevOps; waits until the Sentry issue shows
/// `sentry_status` and the worker is done.
async fn set_state_in_ado(setup: &Setup, state: &str, sentry_status: &str) {
    let ops = json!([{"op": "replace", "path": "/fields/System.State", "value": state}]);
    setup.edit_as_person(ops).await;
    eventually(&format!("Sentry {sentry_status}"), || {
        setup.server.sentry.issue(ISSUE).status == sentry_status
    })
    .await;
    settled(setup).await;
}

fn patches(setup: &Setup) -> usize {
    setup
        .server
        .ado
        .requests()
        .iter()
        .filter(|r| r.method == Method::PATCH && r.path.contains("/wit/workitems/"))
        .count()
}

/// Delivers a sample comment webhook (`created`, `updated` or `deleted`), stamped now.
async fn comment_in_sentry(setup: &Setup, action: &str) {
    let (status, _) = deliver_now(
        &setup.server,
        "comment",
        &webhook(&format!("webhook_comment_{action}.json")),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    settled(setup).await;
}

/// A Sentry comment's create that fails while Azure DevOps is down; returns the failed event.
async fn comment_created_while_ado_is_down(setup: &Setup) -> shared::records::InboxEvent {
    setup.server.ado.fail("/comments", FaultKind::Unavailable, 50);
    comment_in_sentry(setup, "created").await;
    setup.server.ado.clear_faults();
    let failed = setup.events(EventStatus::Failed).await;
    assert_eq!(failed.len(), 1, "the create failed");
    failed.into_iter().next().unwrap()
}

/// Makes a failed event due now and waits for it to end.
async fn retry_now(setup: &Setup, mut event: shared::records::InboxEvent) -> shared::records::InboxEvent {
    event.status = EventStatus::Pending;
    event.next_attempt_at = clock::now_ms();
    setup.server.app.store.update_event(&mut event).await.unwrap();
    setup.server.app.wake.notify_one();
    bridge_tests::wait::ended(&setup.server.app, &event.id).await
}

fn state(setup: &Setup) -> String {
    setup.server.ado.state(|s| {
        s.work_items[&setup.work_item].fields["System.State"]
            .as_str()
            .unwrap()
            .to_string()
    })
}

#[tokio::test]
async fn resolve_and_unresolve_move_the_work_item_through_the_mapped_states() {
    let setup = setup().await;
    let (status, answer) = resolve_in_sentry(&setup).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    settled(&setup).await;
    assert_eq!(state(&setup), "Resolved", "the Resolved category by default");
    assert_eq!(patches(&setup), 1);
    let patch = setup
        .server
        .ado
        .requests()
        .into_iter()
        .rfind(|r| r.method == Method::PATCH)
        .unwrap();
    assert!(
        patch.body.contains("\"op\":\"test\"") && patch.body.contains("/rev"),
        "{}",
        patch.body
    );

    deliver_now(&setup.server, "issue", &webhook("webhook_issue_unresolved.json")).await;
    settled(&setup).await;
    assert_eq!(state(&setup), "Active");

    // A project mapping: resolve → Closed.
    let path = setup.server.url(&format!("/integrations/{}", setup.integration_id));
    let mapping = json!({"sync": {"projects": {"Fabrikam-Fiber": {"on_resolve": "Closed"}}}});
    let response = setup
        .server
        .client
        .patch(path)
        .bearer_auth(ADMIN_TOKEN)
        .json(&mapping)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    deliver(
        &setup.server,
        "issue",
        &webhook("webhook_issue_resolved.json"),
        CLIENT_SECRET,
        now() + 1,
    )
    .await;
    settled(&setup).await;
    assert_eq!(state(&setup), "Closed");
    assert_eq!(patches(&setup), 3, "exactly one write per change");

    // Ignored changes nothing by default.
    deliver_now(&setup.server, "issue", &webhook("webhook_issue_ignored.json")).await;
    settled(&setup).await;
    assert_eq!(patches(&setup), 3);
}

#[tokio::test]
async fn assignment_sets_the_identity() {
    let setup = setup().await;
    let mut assigned = fixture("webhook_issue_assigned.json");
    assigned["data"]["assignee"]["email"] = json!("alice@fabrikam.example");
    let (status, _) = deliver_now(&setup.server, "issue", &compact(&assigned)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    settled(&setup).await;
    let assignee = setup
        .server
        .ado
        .state(|s| s.work_items[&setup.work_item].fields["System.AssignedTo"].clone());
    assert_eq!(assignee, "alice@fabrikam.example");

    // Privacy hides the email: the members API gives it (user 102 is jamal@fabrikam.example).
    let mut hidden = fixture("webhook_issue_assigned.json");
    hidden["data"]["assignee"] = json!({"type": "user", "name": "Jamal", "id": 102});
    deliver(&setup.server, "issue", &compact(&hidden), CLIENT_SECRET, now() + 1).await;
    settled(&setup).await;
    let assignee = setup
        .server
        .ado
        .state(|s| s.work_items[&setup.work_item].fields["System.AssignedTo"].clone());
    let done = setup.events(EventStatus::Done).await;
    assert_eq!(
        assignee,
        "jamal@fabrikam.example",
        "{:?}",
        done.iter().map(|e| (&e.event_type, &e.last_error)).collect::<Vec<_>>()
    );
    let lookups = setup.server.ado.requests_to("_apis/identities").len();
    assert_eq!(lookups, 2, "one identity lookup per person, then cached");

    // Someone Azure DevOps does not know: recorded, not retried, no write.
    let before = patches(&setup);
    assigned["data"]["assignee"]["email"] = json!("john.smith@contoso.com");
    deliver_now(&setup.server, "issue", &compact(&assigned)).await;
    settled(&setup).await;
    assert_eq!(patches(&setup), before);
    let done = setup.events(EventStatus::Done).await;
    assert!(done.iter().any(|e| {
        e.last_error
            .as_deref()
            .is_some_and(|n| n.contains("john.smith@contoso.com"))
    }));
}

#[tokio::test]
async fn comments_are_mirrored_once_each() {
    let setup = setup().await;
    let created = webhook("webhook_comment_created.json");
    let timestamp = now();
    deliver(&setup.server, "comment", &created, CLIENT_SECRET, timestamp).await;
    let (status, answer) = deliver(&setup.server, "comment", &created, CLIENT_SECRET, timestamp).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (StatusCode::OK, Some("ignored")),
        "the same delivery twice is a duplicate"
    );
    settled(&setup).await;
    let mirrored = setup.ado_comments();
    assert_eq!(mirrored.len(), 1);
    assert_eq!(
        mirrored[0].text,
        "**Jane Doe** (Sentry) wrote:\n\nRepro'd on staging, see **ADO #4321**"
    );
    assert_eq!(mirrored[0].format, "markdown");

    deliver_now(&setup.server, "comment", &webhook("webhook_comment_updated.json")).await;
    settled(&setup).await;
    let edited = setup.ado_comments();
    assert_eq!(edited.len(), 1);
    assert_ne!(edited[0].text, mirrored[0].text, "edited in place");
    assert_eq!(edited[0].version, 2);

    deliver_now(&setup.server, "comment", &webhook("webhook_comment_deleted.json")).await;
    settled(&setup).await;
    assert!(setup.ado_comments().is_empty());
    let calls = setup.server.ado.requests();
    let comment_calls: Vec<_> = calls
        .iter()
        .filter(|r| r.path.contains("/comments"))
        .map(|r| r.method.clone())
        .collect();
    assert_eq!(comment_calls, vec![Method::POST, Method::PATCH, Method::DELETE]);
    // The mirrored comment came back as workitem.commented: not echoed into Sentry.
    assert!(setup.server.sentry.issue(ISSUE).comments.is_empty());
}

#[tokio::test]
async fn an_inbound_resolve_echoed_back_by_sentry_writes_nothing() {
    let setup = setup().await;
    set_state_in_ado(&setup, "Resolved", "resolved").await;
    let before = patches(&setup);
    deliver_now(&setup.server, "issue", &webhook("webhook_issue_resolved_by_app.json")).await;
    settled(&setup).await;
    assert_eq!(
        patches(&setup),
        before,
        "the echo of our own resolve causes no Azure DevOps write"
    );
}

/// Sends a captured `issue` webhook again, stamped `timestamp`, as someone other than Sentry
/// would (nothing changed in Sentry): validly signed, so accepted as a new delivery.
async fn replay(setup: &Setup, captured: &str, timestamp: i64) {
    let url = setup.server.url("/hooks/sentry");
    let client = &setup.server.client;
    let replayed = bridge_tests::sentry_app::post_webhook(client, &url, "issue", captured, CLIENT_SECRET, timestamp);
    let (status, _) = replayed.await;
    assert_eq!(status, StatusCode::ACCEPTED, "a validly signed new delivery");
    settled(setup).await;
}

/// Sentry's signature covers the body, not the timestamp: a captured `resolved` webhook sent
/// again later with a fresh timestamp is a new delivery. It must not flip the work item back
/// after the issue was reopened: the issue is read back from Sentry first, and Sentry says it is
/// unresolved.
#[tokio::test]
async fn a_replayed_resolve_with_a_fresh_timestamp_cannot_resolve_a_reopened_issue() {
    let setup = setup().await;
    let captured = webhook("webhook_issue_resolved.json");
    resolve_in_sentry(&setup).await;
    settled(&setup).await;
    assert_eq!(state(&setup), "Resolved");

    // Reopened in Azure DevOps; the bridge reopens the Sentry issue.
    set_state_in_ado(&setup, "Active", "unresolved").await;
    let before = patches(&setup);

    // The replay: same body and signature, a fresh timestamp — Sentry itself changed nothing.
    replay(&setup, &captured, now() + 1).await;
    assert_eq!(patches(&setup), before, "nothing written to Azure DevOps");
    assert_eq!(state(&setup), "Active");
    let done = setup.events(EventStatus::Done).await;
    assert!(
        done.iter()
            .any(|e| e.last_error.as_deref().unwrap_or_default().contains("replayed")),
        "the event says why: {done:?}"
    );
}

/// The same for an assignment: assigned to Alice, then to Jamal; Alice's captured webhook sent
/// again with a fresh timestamp does not take the work item back from Jamal.
#[tokio::test]
async fn a_replayed_assignment_does_not_take_the_work_item_from_the_new_assignee() {
    let setup = setup().await;
    let mut alice = fixture("webhook_issue_assigned.json");
    alice["data"]["assignee"] = json!({"type": "user", "name": "Alice", "id": 101, "email": "alice@fabrikam.example"});
    let captured = compact(&alice);
    let mut jamal = alice.clone();
    jamal["data"]["assignee"] = json!({"type": "user", "name": "Jamal", "id": 102, "email": "jamal@fabrikam.example"});
    let assignee = || {
        setup
            .server
            .ado
            .state(|s| s.work_items[&setup.work_item].fields["System.AssignedTo"].clone())
    };
    deliver_now(&setup.server, "issue", &captured).await;
    settled(&setup).await;
    deliver(&setup.server, "issue", &compact(&jamal), CLIENT_SECRET, now() + 1).await;
    settled(&setup).await;
    assert_eq!(assignee(), "jamal@fabrikam.example");
    let before = patches(&setup);

    replay(&setup, &captured, now() + 2).await;
    assert_eq!(patches(&setup), before, "nothing written to Azure DevOps");
    assert_eq!(assignee(), "jamal@fabrikam.example");
}

#[tokio::test]
async fn a_revision_conflict_is_read_again_and_retried() {
    let setup = setup().await;
    setup.server.ado.inject(Fault {
        path_contains: format!("/wit/workitems/{}", setup.work_item),
        method: Some(Method::PATCH),
        kind: FaultKind::RevisionConflict,
        times: 1,
        after: 0,
    });
    resolve_in_sentry(&setup).await;
    settled(&setup).await;
    assert_eq!(state(&setup), "Resolved");
    assert_eq!(patches(&setup), 2, "412, then the write after a fresh read");
    let done = setup.events(EventStatus::Done).await;
    let from_sentry: Vec<_> = done
        .iter()
        .filter(|e| e.source == shared::records::EventSource::Sentry)
        .collect();
    assert_eq!(from_sentry.len(), 1);
    assert!(
        done.iter().all(|e| e.last_error.is_none()),
        "the bridge's own write came back as an echo and was skipped"
    );
}

#[tokio::test]
async fn a_429_storm_is_survived_and_applied_once() {
    let setup = setup().await;
    setup.server.ado.fail(
        &format!("/wit/workitems/{}", setup.work_item),
        FaultKind::Throttle { retry_after_secs: 0 },
        6,
    );
    resolve_in_sentry(&setup).await;
    settled(&setup).await;
    let store = &setup.server.app.store;
    let mut failed = store
        .events_by_status(&setup.integration_id, EventStatus::Failed, 10)
        .await
        .unwrap();
    assert_eq!(
        failed.len(),
        1,
        "throttled past the client's retries: failed, to retry later"
    );
    assert!(failed[0].last_error.as_deref().unwrap().contains("429"));
    failed[0].next_attempt_at = clock::now_ms();
    store.update_event(&mut failed[0]).await.unwrap();
    setup.server.app.wake.notify_one();
    eventually("resolved", || state(&setup) == "Resolved").await;
    let event = bridge_tests::wait::ended(&setup.server.app, &failed[0].id).await;
    assert_eq!(event.status, EventStatus::Done);
    let writes = setup
        .server
        .ado
        .requests()
        .iter()
        .filter(|r| r.method == Method::PATCH && r.path.contains("/wit/workitems/"))
        .count();
    assert!(writes >= 1);
    assert_eq!(state(&setup), "Resolved");
}

#[tokio::test]
async fn signatures_timestamps_and_strangers() {
    let setup = setup().await;
    let body = webhook("webhook_issue_resolved.json");
    let mut tampered = body.clone().into_bytes();
    let position = tampered.iter().position(|b| *b == b'6').unwrap();
    tampered[position] = b'7';
    let response = setup
        .server
        .client
        .post(setup.server.url("/hooks/sentry"))
        .header("Sentry-Hook-Resource", "issue")
        .header("Sentry-Hook-Timestamp", now().to_string())
        .header("Sentry-Hook-Signature", sign(CLIENT_SECRET, body.as_bytes()))
        .body(tampered)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "one changed byte");
    let (status, _) = deliver(&setup.server, "issue", &body, "wrong-secret", now()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, answer) = deliver(&setup.server, "issue", &body, CLIENT_SECRET, now() - 3600).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "stale: {answer}");
    let mut stranger = fixture("webhook_issue_resolved.json");
    stranger["installation"]["uuid"] = json!("00000000-0000-4000-8000-000000000000");
    let (status, answer) = deliver_now(&setup.server, "issue", &compact(&stranger)).await;
    assert_eq!(
        (status, answer["reason"].as_str()),
        (StatusCode::OK, Some("unknown installation"))
    );
    let (status, _) = deliver_now(
        &setup.server,
        "installation",
        &webhook("webhook_installation_created.json"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = deliver_now(&setup.server, "issue", "{not json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    for status in [
        EventStatus::Pending,
        EventStatus::Done,
        EventStatus::Failed,
        EventStatus::Dead,
    ] {
        assert!(
            setup
                .server
                .app
                .store
                .events_by_status(&setup.integration_id, status, 10)
                .await
                .unwrap()
                .is_empty()
        );
    }
    assert_eq!(patches(&setup), 0);
}

/// The two directions are ordered against each other. A Sentry resolve that failed (Azure
/// DevOps down) and is retried after an Azure DevOps reactivation was synced to Sentry must not
/// win: that reactivation is the newer change of the Sentry status, so the late resolve is
/// superseded — Azure DevOps stays active, Sentry unresolved, as the person left them.
#[tokio::test]
async fn a_late_sentry_change_does_not_overwrite_a_newer_one_from_azure_devops() {
    let (setup, failed) = resolve_while_azure_devops_is_down().await;
    setup.server.sentry.add_issue(ISSUE);
    // The person resolves the work item, then reopens it; both sync to Sentry.
    for state in ["Resolved", "Active"] {
        let ops = json!([patch::replace("/fields/System.State", state)]);
        setup.edit_as_person(ops).await;
        settled(&setup).await;
    }
    assert_eq!(setup.server.sentry.issue(ISSUE).status, "unresolved");

    let retried = retry_now(&setup, failed.into_iter().next().unwrap()).await;
    assert_eq!(retried.status, EventStatus::Done);
    assert!(
        retried.last_error.as_deref().unwrap_or_default().contains("superseded"),
        "{retried:?}"
    );
    assert_eq!(state(&setup), "Active", "the newer reactivation stands");
    assert_eq!(setup.server.sentry.issue(ISSUE).status, "unresolved");
}

/// Sync settings the worker cannot read (another version's, or edited by hand) sync nothing: the
/// event goes dead with the reason — never "everything on", which would undo what a person
/// turned off.
#[tokio::test]
async fn unreadable_sync_settings_sync_nothing_and_say_why() {
    let setup = setup().await;
    let store = &setup.server.app.store;
    let mut integration = store.get_integration(&setup.integration_id).await.unwrap().unwrap();
    integration.sync = json!({"status_outbound": false, "projects": {"Fabrikam-Fiber": {"on_resolve": 5}}})
        .as_object()
        .unwrap()
        .clone();
    store.update_integration(&mut integration).await.unwrap();
    let (status, _) = resolve_in_sentry(&setup).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    settled(&setup).await;
    assert_eq!(patches(&setup), 0, "nothing written to Azure DevOps");
    let dead = setup.events(EventStatus::Dead).await;
    assert_eq!(dead.len(), 1);
    assert!(
        dead[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("sync settings cannot be read"),
        "{:?}",
        dead[0]
    );
}

#[tokio::test]
async fn an_alert_rule_firing_three_times_creates_one_work_item() {
    alert_rule_fires_three_times(&setup().await).await;
}

/// An alert rule fires three times for one Sentry issue: one work item, shown on the issue (the
/// `aws_local` suite runs this too).
pub(crate) async fn alert_rule_fires_three_times(setup: &Setup) {
    let issue = "7000000001";
    setup.server.sentry.add_issue(issue);
    let alert = |n: u64| bridge_tests::sentry_app::alert_webhook(issue, n);
    let before = setup.server.ado.state(|s| s.work_items.len());
    for n in 0..3 {
        let (status, answer) = deliver(
            &setup.server,
            "event_alert",
            &compact(&alert(n)),
            CLIENT_SECRET,
            now() + n as i64,
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    }
    settled(setup).await;
    assert_eq!(setup.server.ado.state(|s| s.work_items.len()), before + 1);
    let link = setup.server.stored_link(&setup.integration_id, issue).await;
    assert_eq!(link.created_by, shared::records::LinkOrigin::Alert);
    let item = setup.server.ado.state(|s| s.work_items[&link.work_item_id].clone());
    assert!(
        item.fields["System.Description"]
            .as_str()
            .unwrap()
            .contains("Errors in checkout")
    );
    let external = setup.server.sentry.external_issues();
    assert_eq!(external.len(), 1, "shown on the Sentry issue");
    assert_eq!(external[0].1["identifier"], link.work_item_id.to_string());
}

/// An alert rule's create whose answer was lost (Azure DevOps made the work item; a gateway
/// answered 502): the event fails, and its retry links that work item instead of making another.
#[tokio::test]
async fn an_alert_whose_create_answer_was_lost_makes_one_work_item() {
    let setup = setup().await;
    let issue = "7000000003";
    setup.server.sentry.add_issue(issue);
    setup.server.ado.inject(Fault {
        path_contains: "/_apis/wit/workitems/".into(),
        method: Some(reqwest::Method::POST),
        kind: FaultKind::AnswerLost,
        times: 1,
        after: 0,
    });
    let before = setup.server.ado.state(|s| s.work_items.len());
    let alert = compact(&bridge_tests::sentry_app::alert_webhook(issue, 0));
    let (status, _) = deliver_now(&setup.server, "event_alert", &alert).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    settled(&setup).await;
    assert_eq!(setup.events(EventStatus::Failed).await.len(), 1, "the answer was lost");
    assert_eq!(setup.server.ado.state(|s| s.work_items.len()), before + 1);

    let path = format!("/integrations/{}/events/retry?status=failed", setup.integration_id);
    let answer = setup.server.admin(reqwest::Method::POST, &path).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::ACCEPTED);
    settled(&setup).await;
    assert_eq!(
        setup.server.ado.state(|s| s.work_items.len()),
        before + 1,
        "no second work item"
    );
    let link = setup.server.stored_link(&setup.integration_id, issue).await;
    let newest = setup.server.ado.state(|s| *s.work_items.keys().max().unwrap());
    assert_eq!(link.work_item_id, newest);
    assert_eq!(setup.events(EventStatus::Failed).await.len(), 0);
}

/// An alert that finds a work item for its issue being created by someone else (the create's
/// lease is held past the wait) is retried later, not given up: "being created" is passing.
#[tokio::test]
async fn an_alert_whose_work_item_is_being_created_elsewhere_is_retried() {
    let setup = setup().await;
    let issue = "7000000004";
    setup.server.sentry.add_issue(issue);
    let store = &setup.server.app.store;
    let name = format!("create#{}#{issue}", setup.integration_id);
    let held = store.try_lease(&name, 60, clock::now_ms()).await.unwrap().unwrap();
    let alert = compact(&bridge_tests::sentry_app::alert_webhook(issue, 0));
    let (status, _) = deliver_now(&setup.server, "event_alert", &alert).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    settled(&setup).await;
    assert!(setup.events(EventStatus::Dead).await.is_empty(), "not given up");
    let failed = setup.events(EventStatus::Failed).await;
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0]
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("being created")
    );

    store.release_lease(&held).await.unwrap();
    let path = format!("/integrations/{}/events/retry?status=failed", setup.integration_id);
    let answer = setup.server.admin(reqwest::Method::POST, &path).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::ACCEPTED);
    settled(&setup).await;
    let link = setup.server.stored_link(&setup.integration_id, issue).await;
    assert_eq!(link.created_by, shared::records::LinkOrigin::Alert);
}

/// An alert webhook carries the whole event; one far over DynamoDB's 400 KB item limit is still
/// queued on the AWS shape (the inbox keeps what it reads) and creates its work item. Sentry does
/// not redeliver to an internal integration: a failed write here would be a lost alert.
#[tokio::test]
async fn a_huge_alert_event_creates_its_work_item_on_aws() {
    let setup = setup_on(Backend::Aws, true).await;
    let issue = "7000000002";
    setup.server.sentry.add_issue(issue);
    let frames: Vec<Value> = (0..5_000)
        .map(|n| json!({"filename": format!("app/module_{n}.js"), "lineno": n, "context_line": "x".repeat(80)}))
        .collect();
    let alert = json!({"action": "triggered", "installation": {"uuid": fake_sentry::INSTALLATION},
        "data": {"event": {"issue_id": issue, "title": "TypeError: x is undefined", "culprit": "app.js in render",
                           "issue_url": format!("https://contoso.sentry.io/issues/{issue}/"),
                           "exception": {"values": [{"stacktrace": {"frames": frames}}]}},
                 "triggered_rule": "Errors in checkout",
                 "issue_alert": {"id": 12, "title": "Errors in checkout",
                                 "settings": [{"name": "ado_project", "value": "Fabrikam-Fiber"}, {"name": "work_item_type", "value": "Bug"}]}},
        "actor": {"type": "application", "id": "sentry", "name": "Sentry"}});
    let body = compact(&alert);
    assert!(body.len() > 400_000);
    let (status, answer) = deliver_now(&setup.server, "event_alert", &body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    settled(&setup).await;
    let link = setup.server.stored_link(&setup.integration_id, issue).await;
    assert_eq!(link.created_by, shared::records::LinkOrigin::Alert);
}

/// An integration and a Sentry resolve that failed because Azure DevOps was down (it is back
/// now); the failed event.
async fn resolve_while_azure_devops_is_down() -> (Setup, Vec<shared::records::InboxEvent>) {
    let setup = setup().await;
    let work_item_path = format!("/wit/workitems/{}", setup.work_item);
    setup.server.ado.fail(&work_item_path, FaultKind::Unavailable, 50);
    resolve_in_sentry(&setup).await;
    settled(&setup).await;
    let failed = setup.events(EventStatus::Failed).await;
    assert_eq!(failed.len(), 1, "Azure DevOps is down: the resolve failed");
    setup.server.ado.clear_faults();
    (setup, failed)
}

/// A resolve that fails (Azure DevOps down) and is retried after the issue was unresolved again
/// must not resolve the work item: the newer unresolve wins, and the late retry is superseded.
#[tokio::test]
async fn a_late_retry_of_an_older_status_change_does_not_overwrite_a_newer_one() {
    let (setup, failed) = resolve_while_azure_devops_is_down().await;

    // The issue is unresolved again in Sentry; that change applies (nothing to write: the work
    // item was never resolved).
    let (status, _) = deliver_now(&setup.server, "issue", &webhook("webhook_issue_unresolved.json")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    settled(&setup).await;
    let before = patches(&setup);

    // The failed resolve comes due late: superseded, no PATCH, the work item stays open.
    let store = &setup.server.app.store;
    let mut due = failed[0].clone();
    due.status = EventStatus::Pending;
    due.next_attempt_at = clock::now_ms();
    store.update_event(&mut due).await.unwrap();
    setup.server.app.wake.notify_one();
    settled(&setup).await;
    assert_eq!(patches(&setup), before);
    assert_eq!(state(&setup), "New");
    let settled_event = store.get_event(&due.id).await.unwrap().unwrap();
    assert!(
        settled_event
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("superseded"),
        "{settled_event:?}"
    );
}

/// An edit of a Sentry comment whose create is still failing mirrors the edited text, once; the
/// late create then posts nothing.
#[tokio::test]
async fn an_edit_of_a_comment_whose_create_failed_mirrors_the_edited_text_once() {
    let setup = setup().await;
    let failed = comment_created_while_ado_is_down(&setup).await;
    comment_in_sentry(&setup, "updated").await;
    let mirrored = setup.ado_comments();
    assert_eq!(mirrored.len(), 1);
    let edited = fixture("webhook_comment_updated.json")["data"]["comment"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(mirrored[0].text.contains(edited.trim()), "{:?}", mirrored[0].text);

    assert_eq!(retry_now(&setup, failed).await.status, EventStatus::Done);
    let after = setup.ado_comments();
    assert_eq!(after.len(), 1, "the late create posts nothing: {after:?}");
    assert_eq!(after[0].text, mirrored[0].text);
}

/// A Sentry comment deleted while its create is failing is never posted.
#[tokio::test]
async fn a_comment_deleted_while_its_create_failed_is_never_posted() {
    let setup = setup().await;
    let failed = comment_created_while_ado_is_down(&setup).await;
    comment_in_sentry(&setup, "deleted").await;
    let retried = retry_now(&setup, failed).await;
    assert_eq!(retried.status, EventStatus::Done);
    assert!(setup.ado_comments().is_empty());
    assert!(
        retried.last_error.as_deref().unwrap_or_default().contains("deleted"),
        "{retried:?}"
    );
    // And the same after a mirrored comment is deleted: a late create (a new delivery, a later
    // timestamp than the first) posts nothing.
    let created = webhook("webhook_comment_created.json");
    let (status, _) = deliver(&setup.server, "comment", &created, CLIENT_SECRET, now() + 5).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    settled(&setup).await;
    assert!(setup.ado_comments().is_empty(), "a deleted comment stays deleted");
}

/// A worker killed right after posting a comment to Azure DevOps, before recording it, leaves
/// the event claimed with no attempt counted. The next worker finds the comment it posted
/// instead of posting it twice.
#[tokio::test]
async fn a_comment_whose_worker_died_after_posting_is_not_posted_again() {
    let setup = setup_on(Backend::Local, false).await;
    let app = &setup.server.app;
    let (status, _) = deliver_now(&setup.server, "comment", &webhook("webhook_comment_created.json")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let event = setup.events(EventStatus::Pending).await.remove(0);
    assert_eq!(
        shared::worker::process(app, event.clone()).await.unwrap(),
        Some(EventStatus::Done)
    );
    assert_eq!(setup.ado_comments().len(), 1);

    // What the killed worker leaves: the comment posted, no pair recorded, the event still
    // claimed (lease run out) with no attempt counted.
    let comment_id = fixture("webhook_comment_created.json")["data"]["comment_id"].to_string();
    let pair = app
        .store
        .comment_link_by_sentry(&setup.integration_id, &comment_id)
        .await
        .unwrap()
        .expect("the pair was recorded");
    app.store.delete_comment_link(&pair).await.unwrap();
    let mut orphan = app.store.get_event(&event.id).await.unwrap().unwrap();
    orphan.status = EventStatus::Pending;
    orphan.attempts = 0;
    orphan.claims = 1;
    orphan.last_error = None;
    orphan.expires_at = None;
    orphan.next_attempt_at = clock::now_ms() - 1;
    app.store.update_event(&mut orphan).await.unwrap();

    assert_eq!(
        shared::worker::process(app, orphan).await.unwrap(),
        Some(EventStatus::Done)
    );
    assert_eq!(setup.ado_comments().len(), 1, "found, not posted again");
    assert!(
        app.store
            .comment_link_by_sentry(&setup.integration_id, &comment_id)
            .await
            .unwrap()
            .is_some()
    );
}
