//! The integrations admin API end to end over HTTP, on both backends: SQLite + secrets file
//! (the local server) and DynamoDB + Secrets Manager on moto (the AWS shape).

use bridge_tests::server::{ADMIN_TOKEN, Backend, TestServer, start};
use reqwest::StatusCode;
use serde_json::{Value, json};

const SECRET_VALUES: [&str; 4] = [
    "pat-secret-value",
    "sentry-client-secret-value",
    "sentry-auth-token-value",
    "entra-secret-value",
];

fn create_body() -> Value {
    json!({
        "name": "contoso",
        "azure_devops": {"organization_url": "https://dev.azure.com/contoso",
                         "auth": {"type": "pat", "token": "pat-secret-value"}},
        "sentry": {"base_url": "https://sentry.io", "organization_slug": "acme",
                   "client_secret": "sentry-client-secret-value", "auth_token": "sentry-auth-token-value"},
        "sync": {}
    })
}

async fn send(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value, String) {
    let mut request = server
        .client
        .request(method, server.url(path))
        .bearer_auth(ADMIN_TOKEN);
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
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

async fn create(server: &TestServer) -> Value {
    let (status, body, text) = send(
        server,
        reqwest::Method::POST,
        "/integrations",
        Some(create_body()),
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
    assert_eq!(created["name"], "contoso");
    assert_eq!(created["azure_devops"]["organization"], "contoso");
    assert_eq!(created["azure_devops"]["auth"], json!({"type": "pat"}));
    assert_eq!(
        created["webhook_url"],
        server.url(&format!("/hooks/azure-devops/{id}"))
    );
    assert_eq!(created["version"], 1);
    assert!(created["created_at"].as_str().unwrap().ends_with('Z'));

    // The secrets went to the secret store, with a generated webhook secret.
    let reference = created["secret_ref"].as_str().unwrap();
    let secrets = server.app.secrets.get(reference).await.unwrap();
    assert_eq!(
        secrets.sentry_auth_token.expose(),
        "sentry-auth-token-value"
    );
    assert_eq!(secrets.webhook_secret.expose().len(), 64);

    let (status, listed, text) = send(&server, reqwest::Method::GET, "/integrations", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_no_secret(&text);
    assert_eq!(listed["integrations"].as_array().unwrap().len(), 1);
    assert_eq!(listed["integrations"][0]["id"], id.as_str());

    let (status, shown, _) = send(
        &server,
        reqwest::Method::GET,
        &format!("/integrations/{id}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown, created);

    // PATCH: rename, rotate the Sentry token and the ADO credential to Entra.
    let patch = json!({"version": 1, "name": "contoso-prod", "sentry": {"auth_token": "rotated-token"},
        "azure_devops": {"auth": {"type": "entra", "tenant_id": "tenant", "client_id": "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9",
                                  "client_secret": "entra-secret-value"}}});
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
    assert_eq!(patched["name"], "contoso-prod");
    assert_eq!(patched["version"], 2);
    assert_eq!(patched["azure_devops"]["auth"]["type"], "entra");
    assert_eq!(
        patched["azure_devops"]["auth"]["authority"],
        "https://login.microsoftonline.com"
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
        Some(json!({"version": 1, "name": "x"})),
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

    let (status, _, _) = send(
        &server,
        reqwest::Method::DELETE,
        &format!("/integrations/{id}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body, _) = send(
        &server,
        reqwest::Method::GET,
        &format!("/integrations/{id}"),
        None,
    )
    .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body, _) = send(
        &server,
        reqwest::Method::DELETE,
        &format!("/integrations/{id}"),
        None,
    )
    .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    assert!(
        server.app.secrets.get(reference).await.is_err(),
        "the secret is gone too"
    );
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
            .json(&create_body());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    let response = server
        .client
        .get(server.url("/integrations"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        server
            .app
            .store
            .list_integrations()
            .await
            .unwrap()
            .is_empty(),
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
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );

    let mut missing = create_body();
    missing.as_object_mut().unwrap().remove("sentry");
    let (status, body, _) = send(
        &server,
        reqwest::Method::POST,
        "/integrations",
        Some(missing),
    )
    .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "malformed_request");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("missing field `sentry`"),
        "{body}"
    );

    let mut wrong_type = create_body();
    wrong_type["azure_devops"]["auth"] = json!("pat-secret-value");
    let (status, body, text) = send(
        &server,
        reqwest::Method::POST,
        "/integrations",
        Some(wrong_type),
    )
    .await;
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
        let mut body = create_body();
        body["azure_devops"][field] = value;
        let (status, body, _) =
            send(&server, reqwest::Method::POST, "/integrations", Some(body)).await;
        assert_error(
            status,
            &body,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        assert!(
            body["error"]["message"].as_str().unwrap().contains(named),
            "{body}"
        );
    }
    let mut bad_slug = create_body();
    bad_slug["sentry"]["organization_slug"] = json!("Not A Slug");
    let (status, body, _) = send(
        &server,
        reqwest::Method::POST,
        "/integrations",
        Some(bad_slug),
    )
    .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );

    let huge = vec![b' '; shared::http::MAX_BODY_BYTES + 1];
    let response = post_raw(huge).await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "body_too_large");

    assert!(
        server
            .app
            .store
            .list_integrations()
            .await
            .unwrap()
            .is_empty(),
        "nothing was created"
    );
}

#[tokio::test]
async fn health_and_unknown_routes() {
    let server = start(Backend::Local).await;
    let response = server
        .client
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"status": "ok"})
    );

    let response = server.client.get(server.url("/nope")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"]["code"],
        "not_found"
    );

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
