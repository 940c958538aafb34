//! Waiting in end-to-end tests: for a condition, or for the worker to finish queued events.

use std::time::{Duration, Instant};

use shared::App;
use shared::records::EventStatus;

const LIMIT: Duration = Duration::from_secs(10);

/// Polls `check` until it holds; fails the test after ten seconds naming `what`.
pub async fn eventually(what: &str, check: impl Fn() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < LIMIT, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the integration has no pending event left.
pub async fn settled(app: &App, integration_id: &str) {
    let started = Instant::now();
    loop {
        let pending = app
            .store
            .events_by_status(integration_id, EventStatus::Pending, 10)
            .await
            .unwrap();
        if pending.is_empty() {
            return;
        }
        assert!(started.elapsed() < LIMIT, "events still pending: {pending:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until event `id` has ended (`done` or `dead`) and returns it.
pub async fn ended(app: &App, id: &str) -> shared::records::InboxEvent {
    ended_within(app, id, LIMIT).await
}

/// [`ended`], waiting up to `limit`.
pub async fn ended_within(app: &App, id: &str, limit: Duration) -> shared::records::InboxEvent {
    let started = Instant::now();
    loop {
        let event = app.store.get_event(id).await.unwrap().expect("the event exists");
        if matches!(event.status, EventStatus::Done | EventStatus::Dead) {
            return event;
        }
        assert!(started.elapsed() < limit, "event still {:?}: {event:?}", event.status);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
