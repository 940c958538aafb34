//! The integrations admin API end to end over HTTP, on both backends: SQLite + secrets file
//! (the local server) and DynamoDB + Secrets Manager on moto (the AWS shape).

use bridge_tests::fake_ado::{self, Fault, FaultKind};
use bridge_tests::server::{ADMIN_TOKEN, Backend, TestServer, start};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::secrets::SecretStore;

const SECRET_VALUES: [&str; 5] = [
    fake_ado::VALID_PAT,
    "sentry-client-secret-value",
    "sentry-auth-token-value",
    "entra-secret-value",
    "hook-secret",
];

async fn send(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value, String) {
    let mut request = server.client.request(method, server.url(path)).bearer_auth(ADMIN_TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, json, text)
}

fn assert_no_secret(text: &str) {
    for value in SECRET_VALUES {
        assert!(!text.contains(value), "secret {value} leaked: {text}");
    }
}

fn assert_error(status: StatusCode, body: &Value, expected: StatusCode, code: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

async fn create(server: &TestServer) -> Value {
    let (status, body, text) = send(
        server,
        reqwest::Method::POST,
        "/integrations",
        Some(server.create_body()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    assert_no_secret(&text);
    body
}

async fn lifecycle(backend: Backend) {
    let server = start(backend).await;
    let created = create(&server).await;
    let id = created["id"].as_str().unwrap().to_string();
    let webhook_url = server.url(&format!("/hooks/azure-devops/{id}"));
    assert_eq!(created["name"], "fabrikam");
    assert_eq!(created["azure_devops"]["organization"], fake_ado::ORG);
    assert_eq!(created["azure_devops"]["auth"], json!({"type": "pat"}));
    assert_eq!(
        created["azure_devops"]["bridge_identity_id"],
        fake_ado::BRIDGE_IDENTITY_ID
    );
    assert_eq!(created["azure_devops"]["collection_id"], fake_ado::COLLECTION_ID);
    assert_eq!(created["webhook_url"], webhook_url.as_str());
    assert_eq!(created["version"], 2, "stored connecting, then active");
    assert_eq!(created["state"], "active");
    assert!(created["created_at"].as_str().unwrap().ends_with('Z'));

    // The secrets went to the secret store, with a generated webhook secret.
    let reference = created["secret_ref"].as_str().unwrap();
    let secrets = server.app.secrets.get(reference).await.unwrap();
    assert_eq!(secrets.sentry_auth_token.expose(), "sentry-auth-token-value");
    assert_eq!(secrets.webhook_secret.expose().len(), 64);

    // Four organization-wide subscriptions, resourceVersion 1.0, Basic auth with the webhook secret.
    let subscriptions = server.ado.subscriptions();
    let mut events: Vec<&str> = subscriptions.iter().map(|s| s["eventType"].as_str().unwrap()).collect();
    events.sort();
    assert_eq!(
        events,
        vec![
            "workitem.commented",
            "workitem.deleted",
            "workitem.restored",
            "workitem.updated"
        ]
    );
    for subscription in &subscriptions {
        let raw = server
            .ado
            .subscription_raw(subscription["id"].as_str().unwrap())
            .unwrap();
        assert_eq!(raw["publisherId"], "tfs");
        assert_eq!(raw["resourceVersion"], "1.0");
        assert_eq!(raw["consumerId"], "webHooks");
        assert_eq!(raw["consumerActionId"], "httpRequest");
        assert_eq!(raw["consumerInputs"]["url"], webhook_url.as_str());
        assert_eq!(
            raw["consumerInputs"]["basicAuthPassword"],
            secrets.webhook_secret.expose()
        );
        assert_eq!(
            created["azure_devops"]["subscriptions"][raw["eventType"].as_str().unwrap()],
            raw["id"]
        );
    }

    let (status, report, _) = send(
        &server,
        reqwest::Method::GET,
        &format!("/integrations/{id}/status"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["healthy"], true, "{report}");
    assert_eq!(report["credential"]["ok"], true);
    assert_eq!(report["bridge_identity_id"], fake_ado::BRIDGE_IDENTITY_ID);
    assert!(
        report["subscriptions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "enabled" && s["url_matches"] == true)
    );
    let disabled = created["azure_devops"]["subscriptions"]["workitem.commented"]
        .as_str()
        .unwrap();
    server.ado.set_subscription_status(disabled, "disabledBySystem");
    let (_, report, _) = send(
        &server,
        reqwest::Method::GET,
        &format!("/integrations/{id}/status"),
        None,
    )
    .await;
    assert_eq!(report["healthy"], false);
    let commented = report["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["event_type"] == "workitem.commented")
        .unwrap();
    assert_eq!(commented["status"], "disabledBySystem");

    let (status, listed, text) = send(&server, reqwest::Method::GET, "/integrations", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_no_secret(&text);
    assert_eq!(listed["integrations"].as_array().unwrap().len(), 1);
    assert_eq!(listed["integrations"][0]["id"], id.as_str());

    let (status, shown, _) = send(&server, reqwest::Method::GET, &format!("/integrations/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown, created);

    // PATCH: rename, rotate the Sentry token and move the ADO credential to an Entra service principal.
    server.ado.state(|s| s.entra_client.1 = "entra-secret-value".into());
    server.sentry.accept_token("rotated-token");
    let patch = json!({"version": 2, "name": "fabrikam-prod", "sentry": {"auth_token": "rotated-token"},
        "azure_devops": {"auth": {"type": "entra", "tenant_id": "tenant", "client_id": fake_ado::ENTRA_CLIENT_ID,
                                  "client_secret": "entra-secret-value", "authority": server.ado.authority()}}});
    let (status, patched, text) = send(
        &server,
        reqwest::Method::PATCH,
        &format!("/integrations/{id}"),
        Some(patch),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_no_secret(&text);
    assert!(!text.contains("rotated-token"));
    assert_eq!(patched["name"], "fabrikam-prod");
    assert_eq!(patched["version"], 3);
    assert_eq!(patched["azure_devops"]["auth"]["type"], "entra");
    assert_eq!(
        patched["azure_devops"]["auth"]["authority"],
        server.ado.authority().as_str()
    );
    let secrets = server.app.secrets.get(reference).await.unwrap();
    assert_eq!(secrets.sentry_auth_token.expose(), "rotated-token");
    assert_eq!(
        secrets.sentry_client_secret.expose(),
        "sentry-client-secret-value",
        "untouched secrets stay"
    );

    let (status, body, _) = send(
        &server,
        reqwest::Method::PATCH,
        &format!("/integrations/{id}"),
        Some(json!({"version": 2, "name": "x"})),
    )
    .await;
    assert_error(status, &body, StatusCode::CONFLICT, "conflict");
    let (status, body, _) = send(
        &server,
        reqwest::Method::PATCH,
        &format!("/integrations/{id}"),
        Some(json!({"nmae": "typo"})),
    )
    .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "malformed_request");
    assert!(body["error"]["message"].as_str().unwrap().contains("nmae"));

    // DELETE removes the subscriptions (through the rotated Entra credential), the secret and the record.
    let (status, _, _) = send(&server, reqwest::Method::DELETE, &format!("/integrations/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(
        server.ado.subscriptions().is_empty(),
        "subscriptions deleted in Azure DevOps"
    );
    assert_eq!(
        server.ado.requests_to("oauth2/v2.0/token").len(),
        2,
        "one token to verify the new credential on PATCH, one to delete the subscriptions"
    );
    let (status, body, _) = send(&server, reqwest::Method::GET, &format!("/integrations/{id}"), None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, _, _) = send(&server, reqwest::Method::DELETE, &format!("/integrations/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "deleting again is harmless");
    let (status, body, _) = send(&server, reqwest::Method::DELETE, "/integrations/never-was", None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    assert!(
        server.app.secrets.get(reference).await.is_err(),
        "the secret is gone too"
    );
    assert!(
        server.app.store.integration_deleted(&id).await.unwrap(),
        "a tombstone answers later deliveries"
    );
}

/// The create request for the fake organizations, sent (again).
async fn create_again(server: &TestServer) -> (StatusCode, Value) {
    let (status, body, _) = send(
        server,
        reqwest::Method::POST,
        "/integrations",
        Some(server.create_body()),
    )
    .await;
    (status, body)
}

async fn assert_nothing_left(server: &TestServer) {
    assert!(
        server.app.store.list_integrations().await.unwrap().is_empty(),
        "no record"
    );
    assert!(server.ado.subscriptions().is_empty(), "no subscription left behind");
}

#[tokio::test]
async fn a_bad_credential_is_explained_and_leaves_nothing() {
    let server = start(Backend::Local).await;
    let mut body = server.create_body();
    body["azure_devops"]["auth"]["token"] = json!("expired-pat");
    let (status, body, text) = send(&server, reqwest::Method::POST, "/integrations", Some(body)).await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "azure_devops_credential_rejected",
    );
    assert!(body["error"]["message"].as_str().unwrap().contains("PAT"), "{text}");
    assert!(!text.contains("expired-pat"));
    assert_nothing_left(&server).await;

    let mut entra = server.create_body();
    entra["azure_devops"]["auth"] = json!({"type": "entra", "tenant_id": "t", "client_id": fake_ado::ENTRA_CLIENT_ID,
                                           "client_secret": "wrong", "authority": server.ado.authority()});
    let (status, body, _) = send(&server, reqwest::Method::POST, "/integrations", Some(entra)).await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "azure_devops_credential_rejected",
    );
    assert!(body["error"]["message"].as_str().unwrap().contains("AADSTS7000215"));
    assert_nothing_left(&server).await;
}

#[tokio::test]
async fn a_bad_sentry_token_is_explained_before_anything_is_created() {
    let server = start(Backend::Local).await;
    let mut body = server.create_body();
    body["sentry"]["auth_token"] = json!("revoked-token");
    let (status, body, text) = send(&server, reqwest::Method::POST, "/integrations", Some(body)).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "sentry_token_rejected");
    assert!(!text.contains("revoked-token"));
    assert!(server.ado.requests().is_empty(), "Azure DevOps untouched");
    assert_nothing_left(&server).await;
}

#[tokio::test]
async fn sync_settings_are_checked_against_the_project_states() {
    let server = start(Backend::Local).await;
    let created = create(&server).await;
    assert_eq!(
        created["sentry"]["installation_uuid"],
        bridge_tests::fake_sentry::INSTALLATION,
        "discovered"
    );
    let id = created["id"].as_str().unwrap();
    let path = format!("/integrations/{id}");
    let bad = json!({"sync": {"projects": {"Fabrikam-Fiber": {"on_resolve": "Shipped"}}}});
    let (status, body, _) = send(&server, reqwest::Method::PATCH, &path, Some(bad)).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("Fabrikam-Fiber") && message.contains("Shipped") && message.contains("Resolved"),
        "{message}"
    );
    let unknown = json!({"sync": {"projects": {"Nope": {"on_resolve": "Done"}}}});
    let (status, _, _) = send(&server, reqwest::Method::PATCH, &path, Some(unknown)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let typo = json!({"sync": {"status_outbond": false}});
    let (status, body, _) = send(&server, reqwest::Method::PATCH, &path, Some(typo)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["error"]["message"].as_str().unwrap().contains("status_outbond"));
    let good = json!({"sync": {"comments_outbound": false, "projects": {"Fabrikam-Fiber": {"on_resolve": "Closed", "on_unresolve": "New"}}}});
    let (status, body, _) = send(&server, reqwest::Method::PATCH, &path, Some(good)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["sync"]["projects"]["Fabrikam-Fiber"]["on_resolve"], "Closed");
}

#[tokio::test]
async fn a_failure_midway_removes_the_subscriptions_already_created() {
    let server = start(Backend::Local).await;
    server.ado.inject(Fault {
        path_contains: "hooks/subscriptions".into(),
        method: Some(reqwest::Method::POST),
        kind: FaultKind::Unauthorized,
        times: 1,
        after: 2,
    });
    let (status, body, _) = send(
        &server,
        reqwest::Method::POST,
        "/integrations",
        Some(server.create_body()),
    )
    .await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "azure_devops_credential_rejected",
    );
    let posts = server
        .ado
        .requests_to("hooks/subscriptions")
        .iter()
        .filter(|r| r.method == reqwest::Method::POST)
        .count();
    assert_eq!(posts, 3, "two created, the third refused");
    assert_nothing_left(&server).await;

    server.ado.fail("connectionData", FaultKind::Unavailable, 10);
    let (status, body, _) = send(
        &server,
        reqwest::Method::POST,
        "/integrations",
        Some(server.create_body()),
    )
    .await;
    assert_error(status, &body, StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    assert_nothing_left(&server).await;
}

#[tokio::test]
async fn a_real_organization_needs_a_public_https_webhook_url() {
    let server = start(Backend::Local).await;
    let mut body = server.create_body();
    body["azure_devops"]["organization_url"] = json!("https://dev.azure.com/contoso");
    let (status, body, _) = send(&server, reqwest::Method::POST, "/integrations", Some(body)).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert!(body["error"]["message"].as_str().unwrap().contains("BRIDGE_PUBLIC_URL"));
    assert!(server.ado.requests().is_empty(), "refused before any call");
}

#[tokio::test]
async fn lifecycle_on_the_local_backend() {
    lifecycle(Backend::Local).await;
}

#[tokio::test]
async fn lifecycle_on_the_aws_backend() {
    lifecycle(Backend::Aws).await;
}

#[tokio::test]
async fn admin_routes_need_the_bearer_token() {
    let server = start(Backend::Local).await;
    for token in [None, Some("wrong-token"), Some("")] {
        let mut request = server
            .client
            .post(server.url("/integrations"))
            .json(&server.create_body());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    let response = server.client.get(server.url("/integrations")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        server.app.store.list_integrations().await.unwrap().is_empty(),
        "nothing was created"
    );
}

#[tokio::test]
async fn bad_bodies_get_json_errors_and_change_nothing() {
    let server = start(Backend::Local).await;
    let post_raw = |body: Vec<u8>| {
        server
            .client
            .post(server.url("/integrations"))
            .bearer_auth(ADMIN_TOKEN)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    let response = post_raw(b"{\"name\": ".to_vec()).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_error(
        StatusCode::BAD_REQUEST,
        &body,
        StatusCode::BAD_REQUEST,
        "malformed_request",
    );
    assert!(body["error"]["message"].as_str().unwrap().contains("not valid JSON"));

    let mut missing = server.create_body();
    missing.as_object_mut().unwrap().remove("sentry");
    let (status, body, _) = send(&server, reqwest::Method::POST, "/integrations", Some(missing)).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "malformed_request");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("missing field `sentry`"),
        "{body}"
    );

    let mut wrong_type = server.create_body();
    wrong_type["azure_devops"]["auth"] = json!("pat-secret-value");
    let (status, body, text) = send(&server, reqwest::Method::POST, "/integrations", Some(wrong_type)).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "malformed_request");
    assert_no_secret(&text);

    for (field, value, named) in [
        (
            "organization_url",
            json!("http://dev.azure.com/contoso"),
            "azure_devops.organization_url",
        ),
        (
            "organization_url",
            json!("https://dev.azure.com/"),
            "azure_devops.organization_url",
        ),
    ] {
        let mut body = server.create_body();
        body["azure_devops"][field] = value;
        let (status, body, _) = send(&server, reqwest::Method::POST, "/integrations", Some(body)).await;
        assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert!(body["error"]["message"].as_str().unwrap().contains(named), "{body}");
    }
    let mut bad_slug = server.create_body();
    bad_slug["sentry"]["organization_slug"] = json!("Not A Slug");
    let (status, body, _) = send(&server, reqwest::Method::POST, "/integrations", Some(bad_slug)).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    let huge = vec![b' '; shared::http::MAX_BODY_BYTES + 1];
    let response = post_raw(huge).await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "body_too_large");

    assert!(
        server.app.store.list_integrations().await.unwrap().is_empty(),
        "nothing was created"
    );
}

#[tokio::test]
async fn health_and_unknown_routes() {
    let server = start(Backend::Local).await;
    let response = server.client.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"status": "ok"}));

    let response = server.client.get(server.url("/nope")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(response.json::<Value>().await.unwrap()["error"]["code"], "not_found");

    let response = server
        .client
        .put(server.url("/integrations"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"]["code"],
        "method_not_allowed"
    );
}

/// A PATCH of the Azure DevOps credential is verified as a create's is (a refused one changes
/// nothing), and the identity the bridge recognises its own changes by follows the credential.
#[tokio::test]
async fn a_new_azure_devops_credential_is_verified_and_becomes_the_bridges_identity() {
    let server = start(Backend::Local).await;
    let id = server.create_integration().await;
    let path = format!("/integrations/{id}");
    let (_, before, _) = send(&server, reqwest::Method::GET, &path, None).await;

    let refused = json!({"azure_devops": {"auth": {"type": "pat", "token": "not-a-valid-pat"}}});
    let (status, body, _) = send(&server, reqwest::Method::PATCH, &path, Some(refused)).await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "azure_devops_credential_rejected",
    );
    let (_, unchanged, _) = send(&server, reqwest::Method::GET, &path, None).await;
    assert_eq!(unchanged["version"], before["version"]);
    let (_, secrets) = server.integration_and_secrets(&id).await;
    assert_eq!(
        secrets.azure_devops,
        shared::secrets::AdoCredential::Pat {
            token: shared::secrets::Secret::new(fake_ado::VALID_PAT)
        }
    );

    server.ado.state(|s| {
        s.identities.push(fake_ado::FakeIdentity {
            id: "5e2b1c3d-0000-4000-8000-00000000b07b".into(),
            display_name: "Bridge Service 2".into(),
            email: "bridge2@fabrikam.example".into(),
        });
        s.acting_as = "5e2b1c3d-0000-4000-8000-00000000b07b".into();
        s.pat = "the-new-pat".into();
    });
    let accepted = json!({"azure_devops": {"auth": {"type": "pat", "token": "the-new-pat"}}});
    let (status, body, text) = send(&server, reqwest::Method::PATCH, &path, Some(accepted)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(
        body["azure_devops"]["bridge_identity_id"],
        "5e2b1c3d-0000-4000-8000-00000000b07b"
    );
    assert_no_secret(&text);
}

/// A create command pasted twice connects once: the second answers 409 naming the integration
/// that exists, and subscribes nothing more in Azure DevOps.
#[tokio::test]
async fn connecting_the_same_organizations_twice_is_a_conflict() {
    let server = start(Backend::Local).await;
    let first = server.create_integration().await;
    let (status, body) = create_again(&server).await;
    assert_error(status, &body, StatusCode::CONFLICT, "conflict");
    assert!(body["error"]["message"].as_str().unwrap().contains(&first), "{body}");
    assert_eq!(server.ado.subscriptions().len(), 4, "nothing subscribed twice");
    let (_, listed, _) = send(&server, reqwest::Method::GET, "/integrations", None).await;
    assert_eq!(listed["integrations"].as_array().unwrap().len(), 1);
}

/// A create that died after storing its record (`connecting`, older than a create may run) does
/// not block the connection: the next create of the same organizations removes it — its
/// subscriptions and its secret — and connects. One still within that time is a conflict.
#[tokio::test]
async fn an_unfinished_create_of_the_same_connection_is_removed_by_the_next() {
    let server = start(Backend::Local).await;
    let first = server.create_integration().await;
    let store = &server.app.store;
    let mut unfinished = store.get_integration(&first).await.unwrap().unwrap();
    unfinished.state = shared::records::IntegrationState::Connecting;
    store.update_integration(&mut unfinished).await.unwrap();

    let (status, body) = create_again(&server).await;
    assert_error(status, &body, StatusCode::CONFLICT, "conflict");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("being connected"),
        "{body}"
    );

    unfinished.created_at -= shared::integrations::CONNECTING_GIVE_UP_MS + 1;
    store.update_integration(&mut unfinished).await.unwrap();
    let (status, created) = create_again(&server).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["state"], "active");
    let (_, listed, _) = send(&server, reqwest::Method::GET, "/integrations", None).await;
    let ids: Vec<&str> = listed["integrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![created["id"].as_str().unwrap()]);
    assert_eq!(
        server.ado.subscriptions().len(),
        4,
        "the unfinished one's subscriptions are gone"
    );
    assert!(server.app.secrets.get(&unfinished.secret_ref).await.is_err());
}

/// A DELETE that stopped after the record became a tombstone (links, events and the secret still
/// there) is finished by the next DELETE.
#[tokio::test]
async fn a_second_delete_finishes_one_that_stopped_half_way() {
    let server = start(Backend::Local).await;
    let linked = bridge_tests::server::Linked::create(server).await;
    let server = &linked.server;
    let id = &linked.integration_id;
    let store = &server.app.store;
    let integration = store.get_integration(id).await.unwrap().unwrap();
    // What the first DELETE got done: the subscriptions, then the record replaced by a tombstone.
    let client = server.ado.subscriptions();
    assert_eq!(client.len(), 4);
    for subscription in client {
        server
            .ado
            .state(|s| s.subscriptions.remove(subscription["id"].as_str().unwrap()));
    }
    store.tombstone_integration(&integration).await.unwrap();
    assert!(
        store
            .get_link(id, bridge_tests::server::LINKED_ISSUE)
            .await
            .unwrap()
            .is_some()
    );

    let (status, _, _) = send(server, reqwest::Method::DELETE, &format!("/integrations/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(
        store
            .get_link(id, bridge_tests::server::LINKED_ISSUE)
            .await
            .unwrap()
            .is_none(),
        "the link is gone"
    );
    assert!(
        server.app.secrets.get(&integration.secret_ref).await.is_err(),
        "the secret is gone"
    );
    assert!(store.integration_deleted(id).await.unwrap());
}

/// Rotating the webhook secret: every subscription carries the new one at once, a delivery with
/// the new one is applied, one with the previous one is accepted during the grace and refused
/// after it.
#[tokio::test]
async fn a_rotated_webhook_secret_reaches_every_subscription_and_the_old_one_lasts_the_grace() {
    let linked = bridge_tests::server::Linked::create(start(Backend::Local).await).await;
    let server = &linked.server;
    let id = &linked.integration_id;
    let reference = server.app.store.get_integration(id).await.unwrap().unwrap().secret_ref;
    let old = server.app.secrets.get(&reference).await.unwrap().webhook_secret;

    let (status, body, text) = send(
        server,
        reqwest::Method::POST,
        &format!("/integrations/{id}/rotate-webhook-secret"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_no_secret(&text);
    let until = shared::clock::parse_rfc3339(body["previous_valid_until"].as_str().unwrap()).unwrap();
    let grace = until - shared::clock::now_ms();
    assert!((3_500_000..=3_600_000).contains(&grace), "an hour: {grace} ms");
    let new = server.app.secrets.get(&reference).await.unwrap().webhook_secret;
    assert_ne!(new.expose(), old.expose());
    let integration = server.app.store.get_integration(id).await.unwrap().unwrap();
    for subscription in integration.azure_devops.subscriptions.values() {
        let raw = server.ado.subscription_raw(subscription).unwrap();
        assert_eq!(raw["consumerInputs"]["basicAuthPassword"], new.expose());
    }

    // A person's change is delivered with the new secret and applied.
    let ops = json!([{"op": "replace", "path": "/fields/System.State", "value": "Resolved"}]);
    server
        .ado
        .edit_work_item_as("d291b0c4-a05c-4ea6-8df1-4b41d5f39eff", linked.work_item, ops)
        .await
        .unwrap();
    let delivery = server
        .ado
        .delivery_where(|d| d.event_type == "workitem.updated")
        .unwrap();
    assert_eq!(delivery.status, Some(202));

    // The previous secret: accepted during the grace, refused after it.
    let url = server.url(&format!("/hooks/azure-devops/{id}"));
    let post_with_old = |event_id: &str| {
        let mut payload = delivery.payload.clone();
        payload["id"] = json!(event_id);
        server
            .client
            .post(&url)
            .basic_auth(shared::azure_devops::HOOK_USERNAME, Some(old.expose()))
            .json(&payload)
            .send()
    };
    assert_eq!(
        post_with_old("during-grace").await.unwrap().status(),
        StatusCode::ACCEPTED
    );
    let mut secrets = server.app.secrets.get(&reference).await.unwrap();
    secrets.previous_webhook_secret_expires_at = Some(shared::clock::now_ms() - 1);
    server.app.secrets.put(&reference, &secrets).await.unwrap();
    let mut integration = server.app.store.get_integration(id).await.unwrap().unwrap();
    server.app.store.update_integration(&mut integration).await.unwrap();
    assert_eq!(
        post_with_old("after-grace").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
}

/// A rotation stopped half way (Azure DevOps fails on the third subscription) is finished by the
/// next one with the same new secret: subscriptions still on the old secret are not cut off.
#[tokio::test]
async fn a_rotation_stopped_half_way_is_finished_by_the_next_with_the_same_secret() {
    let server = start(Backend::Local).await;
    let id = server.create_integration().await;
    let reference = server.app.store.get_integration(&id).await.unwrap().unwrap().secret_ref;
    let old = server.app.secrets.get(&reference).await.unwrap().webhook_secret;
    server.ado.inject(Fault {
        path_contains: "hooks/subscriptions/".into(),
        method: Some(reqwest::Method::PUT),
        kind: FaultKind::Unavailable,
        times: 10,
        after: 2,
    });
    let path = format!("/integrations/{id}/rotate-webhook-secret");
    let (status, _, _) = send(&server, reqwest::Method::POST, &path, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let first = server.app.secrets.get(&reference).await.unwrap();
    assert_ne!(first.webhook_secret.expose(), old.expose());
    server.ado.clear_faults();

    let (status, body, _) = send(&server, reqwest::Method::POST, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let second = server.app.secrets.get(&reference).await.unwrap();
    assert_eq!(
        second.webhook_secret.expose(),
        first.webhook_secret.expose(),
        "the same new secret"
    );
    assert_eq!(
        second.previous_webhook_secret.as_ref().unwrap().expose(),
        old.expose(),
        "the old one keeps its grace"
    );
    assert_eq!(
        second.previous_webhook_secret_expires_at,
        first.previous_webhook_secret_expires_at
    );
    let integration = server.app.store.get_integration(&id).await.unwrap().unwrap();
    assert!(!integration.azure_devops.rotation_unfinished);
    for subscription in integration.azure_devops.subscriptions.values() {
        let raw = server.ado.subscription_raw(subscription).unwrap();
        assert_eq!(
            raw["consumerInputs"]["basicAuthPassword"],
            second.webhook_secret.expose()
        );
    }
}
