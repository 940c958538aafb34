//! Requests as Sentry sends them to the app: UI-component calls signed with
//! `Sentry-App-Signature` over the exact bytes sent.

use reqwest::StatusCode;
use serde_json::Value;
use shared::sentry::signature::sign;

/// POSTs `body` to `url` signed with `secret`; returns the status and the JSON answer
/// (`Null` when the answer is not JSON).
pub async fn post_signed(client: &reqwest::Client, url: &str, body: &Value, secret: &str) -> (StatusCode, Value) {
    let bytes = serde_json::to_vec(body).expect("serialise");
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .header("Request-ID", "9b1deb4d3b7d4bad9bdd2b0d7b3dcb6d")
        .header("Sentry-App-Signature", sign(secret, &bytes))
        .body(bytes)
        .send()
        .await
        .expect("send");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// POSTs a webhook as Sentry sends one to the app's webhook URL: the exact `body` bytes, with
/// `Sentry-Hook-Resource`, `Sentry-Hook-Timestamp` and the signature over the bytes.
pub async fn post_webhook(
    client: &reqwest::Client,
    url: &str,
    resource: &str,
    body: &str,
    secret: &str,
    timestamp: i64,
) -> (StatusCode, Value) {
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .header("Request-ID", uuid::Uuid::new_v4().simple().to_string())
        .header("Sentry-Hook-Resource", resource)
        .header("Sentry-Hook-Timestamp", timestamp.to_string())
        .header("Sentry-Hook-Signature", sign(secret, body.as_bytes()))
        .body(body.to_string())
        .send()
        .await
        .expect("send");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A sample of Sentry's integration platform from the repo's test data
/// (`shared/tests/fixtures/sentry-platform/{name}`).
pub fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/../shared/tests/fixtures/sentry-platform/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// An `event_alert` webhook for Sentry issue `issue`, its rule set to create a Bug in
/// Fabrikam-Fiber; `n` makes the event's title its own.
pub fn alert_webhook(issue: &str, n: u64) -> Value {
    serde_json::json!({"action": "triggered", "installation": {"uuid": crate::fake_sentry::INSTALLATION},
        "data": {"event": {"issue_id": issue, "title": format!("TypeError: x is undefined ({n})"), "culprit": "app.js in render",
                           "issue_url": format!("https://contoso.sentry.io/issues/{issue}/")},
                 "triggered_rule": "Errors in checkout",
                 "issue_alert": {"id": 12, "title": "Errors in checkout", "sentry_app_id": 3,
                                 "settings": [{"name": "ado_project", "value": "Fabrikam-Fiber"}, {"name": "work_item_type", "value": "Bug"}]}},
        "actor": {"type": "application", "id": "sentry", "name": "Sentry"}})
}

/// What a person did in Sentry before Sentry sent `body` (a webhook of `resource`): the issue's
/// status or assignee set in the fake, so that reading the issue back agrees with the webhook.
pub fn happened_in(sentry: &crate::fake_sentry::FakeSentry, resource: &str, body: &str) {
    let Ok(payload) = serde_json::from_str::<Value>(body) else {
        return;
    };
    if resource != "issue" {
        return;
    }
    let issue = &payload["data"]["issue"]["id"];
    let issue = issue.as_str().map(str::to_string).unwrap_or_else(|| issue.to_string());
    match payload["action"].as_str().unwrap_or_default() {
        action @ ("resolved" | "unresolved" | "ignored") => sentry.set_status(&issue, action),
        "archived" => sentry.set_status(&issue, "ignored"),
        "assigned" if payload["data"]["assignee"]["type"] == "user" => {
            let user = &payload["data"]["assignee"]["id"];
            let user = user.as_str().map(str::to_string).unwrap_or_else(|| user.to_string());
            sentry.set_assignee(&issue, Some(&user));
        }
        _ => {}
    }
}
