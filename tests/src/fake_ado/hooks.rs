//! Identity endpoints (Entra token, connectionData) and service hooks: subscriptions with a
//! status, and deliveries of resourceVersion 1.0 payloads to subscribers with Basic auth.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{BRIDGE_IDENTITY_ID, COLLECTION_ID, Fake, ado_error, json_body};

/// One delivery attempt to a subscriber.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub subscription_id: String,
    pub event_type: String,
    pub url: String,
    pub payload: Value,
    /// The subscriber's answer, or `None` if it could not be reached.
    pub status: Option<u16>,
}

pub async fn token(State(fake): State<Fake>, body: Bytes) -> Response {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut state = fake.state.lock().unwrap();
    let (client_id, secret) = state.entra_client.clone();
    if field("grant_type") != "client_credentials" || field("scope") != shared::azure_devops::ADO_SCOPE {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_request", "error_description": "AADSTS900144: bad grant or scope"})),
        )
            .into_response();
    }
    if field("client_id") != client_id || field("client_secret") != secret {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."})),
        )
            .into_response();
    }
    let access_token = format!("fake-token-{}", state.issued_tokens.len() + 1);
    state.issued_tokens.push(access_token.clone());
    axum::Json(json!({"token_type": "Bearer", "expires_in": state.entra_token_lifetime, "ext_expires_in": state.entra_token_lifetime, "access_token": access_token}))
        .into_response()
}

pub async fn connection_data(State(fake): State<Fake>) -> Response {
    let state = fake.state.lock().unwrap();
    let me = state.acting_identity();
    axum::Json(json!({
        "authenticatedUser": {"id": me.id, "providerDisplayName": me.display_name, "isActive": true},
        "authorizedUser": {"id": me.id, "providerDisplayName": me.display_name},
        "instanceId": COLLECTION_ID,
        "locationServiceData": {"serviceOwner": "00025394-6065-48ca-87d9-7f5672854ef7"}
    }))
    .into_response()
}

/// What the API shows: the password masked.
pub fn masked(subscription: &Value) -> Value {
    let mut shown = subscription.clone();
    if shown["consumerInputs"].get("basicAuthPassword").is_some() {
        shown["consumerInputs"]["basicAuthPassword"] = json!("********");
    }
    shown
}

pub async fn create(State(fake): State<Fake>, body: Bytes) -> Response {
    let request = match json_body(&body) {
        Ok(request) => request,
        Err(response) => return response,
    };
    let url = request["consumerInputs"]["url"].as_str().unwrap_or_default();
    if request["publisherId"] != "tfs" || request["consumerId"] != "webHooks" || url.is_empty() {
        return ado_error(
            StatusCode::BAD_REQUEST,
            "The subscription is missing required inputs.",
            "ServiceHookException",
        );
    }
    let mut state = fake.state.lock().unwrap();
    let id = uuid::Uuid::new_v4().to_string();
    let mut subscription = request.clone();
    subscription["id"] = json!(id);
    subscription["url"] = json!(format!("{}/_apis/hooks/subscriptions/{id}", state.base_url));
    subscription["status"] = json!("enabled");
    subscription["createdBy"] = json!({"id": BRIDGE_IDENTITY_ID});
    subscription["publisherInputs"]["tfsSubscriptionId"] = json!(uuid::Uuid::new_v4().to_string());
    state.subscriptions.insert(id, subscription.clone());
    axum::Json(masked(&subscription)).into_response()
}

/// `PUT` a subscription: new inputs under the same id; the status stays as it was (a disabled
/// subscription stays disabled, as in Azure DevOps).
pub async fn replace(State(fake): State<Fake>, Path((_org, id)): Path<(String, String)>, body: Bytes) -> Response {
    let request = match json_body(&body) {
        Ok(request) => request,
        Err(response) => return response,
    };
    let mut state = fake.state.lock().unwrap();
    let Some(existing) = state.subscriptions.get_mut(&id) else {
        return ado_error(
            StatusCode::NOT_FOUND,
            &format!("Subscription {id} not found."),
            "SubscriptionNotFoundException",
        );
    };
    for name in ["consumerInputs", "publisherInputs", "eventType", "resourceVersion"] {
        if let Some(value) = request.get(name) {
            existing[name] = value.clone();
        }
    }
    axum::Json(masked(existing)).into_response()
}

pub async fn list(State(fake): State<Fake>) -> Response {
    let state = fake.state.lock().unwrap();
    let value: Vec<Value> = state.subscriptions.values().map(masked).collect();
    axum::Json(json!({"count": value.len(), "value": value})).into_response()
}

pub async fn show(State(fake): State<Fake>, Path((_org, id)): Path<(String, String)>) -> Response {
    match fake.state.lock().unwrap().subscriptions.get(&id) {
        Some(subscription) => axum::Json(masked(subscription)).into_response(),
        None => ado_error(
            StatusCode::NOT_FOUND,
            &format!("Subscription {id} not found."),
            "SubscriptionNotFoundException",
        ),
    }
}

pub async fn delete(State(fake): State<Fake>, Path((_org, id)): Path<(String, String)>) -> Response {
    match fake.state.lock().unwrap().subscriptions.remove(&id) {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => ado_error(
            StatusCode::NOT_FOUND,
            &format!("Subscription {id} not found."),
            "SubscriptionNotFoundException",
        ),
    }
}

/// POSTs `payload` to a subscription's URL with its Basic credentials, as Azure DevOps does.
pub async fn post_to_subscriber(
    fake: &Fake,
    inputs: &Value,
    payload: &Value,
) -> Result<reqwest::Response, reqwest::Error> {
    let mut request = fake.http.post(inputs["url"].as_str().unwrap_or_default()).json(payload);
    if let Some(user) = inputs["basicAuthUsername"].as_str() {
        request = request.basic_auth(user, inputs["basicAuthPassword"].as_str());
    }
    request.send().await
}

/// Delivers `resource` for `event_type` in `project_id` to every enabled matching subscription,
/// awaiting each subscriber's answer (so tests see deliveries as soon as the change returns).
pub async fn deliver(fake: &Fake, event_type: &str, project_id: &str, resource: Value) {
    deliver_described(fake, event_type, project_id, resource, Value::Null).await
}

/// [`deliver`] with a `detailedMessage`. A subscription filtered on a repository (`git.push`)
/// gets only that repository's events.
pub async fn deliver_described(fake: &Fake, event_type: &str, project_id: &str, resource: Value, detailed: Value) {
    let targets: Vec<(String, Value, u64)> = {
        let mut state = fake.state.lock().unwrap();
        let matching: Vec<(String, Value)> = state
            .subscriptions
            .iter()
            .filter(|(_, s)| s["eventType"] == event_type && s["status"] == "enabled")
            .filter(|(_, s)| match s["publisherInputs"]["projectId"].as_str() {
                Some(p) if !p.is_empty() => p == project_id,
                _ => true,
            })
            .filter(|(_, s)| match s["publisherInputs"]["repository"].as_str() {
                Some(r) if !r.is_empty() => resource["repository"]["id"].as_str() == Some(r),
                _ => true,
            })
            .map(|(id, s)| (id.clone(), s.clone()))
            .collect();
        matching
            .into_iter()
            .map(|(id, s)| {
                state.next_notification += 1;
                (id, s, state.next_notification)
            })
            .collect()
    };
    let base_url = fake.state.lock().unwrap().base_url.clone();
    // One event, one id: every subscription that matches gets the same `id` (its notification id
    // is its own), as Azure DevOps sends them.
    let event_id = uuid::Uuid::new_v4().to_string();
    let created = shared::clock::rfc3339(shared::clock::now_ms());
    for (subscription_id, subscription, notification_id) in targets {
        let inputs = &subscription["consumerInputs"];
        let url = inputs["url"].as_str().unwrap_or_default().to_string();
        let payload = json!({
            "subscriptionId": subscription_id,
            "notificationId": notification_id,
            "id": event_id,
            "eventType": event_type,
            "publisherId": "tfs",
            "message": null,
            // As the subscription asked: `none` sends no detailed message.
            "detailedMessage": if inputs["detailedMessagesToSend"] == "none" { Value::Null } else { detailed.clone() },
            "resource": resource,
            "resourceVersion": "1.0",
            "resourceContainers": {
                "collection": {"id": COLLECTION_ID, "baseUrl": format!("{base_url}/")},
                "account": {"id": "a1d5c3e2-0000-4000-8000-000000000001", "baseUrl": format!("{base_url}/")},
                "project": {"id": project_id, "baseUrl": format!("{base_url}/")}
            },
            // When the event was raised, as Azure DevOps stamps it (a redelivery resends it).
            "createdDate": created
        });
        let lost = {
            let mut state = fake.state.lock().unwrap();
            let lost = state.lose_deliveries > 0;
            state.lose_deliveries = state.lose_deliveries.saturating_sub(1);
            lost
        };
        let status = if lost {
            None
        } else {
            post_to_subscriber(fake, inputs, &payload)
                .await
                .ok()
                .map(|r| r.status().as_u16())
        };
        fake.deliveries.lock().unwrap().push(Delivery {
            subscription_id,
            event_type: event_type.to_string(),
            url,
            payload,
            status,
        });
    }
}
