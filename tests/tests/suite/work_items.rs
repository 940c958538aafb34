//! Creating and linking work items from Sentry, its select options and the alert-rule settings,
//! end to end: requests shaped like Sentry's (numbers where Sentry sends numbers), signed with
//! the app's client secret, against the fake Azure DevOps.

use bridge_tests::fake_ado;
use bridge_tests::server::{ADMIN_TOKEN, Backend, TestServer, start};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::sentry::signature::sign;

const CLIENT_SECRET: &str = "sentry-client-secret-value";
const INSTALLATION: &str = "6f2b7a0e-3c1d-4e5f-9a8b-7c6d5e4f3a2b";
const ISSUE: u64 = 6543210987;
const WEB_URL: &str = "https://contoso.sentry.io/issues/6543210987/";

async fn setup() -> (TestServer, String) {
    let server = start(Backend::Local).await;
    let id = server.create_integration().await;
    (server, id)
}

async fn post_signed(server: &TestServer, path: &str, body: &Value, secret: &str) -> (StatusCode, Value) {
    bridge_tests::sentry_app::post_signed(&server.client, &server.url(path), body, secret).await
}

async fn options(server: &TestServer, kind: &str, query: &[(&str, &str)]) -> (StatusCode, Value) {
    let mut url = reqwest::Url::parse(&server.url(&format!("/sentry/options/{kind}"))).unwrap();
    url.query_pairs_mut()
        .append_pair("installationId", INSTALLATION)
        .append_pair("projectSlug", "backend");
    for (name, value) in query {
        url.query_pairs_mut().append_pair(name, value);
    }
    let response = server
        .client
        .get(url)
        .header("Sentry-App-Signature", sign(CLIENT_SECRET, b""))
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn create_request(fields: Value) -> Value {
    json!({
        "fields": fields,
        "issueId": ISSUE,
        "installationId": INSTALLATION,
        "webUrl": WEB_URL,
        "project": {"slug": "backend", "id": 4505123456789u64},
        "actor": {"type": "user", "id": 2234567, "name": "Jane Doe"}
    })
}

fn ado_calls(server: &TestServer) -> usize {
    server.ado.requests().len()
}

#[tokio::test]
async fn create_makes_one_work_item_with_relation_tag_and_truncated_title() {
    let (server, integration_id) = setup().await;
    let long_title = format!("ZeroDivisionError: division by zero in {}", "x".repeat(200));
    let request = create_request(json!({
        "title": long_title, "description": "Sentry issue: https://contoso.sentry.io/issues/6543210987/",
        "ado_project": "Fabrikam-Fiber", "work_item_type": "Bug", "tags": "backend", "area_path": "Fabrikam-Fiber\\Web"
    }));
    let before = ado_calls(&server);
    let (status, answer) = post_signed(&server, "/sentry/issue-link/create", &request, CLIENT_SECRET).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(
        ado_calls(&server) - before,
        1,
        "a create costs exactly one Azure DevOps call"
    );
    let id: u64 = answer["identifier"].as_str().unwrap().parse().unwrap();
    assert_eq!(answer["project"], "Fabrikam-Fiber");
    assert!(
        answer["webUrl"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/_workitems/edit/{id}"))
    );

    let item = server.ado.state(|s| s.work_items[&id].clone());
    let title = item.fields["System.Title"].as_str().unwrap();
    assert_eq!(title.chars().count(), 128);
    assert!(title.ends_with("..."));
    assert_eq!(item.fields["System.Tags"], "sentry; backend");
    assert_eq!(item.fields["System.AreaPath"], "Fabrikam-Fiber\\Web");
    assert!(item.fields["System.Description"].as_str().unwrap().contains(WEB_URL));
    assert_eq!(item.relations[0]["rel"], "Hyperlink");
    assert_eq!(item.relations[0]["url"], WEB_URL);

    let link = server.stored_link(&integration_id, &ISSUE.to_string()).await;
    assert_eq!(link.work_item_id, id);
    assert_eq!(link.sync.last_applied_rev, Some(1));
    let integration = server
        .app
        .store
        .get_integration(&integration_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        integration.sentry.installation_uuid.as_deref(),
        Some(INSTALLATION),
        "learned on first contact"
    );

    // The same create again (a double click, a retry): the same work item, no new call.
    let (status, again) = post_signed(&server, "/sentry/issue-link/create", &request, CLIENT_SECRET).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(again, answer);
    assert_eq!(server.ado.state(|s| s.work_items.len()), 1);
    assert_eq!(ado_calls(&server) - before, 1);
}

#[tokio::test]
async fn concurrent_creates_for_one_issue_make_one_work_item() {
    let (server, _) = setup().await;
    let request = create_request(json!({"title": "t", "ado_project": "Fabrikam-Fiber", "work_item_type": "Bug"}));
    let (a, b) = tokio::join!(
        post_signed(&server, "/sentry/issue-link/create", &request, CLIENT_SECRET),
        post_signed(&server, "/sentry/issue-link/create", &request, CLIENT_SECRET)
    );
    assert_eq!((a.0, b.0), (StatusCode::CREATED, StatusCode::CREATED));
    assert_eq!(a.1, b.1);
    assert_eq!(server.ado.state(|s| s.work_items.len()), 1);
}

#[tokio::test]
async fn rule_errors_and_bad_choices_come_back_as_messages() {
    let (server, _) = setup().await;
    let request = create_request(
        json!({"title": "t", "ado_project": "Fabrikam-Fiber", "work_item_type": "Bug", "assignee": "nobody@nowhere.example"}),
    );
    let (status, answer) = post_signed(&server, "/sentry/issue-link/create", &request, CLIENT_SECRET).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = answer["message"].as_str().unwrap();
    assert!(message.contains("Assigned To"), "{message}");

    let unknown_type = create_request(json!({"title": "t", "ado_project": "Fabrikam-Fiber", "work_item_type": "Epic"}));
    let (status, answer) = post_signed(&server, "/sentry/issue-link/create", &unknown_type, CLIENT_SECRET).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(answer["message"].as_str().unwrap().contains("Epic"), "{answer}");

    let no_project = create_request(json!({"title": "t", "work_item_type": "Bug"}));
    let (status, answer) = post_signed(&server, "/sentry/issue-link/create", &no_project, CLIENT_SECRET).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(answer["message"].as_str().unwrap().contains("project"));
    assert!(server.ado.state(|s| s.work_items.is_empty()));
}

#[tokio::test]
async fn wrong_signatures_and_unknown_installations_are_refused() {
    let (server, _) = setup().await;
    let request = create_request(json!({"title": "t", "ado_project": "Fabrikam-Fiber", "work_item_type": "Bug"}));
    let (status, answer) = post_signed(&server, "/sentry/issue-link/create", &request, "wrong-secret").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(answer["message"].is_string());
    let unsigned = server
        .client
        .post(server.url("/sentry/issue-link/create"))
        .json(&request)
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), StatusCode::UNAUTHORIZED);
    let response = server
        .client
        .get(server.url("/sentry/options/projects?installationId=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let (status, _) = post_signed(&server, "/sentry/issue-link/create", &request, CLIENT_SECRET).await;
    assert_eq!(status, StatusCode::CREATED);
    let mut other = request.clone();
    other["installationId"] = json!("00000000-0000-4000-8000-000000000000");
    let (status, _) = post_signed(&server, "/sentry/issue-link/create", &other, CLIENT_SECRET).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the integration learned its installation; others are strangers"
    );
    assert_eq!(server.ado.state(|s| s.work_items.len()), 1);
}

/// A GET component request is signed over the empty string — a constant anyone who saw one can
/// replay with any `installationId`. An integration that has not learned its installation must
/// not learn one from it (every real webhook would be ignored after); it learns from a signed
/// POST, whose body names the installation. An unsigned POST is refused before its body is read.
#[tokio::test]
async fn an_installation_is_learned_only_from_a_signed_body() {
    let (server, id) = setup().await;
    let store = &server.app.store;
    let mut integration = store.get_integration(&id).await.unwrap().unwrap();
    integration.sentry.installation_uuid = None;
    store.update_integration(&mut integration).await.unwrap();

    let replayed = server
        .client
        .get(server.url("/sentry/options/projects?installationId=99999999-dead-4bad-8bad-999999999999&projectSlug=x"))
        .header("Sentry-App-Signature", sign(CLIENT_SECRET, b""))
        .send()
        .await
        .unwrap();
    assert_eq!(replayed.status(), StatusCode::OK, "the options themselves are served");
    let stored = store.get_integration(&id).await.unwrap().unwrap();
    assert_eq!(stored.sentry.installation_uuid, None, "nothing learned from a GET");

    let unsigned = server
        .client
        .post(server.url("/sentry/issue-link/create"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(
        unsigned.status(),
        StatusCode::UNAUTHORIZED,
        "refused before the body is read"
    );

    let request = create_request(json!({"title": "t", "ado_project": "Fabrikam-Fiber", "work_item_type": "Bug"}));
    let (status, _) = post_signed(&server, "/sentry/issue-link/create", &request, CLIENT_SECRET).await;
    assert_eq!(status, StatusCode::CREATED);
    let stored = store.get_integration(&id).await.unwrap().unwrap();
    assert_eq!(stored.sentry.installation_uuid.as_deref(), Some(INSTALLATION));
}

/// Without a `webUrl` (an older Sentry, a hand-made request) the work item still links to the
/// Sentry issue: the URL the integration's Sentry organization serves it at, never an empty link.
#[tokio::test]
async fn a_create_or_link_without_a_web_url_links_the_issue_url_it_builds() {
    let (server, _) = setup().await;
    let mut request = create_request(json!({"title": "t", "ado_project": "Fabrikam-Fiber", "work_item_type": "Bug"}));
    request.as_object_mut().unwrap().remove("webUrl");
    let (status, created) = post_signed(&server, "/sentry/issue-link/create", &request, CLIENT_SECRET).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let expected = format!("{}/organizations/acme/issues/{ISSUE}/", server.sentry.base_url());
    let id: u64 = created["identifier"].as_str().unwrap().parse().unwrap();
    let item = server.ado.state(|s| s.work_items[&id].clone());
    assert!(
        item.relations.iter().any(|r| r["url"] == expected.as_str()),
        "{:?}",
        item.relations
    );
    let description = item.fields["System.Description"].as_str().unwrap();
    assert!(description.contains(&expected), "{description}");
    assert!(!description.contains("]()"), "no empty link: {description}");

    let mut link = request.clone();
    link["issueId"] = json!(ISSUE + 1);
    link["fields"] = json!({"work_item": id.to_string()});
    let (status, linked) = post_signed(&server, "/sentry/issue-link/link", &link, CLIENT_SECRET).await;
    assert_eq!(status, StatusCode::OK, "{linked}");
    let other = format!("{}/organizations/acme/issues/{}/", server.sentry.base_url(), ISSUE + 1);
    let item = server.ado.state(|s| s.work_items[&id].clone());
    assert!(
        item.relations.iter().any(|r| r["url"] == other.as_str()),
        "{:?}",
        item.relations
    );
}

#[tokio::test]
async fn link_verifies_records_and_replaces_the_previous_link() {
    let (server, integration_id) = setup().await;
    let existing = server.ado.state(|s| {
        let id = s.next_work_item;
        s.next_work_item += 1;
        let mut fields = serde_json::Map::new();
        for (k, v) in [
            ("System.Title", "Checkout crash"),
            ("System.State", "Active"),
            ("System.TeamProject", "Fabrikam-Fiber"),
            ("System.WorkItemType", "Bug"),
        ] {
            fields.insert(k.into(), json!(v));
        }
        s.work_items.insert(
            id,
            fake_ado::FakeWorkItem {
                id,
                rev: 3,
                project: "Fabrikam-Fiber".into(),
                work_item_type: "Bug".into(),
                fields,
                relations: vec![],
                comments: vec![],
                deleted: false,
            },
        );
        id
    });
    let created = post_signed(
        &server,
        "/sentry/issue-link/create",
        &create_request(json!({"title": "t", "ado_project": "Fabrikam-Fiber", "work_item_type": "Bug"})),
        CLIENT_SECRET,
    )
    .await
    .1;

    let url = format!("{}/Fabrikam-Fiber/_workitems/edit/{existing}", server.ado.org_url());
    let request = create_request(json!({"ado_project": "Fabrikam-Fiber", "work_item": url}));
    let before = ado_calls(&server);
    let (status, answer) = post_signed(&server, "/sentry/issue-link/link", &request, CLIENT_SECRET).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(ado_calls(&server) - before, 2, "read + one patch");
    assert_eq!(answer["identifier"], existing.to_string());
    let item = server.ado.state(|s| s.work_items[&existing].clone());
    assert_eq!(item.relations[0]["url"], WEB_URL);
    assert!(item.fields["System.History"].as_str().unwrap().contains(WEB_URL));
    assert_eq!(item.rev, 4);

    let link = server.stored_link(&integration_id, &ISSUE.to_string()).await;
    assert_eq!(link.work_item_id, existing);
    assert_eq!(link.sync.last_applied_rev, Some(4));
    let history = server
        .app
        .store
        .link_history(&integration_id, &ISSUE.to_string())
        .await
        .unwrap();
    assert_eq!(
        history[0].work_item_id.to_string(),
        created["identifier"].as_str().unwrap(),
        "the created one is history"
    );

    let before = ado_calls(&server);
    let (status, again) = post_signed(
        &server,
        "/sentry/issue-link/link",
        &create_request(json!({"work_item": existing.to_string()})),
        CLIENT_SECRET,
    )
    .await;
    assert_eq!(
        (status, &again),
        (StatusCode::OK, &answer),
        "linking the same work item is a no-op"
    );
    assert_eq!(ado_calls(&server), before);

    let (status, missing) = post_signed(
        &server,
        "/sentry/issue-link/link",
        &create_request(json!({"work_item": "99999"})),
        CLIENT_SECRET,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(missing["message"].as_str().unwrap().contains("99999"));
    let (status, _) = post_signed(
        &server,
        "/sentry/issue-link/link",
        &create_request(json!({"work_item": "not a reference"})),
        CLIENT_SECRET,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn every_option_kind_answers_and_a_warm_dialog_costs_no_calls() {
    let (server, _) = setup().await;
    let project = json!({"ado_project": "Fabrikam-Fiber"}).to_string();
    let open_dialog = || async {
        let mut answers = Vec::new();
        for (kind, query) in [
            ("projects", vec![]),
            ("work-item-types", vec![("dependentData", project.as_str())]),
            ("area-paths", vec![("dependentData", project.as_str())]),
            ("iterations", vec![("dependentData", project.as_str())]),
            ("work-items", vec![("dependentData", project.as_str())]),
        ] {
            let (status, answer) = options(&server, kind, &query).await;
            assert_eq!(status, StatusCode::OK, "{kind}: {answer}");
            answers.push(answer);
        }
        answers
    };
    let answers = open_dialog().await;
    let labels = |answer: &Value| {
        answer
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["label"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(labels(&answers[0]), vec!["Fabrikam-Fiber", "Contoso Web", "Archive"]);
    assert_eq!(
        labels(&answers[1]),
        vec!["Bug", "User Story", "Task"],
        "disabled and hidden types filtered"
    );
    assert_eq!(answers[1][0]["default"], true);
    assert_eq!(
        labels(&answers[2]),
        vec![
            "Fabrikam-Fiber",
            "Fabrikam-Fiber\\Web",
            "Fabrikam-Fiber\\Web\\Checkout",
            "Fabrikam-Fiber\\Mobile"
        ]
    );
    assert_eq!(answers[3].as_array().unwrap().len(), 3);
    assert_eq!(answers[4], json!([]), "no search without a query");

    let before = ado_calls(&server);
    open_dialog().await;
    assert_eq!(
        ado_calls(&server),
        before,
        "opening the dialog again costs no Azure DevOps call"
    );

    let (_, filtered) = options(
        &server,
        "work-item-types",
        &[("dependentData", &project), ("query", "us")],
    )
    .await;
    assert_eq!(labels(&filtered), vec!["User Story"]);
    for title in ["Checkout crash", "Login slow"] {
        post_signed(
            &server,
            "/sentry/issue-link/create",
            &{
                let mut r =
                    create_request(json!({"title": title, "ado_project": "Fabrikam-Fiber", "work_item_type": "Bug"}));
                r["issueId"] = json!(ISSUE + title.len() as u64);
                r
            },
            CLIENT_SECRET,
        )
        .await;
    }
    let (_, found) = options(
        &server,
        "work-items",
        &[("dependentData", &project), ("query", "checkout")],
    )
    .await;
    assert_eq!(labels(&found), vec!["#1 Checkout crash"]);
    let (_, by_id) = options(&server, "work-items", &[("query", "2")]).await;
    assert_eq!(labels(&by_id), vec!["#2 Login slow"]);
    let (status, _) = options(&server, "nonsense", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn alert_rule_settings_are_validated() {
    let (server, _) = setup().await;
    let settings = |project: &str, kind: &str| json!({"fields": [{"name": "ado_project", "value": project}, {"name": "work_item_type", "value": kind}], "installationId": INSTALLATION});
    let (status, answer) = post_signed(
        &server,
        "/sentry/alert-rule-action",
        &settings("Fabrikam-Fiber", "Bug"),
        CLIENT_SECRET,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, answer) = post_signed(
        &server,
        "/sentry/alert-rule-action",
        &settings("Fabrikam-Fiber", "Epic"),
        CLIENT_SECRET,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer["message"].as_str().unwrap().contains("Bug, User Story, Task"),
        "{answer}"
    );
    let (status, answer) = post_signed(
        &server,
        "/sentry/alert-rule-action",
        &settings("Nope", "Bug"),
        CLIENT_SECRET,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(answer["message"].as_str().unwrap().contains("Nope"));
    let (status, _) = post_signed(
        &server,
        "/sentry/alert-rule-action",
        &settings("Fabrikam-Fiber", "Bug"),
        "wrong",
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_schema_is_served_to_admins() {
    let (server, _) = setup().await;
    let response = server
        .client
        .get(server.url("/sentry/schema"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let schema: Value = response.json().await.unwrap();
    assert_eq!(schema["elements"][0]["type"], "issue-link");
    assert_eq!(schema["elements"][0]["create"]["uri"], "/sentry/issue-link/create");
    assert_eq!(schema["elements"][1]["type"], "alert-rule-action");
    assert_eq!(schema["webhook_url"], server.url("/hooks/sentry"));
    assert_eq!(
        server
            .client
            .get(server.url("/sentry/schema"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

/// A create dropped half way (a worker's event that ran out of time) leaves no lease behind: a
/// retry can create at once instead of being told for a minute that one is "being created".
#[tokio::test]
async fn a_create_dropped_half_way_releases_its_lease() {
    let (server, id) = setup().await;
    server.ado.fail(
        "/_apis/wit/workitems/",
        fake_ado::FaultKind::Slow(std::time::Duration::from_secs(30)),
        1,
    );
    let (integration, secrets) = server.integration_and_secrets(&id).await;
    let input = shared::work_items::CreateInput {
        issue_id: "424242",
        sentry_url: WEB_URL,
        project: "Fabrikam-Fiber",
        work_item_type: "Bug",
        title: "Slow",
        description: "",
        area_path: None,
        iteration_path: None,
        tags: None,
        assignee: None,
        footer: None,
        origin: shared::records::LinkOrigin::Alert,
    };
    let app = &server.app;
    let cut = tokio::time::timeout(
        std::time::Duration::from_millis(500),
        shared::work_items::create_and_link(app, &integration, &secrets, &input),
    )
    .await;
    assert!(cut.is_err(), "the create was still waiting for Azure DevOps");
    let lease = format!("create#{id}#424242");
    let mut free = false;
    for _ in 0..50 {
        free = app
            .store
            .try_lease(&lease, 60, shared::clock::now_ms())
            .await
            .unwrap()
            .is_some();
        if free {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(free, "the dropped create released its lease");
}

/// Azure DevOps made the work item but its answer never came back (a gateway's 502 — a process
/// that died right after the call looks the same to whoever retries): the user's retry links
/// that work item instead of making a second one.
#[tokio::test]
async fn a_create_whose_answer_was_lost_links_the_work_item_it_made_when_retried() {
    let (server, integration_id) = setup().await;
    server.ado.inject(fake_ado::Fault {
        path_contains: "/_apis/wit/workitems/".into(),
        method: Some(reqwest::Method::POST),
        kind: fake_ado::FaultKind::AnswerLost,
        times: 1,
        after: 0,
    });
    let request =
        create_request(json!({"title": "Lost answer", "ado_project": "Fabrikam-Fiber", "work_item_type": "Bug"}));
    let (status, answer) = post_signed(&server, "/sentry/issue-link/create", &request, CLIENT_SECRET).await;
    assert!(status.is_server_error(), "{status} {answer}");
    let made: Vec<u64> = server.ado.state(|s| s.work_items.keys().copied().collect());
    assert_eq!(made.len(), 1, "Azure DevOps made it; the bridge never heard");

    let (status, answer) = post_signed(&server, "/sentry/issue-link/create", &request, CLIENT_SECRET).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(answer["identifier"], made[0].to_string());
    assert_eq!(server.ado.state(|s| s.work_items.len()), 1, "no second work item");
    let link = server.stored_link(&integration_id, &ISSUE.to_string()).await;
    assert_eq!(link.work_item_id, made[0]);

    // The create is over: the next issue's create makes its own work item without looking.
    let before = server.ado.requests_to("/wiql").len();
    let mut other = create_request(json!({"title": "Next", "ado_project": "Fabrikam-Fiber", "work_item_type": "Bug"}));
    other["issueId"] = json!(ISSUE + 1);
    other["webUrl"] = json!(format!("https://contoso.sentry.io/issues/{}/", ISSUE + 1));
    let (status, _) = post_signed(&server, "/sentry/issue-link/create", &other, CLIENT_SECRET).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(server.ado.state(|s| s.work_items.len()), 2);
    assert_eq!(
        server.ado.requests_to("/wiql").len(),
        before,
        "no search when nothing was lost"
    );
}

/// A create Azure DevOps refused made nothing: the retry creates without searching first.
#[tokio::test]
async fn a_refused_create_leaves_nothing_to_look_for() {
    let (server, _) = setup().await;
    server
        .ado
        .fail("/_apis/wit/workitems/", fake_ado::FaultKind::Unavailable, 4);
    let request = create_request(json!({"title": "Refused", "ado_project": "Fabrikam-Fiber", "work_item_type": "Bug"}));
    let (status, _) = post_signed(&server, "/sentry/issue-link/create", &request, CLIENT_SECRET).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    server.ado.clear_faults();
    let (status, _) = post_signed(&server, "/sentry/issue-link/create", &request, CLIENT_SECRET).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(server.ado.state(|s| s.work_items.len()), 1);
    assert!(server.ado.requests_to("/wiql").is_empty());
}
