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
