//! The inbox as an admin sees it: events that failed or died, with their last error, and a
//! way to queue one again.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::App;
use crate::clock::{self, rfc3339};
use crate::error::ApiError;
use crate::records::{EventStatus, InboxEvent};

const LIST_LIMIT: usize = 500;

pub fn event_view(event: &InboxEvent) -> Value {
    json!({
        "id": event.id,
        "source": event.source,
        "event_type": event.event_type,
        "status": event.status,
        "attempts": event.attempts,
        "last_error": event.last_error,
        "next_attempt_at": event.status.is_due_kind().then(|| rfc3339(event.next_attempt_at)),
        "received_at": rfc3339(event.received_at),
        "updated_at": rfc3339(event.updated_at),
    })
}

/// `GET /integrations/{id}/events?status=failed|dead|pending|done` (default `failed`).
pub async fn list(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<axum::Json<Value>, ApiError> {
    super::load(&app, &id).await?;
    let wanted = query.get("status").map(String::as_str).unwrap_or("failed");
    let status = EventStatus::parse(wanted)
        .ok_or_else(|| ApiError::invalid(format!("`status` must be pending, failed, done or dead, not {wanted}")))?;
    let events = app.store.events_by_status(&id, status, LIST_LIMIT).await?;
    Ok(axum::Json(
        json!({"events": events.iter().map(event_view).collect::<Vec<_>>()}),
    ))
}

/// `POST /integrations/{id}/events/{event_id}/retry`: queues a failed or dead event again with a
/// fresh attempt budget.
pub async fn retry(
    State(app): State<Arc<App>>,
    Path((id, event_id)): Path<(String, String)>,
) -> Result<(StatusCode, axum::Json<Value>), ApiError> {
    super::load(&app, &id).await?;
    let mut event = app
        .store
        .get_event(&event_id)
        .await?
        .filter(|e| e.integration_id == id)
        .ok_or_else(|| ApiError::not_found(format!("no event {event_id} for integration {id}")))?;
    if !matches!(event.status, EventStatus::Failed | EventStatus::Dead) {
        return Err(ApiError::conflict(format!(
            "event {event_id} is {}; only failed or dead events are retried",
            event.status.as_str()
        )));
    }
    let now = clock::now_ms();
    if event.held && event.next_attempt_at > now {
        return Err(ApiError::conflict(format!(
            "event {event_id} is being applied by a worker right now; try again in a minute"
        )));
    }
    event.status = EventStatus::Pending;
    event.held = false;
    event.attempts = 0;
    event.next_attempt_at = now;
    event.updated_at = now;
    app.store.update_event(&mut event).await?;
    app.wake.notify_one();
    Ok((StatusCode::ACCEPTED, axum::Json(event_view(&event))))
}
