//! `POST /hooks/sentry`: Sentry app webhooks. The signature (`Sentry-Hook-Signature`, HMAC-SHA256
//! of the raw bytes with the client secret) names the integration(s) of the installation; a
//! `Sentry-Hook-Timestamp` outside the replay window is refused. Handled resources: `issue`
//! (resolved, unresolved, ignored, assigned), `comment` (created, updated, deleted) and
//! `event_alert` (triggered); everything else, and issues that are not linked, answer 2xx and
//! queue nothing. One conditional write per integration, then 202 — well inside Sentry's 1 s:
//! three sequential store round trips on a cold process (see the handler).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::App;
use crate::clock;
use crate::domain::sentry_event::{SentryChange, dedupe_key, parse_webhook};
use crate::domain::sentry_payload;
use crate::error::ApiError;
use crate::http::{MAX_BODY_BYTES, json_error, parse_json};
use crate::records::{EventSource, InboxEvent};
use crate::sentry::signature;
use crate::store::Inserted;

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// Whether a `Sentry-Hook-Timestamp` (Unix seconds) is within `window` of now.
pub fn fresh(timestamp: &str, now_ms: i64, window_secs: i64) -> bool {
    timestamp
        .parse::<f64>()
        .is_ok_and(|sent| ((now_ms / 1000) as f64 - sent).abs() <= window_secs as f64)
}

pub async fn sentry_hook(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| ApiError::too_large(MAX_BODY_BYTES))?;
    let signature_header = header(&headers, "sentry-hook-signature")
        .ok_or_else(|| ApiError::unauthorized("missing Sentry-Hook-Signature"))?;
    let timestamp = header(&headers, "sentry-hook-timestamp")
        .unwrap_or_default()
        .to_string();
    // One pass over the body keeps what the worker reads; everything below reads that copy.
    let kept = sentry_payload::keep(&bytes).map_err(json_error)?;
    let payload: Value = parse_json(kept.get().as_bytes())?;
    let installation = payload["installation"]["uuid"].as_str().unwrap_or_default();
    if installation.is_empty() {
        return Err(ApiError::malformed(
            "not a Sentry webhook: `installation.uuid` is missing",
        ));
    }
    let resource = header(&headers, "sentry-hook-resource").unwrap_or_default().to_string();
    // Pure; acted on only once the signature is checked.
    let change = parse_webhook(&resource, &payload);

    // Sentry gives 1 s and never sends again: three sequential round trips on a cold process —
    // the integrations of the installation (a keyed lookup), then each one's secret and link at
    // once, then the write.
    let candidates = app.store.integrations_for_installation(installation).await?;
    if candidates.is_empty() {
        return Ok(answer(
            StatusCode::OK,
            json!({"status": "ignored", "reason": "unknown installation"}),
        ));
    }
    let linked_issue = match &change {
        Ok(Some(change)) if !matches!(change, SentryChange::Alert { .. }) => Some(change.issue_id()),
        _ => None,
    };
    let looked_up = join_all(candidates.into_iter().map(|integration| {
        let app = &app;
        async move {
            let (secrets, link) = tokio::join!(app.integration_secrets(&integration), async {
                match linked_issue {
                    Some(issue) => app.store.get_link(&integration.id, issue).await.map(|l| l.is_some()),
                    None => Ok(true),
                }
            });
            (integration, secrets, link)
        }
    }))
    .await;
    let mut integrations = Vec::new();
    for (integration, secrets, linked) in looked_up {
        let secrets = secrets.map_err(|e| ApiError::unavailable(e.to_string(), 5))?;
        if signature::verify(secrets.sentry_client_secret.expose(), &bytes, signature_header) {
            integrations.push((integration, linked?));
        }
    }
    if integrations.is_empty() {
        return Err(ApiError::unauthorized(
            "the signature does not match the app's client secret",
        ));
    }
    if !fresh(&timestamp, clock::now_ms(), app.config.sentry_replay_window_secs) {
        return Err(ApiError::unauthorized(
            "Sentry-Hook-Timestamp is missing or outside the replay window",
        ));
    }
    match change {
        Ok(Some(_)) => {}
        Ok(None) => {
            return Ok(answer(
                StatusCode::OK,
                json!({"status": "ignored", "reason": "resource or action not handled"}),
            ));
        }
        Err(message) => return Err(ApiError::malformed(format!("not a Sentry webhook: {message}"))),
    }
    let event_type = format!("{resource}.{}", payload["action"].as_str().unwrap_or_default());
    let now = clock::now_ms();
    let writes = integrations.into_iter().map(|(integration, linked)| {
        let app = &app;
        let mut event = InboxEvent::pending(
            dedupe_key(&integration.id, &bytes, &timestamp),
            &integration.id,
            EventSource::Sentry,
            &event_type,
            kept.clone(),
            now,
        );
        async move {
            if installation_unknown(&integration) {
                learn_installation(app, integration.clone(), installation).await;
            }
            if !linked {
                return Ok(None);
            }
            app.store
                .insert_event(&mut event)
                .await
                .map(|inserted| (inserted == Inserted::New).then_some(event.id))
        }
    });
    let mut queued = Vec::new();
    for written in join_all(writes).await {
        queued.extend(written?);
    }
    if queued.is_empty() {
        return Ok(answer(
            StatusCode::OK,
            json!({"status": "ignored", "reason": "issue not linked, or a duplicate"}),
        ));
    }
    app.wake.notify_one();
    crate::metrics::emit(&[(
        crate::metrics::EVENTS_RECEIVED,
        queued.len() as f64,
        crate::metrics::Unit::Count,
    )]);
    Ok(answer(
        StatusCode::ACCEPTED,
        json!({"status": "queued", "event_ids": queued}),
    ))
}

fn installation_unknown(integration: &crate::records::Integration) -> bool {
    integration.sentry.installation_uuid.is_none()
}

async fn learn_installation(app: &App, mut integration: crate::records::Integration, installation: &str) {
    integration.sentry.installation_uuid = Some(installation.to_ascii_lowercase());
    integration.updated_at = clock::now_ms();
    if let Err(error) = app.store.update_integration(&mut integration).await {
        tracing::warn!(integration = %integration.id, %error, "could not record the installation uuid");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_inside_the_window_only() {
        let now = 1_800_000_000_000;
        assert!(fresh("1800000000", now, 300));
        assert!(fresh("1799999800", now, 300));
        assert!(!fresh("1799999000", now, 300));
        assert!(!fresh("1800001000", now, 300), "far future too");
        assert!(!fresh("", now, 300));
        assert!(!fresh("soon", now, 300));
    }
}
