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
    if !requeue(&mut event, clock::now_ms()) {
        return Err(ApiError::conflict(format!(
            "event {event_id} is being applied by a worker right now; try again in a minute"
        )));
    }
    app.store.update_event(&mut event).await?;
    app.outages.clear(&id);
    app.wake.notify_one();
    Ok((StatusCode::ACCEPTED, axum::Json(event_view(&event))))
}

/// Most events one bulk retry queues again.
const BULK_LIMIT: usize = 10_000;

/// `POST /integrations/{id}/events/retry?status=failed|dead`: queues every event in that status
/// again, each with a fresh attempt budget (after an outage, say); those a worker holds right now
/// are left. `202 {"queued": n}`.
pub async fn retry_all(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<(StatusCode, axum::Json<Value>), ApiError> {
    super::load(&app, &id).await?;
    let status = match query.get("status").map(String::as_str) {
        Some("failed") => EventStatus::Failed,
        Some("dead") => EventStatus::Dead,
        _ => return Err(ApiError::invalid("`status` must be failed or dead")),
    };
    let now = clock::now_ms();
    let mut queued = 0;
    for mut event in app.store.events_by_status(&id, status, BULK_LIMIT).await? {
        if !requeue(&mut event, now) {
            continue;
        }
        match app.store.update_event(&mut event).await {
            Ok(()) => queued += 1,
            // A worker settled it meanwhile: it is not what was asked for any more.
            Err(crate::store::StoreError::Conflict) => {}
            Err(error) => return Err(error.into()),
        }
    }
    app.outages.clear(&id);
    app.wake.notify_one();
    Ok((StatusCode::ACCEPTED, axum::Json(json!({"queued": queued}))))
}

/// Makes a settled event pending again with a fresh attempt budget; `false` (unchanged) while a
/// worker holds it.
fn requeue(event: &mut InboxEvent, now_ms: i64) -> bool {
    if event.held && event.next_attempt_at > now_ms {
        return false;
    }
    event.status = EventStatus::Pending;
    event.held = false;
    event.attempts = 0;
    event.next_attempt_at = now_ms;
    event.updated_at = now_ms;
    true
}
