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
use crate::domain::ado_payload;
use crate::error::ApiError;
use crate::http::{MAX_BODY_BYTES, json_error};
use crate::records::{EventSource, InboxEvent};
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
    let mut event = InboxEvent::pending(
        envelope.dedupe_key(&integration.id),
        &integration.id,
        EventSource::AzureDevOps,
        &envelope.event_type,
        kept.json,
        now,
    );
    match app.store.insert_event(&mut event).await? {
        Inserted::New => {
            app.wake.notify_one();
            Ok(accepted(StatusCode::ACCEPTED, "queued", &event.id))
        }
        Inserted::Duplicate => Ok(accepted(StatusCode::OK, "duplicate", &event.id)),
    }
}
