//! `POST /hooks/azure-devops/{integration_id}`. Azure DevOps reads the status of a delivery as a
//! verdict on the subscription (410 disables it at once, other non-2xx put it on probation), so:
//! 2xx for every authenticated delivery, even ignored ones; 401 only for a wrong secret; 410 only
//! for an integration that was deleted (404 for one not stored yet: it may be being created);
//! 5xx only when the event could not be persisted. The inbox keeps
//! the parts of the delivery the bridge reads ([`ado_payload::keep`]), a third of its size.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::basic_auth::{basic_password, webhook_secret_matches};
use crate::App;
use crate::clock;
use crate::domain::ado_event::HANDLED_EVENTS;
use crate::domain::{ado_payload, push};
use crate::error::ApiError;
use crate::http::{MAX_BODY_BYTES, json_error};
use crate::records::{EventSource, InboxEvent, Payload};
use crate::repositories::push_subscriptions::PUSH_EVENT;
use crate::secrets::SecretsError;
use crate::store::Inserted;

/// The answer to an authenticated delivery, serialised straight from this struct (no `json!` map
/// built first).
#[derive(Serialize)]
struct Receipt<'a> {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
}

fn accepted(status: StatusCode, event_status: &'static str, event_id: &str) -> Response {
    let receipt = Receipt {
        status: event_status,
        event_id: Some(event_id),
        reason: None,
    };
    (status, axum::Json(receipt)).into_response()
}

fn ignored(reason: &'static str) -> Response {
    let receipt = Receipt {
        status: "ignored",
        event_id: None,
        reason: Some(reason),
    };
    (StatusCode::OK, axum::Json(receipt)).into_response()
}

pub async fn ado_hook(
    State(app): State<Arc<App>>,
    Path(integration_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let Some(integration) = app.store.get_integration(&integration_id).await? else {
        // 410 makes Azure DevOps disable the subscription at once: only for an integration that
        // was deleted. Otherwise it may be being created right now (its subscriptions exist
        // before its record): any other answer makes Azure DevOps deliver again later.
        if app.store.integration_deleted(&integration_id).await? {
            return Err(ApiError::new(
                StatusCode::GONE,
                "integration_gone",
                "this integration was deleted",
            ));
        }
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_integration",
            "no such integration (yet): deliver again later",
        ));
    };
    let secrets = match app.integration_secrets(&integration).await {
        Ok(secrets) => secrets,
        Err(SecretsError::NotFound(_)) => {
            return Err(ApiError::new(
                StatusCode::GONE,
                "integration_gone",
                "this integration has no secrets any more",
            ));
        }
        Err(error) => return Err(ApiError::unavailable(error.to_string(), 5)),
    };
    let authentic = basic_password(&headers).is_some_and(|p| webhook_secret_matches(&secrets, &p, clock::now_ms()));
    if !authentic {
        return Err(ApiError::unauthorized("wrong or missing webhook credentials"));
    }
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| ApiError::too_large(MAX_BODY_BYTES))?;
    let kept = ado_payload::keep(&bytes).map_err(json_error)?;
    if kept.event_type.as_deref() == Some(PUSH_EVENT) {
        return accept_push(&app, &integration.id, &bytes).await;
    }
    if kept.event_type.is_some_and(|t| !HANDLED_EVENTS.contains(&t.as_str())) {
        return Ok(ignored("event type not handled"));
    }
    let envelope = kept
        .envelope
        .map_err(|e| ApiError::malformed(format!("not an Azure DevOps delivery: {e}")))?;
    if !app
        .store
        .work_item_linked(&integration.id, envelope.work_item_id)
        .await?
    {
        return Ok(ignored("work item not linked"));
    }
    let now = clock::now_ms();
    let event = InboxEvent::pending(
        envelope.dedupe_key(&integration.id),
        &integration.id,
        EventSource::AzureDevOps,
        &envelope.event_type,
        kept.json,
        now,
    );
    queue(&app, event).await
}

async fn queue(app: &App, mut event: InboxEvent) -> Result<Response, ApiError> {
    match app.store.insert_event(&mut event).await? {
        Inserted::New => {
            app.wake.notify_one();
            crate::metrics::count(crate::metrics::EVENTS_RECEIVED);
            Ok(accepted(StatusCode::ACCEPTED, "queued", &event.id))
        }
        Inserted::Duplicate => Ok(accepted(StatusCode::OK, "duplicate", &event.id)),
    }
}

/// A `git.push`: queued (one event per push) when its repository is registered, else ignored.
async fn accept_push(app: &App, integration_id: &str, bytes: &[u8]) -> Result<Response, ApiError> {
    let body: serde_json::Value = serde_json::from_slice(bytes).map_err(json_error)?;
    // Still 2xx: Azure DevOps would put the subscription on probation for a 4xx.
    let Ok(push) = push::parse(&body) else {
        return Ok(ignored("a push without its push id or repository"));
    };
    if app
        .store
        .get_repository(integration_id, &push.repository_id)
        .await?
        .is_none()
    {
        return Ok(ignored("repository not registered"));
    }
    let payload = Payload::to_json(&push).map_err(json_error)?;
    let event = InboxEvent::pending(
        push.dedupe_key(integration_id),
        integration_id,
        EventSource::AzureDevOps,
        PUSH_EVENT,
        payload,
        clock::now_ms(),
    );
    queue(app, event).await
}
