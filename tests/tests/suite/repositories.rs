//! Repositories end to end through HTTP against the fakes: registration with its push
//! subscription, commits set on Sentry releases (a range of any length, with renames, combined
//! change types, folders and cut messages), releases named after a commit found by
//! reconciliation, pushes whose commits fix Sentry issues, and stack-trace links.

use bridge_tests::fake_ado::{FakeCommit, WEB_REPOSITORY_ID};
use bridge_tests::fake_sentry::INSTALLATION;
use bridge_tests::server::{Backend, TestServer, start};
use bridge_tests::wait::settled;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

struct Setup {
    server: TestServer,
    id: String,
}

async fn setup() -> Setup {
    let server = start(Backend::Local).await;
    let id = server.create_integration().await;
    Setup { server, id }
}

impl Setup {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let path = format!("/integrations/{}{path}", self.id);
        self.server.call(method, &path, body).await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    async fn register(&self, body: Value) -> Value {
        let (status, registered) = self.post("/repositories", body).await;
        assert_eq!(status, StatusCode::CREATED, "{registered}");
        registered
    }

    async fn register_web(&self) -> Value {
        self.register(json!({"repository": "Fabrikam-Fiber/fabrikam-web", "sentry_projects": ["backend"]}))
            .await
    }

    async fn release(&self, body: Value) -> (StatusCode, Value) {
        let path = format!("/repositories/{WEB_REPOSITORY_ID}/releases");
        self.post(&path, body).await
    }

    fn push_subscriptions(&self) -> Vec<Value> {
        self.server
            .ado
            .subscriptions()
            .into_iter()
            .filter(|s| s["eventType"] == "git.push")
            .collect()
    }

    /// `count` varied commits on main after the fake's five; returns the range's (base, head).
    fn add_varied_commits(&self, count: usize) -> (String, String) {
        let history: Vec<FakeCommit> = (1..=count).rev().map(FakeCommit::varied).collect();
        let head = history[0].sha.clone();
        self.server.ado.add_commits(WEB_REPOSITORY_ID, "main", history);
        (format!("{:0>40}", 5), head)
    }

    async fn events(&self, status: shared::records::EventStatus) -> Vec<shared::records::InboxEvent> {
        self.server
            .app
            .store
            .events_by_status(&self.id, status, 10)
            .await
            .unwrap()
    }

    fn git_requests(&self) -> usize {
        self.server.ado.requests_to("/_apis/git/").len()
    }
}

#[tokio::test]
async fn a_registered_repository_has_a_push_subscription_until_it_is_removed() {
    let setup = setup().await;
    let (status, available) = setup.call(Method::GET, "/repositories/available", None).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<String> = available["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("{}/{}", r["project"].as_str().unwrap(), r["name"].as_str().unwrap()))
        .collect();
    assert_eq!(
        names,
        vec![
            "Fabrikam-Fiber/fabrikam-web",
            "Fabrikam-Fiber/fabrikam-api",
            "Contoso Web/site"
        ],
        "every project's repositories, across pages"
    );
    assert_eq!(available["repositories"][0]["default_branch"], "main");

    let registered = setup.register_web().await;
    assert_eq!(registered["id"], WEB_REPOSITORY_ID);
    assert_eq!(registered["sentry_name"], "Fabrikam-Fiber/fabrikam-web");
    assert_eq!(registered["sentry_projects"], json!(["backend"]));
    assert_eq!(registered["default_branch"], "main");
    assert!(
        registered["url"]
            .as_str()
            .unwrap()
            .ends_with("/Fabrikam-Fiber/_git/fabrikam-web")
    );
    let subscriptions = setup.push_subscriptions();
    assert_eq!(subscriptions.len(), 1);
    let subscription = &subscriptions[0];
    assert_eq!(subscription["id"], registered["push_subscription_id"]);
    assert_eq!(subscription["publisherInputs"]["repository"], WEB_REPOSITORY_ID);
    assert!(
        subscription["consumerInputs"]["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/hooks/azure-devops/{}", setup.id))
    );

    // The same repository again (by id this time): the record as it is, nothing made.
    let (status, again) = setup
        .post("/repositories", json!({"repository": WEB_REPOSITORY_ID}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, registered);
    assert_eq!(setup.push_subscriptions().len(), 1);

    // Again with other Sentry projects and name: those change, nothing else does, nothing is made.
    let changed = json!({"repository": "fabrikam-fiber/FABRIKAM-WEB", "sentry_name": "acme/web", "sentry_projects": ["backend", "frontend"]});
    let (status, updated) = setup.post("/repositories", changed.clone()).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(
        (updated["sentry_name"].as_str(), &updated["sentry_projects"]),
        (Some("acme/web"), &json!(["backend", "frontend"]))
    );
    assert_eq!(updated["push_subscription_id"], registered["push_subscription_id"]);
    assert_eq!(setup.push_subscriptions().len(), 1);
    let (_, shown) = setup
        .call(Method::GET, &format!("/repositories/{WEB_REPOSITORY_ID}"), None)
        .await;
    assert_eq!(shown, updated, "kept");
    let (status, back) = setup
        .post("/repositories", json!({"repository": WEB_REPOSITORY_ID, "sentry_name": "Fabrikam-Fiber/fabrikam-web", "sentry_projects": ["backend"]}))
        .await;
    assert_eq!((status, &back), (StatusCode::OK, &registered));

    let (status, refused) = setup
        .post("/repositories", json!({"repository": "Fabrikam-Fiber/nope"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Fabrikam-Fiber/nope"),
        "{refused}"
    );
    let (status, _) = setup
        .post("/repositories", json!({"repository": "x", "colour": "red"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (_, listed) = setup.call(Method::GET, "/repositories", None).await;
    assert_eq!(listed["repositories"], json!([registered]));
    let (status, shown) = setup
        .call(Method::GET, &format!("/repositories/{WEB_REPOSITORY_ID}"), None)
        .await;
    assert_eq!((status, &shown), (StatusCode::OK, &registered));

    let (status, _) = setup
        .call(Method::DELETE, &format!("/repositories/{WEB_REPOSITORY_ID}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(setup.push_subscriptions().is_empty(), "its subscription is gone");
    let (status, _) = setup
        .call(Method::GET, &format!("/repositories/{WEB_REPOSITORY_ID}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn reconciliation_remakes_a_disabled_push_subscription_and_rotation_re_keys_it() {
    let setup = setup().await;
    let registered = setup.register_web().await;
    let old = registered["push_subscription_id"].as_str().unwrap().to_string();
    setup.server.ado.set_subscription_status(&old, "disabledBySystem");
    let (status, report) = setup.call(Method::POST, "/reconcile", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report["subscriptions"]["recreated"], 1, "{report}");
    let subscriptions = setup.push_subscriptions();
    assert_eq!(subscriptions.len(), 1);
    let remade = subscriptions[0]["id"].as_str().unwrap().to_string();
    assert_ne!(remade, old);
    let (_, shown) = setup
        .call(Method::GET, &format!("/repositories/{WEB_REPOSITORY_ID}"), None)
        .await;
    assert_eq!(shown["push_subscription_id"], remade.as_str());

    let (status, _) = setup.call(Method::POST, "/rotate-webhook-secret", None).await;
    assert_eq!(status, StatusCode::OK);
    let work_item_secret = setup
        .server
        .ado
        .subscriptions()
        .into_iter()
        .find(|s| s["eventType"] == "workitem.updated")
        .and_then(|s| setup.server.ado.subscription_raw(s["id"].as_str().unwrap()))
        .unwrap()["consumerInputs"]["basicAuthPassword"]
        .clone();
    let push_secret =
        setup.server.ado.subscription_raw(&remade).unwrap()["consumerInputs"]["basicAuthPassword"].clone();
    assert_eq!(
        push_secret, work_item_secret,
        "the push subscription carries the new secret too"
    );
}

/// A rotation, a registration, an edit, a delete and a reconciliation change the integration's
/// subscriptions one at a time: a rotation asked for while a registration is making its push
/// subscription waits for it and then puts the new secret on that one too — run beside it, the new
/// subscription would keep the old secret and fail once its grace ended. A reconciliation pass
/// meeting the lease skips the step and says so; an admin request waits a few seconds, then `409`.
#[tokio::test]
async fn subscriptions_are_changed_one_at_a_time() {
    use bridge_tests::fake_ado::{Fault, FaultKind};
    let setup = setup().await;
    setup.server.ado.inject(Fault {
        path_contains: "/_apis/hooks/subscriptions".into(),
        method: Some(Method::POST),
        kind: FaultKind::Slow(std::time::Duration::from_secs(1)),
        times: 1,
        after: 0,
    });
    let web = json!({"repository": "Fabrikam-Fiber/fabrikam-web", "sentry_projects": ["backend"]});
    let (registered, rotation) = tokio::join!(setup.post("/repositories", web), async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        setup.call(Method::POST, "/rotate-webhook-secret", None).await
    });
    assert_eq!(registered.0, StatusCode::CREATED, "{}", registered.1);
    assert_eq!(rotation.0, StatusCode::OK, "{}", rotation.1);
    let secret_of =
        |id: &str| setup.server.ado.subscription_raw(id).unwrap()["consumerInputs"]["basicAuthPassword"].clone();
    let push = secret_of(registered.1["push_subscription_id"].as_str().unwrap());
    let subscriptions = setup.server.ado.subscriptions();
    assert_eq!(subscriptions.len(), 5);
    for subscription in subscriptions {
        assert_eq!(secret_of(subscription["id"].as_str().unwrap()), push, "{subscription}");
    }

    // Someone holds the lease: a reconciliation pass skips the step; an edit of the integration
    // (it writes the secrets back) waits for it, and runs once it is free.
    let store = setup.server.app.store.clone();
    let name = format!("subscriptions#{}", setup.id);
    let held = store
        .try_lease(&name, 60, shared::clock::now_ms())
        .await
        .unwrap()
        .unwrap();
    let (_, report) = setup.call(Method::POST, "/reconcile", None).await;
    assert!(
        report["subscriptions_error"]
            .as_str()
            .unwrap_or_default()
            .starts_with("not checked"),
        "{report}"
    );
    let freeing = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        store.release_lease(&held).await.unwrap();
    });
    let path = format!("/integrations/{}", setup.id);
    let (status, edited) = setup
        .server
        .call(Method::PATCH, &path, Some(json!({"name": "renamed"})))
        .await;
    assert_eq!((status, edited["name"].as_str()), (StatusCode::OK, Some("renamed")));
    freeing.await.unwrap();
    let (_, report) = setup.call(Method::POST, "/reconcile", None).await;
    assert!(report.get("subscriptions_error").is_none(), "{report}");
}

#[tokio::test]
async fn a_500_commit_range_arrives_whole_with_its_files_and_full_messages() {
    let setup = setup().await;
    setup.register_web().await;
    let (base, head) = setup.add_varied_commits(500);

    let before = setup.git_requests();
    let (status, outcome) = setup
        .release(json!({"version": "2.0.0", "commit": head, "previous_commit": base}))
        .await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
    assert_eq!(outcome["commits"], 500);
    assert_eq!(
        (outcome["head"].as_str(), outcome["base"].as_str()),
        (Some(head.as_str()), Some(base.as_str()))
    );
    let calls = setup.git_requests() - before;
    assert_eq!(outcome["calls"]["azure_devops"], calls as u64);
    // Two to resolve the ends, one page of the range, then per commit its changes and its
    // message (every listed message is cut): proportional to the commits, nothing more.
    assert_eq!(calls, 2 + 1 + 500 * 2, "calls to Azure DevOps");

    let release = setup.server.sentry.release("2.0.0").expect("the release was made");
    assert_eq!(release.projects, vec!["backend"]);
    assert_eq!(release.commits.len(), 500);
    for (index, commit) in release.commits.iter().enumerate() {
        let n = 500 - index;
        assert_eq!(commit["id"], FakeCommit::varied(n).sha);
        assert_eq!(commit["repository"], "Fabrikam-Fiber/fabrikam-web");
        assert_eq!(
            commit["message"],
            format!("Change {n}: tidy module {n}\n\nWhy: the whole body of change {n}.")
        );
        assert_eq!(
            (commit["author_name"].as_str(), commit["author_email"].as_str()),
            (Some("Jamal Hartnett"), Some("jamal@fabrikam.example"))
        );
        assert_eq!(commit["timestamp"], "2026-11-20T10:00:00Z");
        assert_eq!(commit["patch_set"], FakeCommit::varied_patch_set(n), "commit {n}");
    }

    // The same call again leaves the same list.
    let (status, again) = setup
        .release(json!({"version": "2.0.0", "commit": head, "previous_commit": base}))
        .await;
    assert_eq!((status, &again["commits"]), (StatusCode::OK, &json!(500)));
    assert_eq!(setup.server.sentry.release("2.0.0").unwrap().commits, release.commits);
}

#[tokio::test]
async fn a_release_without_previous_commit_starts_where_the_last_one_ended() {
    let setup = setup().await;
    setup.register_web().await;
    let older: Vec<FakeCommit> = (1..=25).rev().map(FakeCommit::varied).collect();
    setup.server.ado.add_commits(WEB_REPOSITORY_ID, "main", older);

    // The first release of a repository: the newest 20 commits up to its head (a branch here).
    let (status, first) = setup.release(json!({"version": "1.0.0", "commit": "main"})).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!((first["commits"].as_u64(), &first["base"]), (Some(20), &Value::Null));
    let first_head = first["head"].as_str().unwrap().to_string();
    assert_eq!(first_head, FakeCommit::varied(25).sha);

    let newer: Vec<FakeCommit> = (26..=28).rev().map(FakeCommit::varied).collect();
    setup.server.ado.add_commits(WEB_REPOSITORY_ID, "main", newer);
    let short = &FakeCommit::varied(28).sha[..10];
    let (status, second) = setup.release(json!({"version": "1.1.0", "commit": short})).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second["commits"], 3, "{second}");
    assert_eq!(second["base"], first_head.as_str());
    let ids: Vec<Value> = setup
        .server
        .sentry
        .release("1.1.0")
        .unwrap()
        .commits
        .iter()
        .map(|c| c["id"].clone())
        .collect();
    assert_eq!(
        ids,
        (26..=28)
            .rev()
            .map(|n| json!(FakeCommit::varied(n).sha))
            .collect::<Vec<_>>()
    );

    // Asked again (a retried pipeline step): the same three, not an empty range.
    let (_, again) = setup.release(json!({"version": "1.1.0", "commit": short})).await;
    assert_eq!(
        (again["commits"].as_u64(), &again["base"]),
        (Some(3), &json!(first_head))
    );
    assert_eq!(setup.server.sentry.release("1.1.0").unwrap().commits.len(), 3);

    let (status, body) = setup
        .release(json!({"version": "1.2.0", "commit": "no-such-branch"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) = setup.release(json!({"version": "a/b", "commit": "main"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = setup.release(json!({"commit": "main"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// Two pipelines set releases of one repository at once, neither giving `previous_commit`: the
/// second waits for the first and starts where it ended — no commit lands in both.
#[tokio::test]
async fn releases_of_one_repository_at_once_do_not_overlap() {
    use bridge_tests::fake_ado::{Fault, FaultKind};
    let setup = setup().await;
    setup.register_web().await;
    let commits: Vec<FakeCommit> = (1..=25).rev().map(FakeCommit::varied).collect();
    setup.server.ado.add_commits(WEB_REPOSITORY_ID, "main", commits);
    let older = FakeCommit::varied(20).sha;
    setup.server.ado.inject(Fault {
        path_contains: older.clone(),
        method: None,
        kind: FaultKind::Slow(std::time::Duration::from_millis(800)),
        times: 1,
        after: 0,
    });
    let (first, second) = tokio::join!(setup.release(json!({"version": "1.0.0", "commit": older})), async {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        setup.release(json!({"version": "1.1.0", "commit": "main"})).await
    });
    assert_eq!(first.0, StatusCode::OK, "{}", first.1);
    assert_eq!(second.0, StatusCode::OK, "{}", second.1);
    assert_eq!(second.1["base"], json!(older), "{}", second.1);
    let ids = |version: &str| -> Vec<String> {
        let release = setup.server.sentry.release(version).unwrap();
        release
            .commits
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect()
    };
    let (in_first, in_second) = (ids("1.0.0"), ids("1.1.0"));
    assert_eq!((in_first.len(), in_second.len()), (20, 5));
    assert!(
        in_second.iter().all(|id| !in_first.contains(id)),
        "{in_first:?} {in_second:?}"
    );

    // Reconciliation meeting a release being set does not wait (its pass has a time budget): the
    // sha-named release is left for the next pass, not refused for good.
    let store = &setup.server.app.store;
    let name = format!("release#{}#{WEB_REPOSITORY_ID}", setup.id);
    let held = store
        .try_lease(&name, 60, shared::clock::now_ms())
        .await
        .unwrap()
        .unwrap();
    setup
        .server
        .ado
        .add_commits(WEB_REPOSITORY_ID, "main", vec![FakeCommit::varied(26)]);
    let named = format!("backend@{}", FakeCommit::varied(26).sha);
    setup.server.sentry.add_release(&named, &["backend"]);
    let started = std::time::Instant::now();
    let (_, report) = setup.call(Method::POST, "/reconcile", None).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "it did not wait");
    assert!(
        report["releases_error"]
            .as_str()
            .unwrap_or_default()
            .contains("another release"),
        "{report}"
    );
    store.release_lease(&held).await.unwrap();
    let (_, report) = setup.call(Method::POST, "/reconcile", None).await;
    assert_eq!(report["releases"]["commits_set"], 1, "{report}");
    assert_eq!(
        setup.server.sentry.release(&named).unwrap().commits.len(),
        1,
        "just the one after 1.1.0"
    );
}

#[tokio::test]
async fn a_release_needs_projects() {
    let setup = setup().await;
    setup.register(json!({"repository": WEB_REPOSITORY_ID})).await;
    let (status, body) = setup.release(json!({"version": "1.0.0", "commit": "main"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("sentry_projects"),
        "{body}"
    );
    assert!(setup.server.sentry.release("1.0.0").is_none());
    let (status, _) = setup
        .release(json!({"version": "1.0.0", "commit": "main", "projects": ["web"]}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(setup.server.sentry.release("1.0.0").unwrap().projects, vec!["web"]);
}

/// A Sentry project added to a registered repository (registering it again) has its releases
/// looked at from then on: one made before belongs to no repository of the bridge and is left.
#[tokio::test]
async fn a_sentry_project_added_later_counts_its_releases_from_then_on() {
    let setup = setup().await;
    setup.register_web().await;
    let before = format!("frontend@{:0>40}", 5);
    setup.server.sentry.add_release(&before, &["frontend"]);
    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    let both = json!({"repository": WEB_REPOSITORY_ID, "sentry_projects": ["backend", "frontend"]});
    let (status, updated) = setup.post("/repositories", both).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    let after = format!("frontend@{:0>40}", 4);
    setup.server.sentry.add_release(&after, &["frontend"]);

    let (status, report) = setup.call(Method::POST, "/reconcile", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report["releases"], json!({"checked": 1, "commits_set": 1}), "{report}");
    assert!(!setup.server.sentry.release(&after).unwrap().commits.is_empty());
    assert!(
        setup.server.sentry.release(&before).unwrap().commits.is_empty(),
        "made before it was added"
    );
}

#[tokio::test]
async fn a_release_named_after_a_commit_gets_its_commits_in_one_reconcile_pass() {
    let setup = setup().await;
    setup.register_web().await;
    let head = format!("{:0>40}", 5);
    let version = format!("backend@{}", &head[..12]);
    setup.server.sentry.add_release(&version, &["backend"]);
    setup.server.sentry.add_release("2.0.0-beta", &["backend"]);
    setup.server.sentry.add_release(&"f".repeat(40), &["backend"]);

    // Sentry out during the pass: noted, and nothing is skipped for good.
    setup.server.sentry.fail_next(bridge_tests::server::ONE_CALL);
    let (status, report) = setup.call(Method::POST, "/reconcile", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        report["releases_error"].as_str().unwrap().contains("Sentry"),
        "{report}"
    );
    assert!(setup.server.sentry.release(&version).unwrap().commits.is_empty());

    let (status, report) = setup.call(Method::POST, "/reconcile", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report["releases"], json!({"checked": 3, "commits_set": 1}), "{report}");
    let release = setup.server.sentry.release(&version).unwrap();
    let ids: Vec<&str> = release.commits.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids.len(),
        5,
        "the first release of the repository: up to 20 commits up to its sha"
    );
    assert_eq!(ids[0], head);
    assert!(setup.server.sentry.release("2.0.0-beta").unwrap().commits.is_empty());

    let writes = setup.server.sentry.writes().len();
    let (_, second) = setup.call(Method::POST, "/reconcile", None).await;
    assert_eq!(second["releases"], json!({"checked": 0, "commits_set": 0}), "{second}");
    assert_eq!(
        setup.server.sentry.writes().len(),
        writes,
        "a second pass changes nothing"
    );
}

#[tokio::test]
async fn a_push_that_fixes_an_issue_comments_on_it_once() {
    let setup = setup().await;
    setup.register_web().await;
    setup.server.sentry.add_issue("9001");
    setup.server.sentry.add_issue("9002");
    let fixing = FakeCommit::new(&"d".repeat(40), "Guard the divisor (Fixes BACKEND-9001)\n\nDetails.");
    setup
        .server
        .ado
        .push(
            WEB_REPOSITORY_ID,
            "main",
            vec![fixing.clone(), FakeCommit::new(&"e".repeat(40), "fixes OTHER-1")],
        )
        .await;
    let delivery = setup.server.ado.delivery_where(|d| d.event_type == "git.push").unwrap();
    assert_eq!(delivery.status, Some(202));
    for _ in 0..2 {
        let again = setup.server.ado.redeliver(&delivery, &delivery.payload).await;
        assert_eq!(again.status(), StatusCode::OK, "a redelivery is a duplicate");
    }
    settled(&setup.server.app, &setup.id).await;
    let comments = setup.server.sentry.issue("9001").comments;
    assert_eq!(comments.len(), 1, "{comments:?}");
    let text = &comments[0].1;
    assert!(
        text.starts_with("Commit dddddddd in Fabrikam-Fiber/fabrikam-web on main by Jamal Hartnett"),
        "{text}"
    );
    assert!(text.contains("Guard the divisor (Fixes BACKEND-9001)"), "{text}");
    assert!(
        text.ends_with(&format!("/Fabrikam-Fiber/_git/fabrikam-web/commit/{}", "d".repeat(40))),
        "{text}"
    );
    let (_, shown) = setup
        .call(Method::GET, &format!("/repositories/{WEB_REPOSITORY_ID}"), None)
        .await;
    assert_eq!(shown["heads"]["main"], "d".repeat(40));

    // The same commit pushed to another branch: still one comment.
    setup.server.ado.push(WEB_REPOSITORY_ID, "release", vec![fixing]).await;
    // A push carrying fewer commits than it has: the rest are read from Azure DevOps.
    setup.server.ado.state(|s| s.push_payload_commits = 1);
    setup
        .server
        .ado
        .push(
            WEB_REPOSITORY_ID,
            "main",
            vec![
                FakeCommit::new(&"1".repeat(40), "Newest"),
                FakeCommit::new(&"2".repeat(40), "Resolves: backend-9002"),
            ],
        )
        .await;
    settled(&setup.server.app, &setup.id).await;
    assert_eq!(setup.server.sentry.issue("9001").comments.len(), 1);
    assert_eq!(
        setup.server.sentry.issue("9002").comments.len(),
        1,
        "found in the commits read from the API"
    );
    let dead = setup.events(shared::records::EventStatus::Dead).await;
    assert!(dead.is_empty(), "{dead:?}");

    // A push to a repository that is not registered is answered and ignored.
    let mut other = delivery.payload.clone();
    other["resource"]["repository"]["id"] = json!("4d5b4c3e-2b3c-4d4e-9f0a-1b2c3d4e5f60");
    other["resource"]["pushId"] = json!(999);
    let response = setup.server.ado.redeliver(&delivery, &other).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["status"], "ignored");
}

#[tokio::test]
async fn a_stack_trace_link_opens_the_mapped_file_at_its_line() {
    let setup = setup().await;
    setup.register_web().await;
    let map = |stack_root: &str, source_root: &str| {
        json!({"sentry_project": "backend", "repository": WEB_REPOSITORY_ID, "branch": "main",
               "stack_root": stack_root, "source_root": source_root})
    };
    let (status, short) = setup.post("/code-mappings", map("app/", "src/")).await;
    assert_eq!(status, StatusCode::CREATED, "{short}");
    let (status, _) = setup
        .post("/code-mappings", map("app/billing/", "services/billing/"))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = setup
        .post(
            "/code-mappings",
            json!({"sentry_project": "backend", "repository": "nope"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let link = |installation: &str, filename: &str| {
        let mut url = reqwest::Url::parse(&setup.server.url("/sentry/stacktrace-link")).unwrap();
        url.query_pairs_mut()
            .append_pair("installationId", installation)
            .append_pair("projectSlug", "backend")
            .append_pair("filename", filename)
            .append_pair("lineNo", "42");
        browser.get(url).send()
    };
    let response = link(INSTALLATION, "app/billing/invoice.py").await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let web = setup.server.ado.org_url() + "/Fabrikam-Fiber/_git/fabrikam-web";
    assert_eq!(
        location,
        format!(
            "{web}?path=%2Fservices%2Fbilling%2Finvoice.py&version=GBmain&line=42&lineEnd=42&lineStartColumn=1\
             &lineEndColumn=1&lineStyle=plain&_a=contents"
        )
    );
    let response = link(INSTALLATION, "app/models/user.py").await.unwrap();
    assert!(
        response.headers()["location"]
            .to_str()
            .unwrap()
            .contains("path=%2Fsrc%2Fmodels%2Fuser.py")
    );

    for (installation, filename) in [
        (INSTALLATION, "lib/other.py"),
        (INSTALLATION, "app/../../etc/passwd"),
        ("00000000-0000-0000-0000-000000000000", "app/models/user.py"),
    ] {
        let response = link(installation, filename).await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{installation} {filename}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let page = response.text().await.unwrap();
        assert!(!page.contains(&setup.id) && !page.contains("fabrikam"), "{page}");
    }

    let (_, listed) = setup.call(Method::GET, "/code-mappings", None).await;
    assert_eq!(listed["code_mappings"].as_array().unwrap().len(), 2);
    let (status, _) = setup
        .call(
            Method::DELETE,
            &format!("/code-mappings/{}", short["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let response = link(INSTALLATION, "app/models/user.py").await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND, "its mapping is gone");
    // Removing the repository removes its mappings.
    setup
        .call(Method::DELETE, &format!("/repositories/{WEB_REPOSITORY_ID}"), None)
        .await;
    let (_, listed) = setup.call(Method::GET, "/code-mappings", None).await;
    assert_eq!(listed["code_mappings"], json!([]));
}

#[tokio::test]
async fn a_range_is_read_whichever_way_azure_devops_reads_item_and_compare() {
    let setup = setup().await;
    setup.register_web().await;
    let (base, head) = setup.add_varied_commits(10);
    setup.server.ado.state(|s| s.commitsbatch_item_is_base = true);
    let (status, outcome) = setup
        .release(json!({"version": "3.0.0", "commit": head, "previous_commit": base}))
        .await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
    assert_eq!(outcome["commits"], 10);
    assert_eq!(
        setup.server.ado.requests_to("/commitsbatch").len(),
        2,
        "asked once each way"
    );
    let release = setup.server.sentry.release("3.0.0").unwrap();
    assert_eq!(release.commits[0]["id"], head);
}

#[tokio::test]
async fn a_commit_named_release_past_the_first_page_is_found() {
    let setup = setup().await;
    setup.register_web().await;
    let head = format!("{:0>40}", 5);
    // The sha-named release is the oldest of 150 new ones: on the second page.
    setup.server.sentry.add_release(&head[..7], &["backend"]);
    for n in 0..149 {
        setup.server.sentry.add_release(&format!("nightly-{n}"), &["backend"]);
    }
    let (status, report) = setup.call(Method::POST, "/reconcile", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        report["releases"],
        json!({"checked": 150, "commits_set": 1}),
        "{report}"
    );
    assert_eq!(setup.server.sentry.release(&head[..7]).unwrap().commits.len(), 5);
    let pages = setup
        .server
        .sentry
        .calls()
        .iter()
        .filter(|c| c.path.ends_with("/releases/") && c.method == Method::GET)
        .count();
    assert_eq!(pages, 2);
}

#[tokio::test]
async fn a_late_older_push_does_not_set_a_head_back_and_a_lost_answer_posts_once() {
    let setup = setup().await;
    setup.register_web().await;
    setup.server.sentry.add_issue("9003");
    // The first push's delivery is lost; the second arrives; then the first comes late.
    setup.server.ado.state(|s| s.lose_deliveries = 1);
    setup
        .server
        .ado
        .push(
            WEB_REPOSITORY_ID,
            "main",
            vec![FakeCommit::new(&"a1".repeat(20), "Older")],
        )
        .await;
    let older = setup.server.ado.delivery_where(|d| d.event_type == "git.push").unwrap();
    // Its comment is posted, but the answer is lost: the event is retried and posts nothing more.
    setup.server.sentry.lose_next_answers("/issues/9003/comments/", 1);
    let newer = FakeCommit::new(&"b2".repeat(20), "Close BACKEND-9003");
    setup.server.ado.push(WEB_REPOSITORY_ID, "main", vec![newer]).await;
    let response = setup.server.ado.redeliver(&older, &older.payload).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    settled(&setup.server.app, &setup.id).await;
    let (_, shown) = setup
        .call(Method::GET, &format!("/repositories/{WEB_REPOSITORY_ID}"), None)
        .await;
    assert_eq!(shown["heads"]["main"], "b2".repeat(20), "{shown}");
    // The push whose answer was lost waits for its retry: asked for now.
    let (status, _) = setup.call(Method::POST, "/events/retry?status=failed", None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    settled(&setup.server.app, &setup.id).await;
    let to_comments: Vec<Method> = setup
        .server
        .sentry
        .calls()
        .iter()
        .filter(|c| c.path.ends_with("/issues/9003/comments/"))
        .map(|c| c.method.clone())
        .collect();
    assert_eq!(
        to_comments,
        vec![Method::POST, Method::GET],
        "the retry looks before it posts"
    );
    assert_eq!(setup.server.sentry.issue("9003").comments.len(), 1);
    let done = setup.events(shared::records::EventStatus::Done).await;
    assert!(
        done.iter().any(|e| e.claims >= 2 && e.event_type == "git.push"),
        "{done:?}"
    );
}
