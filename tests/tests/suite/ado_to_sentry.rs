//! Azure DevOps → Sentry end to end: the fake Azure DevOps delivers real-shaped service-hook
//! payloads to the server's intake route, the worker applies them to the fake Sentry.

use std::time::Duration;

use bridge_tests::fake_ado::{self, FakeIdentity};
use bridge_tests::server::{ADMIN_TOKEN, Backend, ONE_CALL, TestServer, start_over, start_with};
use bridge_tests::wait::eventually;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::azure_devops::patch;
use shared::clock;
use shared::records::{EventStatus, Link, LinkOrigin, LinkSyncState};

const JAMAL: &str = bridge_tests::fake_ado::PERSON_IDENTITY_ID;
const ISSUE: &str = "77";

use bridge_tests::server::Linked as Setup;

async fn settled(setup: &Setup) {
    bridge_tests::wait::settled(&setup.server.app, &setup.integration_id).await;
}

async fn setup() -> Setup {
    setup_on(Backend::Local, true).await
}

async fn setup_on(backend: Backend, worker: bool) -> Setup {
    setup_over(start_with(backend, worker).await).await
}

/// [`setup`] on a server already started.
async fn setup_over(server: TestServer) -> Setup {
    let integration_id = server.create_integration().await;

    // A work item (created by the bridge, as the create flow will) linked to Sentry issue 77.
    let work_item = server.ado.state(|s| {
        s.next_work_item += 1;
        s.next_work_item - 1
    });
    server.ado.state(|s| {
        let mut fields = serde_json::Map::new();
        for (name, value) in [
            ("System.Title", "ZeroDivisionError"),
            ("System.State", "New"),
            ("System.TeamProject", "Fabrikam-Fiber"),
            ("System.WorkItemType", "Bug"),
        ] {
            fields.insert(name.into(), json!(value));
        }
        s.work_items.insert(
            work_item,
            fake_ado::FakeWorkItem {
                id: work_item,
                rev: 1,
                project: "Fabrikam-Fiber".into(),
                work_item_type: "Bug".into(),
                fields,
                relations: vec![],
                comments: vec![],
                deleted: false,
            },
        );
        s.identities.push(FakeIdentity {
            id: "b0b".into(),
            display_name: "Bob Unknown".into(),
            email: "bob@fabrikam.example".into(),
        });
    });
    server.sentry.add_issue(ISSUE);
    let now = clock::now_ms();
    let mut link = Link {
        integration_id: integration_id.clone(),
        sentry_issue_id: ISSUE.into(),
        sentry_short_id: Some("ACME-1".into()),
        sentry_url: None,
        work_item_id: work_item,
        work_item_url: Some(format!(
            "{}/Fabrikam-Fiber/_workitems/edit/{work_item}",
            server.ado.org_url()
        )),
        project: "Fabrikam-Fiber".into(),
        work_item_type: "Bug".into(),
        // What the create and link flows record: the revision and state the work item had.
        sync: LinkSyncState {
            last_applied_rev: Some(1),
            ado_state: Some("New".into()),
            ..Default::default()
        },
        created_by: LinkOrigin::Create,
        created_at: now,
        updated_at: now,
        replaced_at: None,
        version: 0,
    };
    server.app.store.activate_link(&mut link, now).await.unwrap();
    Setup {
        server,
        integration_id,
        work_item,
    }
}

/// Moves the work item to `state` as `by`; the fake delivers the hook (nothing waits for the worker).
async fn edit_state(setup: &Setup, by: &str, state: &str) {
    let ops = json!([patch::replace("/fields/System.State", state)]);
    setup
        .server
        .ado
        .edit_work_item_as(by, setup.work_item, ops)
        .await
        .unwrap();
}

/// Applies JSON Patch `ops` to the work item as Jamal and waits until the worker is done.
async fn edit_as_person(setup: &Setup, ops: Value) {
    setup.edit_as_person(ops).await;
    settled(setup).await;
}

/// Like [`edit_state`], then waits until the worker has applied it.
async fn set_state(setup: &Setup, by: &str, state: &str) {
    edit_state(setup, by, state).await;
    settled(setup).await;
}

/// The link of Sentry issue 77 as stored now.
async fn current_link(setup: &Setup) -> Link {
    setup.server.stored_link(&setup.integration_id, ISSUE).await
}

fn sentry_writes(setup: &Setup) -> usize {
    setup.server.sentry.writes().len()
}

#[tokio::test]
async fn state_moves_resolve_and_unresolve_the_linked_issue() {
    let setup = setup().await;
    let sentry = &setup.server.sentry;

    set_state(&setup, JAMAL, "Active").await;
    assert_eq!(sentry.issue(ISSUE).status, "unresolved");
    assert_eq!(sentry_writes(&setup), 0, "New → Active is not-done → not-done");

    set_state(&setup, JAMAL, "Resolved").await;
    eventually("resolved", || sentry.issue(ISSUE).status == "resolved").await;
    assert_eq!(sentry_writes(&setup), 1);

    set_state(&setup, JAMAL, "Closed").await;
    assert_eq!(sentry_writes(&setup), 1, "Resolved → Closed is done → done: nothing");

    set_state(&setup, JAMAL, "Active").await;
    eventually("unresolved", || sentry.issue(ISSUE).status == "unresolved").await;
    assert_eq!(sentry_writes(&setup), 2);

    let link = current_link(&setup).await;
    assert_eq!(link.sync.last_applied_rev, Some(5));
    assert_eq!(link.sync.ado_state.as_deref(), Some("Active"));
    assert_eq!(link.sync.sentry_status.as_deref(), Some("unresolved"));
    let deliveries = setup.server.ado.deliveries();
    assert!(
        deliveries.iter().all(|d| d.status == Some(202)),
        "{:?}",
        deliveries.iter().map(|d| d.status).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn changes_by_the_bridge_itself_are_not_echoed() {
    let setup = setup().await;
    set_state(&setup, fake_ado::BRIDGE_IDENTITY_ID, "Resolved").await;
    assert_eq!(sentry_writes(&setup), 0);
    let link = current_link(&setup).await;
    assert_eq!(
        link.sync.last_applied_rev,
        Some(2),
        "the echo still advances the revision"
    );
}

#[tokio::test]
async fn assign_and_unassign_map_to_sentry_members() {
    let setup = setup().await;
    let sentry = &setup.server.sentry;
    let assign = |email: &str| json!([patch::field("System.AssignedTo", email)]);
    setup.edit_as_person(assign("alice@fabrikam.example")).await;
    eventually("assigned", || {
        sentry.issue(ISSUE).assigned_to.as_deref() == Some("user:101")
    })
    .await;

    setup
        .server
        .ado
        .edit_work_item_as(
            JAMAL,
            setup.work_item,
            json!([patch::remove("/fields/System.AssignedTo")]),
        )
        .await
        .unwrap();
    eventually("unassigned", || sentry.issue(ISSUE).assigned_to.is_none()).await;
    settled(&setup).await;

    // Someone Sentry does not know: recorded on the event, not retried.
    let before = sentry_writes(&setup);
    setup.edit_as_person(assign("bob@fabrikam.example")).await;
    settled(&setup).await;
    assert_eq!(sentry_writes(&setup), before);
    let done = setup.events(EventStatus::Done).await;
    let noted = done.iter().find(|e| {
        e.last_error
            .as_deref()
            .is_some_and(|n| n.contains("bob@fabrikam.example"))
    });
    assert!(noted.is_some(), "{done:?}");
    assert!(setup.events(EventStatus::Failed).await.is_empty());
}

#[tokio::test]
async fn a_comment_appears_once_even_when_delivered_three_times() {
    let setup = setup().await;
    setup
        .server
        .ado
        .comment_as(JAMAL, setup.work_item, "<p>Seen on <b>prod</b> too</p>")
        .await
        .unwrap();
    let sentry = &setup.server.sentry;
    eventually("comment", || !sentry.issue(ISSUE).comments.is_empty()).await;
    let comments = sentry.issue(ISSUE).comments;
    assert_eq!(comments.len(), 1);
    assert!(
        comments[0]
            .1
            .starts_with("**Jamal Hartnett** (Azure DevOps) wrote:\n\nSeen on prod too"),
        "{}",
        comments[0].1
    );

    // Azure DevOps redelivers the same notification: the same body twice more.
    let ado = &setup.server.ado;
    let delivery = ado.delivery_where(|d| d.event_type == "workitem.commented").unwrap();
    for _ in 0..2 {
        let response = ado.redeliver(&delivery, &delivery.payload).await;
        assert_eq!(response.status(), StatusCode::OK);
        let answer = response.json::<Value>().await.unwrap();
        assert_eq!(answer["status"], "duplicate");
        let event_id = answer["event_id"].as_str().unwrap();
        assert!(event_id.starts_with("ado:"), "{answer}");
        assert!(
            setup.server.app.store.get_event(event_id).await.unwrap().is_some(),
            "{answer}"
        );
    }
    settled(&setup).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sentry.issue(ISSUE).comments.len(), 1);
    let link = setup
        .server
        .app
        .store
        .comment_link_by_sentry(&setup.integration_id, &comments[0].0)
        .await
        .unwrap();
    assert!(link.is_some(), "the comment pair is recorded");
}

/// Two Sentry issues linked to one work item (the issue-link's "link" to an existing work item):
/// a person's comment on it reaches both issues, once each, however often it is delivered.
#[tokio::test]
async fn a_work_item_comment_reaches_every_linked_issue_once() {
    let setup = setup().await;
    let store = &setup.server.app.store;
    let mut second = store.get_link(&setup.integration_id, ISSUE).await.unwrap().unwrap();
    second.sentry_issue_id = "78".into();
    second.version = 0;
    store.activate_link(&mut second, clock::now_ms()).await.unwrap();
    setup.server.sentry.add_issue("78");

    let sentry = &setup.server.sentry;
    setup
        .server
        .ado
        .comment_as(JAMAL, setup.work_item, "<p>Seen on prod too</p>")
        .await
        .unwrap();
    eventually("the comment on both issues", || {
        sentry.issue(ISSUE).comments.len() == 1 && sentry.issue("78").comments.len() == 1
    })
    .await;
    let ado = &setup.server.ado;
    let delivery = ado.delivery_where(|d| d.event_type == "workitem.commented").unwrap();
    for _ in 0..2 {
        ado.redeliver(&delivery, &delivery.payload).await;
    }
    settled(&setup).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    for issue in [ISSUE, "78"] {
        let comments = sentry.issue(issue).comments;
        assert_eq!(comments.len(), 1, "issue {issue}: {comments:?}");
        assert!(comments[0].1.contains("Seen on prod too"), "{comments:?}");
    }
    assert!(setup.events(EventStatus::Failed).await.is_empty());
    assert!(setup.events(EventStatus::Dead).await.is_empty());
    let posts_to_78 = sentry
        .calls()
        .iter()
        .filter(|c| c.method == reqwest::Method::POST && c.path.contains("/issues/78/comments"))
        .count();
    assert_eq!(posts_to_78, 1, "each redelivery looked on the issue first");
}

/// A person's comment that merely quotes the bridge's attribution is theirs, and is mirrored:
/// only a comment whose first line is the attribution is one the bridge posted.
#[tokio::test]
async fn a_comment_quoting_an_attribution_is_still_mirrored() {
    let setup = setup().await;
    let text = "<p>As the bot said, **Jane** (Sentry) wrote: fixed. It is not fixed.</p>";
    setup.server.ado.comment_as(JAMAL, setup.work_item, text).await.unwrap();
    settled(&setup).await;
    let comments = setup.server.sentry.issue(ISSUE).comments;
    assert_eq!(comments.len(), 1, "mirrored, not taken for an echo");
    assert!(comments[0].1.contains("It is not fixed."), "{}", comments[0].1);
}

/// A table that, the first time a link is saved, lets another worker save it first: the link's
/// Sentry status moves to "resolved" (a Sentry → Azure DevOps event recording its resolve), so
/// the save in hand meets a version conflict and is retried on the fresh link.
struct ConcurrentResolve {
    inner: shared::store::SqliteTable,
    armed: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl shared::store::Table for ConcurrentResolve {
    async fn get(&self, key: &shared::store::Key) -> Result<Option<shared::store::Item>, shared::store::StoreError> {
        self.inner.get(key).await
    }
    async fn write(&self, ops: Vec<shared::store::WriteOp>) -> Result<(), shared::store::StoreError> {
        use shared::store::{Condition, WriteOp};
        if let [
            WriteOp::Put {
                item,
                condition: Condition::Version(_),
            },
        ] = ops.as_slice()
            && item.key.sk.starts_with("LINK#")
            && self.armed.swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            let mut other = self.inner.get(&item.key).await?.expect("the link");
            let mut link: Value = serde_json::from_str(&other.data).unwrap();
            link["sync"]["sentry_status"] = json!("resolved");
            other.data = link.to_string();
            other.version += 1;
            self.inner
                .write(vec![WriteOp::Put {
                    item: other,
                    condition: Condition::None,
                }])
                .await?;
        }
        self.inner.write(ops).await
    }
    async fn query(&self, query: &shared::store::Query) -> Result<Vec<shared::store::Item>, shared::store::StoreError> {
        self.inner.query(query).await
    }
}

/// A save of the link retried after a version conflict writes only what its own event changed:
/// copying the link as read at the start reverted the other direction's change made meanwhile,
/// and later changes were then skipped as "already synced".
#[tokio::test]
async fn a_retried_link_save_keeps_what_the_other_direction_saved_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let table = std::sync::Arc::new(ConcurrentResolve {
        inner: shared::store::SqliteTable::open(&dir.path().join("db.sqlite3")).unwrap(),
        armed: std::sync::atomic::AtomicBool::new(false),
    });
    let setup = setup_over(start_over(table.clone(), true).await).await;
    table.armed.store(true, std::sync::atomic::Ordering::SeqCst);
    setup
        .server
        .ado
        .comment_as(JAMAL, setup.work_item, "<p>Seen on prod</p>")
        .await
        .unwrap();
    settled(&setup).await;
    assert!(
        !table.armed.load(std::sync::atomic::Ordering::SeqCst),
        "the concurrent save happened"
    );
    assert_eq!(setup.server.sentry.issue(ISSUE).comments.len(), 1);
    let link = current_link(&setup).await;
    assert_eq!(
        link.sync.sentry_status.as_deref(),
        Some("resolved"),
        "the other direction's save stands"
    );
}

/// A Sentry outage is not a bad event. While Sentry is down its events are kept — failed, backing
/// off, never dead however many tries — and the integration is paused once the failures repeat,
/// so a run tries two events, not every one. Once Sentry is back, one call queues them again.
#[tokio::test]
async fn an_outage_kills_no_event_and_one_call_requeues_them_all() {
    let setup = setup_on(Backend::Local, false).await;
    let app = &setup.server.app;
    for n in 0..3 {
        let text = format!("<p>comment {n}</p>");
        setup
            .server
            .ado
            .comment_as(JAMAL, setup.work_item, &text)
            .await
            .unwrap();
    }
    setup.server.sentry.fail_next(10_000);
    let budget = shared::worker::Budget::unlimited();
    shared::worker::run_due(app, 100, budget, 0).await.unwrap();
    let failed = setup.events(EventStatus::Failed).await;
    assert_eq!(
        failed.len(),
        2,
        "two events met the outage; then the integration paused"
    );
    assert_eq!(setup.events(EventStatus::Pending).await.len(), 1);
    assert!(
        setup.events(EventStatus::Pending).await.iter().all(|e| e.claims == 0),
        "untouched"
    );

    // Far more tries than an event gets: still failed, never dead.
    for _ in 0..shared::worker::MAX_ATTEMPTS + 2 {
        for mut event in setup
            .events(EventStatus::Failed)
            .await
            .into_iter()
            .chain(setup.events(EventStatus::Pending).await)
        {
            event.next_attempt_at = clock::now_ms() - 1;
            app.store.update_event(&mut event).await.unwrap();
        }
        app.outages.clear(&setup.integration_id);
        shared::worker::run_due(app, 100, budget, 0).await.unwrap();
    }
    assert!(
        setup.events(EventStatus::Dead).await.is_empty(),
        "an outage kills no event"
    );
    let tried = setup.events(EventStatus::Failed).await;
    assert_eq!(tried.len(), 2, "each run tried two events; the third waited, untouched");
    assert!(
        tried.iter().all(|e| e.attempts > shared::worker::MAX_ATTEMPTS),
        "{tried:?}"
    );
    assert_eq!(setup.events(EventStatus::Pending).await.len(), 1);

    setup.server.sentry.fail_next(0);
    let path = format!("/integrations/{}/events/retry?status=failed", setup.integration_id);
    let answer = setup.server.admin(reqwest::Method::POST, &path).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::ACCEPTED);
    assert_eq!(answer.json::<Value>().await.unwrap()["queued"], 2);
    shared::worker::run_due(app, 100, budget, 0).await.unwrap();
    assert_eq!(setup.events(EventStatus::Done).await.len(), 3);
    assert_eq!(setup.server.sentry.issue(ISSUE).comments.len(), 3);
    let done = path.replace("failed", "done");
    let wrong = setup.server.admin(reqwest::Method::POST, &done).send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

/// A comment far over DynamoDB's 400 KB item limit (a pasted picture inline, say) is still
/// accepted on the AWS shape — the inbox keeps it cut — and posted once, ending with a note.
#[tokio::test]
async fn a_huge_comment_is_accepted_and_posted_cut() {
    let setup = setup_on(Backend::Aws, true).await;
    let picture = format!("<img src=\"data:image/png;base64,{}\">", "A".repeat(600_000));
    setup
        .server
        .ado
        .comment_as(JAMAL, setup.work_item, &format!("<p>Stack trace attached</p>{picture}"))
        .await
        .unwrap();
    let delivery = setup
        .server
        .ado
        .delivery_where(|d| d.event_type == "workitem.commented")
        .unwrap();
    assert_eq!(delivery.status, Some(202), "accepted, not a 5xx to redeliver forever");
    let sentry = &setup.server.sentry;
    eventually("comment", || !sentry.issue(ISSUE).comments.is_empty()).await;
    let comments = sentry.issue(ISSUE).comments;
    assert_eq!(comments.len(), 1);
    assert!(comments[0].1.contains("Stack trace attached"), "{}", comments[0].1);
    assert!(
        comments[0]
            .1
            .contains("(cut here: the whole comment is in Azure DevOps)")
    );
    assert!(comments[0].1.len() < 1_000, "the picture's data is not posted");
}

#[tokio::test]
async fn an_older_revision_after_a_newer_one_is_ignored() {
    let setup = setup().await;
    set_state(&setup, JAMAL, "Resolved").await;
    set_state(&setup, JAMAL, "Active").await;
    eventually("unresolved", || setup.server.sentry.issue(ISSUE).status == "unresolved").await;
    let writes = sentry_writes(&setup);

    // The rev-2 notification (Active → Resolved) arrives late, as a different notification.
    let ado = &setup.server.ado;
    let late = ado.delivery_where(|d| d.payload["resource"]["rev"] == 2).unwrap();
    let mut payload = late.payload.clone();
    payload["id"] = json!("late-notification");
    assert_eq!(ado.redeliver(&late, &payload).await.status(), StatusCode::ACCEPTED);
    settled(&setup).await;
    assert_eq!(sentry_writes(&setup), writes);
    assert_eq!(setup.server.sentry.issue(ISSUE).status, "unresolved");
}

#[tokio::test]
async fn a_sentry_outage_leaves_the_event_failed_then_it_applies_once() {
    let setup = setup().await;
    setup.server.sentry.fail_next(ONE_CALL);
    set_state(&setup, JAMAL, "Resolved").await;
    let store = &setup.server.app.store;
    let failed = setup.events(EventStatus::Failed).await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].attempts, 1);
    assert!(
        failed[0].last_error.as_deref().unwrap().contains("503"),
        "{:?}",
        failed[0].last_error
    );
    assert!(failed[0].next_attempt_at > clock::now_ms() + 20_000, "backs off");
    assert_eq!(setup.server.sentry.issue(ISSUE).status, "unresolved");

    // The admin API shows it.
    let listed: Value = setup
        .server
        .client
        .get(
            setup
                .server
                .url(&format!("/integrations/{}/events?status=failed", setup.integration_id)),
        )
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["events"][0]["id"], failed[0].id.as_str());
    assert_eq!(listed["events"][0]["attempts"], 1);

    // Sentry recovers and the retry comes due (the clock is moved by making the event due now).
    setup.server.sentry.fail_next(0);
    let mut due = failed[0].clone();
    due.next_attempt_at = clock::now_ms();
    store.update_event(&mut due).await.unwrap();
    setup.server.app.wake.notify_one();
    eventually("resolved after recovery", || {
        setup.server.sentry.issue(ISSUE).status == "resolved"
    })
    .await;
    let done = bridge_tests::wait::ended(&setup.server.app, &due.id).await;
    assert_eq!(done.status, EventStatus::Done);
    let status_writes = setup
        .server
        .sentry
        .writes()
        .iter()
        .filter(|c| c.body.contains("resolved"))
        .count();
    assert_eq!(
        status_writes,
        ONE_CALL as usize + 1,
        "the failed call's attempts and the one that applied; nothing after"
    );
}

#[tokio::test]
async fn the_admin_api_requeues_a_dead_event() {
    let setup = setup().await;
    setup.server.sentry.fail_next(ONE_CALL);
    set_state(&setup, JAMAL, "Resolved").await;
    let store = &setup.server.app.store;
    let mut event = setup.events(EventStatus::Failed).await.remove(0);
    event.status = EventStatus::Dead;
    store.update_event(&mut event).await.unwrap();
    setup.server.sentry.fail_next(0);

    let url = setup.server.url(&format!(
        "/integrations/{}/events/{}/retry",
        setup.integration_id, event.id
    ));
    let response = setup
        .server
        .client
        .post(&url)
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    eventually("applied", || setup.server.sentry.issue(ISSUE).status == "resolved").await;
    settled(&setup).await;
    let again = setup
        .server
        .client
        .post(&url)
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::CONFLICT, "a done event is not requeued");
    let missing = setup
        .server
        .url(&format!("/integrations/{}/events/nope/retry", setup.integration_id));
    assert_eq!(
        setup
            .server
            .client
            .post(&missing)
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
}

/// `DELETE /integrations/{id}` through the admin API; asserts `204`.
async fn delete_integration(setup: &Setup) {
    let path = format!("/integrations/{}", setup.integration_id);
    let deleted = setup.server.admin(reqwest::Method::DELETE, &path).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
}

/// Two integrations on one Azure DevOps organization (two Sentry organizations), one work item
/// linked in both: Azure DevOps sends each subscription the same event (one event id), and
/// each integration applies it — an inbox key without the integration made the second a
/// "duplicate", never applied.
#[tokio::test]
async fn one_work_item_linked_in_two_integrations_syncs_to_both() {
    let setup = setup().await;
    let other_sentry = bridge_tests::fake_sentry::FakeSentry::start().await;
    other_sentry.add_issue("88");
    let mut body = setup.server.create_body();
    body["name"] = json!("second sentry organization");
    body["sentry"]["base_url"] = json!(other_sentry.base_url());
    let created = setup
        .server
        .client
        .post(setup.server.url("/integrations"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let second: Value = created.json().await.unwrap();
    let second = second["id"].as_str().unwrap().to_string();
    let mut link = current_link(&setup).await;
    link.integration_id = second.clone();
    link.sentry_issue_id = "88".into();
    link.version = 0;
    setup
        .server
        .app
        .store
        .activate_link(&mut link, clock::now_ms())
        .await
        .unwrap();

    set_state(&setup, JAMAL, "Resolved").await;
    bridge_tests::wait::settled(&setup.server.app, &second).await;
    assert_eq!(setup.server.sentry.issue(ISSUE).status, "resolved");
    assert_eq!(
        other_sentry.issue("88").status,
        "resolved",
        "the second integration applied it too"
    );
}

/// A server without a worker, and the event of a resolve in Azure DevOps, queued.
async fn resolve_queued() -> (Setup, shared::records::InboxEvent) {
    let setup = setup_on(Backend::Local, false).await;
    edit_state(&setup, JAMAL, "Resolved").await;
    let event = setup.events(EventStatus::Pending).await.remove(0);
    (setup, event)
}

/// A failed event a worker holds right now is not requeued by the admin API (two workers would
/// apply it); once its worker lets go it is, and a requeued event carries no "held" mark into
/// its next claim (which would count an attempt nobody made).
#[tokio::test]
async fn the_admin_api_does_not_requeue_an_event_a_worker_holds() {
    let (setup, mut event) = resolve_queued().await;
    let store = &setup.server.app.store;
    event.status = EventStatus::Failed;
    event.attempts = 1;
    event.claims = 2;
    event.held = true;
    event.next_attempt_at = clock::now_ms() + 60_000;
    store.update_event(&mut event).await.unwrap();
    let url = setup.server.url(&format!(
        "/integrations/{}/events/{}/retry",
        setup.integration_id, event.id
    ));
    let retry = || setup.server.client.post(&url).bearer_auth(ADMIN_TOKEN).send();
    assert_eq!(retry().await.unwrap().status(), StatusCode::CONFLICT);

    let mut released = store.get_event(&event.id).await.unwrap().unwrap();
    released.next_attempt_at = clock::now_ms() - 1;
    store.update_event(&mut released).await.unwrap();
    assert_eq!(retry().await.unwrap().status(), StatusCode::ACCEPTED);
    let queued = store.get_event(&event.id).await.unwrap().unwrap();
    assert_eq!(
        (queued.status, queued.held, queued.attempts),
        (EventStatus::Pending, false, 0)
    );
    shared::worker::process(&setup.server.app, queued).await.unwrap();
    let done = store.get_event(&event.id).await.unwrap().unwrap();
    assert_eq!((done.status, done.attempts), (EventStatus::Done, 0), "{done:?}");
}

/// A worker that died holding an event (its lease ran out, nothing settled) costs that event
/// one attempt; the next claim applies it, once.
#[tokio::test]
async fn a_claim_whose_worker_died_counts_one_attempt_and_the_event_still_applies_once() {
    let (setup, mut event) = resolve_queued().await;
    let store = &setup.server.app.store;
    event.claims = 1;
    event.held = true;
    event.next_attempt_at = clock::now_ms() - 1;
    store.update_event(&mut event).await.unwrap();
    shared::worker::run_due(&setup.server.app, 10, shared::worker::Budget::unlimited(), 0)
        .await
        .unwrap();
    let done = store.get_event(&event.id).await.unwrap().unwrap();
    assert_eq!(
        (done.status, done.attempts, done.claims, done.held),
        (EventStatus::Done, 1, 2, false)
    );
    assert_eq!(setup.server.sentry.issue(ISSUE).status, "resolved");
    assert_eq!(sentry_writes(&setup), 1, "applied once");
}

/// Deleting an integration ends the events still owed to it (`dead`, noted): nothing could apply
/// them, and no worker would look for them any more.
#[tokio::test]
async fn deleting_an_integration_ends_its_owed_events() {
    let setup = setup_on(Backend::Local, false).await;
    edit_state(&setup, JAMAL, "Resolved").await;
    let pending = setup.events(EventStatus::Pending).await;
    assert_eq!(pending.len(), 1);
    delete_integration(&setup).await;
    assert!(setup.events(EventStatus::Pending).await.is_empty());
    let dead = setup.events(EventStatus::Dead).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].last_error.as_deref(), Some("the integration was deleted"));
    assert!(dead[0].expires_at.is_some(), "kept for a while, then dropped");
}

async fn nothing_queued(setup: &Setup) {
    for status in [
        EventStatus::Pending,
        EventStatus::Failed,
        EventStatus::Done,
        EventStatus::Dead,
    ] {
        let events = setup
            .server
            .app
            .store
            .events_by_status(&setup.integration_id, status, 10)
            .await
            .unwrap();
        assert!(events.is_empty(), "{status:?}: {events:?}");
    }
}

/// POSTs `body` to `hook` with the right webhook password; the answer.
async fn post_hook(
    client: &reqwest::Client,
    hook: &str,
    secret: &str,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    client
        .post(hook)
        .basic_auth("x", Some(secret))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn bad_deliveries_are_refused_and_queue_nothing() {
    let setup = setup().await;
    let hook = setup
        .server
        .url(&format!("/hooks/azure-devops/{}", setup.integration_id));
    let (_, secrets) = setup.server.integration_and_secrets(&setup.integration_id).await;
    let secret = secrets.webhook_secret.expose().to_string();
    let client = &setup.server.client;
    let valid = json!({"id": "n1", "eventType": "workitem.updated", "resource": {"id": 9, "workItemId": setup.work_item, "rev": 7,
        "fields": {"System.State": {"oldValue": "New", "newValue": "Resolved"}}, "revision": {"fields": {}}}});

    let wrong = client
        .post(&hook)
        .basic_auth("azure-devops", Some("wrong"))
        .json(&valid)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.json::<Value>().await.unwrap()["error"]["code"], "unauthorized");
    assert_eq!(
        client.post(&hook).json(&valid).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );

    let malformed = post_hook(client, &hook, &secret, "{\"id\": ").await;
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        malformed.json::<Value>().await.unwrap()["error"]["code"],
        "malformed_request"
    );
    let not_a_delivery = post_hook(client, &hook, &secret, json!({"hello": 1}).to_string()).await;
    assert_eq!(not_a_delivery.status(), StatusCode::BAD_REQUEST);

    let huge = vec![b'x'; 2 * 1024 * 1024];
    let too_large = post_hook(client, &hook, &secret, huge).await;
    assert_eq!(too_large.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let mut other_event = valid.clone();
    other_event["eventType"] = json!("build.complete");
    let ignored = post_hook(client, &hook, &secret, other_event.to_string()).await;
    assert_eq!(ignored.status(), StatusCode::OK);
    // An event of another kind has another shape (no work item at all): still 2xx, so Azure
    // DevOps does not put the subscription on probation.
    let push = json!({"id": "p1", "eventType": "git.push", "resource": {"commits": [{"commitId": "abc"}]}});
    let ignored = post_hook(client, &hook, &secret, push.to_string()).await;
    assert_eq!(ignored.status(), StatusCode::OK);
    assert_eq!(
        ignored.json::<Value>().await.unwrap()["reason"],
        "a push without its push id or repository"
    );
    let mut unlinked = valid.clone();
    unlinked["resource"]["workItemId"] = json!(999);
    let ignored = post_hook(client, &hook, &secret, unlinked.to_string()).await;
    assert_eq!(ignored.status(), StatusCode::OK);
    assert_eq!(ignored.json::<Value>().await.unwrap()["reason"], "work item not linked");

    // Not stored (yet): it may be being created, its subscriptions made before its record. A 410
    // would make Azure DevOps disable the subscription at once; any other answer, deliver again.
    let unknown = setup.server.url("/hooks/azure-devops/no-such-integration");
    let not_yet = post_hook(client, &unknown, &secret, valid.to_string()).await;
    assert_eq!(not_yet.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        not_yet.json::<Value>().await.unwrap()["error"]["code"],
        "unknown_integration"
    );
    nothing_queued(&setup).await;

    delete_integration(&setup).await;
    let gone = post_hook(client, &hook, &secret, valid.to_string()).await;
    assert_eq!(gone.status(), StatusCode::GONE);
    assert_eq!(gone.json::<Value>().await.unwrap()["error"]["code"], "integration_gone");
    nothing_queued(&setup).await;
}

/// The AWS shape: intake writes to DynamoDB (moto); the `sync-worker` Lambda handler gets the
/// stream record of the insert, and later a scheduled invocation retries a failure.
#[tokio::test]
async fn the_lambda_worker_processes_stream_inserts_and_scheduled_retries() {
    let setup = setup_on(Backend::Aws, false).await;
    let app = &setup.server.app;
    edit_state(&setup, JAMAL, "Resolved").await;
    let pending = setup.events(EventStatus::Pending).await;
    assert_eq!(pending.len(), 1, "queued by intake, not processed yet");
    let batch = json!({"Records": [{"eventName": "INSERT", "eventSource": "aws:dynamodb", "dynamodb": {
        "Keys": {"pk": {"S": format!("EVT#{}", pending[0].id)}, "sk": {"S": "EVENT"}},
        "NewImage": {"kind": {"S": "event"}}, "SequenceNumber": "4200"}}]});
    let answer =
        shared::worker::lambda::handle_invocation(app, batch.clone(), shared::worker::Budget::unlimited()).await;
    assert_eq!(answer, json!({"batchItemFailures": []}));
    assert_eq!(setup.server.sentry.issue(ISSUE).status, "resolved");
    let again = shared::worker::lambda::handle_invocation(app, batch, shared::worker::Budget::unlimited()).await;
    assert_eq!(
        again,
        json!({"batchItemFailures": []}),
        "a replayed stream record is a no-op"
    );
    assert_eq!(sentry_writes(&setup), 1);

    setup.server.sentry.fail_next(ONE_CALL);
    edit_state(&setup, JAMAL, "Active").await;
    let pending = setup.events(EventStatus::Pending).await;
    let record = json!({"Records": [{"eventName": "INSERT", "dynamodb": {
        "Keys": {"pk": {"S": format!("EVT#{}", pending[0].id)}}, "SequenceNumber": "4201"}}]});
    assert_eq!(
        shared::worker::lambda::handle_invocation(app, record, shared::worker::Budget::unlimited()).await,
        json!({"batchItemFailures": []})
    );
    let mut failed = app.store.get_event(&pending[0].id).await.unwrap().unwrap();
    assert_eq!(
        failed.status,
        EventStatus::Failed,
        "recorded on the event, not failing the batch"
    );
    failed.next_attempt_at = clock::now_ms();
    app.store.update_event(&mut failed).await.unwrap();
    let scheduled = json!({"version": "0", "source": "aws.events", "detail-type": "Scheduled Event", "detail": {}});
    assert_eq!(
        shared::worker::lambda::handle_invocation(app, scheduled, shared::worker::Budget::unlimited()).await,
        json!({"processed": 1})
    );
    assert_eq!(setup.server.sentry.issue(ISSUE).status, "unresolved");
}

/// What a person trying the bridge against `fake-services` does: change the work item over the
/// REST API with a person's PAT (not the bridge's, whose changes are echoes) and watch Sentry.
#[tokio::test]
async fn a_change_over_http_with_a_persons_pat_resolves_the_issue_and_the_bridges_own_does_not() {
    let setup = setup().await;
    let url = format!(
        "{}/_apis/wit/workitems/{}?api-version=7.1",
        setup.server.ado.org_url(),
        setup.work_item
    );
    let change = |pat: &'static str, state: &'static str| {
        setup
            .server
            .client
            .patch(&url)
            .basic_auth("", Some(pat))
            .header("content-type", "application/json-patch+json")
            .json(&json!([patch::replace("/fields/System.State", state)]))
            .send()
    };
    // The bridge's own credential resolving the work item is an echo: Sentry is not touched.
    let response = change(fake_ado::VALID_PAT, "Resolved").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    settled(&setup).await;
    assert_eq!(sentry_writes(&setup), 0);
    assert_eq!(setup.server.sentry.issue(ISSUE).status, "unresolved");
    // A person reopening and resolving it again is synced.
    assert_eq!(
        change(fake_ado::PERSON_PAT, "Active").await.unwrap().status(),
        StatusCode::OK
    );
    let response = change(fake_ado::PERSON_PAT, "Resolved").await.unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["fields"]["System.ChangedBy"]["id"], JAMAL);
    settled(&setup).await;
    assert_eq!(setup.server.sentry.issue(ISSUE).status, "resolved");
}

/// Requeues a failed event through the admin API (what an operator or the schedule does).
async fn retry_now(setup: &Setup, event_id: &str) {
    let response = setup
        .server
        .client
        .post(setup.server.url(&format!(
            "/integrations/{}/events/{}/retry",
            setup.integration_id,
            urlencode(event_id)
        )))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED, "{:?}", response.text().await);
    settled(setup).await;
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// A comment whose event fails, then is retried after a newer revision was applied, is still
/// posted (once): comments are not ordered by revision.
#[tokio::test]
async fn a_comment_retried_after_a_newer_revision_is_still_posted_once() {
    let setup = setup().await;
    setup.server.sentry.fail_next(ONE_CALL);
    setup
        .server
        .ado
        .comment_as(JAMAL, setup.work_item, "Root cause found in billing.py")
        .await
        .unwrap();
    settled(&setup).await;
    let failed = setup.events(EventStatus::Failed).await;
    assert_eq!(failed.len(), 1, "the comment's event failed on the Sentry outage");

    set_state(&setup, JAMAL, "Resolved").await;
    assert_eq!(setup.server.sentry.issue(ISSUE).status, "resolved");
    assert_eq!(current_link(&setup).await.sync.last_applied_rev, Some(3));

    retry_now(&setup, &failed[0].id).await;
    let comments = setup.server.sentry.issue(ISSUE).comments;
    let posted: Vec<_> = comments
        .iter()
        .filter(|(_, text)| text.contains("Root cause found in billing.py"))
        .collect();
    assert_eq!(posted.len(), 1, "{comments:?}");
    assert!(setup.events(EventStatus::Failed).await.is_empty());
}

/// A resolve whose event keeps failing is applied by the next revision of the work item (its
/// fields carry the Resolved state), and the late retry of the first is then stale: not lost,
/// not applied twice.
#[tokio::test]
async fn a_failing_state_change_is_applied_by_the_next_revision_and_not_lost() {
    let setup = setup().await;
    setup.server.sentry.fail_next(ONE_CALL);
    set_state(&setup, JAMAL, "Resolved").await;
    let failed = setup.events(EventStatus::Failed).await;
    assert_eq!(failed.len(), 1);
    assert_eq!(setup.server.sentry.issue(ISSUE).status, "unresolved");

    // Someone edits the title only: no state in that revision's changes.
    edit_as_person(
        &setup,
        json!([patch::replace("/fields/System.Title", "ZeroDivisionError in billing")]),
    )
    .await;
    assert_eq!(setup.server.sentry.issue(ISSUE).status, "resolved");
    let writes = sentry_writes(&setup);

    retry_now(&setup, &failed[0].id).await;
    assert_eq!(
        sentry_writes(&setup),
        writes,
        "the late retry is stale: no second write"
    );
    let link = current_link(&setup).await;
    assert_eq!(link.sync.last_applied_rev, Some(3));
    assert_eq!(link.sync.ado_state.as_deref(), Some("Resolved"));
}

/// A state the bridge cannot categorize (here the work item's type is one Azure DevOps has no
/// states for) is not recorded as synced: the next revision is judged from the last state the
/// bridge could judge, so the resolve is applied then rather than lost.
#[tokio::test]
async fn a_state_of_unknown_category_is_not_recorded_as_synced() {
    let setup = setup().await;
    set_state(&setup, JAMAL, "Active").await;
    edit_as_person(
        &setup,
        json!([
            patch::replace("/fields/System.WorkItemType", "Mystery"),
            patch::replace("/fields/System.State", "Resolved")
        ]),
    )
    .await;
    assert_eq!(setup.server.sentry.issue(ISSUE).status, "unresolved");
    let link = current_link(&setup).await;
    assert_eq!(link.sync.ado_state.as_deref(), Some("Active"));
    let done = setup.events(EventStatus::Done).await;
    assert!(
        done.iter().any(|e| e
            .last_error
            .as_deref()
            .is_some_and(|note| note.contains("`Resolved` of Fabrikam-Fiber / Mystery has no known category"))),
        "{done:?}"
    );

    edit_as_person(&setup, json!([patch::replace("/fields/System.WorkItemType", "Bug")])).await;
    assert_eq!(setup.server.sentry.issue(ISSUE).status, "resolved");
    assert_eq!(current_link(&setup).await.sync.ado_state.as_deref(), Some("Resolved"));
}

/// The same for an assignment: a later revision that changed something else carries the
/// assignee, so a failing assignment is not lost.
#[tokio::test]
async fn a_failing_assignment_is_applied_by_the_next_revision_and_not_lost() {
    let setup = setup().await;
    setup.server.sentry.fail_next(ONE_CALL);
    edit_as_person(
        &setup,
        json!([patch::field("System.AssignedTo", "alice@fabrikam.example")]),
    )
    .await;
    let failed = setup.events(EventStatus::Failed).await;
    assert_eq!(failed.len(), 1);
    assert_eq!(setup.server.sentry.issue(ISSUE).assigned_to, None);

    edit_as_person(
        &setup,
        json!([patch::replace("/fields/System.Title", "ZeroDivisionError in billing")]),
    )
    .await;
    assert_eq!(
        setup.server.sentry.issue(ISSUE).assigned_to.as_deref(),
        Some("user:101")
    );
    let writes = sentry_writes(&setup);
    retry_now(&setup, &failed[0].id).await;
    assert_eq!(sentry_writes(&setup), writes, "the late retry is stale");
    // Another unrelated edit: the assignee is where it was, nothing is written.
    edit_as_person(
        &setup,
        json!([patch::replace("/fields/System.Title", "ZeroDivisionError (billing)")]),
    )
    .await;
    assert_eq!(sentry_writes(&setup), writes);
    assert_eq!(
        current_link(&setup).await.sync.ado_assignee.as_deref(),
        Some("alice@fabrikam.example")
    );
}

/// If the comment is on the Sentry issue already although nothing recorded it (an earlier run
/// posted it and lost its record), Sentry's "already posted" answer resolves to that comment:
/// the event ends done, the comment is there once.
#[tokio::test]
async fn sentry_already_having_the_comment_resolves_to_it() {
    let setup = setup_on(Backend::Local, false).await;
    let app = &setup.server.app;
    let comment = setup
        .server
        .ado
        .comment_as(JAMAL, setup.work_item, "Seen on staging too")
        .await
        .unwrap();
    let event = eventually_pending(&setup).await;
    let link = current_link(&setup).await;
    let text = shared::domain::ado_to_sentry::comment_text(
        "Jamal Hartnett",
        "Seen on staging too",
        link.work_item_url.as_deref(),
        comment["id"].as_u64(),
    );
    let posted = setup
        .server
        .client
        .post(format!(
            "{}/api/0/organizations/{}/issues/{ISSUE}/comments/",
            setup.server.sentry.base_url(),
            bridge_tests::fake_sentry::ORG
        ))
        .bearer_auth(bridge_tests::fake_sentry::TOKEN)
        .json(&json!({"text": text}))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), StatusCode::CREATED);

    assert_eq!(
        shared::worker::process(app, event).await.unwrap(),
        Some(EventStatus::Done)
    );
    let comments = setup.server.sentry.issue(ISSUE).comments;
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert!(
        app.store
            .comment_link_by_ado(&setup.integration_id, setup.work_item, comment["id"].as_u64().unwrap())
            .await
            .unwrap()
            .is_some()
    );
}

/// The one pending event of the integration, once the delivery has arrived.
async fn eventually_pending(setup: &Setup) -> shared::records::InboxEvent {
    for _ in 0..250 {
        if let Some(event) = setup.events(EventStatus::Pending).await.into_iter().next() {
            return event;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no delivery arrived");
}

/// A delete notice that failed and is retried after the restore was applied does not mark the
/// restored work item deleted again (recycle-bin notices carry no new revision: they are
/// ordered by when they arrived).
#[tokio::test]
async fn a_late_retry_of_a_delete_after_the_restore_is_superseded() {
    let setup = setup().await;
    setup.server.sentry.fail_next(ONE_CALL);
    setup.server.ado.recycle_as(JAMAL, setup.work_item, true).await.unwrap();
    settled(&setup).await;
    let failed = setup.events(EventStatus::Failed).await;
    assert_eq!(failed.len(), 1, "the delete notice failed on the Sentry outage");

    setup
        .server
        .ado
        .recycle_as(JAMAL, setup.work_item, false)
        .await
        .unwrap();
    settled(&setup).await;
    let notes = setup.server.sentry.issue(ISSUE).comments;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].1.contains("was restored"), "{notes:?}");

    retry_now(&setup, &failed[0].id).await;
    assert_eq!(
        setup.server.sentry.issue(ISSUE).comments.len(),
        1,
        "no late delete note"
    );
    assert!(!current_link(&setup).await.sync.work_item_deleted);
    let retried = setup.server.app.store.get_event(&failed[0].id).await.unwrap().unwrap();
    assert!(
        retried.last_error.as_deref().unwrap_or_default().contains("superseded"),
        "{retried:?}"
    );
}

/// A person resolves the work item and the delivery is lost; then the bridge edits the work item
/// (its own revision, an echo). The echo's fields carry the person's state, which the link never
/// saw: it is that person's change and is synced — recording it as the bridge's own would lose it
/// for good (reconciliation would find the link already "synced").
#[tokio::test]
async fn a_persons_change_carried_by_the_bridges_own_revision_is_synced() {
    let setup = setup().await;
    let server = &setup.server;
    server.ado.state(|s| s.lose_deliveries = 1);
    set_state(&setup, JAMAL, "Resolved").await;
    assert_eq!(server.sentry.issue(ISSUE).status, "unresolved", "the delivery was lost");
    let ops = json!([{"op": "replace", "path": "/fields/System.Title", "value": "Retitled by the bridge"}]);
    server
        .ado
        .edit_work_item_as(bridge_tests::fake_ado::BRIDGE_IDENTITY_ID, setup.work_item, ops)
        .await
        .unwrap();
    settled(&setup).await;
    assert_eq!(server.sentry.issue(ISSUE).status, "resolved");
}
