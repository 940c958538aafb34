//! The Azure DevOps client against the fake organization: auth (PAT, Entra), the sign-in page,
//! throttling and outages, typed errors, paging, and every endpoint the bridge uses.

use std::time::{Duration, Instant};

use bridge_tests::fake_ado::{self, FakeAdo, FaultKind};
use serde_json::json;
use shared::azure_devops::*;
use shared::secrets::Secret;

fn fast() -> RetryPolicy {
    RetryPolicy {
        max_retries: 2,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_secs(5),
        timeout: Duration::from_secs(5),
    }
}

fn pat_client(fake: &FakeAdo, pat: &str) -> AdoClient {
    AdoClient::new(reqwest::Client::new(), &fake.org_url(), AdoAuth::Pat(Secret::new(pat)))
        .unwrap()
        .with_policy(fast())
}

fn entra_client(fake: &FakeAdo, secret: &str) -> AdoClient {
    let tokens = EntraTokens::new(
        &fake.authority(),
        "tenant-1",
        fake_ado::ENTRA_CLIENT_ID,
        Secret::new(secret),
    );
    AdoClient::new(reqwest::Client::new(), &fake.org_url(), AdoAuth::Entra(tokens))
        .unwrap()
        .with_policy(fast())
}

#[tokio::test]
async fn pat_is_sent_as_basic_with_the_redirect_suppressed() {
    let fake = FakeAdo::start().await;
    let me = pat_client(&fake, fake_ado::VALID_PAT).connection_data().await.unwrap();
    assert_eq!(me.authenticated_user.id, fake_ado::BRIDGE_IDENTITY_ID);
    assert_eq!(me.instance_id, fake_ado::COLLECTION_ID);
    let request = &fake.requests_to("connectionData")[0];
    assert_eq!(request.headers["x-tfs-fedauthredirect"], "Suppress");
    // base64(":fake-valid-pat")
    assert_eq!(request.headers["authorization"], "Basic OmZha2UtdmFsaWQtcGF0");
}

#[tokio::test]
async fn a_bad_pat_is_an_auth_error_whether_203_page_or_401() {
    let fake = FakeAdo::start().await;
    let client = pat_client(&fake, "wrong");
    match client.connection_data().await {
        Err(AdoError::Auth { status: 203, message }) => assert!(message.contains("sign-in page"), "{message}"),
        other => panic!("expected the 203 sign-in page as an auth error, got {other:?}"),
    }
    match client
        .create_subscription(subscription_request(
            "workitem.updated",
            "https://x.example/h",
            "p",
            json!({}),
        ))
        .await
    {
        Err(AdoError::Auth { status: 401, message }) => assert!(message.contains("TF400813"), "{message}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_injected_sign_in_page_is_an_auth_error_even_with_a_good_pat() {
    let fake = FakeAdo::start().await;
    fake.fail("_apis/projects", FaultKind::SignInPage, 1);
    assert!(matches!(
        pat_client(&fake, fake_ado::VALID_PAT).projects().await,
        Err(AdoError::Auth { status: 203, .. })
    ));
}

#[tokio::test]
async fn entra_token_is_reused_and_fetched_once_under_concurrency() {
    let fake = FakeAdo::start().await;
    let client = entra_client(&fake, fake_ado::ENTRA_SECRET);
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let client = client.clone();
            async move { client.connection_data().await }
        })
        .collect();
    for result in futures_join(calls).await {
        result.unwrap();
    }
    client.projects().await.unwrap();
    assert_eq!(
        fake.requests_to("oauth2/v2.0/token").len(),
        1,
        "one token for all calls"
    );
    let token_request = &fake.requests_to("oauth2/v2.0/token")[0];
    assert_eq!(token_request.path, "/tenant-1/oauth2/v2.0/token");
    assert!(token_request.body.contains("grant_type=client_credentials"));
    assert!(
        token_request
            .body
            .contains("scope=499b84ac-1321-427f-aa17-267ca6975798%2F.default")
    );
    assert_eq!(
        fake.requests_to("connectionData")[0].headers["authorization"],
        "Bearer fake-token-1"
    );
}

#[tokio::test]
async fn entra_token_is_refreshed_when_near_expiry() {
    let fake = FakeAdo::start().await;
    // A token that lives less than the five-minute margin is refreshed on every use.
    fake.state(|s| s.entra_token_lifetime = 200);
    let client = entra_client(&fake, fake_ado::ENTRA_SECRET);
    client.connection_data().await.unwrap();
    client.connection_data().await.unwrap();
    assert_eq!(fake.requests_to("oauth2/v2.0/token").len(), 2);
    assert_eq!(
        fake.requests_to("connectionData")[1].headers["authorization"],
        "Bearer fake-token-2"
    );
}

#[tokio::test]
async fn a_refused_entra_secret_is_an_auth_error_with_the_reason() {
    let fake = FakeAdo::start().await;
    match entra_client(&fake, "wrong-secret").connection_data().await {
        Err(AdoError::Auth { message, .. }) => {
            assert!(message.contains("AADSTS7000215"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert!(fake.requests_to("connectionData").is_empty());
}

#[tokio::test]
async fn throttling_with_retry_after_is_waited_out() {
    let fake = FakeAdo::start().await;
    fake.fail("_apis/projects", FaultKind::Throttle { retry_after_secs: 1 }, 1);
    let started = Instant::now();
    let projects = pat_client(&fake, fake_ado::VALID_PAT).projects().await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(projects.len(), 3);
    assert_eq!(fake.requests_to("_apis/projects").len(), 2);
}

#[tokio::test]
async fn an_outage_past_the_retry_budget_is_a_typed_error() {
    let fake = FakeAdo::start().await;
    fake.fail("connectionData", FaultKind::Unavailable, 10);
    let error = pat_client(&fake, fake_ado::VALID_PAT)
        .connection_data()
        .await
        .unwrap_err();
    assert!(matches!(error, AdoError::Throttled { status: 503, .. }), "{error:?}");
    assert!(error.is_transient());
    assert_eq!(fake.requests_to("connectionData").len(), 3, "first try + 2 retries");
}

#[tokio::test]
async fn a_requested_delay_longer_than_the_cap_fails_fast() {
    let fake = FakeAdo::start().await;
    fake.fail("connectionData", FaultKind::Throttle { retry_after_secs: 3600 }, 1);
    let error = pat_client(&fake, fake_ado::VALID_PAT)
        .connection_data()
        .await
        .unwrap_err();
    assert_eq!(
        error,
        AdoError::Throttled {
            status: 429,
            retry_after_secs: 3600
        }
    );
}

#[tokio::test]
async fn slow_answers_time_out() {
    let fake = FakeAdo::start().await;
    fake.fail("connectionData", FaultKind::Slow(Duration::from_secs(2)), 5);
    let policy = RetryPolicy {
        max_retries: 0,
        timeout: Duration::from_millis(200),
        ..fast()
    };
    let client = pat_client(&fake, fake_ado::VALID_PAT).with_policy(policy);
    assert!(matches!(client.connection_data().await, Err(AdoError::Transport(_))));
}

#[tokio::test]
async fn work_item_lifecycle_with_rule_errors_and_revision_conflicts() {
    let fake = FakeAdo::start().await;
    let client = pat_client(&fake, fake_ado::VALID_PAT);
    let created = client
        .create_work_item(
            "Fabrikam-Fiber",
            "Bug",
            vec![
                patch::field("System.Title", "ZeroDivisionError: division by zero"),
                patch::field("System.Tags", "sentry"),
                patch::hyperlink("https://sentry.io/organizations/acme/issues/77/", "Sentry issue"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(created.rev, 1);
    assert_eq!(created.field_str("System.State"), Some("New"));
    assert_eq!(created.relations[0].rel, "Hyperlink");
    assert!(
        created
            .web_url()
            .unwrap()
            .ends_with(&format!("/_workitems/edit/{}", created.id))
    );
    let create_request = &fake.requests_to("workitems/$Bug")[0];
    assert_eq!(create_request.headers["content-type"], "application/json-patch+json");

    match client
        .create_work_item("Fabrikam-Fiber", "Bug", vec![patch::field("System.Tags", "x")])
        .await
    {
        Err(AdoError::Field { field, .. }) => assert_eq!(field, "Title"),
        other => panic!("{other:?}"),
    }
    match client
        .update_work_item(
            created.id,
            None,
            vec![patch::field("System.AssignedTo", "nobody@nowhere.example")],
        )
        .await
    {
        Err(AdoError::Field { field, message }) => {
            assert!(field == "Assigned To" && message.contains("InvalidIdentity"))
        }
        other => panic!("{other:?}"),
    }

    let updated = client
        .update_work_item(
            created.id,
            Some(1),
            vec![
                patch::replace("/fields/System.State", "Active"),
                patch::field("System.AssignedTo", "alice@fabrikam.example"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(updated.rev, 2);
    assert_eq!(
        updated.fields["System.AssignedTo"]["uniqueName"],
        "alice@fabrikam.example"
    );
    assert_eq!(
        client
            .update_work_item(
                created.id,
                Some(1),
                vec![patch::replace("/fields/System.State", "Resolved")]
            )
            .await,
        Err(AdoError::Conflict),
        "a stale revision is refused"
    );
    assert_eq!(
        client.work_item(created.id).await.unwrap().field_str("System.State"),
        Some("Active")
    );
    assert!(matches!(client.work_item(9999).await, Err(AdoError::NotFound { .. })));
}

#[tokio::test]
async fn batch_reads_split_at_200_and_skip_missing_ids() {
    let fake = FakeAdo::start().await;
    let client = pat_client(&fake, fake_ado::VALID_PAT);
    let mut ids = Vec::new();
    for n in 0..3 {
        let item = client
            .create_work_item(
                "Contoso Web",
                "Issue",
                vec![patch::field("System.Title", format!("Issue {n}"))],
            )
            .await
            .unwrap();
        ids.push(item.id);
    }
    ids.extend(1000..1250);
    let items = client.work_items_batch(&ids, &[]).await.unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(fake.requests_to("workitemsbatch").len(), 2, "253 ids → 2 calls");
}

#[tokio::test]
async fn wiql_finds_by_title_newest_first() {
    let fake = FakeAdo::start().await;
    let client = pat_client(&fake, fake_ado::VALID_PAT);
    for title in ["Checkout crash", "Login slow", "Checkout timeout"] {
        client
            .create_work_item("Fabrikam-Fiber", "Bug", vec![patch::field("System.Title", title)])
            .await
            .unwrap();
    }
    let ids = client
        .wiql(
            "Fabrikam-Fiber",
            "SELECT [System.Id] FROM WorkItems WHERE [System.Title] CONTAINS 'checkout' ORDER BY [System.Id] DESC",
            20,
        )
        .await
        .unwrap();
    assert_eq!(ids, vec![3, 1]);
}

#[tokio::test]
async fn comments_add_edit_delete_and_page() {
    let fake = FakeAdo::start().await;
    let client = pat_client(&fake, fake_ado::VALID_PAT);
    let item = client
        .create_work_item("Fabrikam-Fiber", "Bug", vec![patch::field("System.Title", "t")])
        .await
        .unwrap();
    let comment = client
        .add_comment(
            "Fabrikam-Fiber",
            item.id,
            "**Alice** (via Sentry) wrote: hi",
            TextFormat::Markdown,
        )
        .await
        .unwrap();
    assert_eq!(comment.format, "markdown");
    let add = fake
        .requests_to("/comments")
        .into_iter()
        .find(|r| r.method == reqwest::Method::POST)
        .unwrap();
    assert!(
        add.query.contains("format=markdown") && add.query.contains("api-version=7.2-preview.4"),
        "{}",
        add.query
    );

    let edited = client
        .update_comment("Fabrikam-Fiber", item.id, comment.id, "edited", TextFormat::Markdown)
        .await
        .unwrap();
    assert_eq!((edited.text.as_str(), edited.version), ("edited", 2));
    fake.state(|s| {
        let stored = s.work_items.get_mut(&item.id).unwrap();
        for n in 0..250 {
            stored.comments.push(fake_ado::FakeComment {
                id: 5000 + n,
                version: 1,
                text: format!("c{n}"),
                format: "html".into(),
                author: fake_ado::BRIDGE_IDENTITY_ID.into(),
                deleted: false,
            });
        }
    });
    assert_eq!(
        client.comments("Fabrikam-Fiber", item.id).await.unwrap().len(),
        251,
        "two pages followed"
    );
    client
        .delete_comment("Fabrikam-Fiber", item.id, comment.id)
        .await
        .unwrap();
    let remaining = client.comments("Fabrikam-Fiber", item.id).await.unwrap();
    assert!(remaining.iter().all(|c| c.id != comment.id));
}

#[tokio::test]
async fn projects_follow_continuation_tokens() {
    let fake = FakeAdo::start().await;
    fake.state(|s| {
        for n in 0..230 {
            s.projects.push(fake_ado::FakeProject {
                id: format!("p-{n}"),
                name: format!("Project {n}"),
                process: fake_ado::Process::Basic,
            });
        }
    });
    let projects = pat_client(&fake, fake_ado::VALID_PAT).projects().await.unwrap();
    assert_eq!(projects.len(), 233);
    let requests = fake.requests_to("_apis/projects");
    assert_eq!(requests.len(), 3);
    assert!(
        requests[1].query.contains("continuationToken=100"),
        "{}",
        requests[1].query
    );
}

#[tokio::test]
async fn process_metadata_and_its_cache() {
    let fake = FakeAdo::start().await;
    let client = pat_client(&fake, fake_ado::VALID_PAT);
    let types = client.work_item_types("Fabrikam-Fiber").await.unwrap();
    assert!(types.iter().any(|t| t.name == "Shared Steps" && t.is_disabled));
    let states = client
        .work_item_type_states("Fabrikam-Fiber", "User Story")
        .await
        .unwrap();
    assert_eq!(
        states.iter().find(|s| s.name == "Resolved").unwrap().category,
        "Resolved"
    );
    let basic = client.work_item_type_states("Contoso Web", "Issue").await.unwrap();
    assert_eq!(
        basic.iter().map(|s| s.category.as_str()).collect::<Vec<_>>(),
        vec!["Proposed", "InProgress", "Completed"]
    );
    let categories = client.work_item_type_categories("Contoso Web").await.unwrap();
    assert_eq!(categories[0].default_work_item_type.as_ref().unwrap().name, "Issue");
    let areas = client
        .classification_paths("Fabrikam-Fiber", NodeKind::Areas)
        .await
        .unwrap();
    assert_eq!(
        areas,
        vec![
            "Fabrikam-Fiber",
            "Fabrikam-Fiber\\Web",
            "Fabrikam-Fiber\\Web\\Checkout",
            "Fabrikam-Fiber\\Mobile"
        ]
    );
    let iterations = client
        .classification_paths("Fabrikam-Fiber", NodeKind::Iterations)
        .await
        .unwrap();
    assert_eq!(iterations.len(), 3);

    let metadata = Metadata::default();
    for _ in 0..3 {
        metadata.states(&client, "Fabrikam-Fiber", "Bug").await.unwrap();
        metadata.projects(&client).await.unwrap();
        metadata.work_item_types(&client, "Fabrikam-Fiber").await.unwrap();
        metadata.categories(&client, "Fabrikam-Fiber").await.unwrap();
    }
    assert_eq!(fake.requests_to("workitemtypes/Bug/states").len(), 1);
    assert_eq!(fake.requests_to("_apis/projects").len(), 1);
    let type_lists = fake
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/wit/workitemtypes"))
        .count();
    assert_eq!(type_lists, 2, "1 direct + 1 cached");
    assert_eq!(
        fake.requests_to("workitemtypecategories").len(),
        2,
        "1 direct + 1 cached"
    );
}

#[tokio::test]
async fn identities_and_git() {
    let fake = FakeAdo::start().await;
    let client = pat_client(&fake, fake_ado::VALID_PAT);
    let found = client.identities_by_email("ALICE@fabrikam.example").await.unwrap();
    assert_eq!(found[0].id, "8f2e3a14-6c0b-4d1e-9a57-2b3c4d5e6f70");
    assert!(client.identities_by_email("nobody@x.example").await.unwrap().is_empty());

    let repositories = client.repositories().await.unwrap();
    assert_eq!(repositories.len(), 3, "two pages, the continuation token followed");
    assert_eq!(fake.requests_to("/_apis/git/repositories").len(), 2);
    let repo = &repositories[0];
    assert_eq!(
        (repo.name.as_str(), repo.project.name.as_str()),
        ("fabrikam-web", "Fabrikam-Fiber")
    );
    assert_eq!(client.repository(&repo.id).await.unwrap().id, repo.id);
    let commits = client
        .commits_from(&repo.id, shared::azure_devops::GitVersion::Branch("main"), 3)
        .await
        .unwrap();
    assert_eq!(commits.len(), 3);
    assert!(commits[0].comment_truncated);
    let full = client.commit(&repo.id, &commits[0].commit_id).await.unwrap();
    assert!(full.comment.contains("Longer body"));
    let (range, calls) = client
        .commit_range(&repo.id, &format!("{:0>40}", 2), &format!("{:0>40}", 5))
        .await
        .unwrap();
    assert_eq!(calls, 1);
    assert_eq!(
        range
            .iter()
            .map(|c| c.commit_id.trim_start_matches('0'))
            .collect::<Vec<_>>(),
        vec!["5", "4", "3"]
    );
    let (changes, _) = client.commit_changes(&repo.id, &commits[0].commit_id).await.unwrap();
    assert_eq!(changes.iter().filter(|c| !c.item.is_folder).count(), 2);
    assert!(matches!(
        client.repository("missing").await,
        Err(AdoError::NotFound { .. })
    ));
}

#[tokio::test]
async fn subscriptions_create_get_list_delete() {
    let fake = FakeAdo::start().await;
    let client = pat_client(&fake, fake_ado::VALID_PAT);
    let created = client
        .create_subscription(subscription_request(
            "workitem.updated",
            "https://bridge.example/hooks/azure-devops/i1",
            "hook-secret",
            json!({}),
        ))
        .await
        .unwrap();
    assert_eq!(
        (created.status.as_str(), created.resource_version.as_str()),
        ("enabled", "1.0")
    );
    assert_eq!(created.consumer_inputs["basicAuthPassword"], "********");
    fake.set_subscription_status(&created.id, "disabledBySystem");
    assert_eq!(
        client.subscription(&created.id).await.unwrap().status,
        "disabledBySystem"
    );
    assert_eq!(client.subscriptions().await.unwrap().len(), 1);
    client.delete_subscription(&created.id).await.unwrap();
    client.delete_subscription(&created.id).await.unwrap();
    assert!(matches!(
        client.subscription(&created.id).await,
        Err(AdoError::NotFound { .. })
    ));
}

/// Joins futures without an extra dependency.
async fn futures_join<F>(futures: Vec<F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}

/// A token endpoint that answers with a redirect is not followed: a 307 would make the client
/// post the client secret again, to wherever the redirect points.
#[tokio::test]
async fn an_entra_token_request_follows_no_redirect() {
    use std::sync::{Arc, Mutex};
    let captured: Arc<Mutex<Vec<String>>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let elsewhere = format!("{base}/elsewhere");
    let seen = captured.clone();
    let router = axum::Router::new()
        .route(
            "/tenant/oauth2/v2.0/token",
            axum::routing::post(move || {
                let elsewhere = elsewhere.clone();
                async move { (axum::http::StatusCode::TEMPORARY_REDIRECT, [("location", elsewhere)]) }
            }),
        )
        .route(
            "/elsewhere",
            axum::routing::post(move |body: String| {
                seen.lock().unwrap().push(body);
                async { "{}" }
            }),
        );
    tokio::spawn(async move { axum::serve(listener, router).await });
    let tokens = EntraTokens::new(&base, "tenant", "client-id", Secret::new("the-client-secret"));
    let outcome = tokens.token().await;
    assert!(outcome.is_err(), "no token from a redirect");
    assert!(
        captured.lock().unwrap().is_empty(),
        "the secret was posted again: {:?}",
        captured.lock().unwrap()
    );
}
