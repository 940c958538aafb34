//! One conformance suite for every store backend: each case runs against SQLite and against
//! DynamoDB (moto in server mode), through the same typed `Store`.

use std::sync::Arc;

use bridge_tests::moto;
use shared::clock;
use shared::records::*;
use shared::store::{Index, Inserted, Item, Key, Query, SkRange, SqliteTable, Store, StoreError, Table, WriteOp};

fn integration(id: &str) -> Integration {
    Integration {
        id: id.into(),
        name: format!("name-{id}"),
        azure_devops: AzureDevOpsSettings {
            organization_url: "https://dev.azure.com/contoso".into(),
            organization: "contoso".into(),
            auth: AdoAuthKind::Pat,
            collection_id: None,
            bridge_identity_id: None,
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
        secret_ref: format!("ref/{id}"),
        state: Default::default(),
        created_at: 1,
        updated_at: 1,
        version: 0,
    }
}

fn link(integration_id: &str, sentry_issue: &str, work_item: u64) -> Link {
    Link {
        integration_id: integration_id.into(),
        sentry_issue_id: sentry_issue.into(),
        sentry_short_id: Some(format!("PROJ-{sentry_issue}")),
        sentry_url: None,
        work_item_id: work_item,
        work_item_url: None,
        project: "Fabrikam".into(),
        work_item_type: "Bug".into(),
        sync: LinkSyncState::default(),
        created_by: LinkOrigin::Create,
        created_at: 1,
        updated_at: 1,
        replaced_at: None,
        version: 0,
    }
}

fn event(id: &str, status: EventStatus, next_attempt_at: i64, received_at: i64) -> InboxEvent {
    InboxEvent {
        id: id.into(),
        integration_id: "i1".into(),
        source: EventSource::AzureDevOps,
        event_type: "workitem.updated".into(),
        payload: Payload::from_json(r#"{"id":"n"}"#.into()).unwrap(),
        status,
        attempts: 0,
        next_attempt_at,
        last_error: None,
        received_at,
        updated_at: received_at,
        expires_at: None,
        claims: 0,
        held: false,
        version: 0,
    }
}

fn comment(sentry_id: &str, ado_id: u64) -> CommentLink {
    CommentLink {
        integration_id: "i1".into(),
        sentry_issue_id: "77".into(),
        sentry_comment_id: sentry_id.into(),
        work_item_id: 42,
        ado_comment_id: ado_id,
        origin: CommentOrigin::Sentry,
        created_at: 1,
        deleted: false,
        version: 0,
    }
}

async fn integration_lifecycle(store: Store) {
    let mut a = integration("a");
    store.create_integration(&mut a).await.unwrap();
    assert_eq!(a.version, 1);
    let mut b = integration("b");
    store.create_integration(&mut b).await.unwrap();

    let read = store.get_integration("a").await.unwrap().unwrap();
    assert_eq!(read, a);
    assert!(store.get_integration("missing").await.unwrap().is_none());
    let ids: Vec<String> = store
        .list_integrations()
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(ids, vec!["a", "b"]);

    let mut changed = read.clone();
    changed.name = "renamed".into();
    store.update_integration(&mut changed).await.unwrap();
    assert_eq!(changed.version, 2);
    assert_eq!(store.get_integration("a").await.unwrap().unwrap().name, "renamed");

    assert!(!store.integration_deleted("a").await.unwrap());
    assert!(store.delete_integration("a").await.unwrap());
    assert!(!store.delete_integration("a").await.unwrap());
    assert!(store.integration_deleted("a").await.unwrap(), "a tombstone remains");
    assert!(!store.integration_deleted("never-existed").await.unwrap());
    assert!(store.get_integration("a").await.unwrap().is_none());
    assert_eq!(store.list_integrations().await.unwrap().len(), 1);
}

async fn create_twice_conflicts(store: Store) {
    let mut first = integration("dup");
    store.create_integration(&mut first).await.unwrap();
    let mut second = integration("dup");
    assert_eq!(store.create_integration(&mut second).await, Err(StoreError::Conflict));
    assert_eq!(second.version, 0, "a failed write leaves the version as it was");
    assert_eq!(store.get_integration("dup").await.unwrap().unwrap().name, "name-dup");
}

async fn stale_version_conflicts(store: Store) {
    let mut record = integration("v");
    store.create_integration(&mut record).await.unwrap();
    let mut reader_one = store.get_integration("v").await.unwrap().unwrap();
    let mut reader_two = reader_one.clone();
    reader_one.name = "first".into();
    store.update_integration(&mut reader_one).await.unwrap();
    reader_two.name = "second".into();
    assert_eq!(
        store.update_integration(&mut reader_two).await,
        Err(StoreError::Conflict)
    );
    assert_eq!(reader_two.version, 1);
    assert_eq!(store.get_integration("v").await.unwrap().unwrap().name, "first");

    let mut never_created = integration("ghost");
    never_created.version = 1;
    assert_eq!(
        store.update_integration(&mut never_created).await,
        Err(StoreError::Conflict)
    );
}

async fn deleting_an_integration_removes_its_records(store: Store) {
    let mut record = integration("i1");
    store.create_integration(&mut record).await.unwrap();
    store.activate_link(&mut link("i1", "77", 42), 10).await.unwrap();
    store.save_user_mapping(&mut mapping("a@example.com")).await.unwrap();
    let mut other = integration("i2");
    store.create_integration(&mut other).await.unwrap();
    store.activate_link(&mut link("i2", "77", 42), 10).await.unwrap();

    store.delete_integration("i1").await.unwrap();
    assert!(store.get_link("i1", "77").await.unwrap().is_none());
    assert!(store.list_user_mappings("i1").await.unwrap().is_empty());
    assert!(
        store.get_link("i2", "77").await.unwrap().is_some(),
        "other integrations keep theirs"
    );
}

async fn links_are_found_both_ways(store: Store) {
    let mut first = link("i1", "77", 42);
    assert_eq!(store.activate_link(&mut first, 10).await.unwrap(), None);
    let mut second = link("i1", "78", 42);
    store.activate_link(&mut second, 10).await.unwrap();
    store.activate_link(&mut link("i1", "79", 43), 10).await.unwrap();

    assert_eq!(store.get_link("i1", "77").await.unwrap().unwrap(), first);
    let issues: Vec<String> = store
        .links_for_work_item("i1", 42)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.sentry_issue_id)
        .collect();
    assert_eq!(issues, vec!["77", "78"]);
    assert!(store.links_for_work_item("i2", 42).await.unwrap().is_empty());
    assert!(store.work_item_linked("i1", 42).await.unwrap());
    assert!(!store.work_item_linked("i1", 99).await.unwrap());
    assert!(!store.work_item_linked("i2", 42).await.unwrap());

    let mut updated = store.get_link("i1", "77").await.unwrap().unwrap();
    updated.sync.last_applied_rev = Some(5);
    store.update_link(&mut updated).await.unwrap();
    let mut stale = first.clone();
    stale.sync.last_applied_rev = Some(4);
    assert_eq!(store.update_link(&mut stale).await, Err(StoreError::Conflict));
    assert_eq!(
        store.get_link("i1", "77").await.unwrap().unwrap().sync.last_applied_rev,
        Some(5)
    );
}

async fn a_new_link_replaces_the_old_and_keeps_history(store: Store) {
    store.activate_link(&mut link("i1", "77", 42), 10).await.unwrap();
    let mut replacement = link("i1", "77", 50);
    replacement.created_by = LinkOrigin::Link;
    let previous = store.activate_link(&mut replacement, 20).await.unwrap().unwrap();
    assert_eq!(previous.work_item_id, 42);
    assert_eq!(previous.replaced_at, Some(20));

    let active = store.get_link("i1", "77").await.unwrap().unwrap();
    assert_eq!(active.work_item_id, 50);
    assert_eq!(active.version, replacement.version);
    assert!(
        store.links_for_work_item("i1", 42).await.unwrap().is_empty(),
        "the old work item no longer syncs"
    );
    assert_eq!(store.links_for_work_item("i1", 50).await.unwrap().len(), 1);
    let history = store.link_history("i1", "77").await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].work_item_id, 42);
    assert!(
        store.link_history("i1", "7").await.unwrap().is_empty(),
        "history is per issue, not per prefix"
    );

    let mut history_entry = history[0].clone();
    assert!(
        store.update_link(&mut history_entry).await.is_err(),
        "history is not updated"
    );
}

async fn comment_links_by_either_id(store: Store) {
    let mut pair = comment("s-1", 900);
    store.create_comment_link(&mut pair).await.unwrap();
    assert_eq!(store.comment_link_by_sentry("i1", "s-1").await.unwrap().unwrap(), pair);
    assert_eq!(store.comment_link_by_ado("i1", 42, 900).await.unwrap().unwrap(), pair);
    assert!(store.comment_link_by_ado("i1", 43, 900).await.unwrap().is_none());

    assert_eq!(
        store.create_comment_link(&mut comment("s-1", 901)).await,
        Err(StoreError::Conflict)
    );
    assert_eq!(
        store.create_comment_link(&mut comment("s-2", 900)).await,
        Err(StoreError::Conflict)
    );
    assert!(
        store.comment_link_by_sentry("i1", "s-2").await.unwrap().is_none(),
        "a failed pair writes nothing"
    );
    assert!(
        store.comment_link_by_ado("i1", 42, 901).await.unwrap().is_none(),
        "a failed pair writes nothing"
    );

    store.delete_comment_link(&pair).await.unwrap();
    assert!(store.comment_link_by_sentry("i1", "s-1").await.unwrap().is_none());
    assert!(store.comment_link_by_ado("i1", 42, 900).await.unwrap().is_none());
}

async fn repositories(store: Store) {
    let repository = |id: &str| Repository {
        integration_id: "i1".into(),
        id: id.into(),
        name: format!("repo-{id}"),
        project: "Fabrikam".into(),
        project_id: "p1".into(),
        url: format!("https://dev.azure.com/contoso/Fabrikam/_git/repo-{id}"),
        default_branch: "main".into(),
        sentry_name: format!("contoso/repo-{id}"),
        sentry_projects: vec!["backend".into()],
        push_subscription_id: None,
        heads: Default::default(),
        head_pushes: Default::default(),
        last_release: None,
        releases_seen: Default::default(),
        created_at: 1,
        updated_at: 1,
        version: 0,
    };
    let mut r1 = repository("r1");
    store.create_repository(&mut r1).await.unwrap();
    store.create_repository(&mut repository("r2")).await.unwrap();
    assert_eq!(
        store.create_repository(&mut repository("r1")).await,
        Err(StoreError::Conflict)
    );
    store.activate_link(&mut link("i1", "77", 42), 1).await.unwrap();

    let names: Vec<String> = store
        .list_repositories("i1")
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(
        names,
        vec!["r1", "r2"],
        "only repositories, not other records of the integration"
    );
    r1.heads.insert("main".into(), "abc".into());
    store.update_repository(&mut r1).await.unwrap();
    assert_eq!(
        store
            .get_repository("i1", "r1")
            .await
            .unwrap()
            .unwrap()
            .heads
            .get("main")
            .map(String::as_str),
        Some("abc")
    );
    let mut mapping = shared::records::CodeMapping {
        integration_id: "i1".into(),
        id: "m1".into(),
        sentry_project: "backend".into(),
        repository: "r1".into(),
        branch: "main".into(),
        stack_root: "app/".into(),
        source_root: "src/".into(),
        created_at: 1,
        version: 0,
    };
    store.create_code_mapping(&mut mapping).await.unwrap();
    assert_eq!(store.list_code_mappings("i1").await.unwrap(), vec![mapping.clone()]);
    assert_eq!(
        store.list_repositories("i1").await.unwrap().len(),
        2,
        "code mappings are not repositories"
    );
    store.delete_code_mapping("i1", "m1").await.unwrap();
    assert!(store.list_code_mappings("i1").await.unwrap().is_empty());
    let claim = |event: &str| shared::records::FixComment {
        integration_id: "i1".into(),
        sentry_issue_id: "77".into(),
        commit_id: "abc".into(),
        claimed_by: event.into(),
        posted: false,
        posted_at: 0,
        version: 0,
    };
    let mut first = claim("e1");
    assert_eq!(store.claim_fix_comment(&mut first).await.unwrap(), None);
    first.posted = true;
    store.update_fix_comment(&mut first).await.unwrap();
    let held = store.claim_fix_comment(&mut claim("e2")).await.unwrap().unwrap();
    assert_eq!((held.claimed_by.as_str(), held.posted), ("e1", true));
    store.delete_repository("i1", "r1").await.unwrap();
    assert!(store.get_repository("i1", "r1").await.unwrap().is_none());
}

async fn events_are_deduplicated(store: Store) {
    let mut first = event("ado:n1:42:3", EventStatus::Pending, 100, 100);
    assert_eq!(store.insert_event(&mut first).await.unwrap(), Inserted::New);
    let mut again = event("ado:n1:42:3", EventStatus::Pending, 200, 200);
    again.payload = Payload::from_json(r#"{"different":true}"#.into()).unwrap();
    assert_eq!(store.insert_event(&mut again).await.unwrap(), Inserted::Duplicate);
    let stored = store.get_event("ado:n1:42:3").await.unwrap().unwrap();
    assert_eq!(stored.payload, first.payload);
    assert_eq!(stored.version, 1);
}

async fn due_events_in_order(store: Store) {
    for (id, status, due) in [
        ("late", EventStatus::Failed, 300),
        ("early", EventStatus::Failed, 100),
        ("future", EventStatus::Failed, 10_000),
        ("fresh", EventStatus::Pending, 200),
        ("finished", EventStatus::Done, 50),
        ("given-up", EventStatus::Dead, 60),
    ] {
        store.insert_event(&mut event(id, status, due, due)).await.unwrap();
    }
    let ids = |events: Vec<InboxEvent>| events.into_iter().map(|e| e.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.due_events(1_000, 10).await.unwrap()),
        vec!["early", "late"],
        "failed events, across the due index's shards, soonest first"
    );
    assert_eq!(ids(store.pending_events("i1", 1_000, 10).await.unwrap()), vec!["fresh"]);
    assert!(
        store.pending_events("i1", 199, 10).await.unwrap().is_empty(),
        "received later"
    );
    assert_eq!(ids(store.due_events(1_000, 1).await.unwrap()), vec!["early"]);
    assert_eq!(
        ids(store.due_events(300, 10).await.unwrap()),
        vec!["early", "late"],
        "due at exactly now"
    );

    let mut processed = store.get_event("early").await.unwrap().unwrap();
    processed.status = EventStatus::Done;
    processed.expires_at = Some(clock::now_ms() / 1000 + 3600);
    store.update_event(&mut processed).await.unwrap();
    assert_eq!(ids(store.due_events(1_000, 10).await.unwrap()), vec!["late"]);

    assert_eq!(
        ids(store.events_by_status("i1", EventStatus::Done, 10).await.unwrap()),
        vec!["finished", "early"]
    );
    assert_eq!(
        ids(store.events_by_status("i1", EventStatus::Dead, 10).await.unwrap()),
        vec!["given-up"]
    );
    assert!(
        store
            .events_by_status("other", EventStatus::Dead, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn stale_event_update_conflicts(store: Store) {
    store
        .insert_event(&mut event("e", EventStatus::Pending, 1, 1))
        .await
        .unwrap();
    let mut worker_one = store.get_event("e").await.unwrap().unwrap();
    let mut worker_two = worker_one.clone();
    worker_one.status = EventStatus::Done;
    store.update_event(&mut worker_one).await.unwrap();
    worker_two.status = EventStatus::Failed;
    worker_two.attempts = 1;
    assert_eq!(store.update_event(&mut worker_two).await, Err(StoreError::Conflict));
    assert_eq!(store.get_event("e").await.unwrap().unwrap().status, EventStatus::Done);
}

async fn expired_records_are_absent(store: Store) {
    let past = clock::now_ms() / 1000 - 10;
    let mut expired = event("old", EventStatus::Done, 1, 1);
    expired.expires_at = Some(past);
    store.insert_event(&mut expired).await.unwrap();
    assert!(store.get_event("old").await.unwrap().is_none());
    assert!(
        store
            .events_by_status("i1", EventStatus::Done, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let mut redelivered = event("old", EventStatus::Pending, 1, 1);
    assert_eq!(
        store.insert_event(&mut redelivered).await.unwrap(),
        Inserted::New,
        "an expired key is free again"
    );
    assert_eq!(
        store.get_event("old").await.unwrap().unwrap().status,
        EventStatus::Pending
    );
}

/// Every read that follows a write sees it, whichever reads came before (the embedded store
/// answers repeated reads from memory).
async fn reads_follow_writes(store: Store) {
    let mut settings = integration("i1");
    store.create_integration(&mut settings).await.unwrap();
    assert_eq!(store.get_integration("i1").await.unwrap().unwrap().name, "name-i1");
    settings.name = "renamed".into();
    store.update_integration(&mut settings).await.unwrap();
    assert_eq!(store.get_integration("i1").await.unwrap().unwrap().name, "renamed");

    store.activate_link(&mut link("i1", "77", 42), 10).await.unwrap();
    assert!(store.work_item_linked("i1", 42).await.unwrap());
    assert!(!store.work_item_linked("i1", 50).await.unwrap());
    store.activate_link(&mut link("i1", "77", 50), 20).await.unwrap();
    assert!(!store.work_item_linked("i1", 42).await.unwrap(), "the link moved away");
    assert!(store.work_item_linked("i1", 50).await.unwrap(), "the link moved here");
    assert_eq!(store.link_history("i1", "77").await.unwrap().len(), 1);
    store.activate_link(&mut link("i1", "77", 60), 30).await.unwrap();
    assert_eq!(store.link_history("i1", "77").await.unwrap().len(), 2);

    assert!(store.pending_events("i1", i64::MAX, 10).await.unwrap().is_empty());
    let mut queued = event("e1", EventStatus::Pending, 5, 5);
    store.insert_event(&mut queued).await.unwrap();
    assert_eq!(store.pending_events("i1", i64::MAX, 10).await.unwrap().len(), 1);
    assert_eq!(
        store
            .events_by_status("i1", EventStatus::Pending, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    let mut duplicate = event("e1", EventStatus::Pending, 6, 6);
    assert_eq!(store.insert_event(&mut duplicate).await.unwrap(), Inserted::Duplicate);
    assert_eq!(
        store.get_event("e1").await.unwrap().unwrap().next_attempt_at,
        5,
        "the duplicate changed nothing"
    );
    queued.status = EventStatus::Done;
    store.update_event(&mut queued).await.unwrap();
    assert!(store.pending_events("i1", i64::MAX, 10).await.unwrap().is_empty());
    assert!(
        store
            .events_by_status("i1", EventStatus::Pending, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.events_by_status("i1", EventStatus::Done, 10).await.unwrap().len(),
        1
    );
    assert_eq!(store.get_event("e1").await.unwrap().unwrap().status, EventStatus::Done);

    assert!(store.delete_integration("i1").await.unwrap());
    assert!(store.get_integration("i1").await.unwrap().is_none());
    assert!(!store.work_item_linked("i1", 60).await.unwrap());
}

fn mapping(email: &str) -> UserMapping {
    UserMapping {
        integration_id: "i1".into(),
        email: email.into(),
        ado_email: None,
        sentry_email: None,
        sentry_user_id: Some("u1".into()),
        ado_identity: Some("alice@contoso.com".into()),
        updated_at: 1,
        version: 0,
    }
}

async fn user_mappings(store: Store) {
    let mut alice = mapping("Alice@Example.com");
    store.save_user_mapping(&mut alice).await.unwrap();
    assert_eq!(alice.email, "alice@example.com");
    store.save_user_mapping(&mut mapping("bob@example.com")).await.unwrap();
    assert_eq!(
        store.save_user_mapping(&mut mapping("ALICE@example.com")).await,
        Err(StoreError::Conflict)
    );

    let found = store
        .get_user_mapping("i1", "ALICE@EXAMPLE.COM")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.ado_identity.as_deref(), Some("alice@contoso.com"));
    alice.ado_identity = Some("alice2@contoso.com".into());
    store.save_user_mapping(&mut alice).await.unwrap();
    assert_eq!(alice.version, 2);
    assert_eq!(store.list_user_mappings("i1").await.unwrap().len(), 2);
    store.delete_user_mapping("i1", "Alice@example.com").await.unwrap();
    assert!(
        store
            .get_user_mapping("i1", "alice@example.com")
            .await
            .unwrap()
            .is_none()
    );
}

async fn cursors(store: Store) {
    let mut cursor = Cursor {
        integration_id: "i1".into(),
        kind: "links".into(),
        position: serde_json::json!({"after": "77"}),
        updated_at: 1,
        version: 0,
    };
    store.save_cursor(&mut cursor).await.unwrap();
    let mut stale = store.get_cursor("i1", "links").await.unwrap().unwrap();
    cursor.position = serde_json::json!({"after": "99"});
    store.save_cursor(&mut cursor).await.unwrap();
    stale.position = serde_json::json!({"after": "88"});
    assert_eq!(store.save_cursor(&mut stale).await, Err(StoreError::Conflict));
    assert_eq!(
        store.get_cursor("i1", "links").await.unwrap().unwrap().position["after"],
        "99"
    );
    assert!(store.get_cursor("i1", "other").await.unwrap().is_none());
}

/// A store on a fresh database file (the same WAL file setup as the local server); the
/// directory lives as long as the returned guard.
fn sqlite_store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let table = SqliteTable::open(&dir.path().join("db.sqlite3")).expect("sqlite");
    (Store::new(Arc::new(table)), dir)
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $case() {
                let (store, _dir) = super::sqlite_store();
                super::$case(store).await
            })*
        }
        mod dynamodb {
            $(#[tokio::test] async fn $case() { super::$case(super::moto::dynamo_store().await).await })*
        }
    };
}

/// A lease is released only by its holder: one that expired and was taken by another is not
/// freed by its first holder's late release.
async fn only_the_holder_releases_a_lease(store: Store) {
    let now = clock::now_ms();
    let late = store
        .try_lease("create#i1#77", 10, now - 20_000)
        .await
        .unwrap()
        .expect("taken (already past)");
    let holder = store
        .try_lease("create#i1#77", 60, now)
        .await
        .unwrap()
        .expect("free again: the first expired");
    store.release_lease(&late).await.unwrap();
    assert!(
        store.try_lease("create#i1#77", 60, now).await.unwrap().is_none(),
        "still held by the second holder"
    );
    store.release_lease(&holder).await.unwrap();
    assert!(store.try_lease("create#i1#77", 60, now).await.unwrap().is_some());
}

conformance!(
    only_the_holder_releases_a_lease,
    integration_lifecycle,
    create_twice_conflicts,
    stale_version_conflicts,
    deleting_an_integration_removes_its_records,
    links_are_found_both_ways,
    a_new_link_replaces_the_old_and_keeps_history,
    comment_links_by_either_id,
    repositories,
    events_are_deduplicated,
    due_events_in_order,
    stale_event_update_conflicts,
    expired_records_are_absent,
    user_mappings,
    cursors,
    reads_follow_writes,
);

/// Readers racing a writer never see a value go back, and once a write has answered, every
/// read sees it: the read cache is filled under the connection and emptied before the commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_reads_racing_writes_never_go_back() {
    let (store, _dir) = sqlite_store();
    let mut settings = integration("i1");
    store.create_integration(&mut settings).await.unwrap();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..4 {
        let (store, done) = (store.clone(), done.clone());
        readers.push(tokio::spawn(async move {
            let mut seen = 0;
            while !done.load(std::sync::atomic::Ordering::Acquire) {
                let version = store.get_integration("i1").await.unwrap().unwrap().version;
                assert!(version >= seen, "read version {version} after {seen}");
                seen = version;
                tokio::task::yield_now().await;
            }
        }));
    }
    for n in 0..300 {
        settings.name = format!("name {n}");
        store.update_integration(&mut settings).await.unwrap();
        assert_eq!(
            store.get_integration("i1").await.unwrap().unwrap().name,
            settings.name,
            "a read after the write's answer"
        );
    }
    done.store(true, std::sync::atomic::Ordering::Release);
    for reader in readers {
        reader.await.unwrap();
    }
}

/// The SQLite store is shared by concurrent tasks: parallel conditional inserts of one key
/// produce exactly one winner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_concurrent_inserts_have_one_winner() {
    let (store, _dir) = sqlite_store();
    assert_eq!(concurrent_inserts(&store, 16, |_| "same".into()).await, 1);
}

/// Inserts `count` pending events at once, event `n` keyed `key(n)`; how many were new.
async fn concurrent_inserts(store: &Store, count: i64, key: impl Fn(i64) -> String) -> usize {
    let tasks: Vec<_> = (0..count)
        .map(|n| {
            let (store, id) = (store.clone(), key(n));
            tokio::spawn(async move { store.insert_event(&mut event(&id, EventStatus::Pending, n, n)).await })
        })
        .collect();
    let mut new = 0;
    for task in tasks {
        if task.await.unwrap().unwrap() == Inserted::New {
            new += 1;
        }
    }
    new
}

/// Group commit: concurrent writes share transactions, yet a failed condition in one write
/// rolls back only that write — every distinct key lands exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_group_commit_isolates_conflicts() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(Arc::new(SqliteTable::open(&dir.path().join("db.sqlite3")).unwrap()));
    assert_eq!(concurrent_inserts(&store, 64, |n| format!("key-{}", n % 8)).await, 8);
    assert_eq!(store.pending_events("i1", i64::MAX, 100).await.unwrap().len(), 8);
    drop(store);
    let reopened = Store::new(Arc::new(SqliteTable::open(&dir.path().join("db.sqlite3")).unwrap()));
    assert_eq!(
        reopened.pending_events("i1", i64::MAX, 100).await.unwrap().len(),
        8,
        "committed to the file"
    );
}

/// One table per database file: a second open while the first is alive is refused with a clear
/// error (the read cache is coherent only while one writer owns the file); once the first is
/// gone the file opens again.
#[tokio::test]
async fn sqlite_file_has_one_owner_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite3");
    let first = SqliteTable::open(&path).unwrap();
    let Err(StoreError::Backend(message)) = SqliteTable::open(&path) else {
        panic!("a second open of the same file succeeded");
    };
    assert!(message.contains("in use by another bridge process"), "{message}");
    drop(first);
    SqliteTable::open(&path).expect("open again once the first is closed");
}

/// Checkpoints run on their own thread: writes far below the committer's automatic checkpoint
/// (10 000 pages) still reach the database file itself, not only the WAL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_checkpoints_reach_the_database_file_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite3");
    let store = Store::new(Arc::new(SqliteTable::open(&path).unwrap()));
    let before = std::fs::metadata(&path).unwrap().len();
    assert_eq!(concurrent_inserts(&store, 200, |n| format!("key-{n}")).await, 200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::fs::metadata(&path).unwrap().len() <= before {
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint reached the database file"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(store.pending_events("i1", i64::MAX, 1000).await.unwrap().len(), 200);
}

/// A DynamoDB index that lags its table (as a GSI may; moto's never do): queries on an index
/// answer from a snapshot taken earlier.
struct LaggingIndex {
    table: Arc<dyn Table>,
    snapshot: std::sync::Mutex<Option<(Query, Vec<Item>)>>,
}

#[async_trait::async_trait]
impl Table for LaggingIndex {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.table.get(key).await
    }
    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        self.table.write(ops).await
    }
    async fn query(&self, query: &Query) -> Result<Vec<Item>, StoreError> {
        if let Some((frozen, items)) = self.snapshot.lock().unwrap().as_ref()
            && frozen.index == query.index
            && frozen.pk == query.pk
        {
            return Ok(items.clone());
        }
        self.table.query(query).await
    }
}

/// Links found through the work-item index are read again from the table before anything is
/// decided on them: a lagging index may still hold an older copy, or a link that has since
/// moved on to another work item.
#[tokio::test]
async fn links_found_through_a_lagging_index_are_read_again() {
    let table: Arc<dyn Table> = Arc::new(moto::dynamo_table().await);
    let lagging = Arc::new(LaggingIndex {
        table: table.clone(),
        snapshot: std::sync::Mutex::new(None),
    });
    let store = Store::new(lagging.clone());
    store.activate_link(&mut link("i1", "77", 42), 10).await.unwrap();
    store.activate_link(&mut link("i1", "78", 42), 10).await.unwrap();
    let index = Query {
        index: Index::Gsi1,
        pk: "INT#i1#WI#42".into(),
        sk: SkRange::Prefix("LINK#".into()),
        limit: 100,
    };
    let before = table.query(&index).await.unwrap();
    assert_eq!(before.len(), 2);
    *lagging.snapshot.lock().unwrap() = Some((index, before));

    let mut moved_on = store.get_link("i1", "77").await.unwrap().unwrap();
    moved_on.sync.last_applied_rev = Some(5);
    store.update_link(&mut moved_on).await.unwrap();
    store.activate_link(&mut link("i1", "78", 43), 20).await.unwrap();

    let found = store.links_for_work_item("i1", 42).await.unwrap();
    assert_eq!(found.len(), 1, "78 now links work item 43: {found:?}");
    assert_eq!(found[0].sentry_issue_id, "77");
    assert_eq!(
        found[0].sync.last_applied_rev,
        Some(5),
        "the table's copy, not the index's"
    );
}

/// An integration stored before the installation index existed (no `gsi2`) is still found for
/// its installation — also when another integration waits, unlearned, in the index — and is
/// written again so the index has it from then on.
#[tokio::test]
async fn integrations_stored_before_the_installation_index_are_found_and_indexed() {
    let table: Arc<dyn Table> = Arc::new(moto::dynamo_table().await);
    let store = Store::new(table.clone());
    let mut legacy = integration("old");
    legacy.sentry.installation_uuid = Some("abc".into());
    store.create_integration(&mut legacy).await.unwrap();
    let key = Key::new("INT#old", "META");
    let mut item = table.get(&key).await.unwrap().unwrap();
    item.gsi2 = None;
    table
        .write(vec![WriteOp::Put {
            item,
            condition: shared::store::Condition::None,
        }])
        .await
        .unwrap();
    store.create_integration(&mut integration("unlearned")).await.unwrap();

    let candidates = || async {
        let found = store.integrations_for_installation("abc").await.unwrap();
        let mut ids: Vec<String> = found.into_iter().map(|i| i.id).collect();
        ids.sort();
        ids
    };
    assert_eq!(candidates().await, vec!["old", "unlearned"]);
    assert!(table.get(&key).await.unwrap().unwrap().gsi2.is_some(), "indexed now");
    assert_eq!(candidates().await, vec!["old", "unlearned"], "found through the index");
}
