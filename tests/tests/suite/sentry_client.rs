//! The Sentry client against the fake Sentry: issue status and assignee, member lookup,
//! comments, external issues, auth and rate-limit handling.

use std::time::{Duration, Instant};

use bridge_tests::fake_sentry::{self, FakeSentry};
use shared::secrets::Secret;
use shared::sentry::{SentryClient, SentryError};

fn client(fake: &FakeSentry, token: &str) -> SentryClient {
    SentryClient::new(
        reqwest::Client::new(),
        &fake.base_url(),
        fake_sentry::ORG,
        Secret::new(token),
    )
}

#[tokio::test]
async fn status_assignee_and_members() {
    let fake = FakeSentry::start().await;
    fake.add_issue("77");
    let sentry = client(&fake, fake_sentry::TOKEN);
    sentry.set_status("77", "resolved").await.unwrap();
    assert_eq!(fake.issue("77").status, "resolved");
    let alice = sentry.member_user_id("Alice@Fabrikam.example").await.unwrap();
    assert_eq!(alice.as_deref(), Some("101"));
    assert_eq!(sentry.member_user_id("nobody@x.example").await.unwrap(), None);
    sentry.assign("77", alice.as_deref()).await.unwrap();
    assert_eq!(fake.issue("77").assigned_to.as_deref(), Some("user:101"));
    // Read back as Sentry serializes it (the worker checks a webhook against it).
    let shown = sentry.issue("77").await.unwrap();
    assert_eq!(shown["status"], "resolved");
    assert_eq!(shown["assignedTo"]["type"], "user");
    assert_eq!(shown["assignedTo"]["id"], "101", "a string, as Sentry sends it");
    sentry.assign("77", None).await.unwrap();
    assert_eq!(fake.issue("77").assigned_to, None);
    let call = fake
        .calls()
        .into_iter()
        .find(|c| c.path.ends_with("/members/"))
        .unwrap();
    assert_eq!(call.query, "query=email%3AAlice%40Fabrikam.example");
    assert!(matches!(
        sentry.set_status("404", "resolved").await,
        Err(SentryError::NotFound(_))
    ));
    assert!(matches!(
        sentry.set_status("77", "bogus").await,
        Err(SentryError::Http { status: 400, .. })
    ));
}

#[tokio::test]
async fn comments_round_trip() {
    let fake = FakeSentry::start().await;
    fake.add_issue("77");
    let sentry = client(&fake, fake_sentry::TOKEN);
    let id = sentry.add_comment("77", "first").await.unwrap();
    let listed = sentry.comments("77").await.unwrap();
    assert_eq!(listed[0].id, id);
    assert_eq!(listed[0].data["text"], "first");
    sentry.update_comment("77", &id, "edited").await.unwrap();
    assert_eq!(fake.issue("77").comments[0].1, "edited");
    assert!(
        matches!(
            sentry.add_comment("77", "edited").await,
            Err(SentryError::Http { status: 400, .. })
        ),
        "same text twice"
    );
    sentry.delete_comment("77", &id).await.unwrap();
    sentry.delete_comment("77", &id).await.unwrap();
    assert!(fake.issue("77").comments.is_empty());
}

#[tokio::test]
async fn external_issues_link_and_unlink() {
    let fake = FakeSentry::start().await;
    fake.add_issue("77");
    let sentry = client(&fake, fake_sentry::TOKEN);
    let id = sentry
        .link_external_issue(
            "c2a7c5e0-0000-4000-8000-000000000001",
            "77",
            "https://dev.azure.com/f/P/_workitems/edit/42",
            "P",
            "P#42",
        )
        .await
        .unwrap();
    let linked = fake.external_issues();
    assert_eq!(linked[0].1["issueId"], 77);
    assert_eq!(linked[0].1["identifier"], "P#42");
    sentry
        .unlink_external_issue("c2a7c5e0-0000-4000-8000-000000000001", &id)
        .await
        .unwrap();
    assert!(fake.external_issues().is_empty());
    assert!(matches!(
        sentry.link_external_issue("u", "not-a-number", "w", "p", "i").await,
        Err(SentryError::Decode(_))
    ));
}

#[tokio::test]
async fn a_wrong_token_is_an_auth_error_and_429_is_waited_out() {
    let fake = FakeSentry::start().await;
    fake.add_issue("77");
    match client(&fake, "wrong").set_status("77", "resolved").await {
        Err(SentryError::Auth { status: 401, message }) => assert_eq!(message, "Invalid token"),
        other => panic!("{other:?}"),
    }
    fake.throttle_next(1);
    let started = Instant::now();
    client(&fake, fake_sentry::TOKEN)
        .set_status("77", "resolved")
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(fake.issue("77").status, "resolved");
    fake.throttle_next(5);
    assert_eq!(
        client(&fake, fake_sentry::TOKEN)
            .set_status("77", "unresolved")
            .await
            .err()
            .map(|e| e.is_transient()),
        Some(true)
    );
}

/// Sentry's 503 is handled by the same policy as Azure DevOps': sent again after a backoff (it
/// was not processed), and once the retries are used up it is the service's failure.
#[tokio::test]
async fn a_503_is_sent_again_like_any_refused_call_then_given_up() {
    let fake = FakeSentry::start().await;
    fake.add_issue("77");
    let fast = shared::retry::RetryPolicy {
        max_retries: 2,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_secs(1),
        timeout: Duration::from_secs(5),
    };
    let sentry = client(&fake, fake_sentry::TOKEN).with_policy(fast);
    fake.fail_next(1);
    sentry.set_status("77", "resolved").await.unwrap();
    assert_eq!(fake.issue("77").status, "resolved");
    fake.fail_next(1);
    sentry.add_comment("77", "posted once").await.unwrap();
    assert_eq!(fake.issue("77").comments.len(), 1, "a refused POST was not carried out");
    fake.fail_next(3);
    let error = sentry.set_status("77", "unresolved").await.unwrap_err();
    assert!(matches!(error, SentryError::Http { status: 503, .. }), "{error:?}");
    assert!(error.is_transient());
}
