//! The sync worker: takes queued inbox events and applies them to the other side. Every event
//! ends `done`, `failed` (with a due time for the retry) or `dead` (visible in the admin API).
//! A claim (a versioned write that pushes the due time out by a lease) makes sure two workers
//! never process one event at the same time.

mod ado_to_sentry;
pub mod applied;
pub mod budget;
pub mod lambda;
pub mod outage;
mod sentry_to_ado;

use std::sync::Arc;
use std::time::Duration;

pub use crate::failure::Failure;
pub use applied::Applied;
pub use budget::Budget;

use crate::App;
use crate::clock;
use crate::records::{EventSource, EventStatus, InboxEvent, Link};
use crate::retry::ConflictRetries;
use crate::store::StoreError;

/// What every handler needs about the event's integration.
pub(crate) struct Context {
    pub payload: serde_json::Value,
    pub integration: crate::records::Integration,
    pub settings: crate::domain::settings::SyncSettings,
    pub secrets: crate::secrets::IntegrationSecrets,
    pub connection: Arc<crate::connections::Connection>,
}

/// An event's integration with its secrets and clients.
pub(crate) struct Connected {
    pub integration: crate::records::Integration,
    pub secrets: crate::secrets::IntegrationSecrets,
    pub connection: Arc<crate::connections::Connection>,
}

/// Loads the event's integration (gone: permanent), its secrets (unreadable: an outage) and clients.
pub(crate) async fn connected(app: &App, event: &InboxEvent) -> Result<Connected, Failure> {
    let Some(integration) = app
        .store
        .get_integration(&event.integration_id)
        .await
        .map_err(store_failure)?
    else {
        return Err(Failure::Permanent("the integration was deleted".into()));
    };
    let secrets = app
        .integration_secrets(&integration)
        .await
        .map_err(|e| Failure::Outage(e.to_string()))?;
    let connection = app
        .connections
        .get(&app.http, &integration, &secrets)
        .map_err(|e| Failure::Permanent(format!("cannot build clients: {e}")))?;
    Ok(Connected {
        integration,
        secrets,
        connection,
    })
}

/// Loads the payload, the integration, its settings, secrets and clients.
pub(crate) async fn context(app: &App, event: &InboxEvent) -> Result<Context, Failure> {
    let payload = serde_json::from_str(event.payload.get())
        .map_err(|e| Failure::Permanent(format!("stored payload is not JSON: {e}")))?;
    let Connected {
        integration,
        secrets,
        connection,
    } = connected(app, event).await?;
    let settings = crate::domain::settings::SyncSettings::read(&integration.sync).map_err(|e| {
        Failure::Permanent(format!(
            "the integration's sync settings cannot be read ({e}), so nothing was synced: \
             correct them with PATCH, then retry the event"
        ))
    })?;
    Ok(Context {
        payload,
        integration,
        settings,
        secrets,
        connection,
    })
}

pub(crate) fn store_failure(error: StoreError) -> Failure {
    Failure::from(error)
}

/// Applies `change` to the link and saves it; on a version conflict reads it again and re-applies
/// (as long as it still points at the same work item).
pub(crate) async fn update_link_with(app: &App, link: &Link, change: impl Fn(&mut Link)) -> Result<(), Failure> {
    let mut current = link.clone();
    let mut retries = ConflictRetries::new();
    loop {
        let mut next = current.clone();
        change(&mut next);
        next.updated_at = clock::now_ms();
        match app.store.update_link(&mut next).await {
            Ok(()) => return Ok(()),
            Err(StoreError::Conflict) if retries.another() => {
                match app
                    .store
                    .get_link(&link.integration_id, &link.sentry_issue_id)
                    .await
                    .map_err(store_failure)?
                {
                    Some(fresh) if fresh.work_item_id == link.work_item_id => current = fresh,
                    // Moved on to another work item (or unlinked): nothing of this link to save.
                    _ => return Ok(()),
                }
            }
            Err(StoreError::Conflict) => {
                return Err(Failure::Retry(
                    "the link kept changing while it was being updated".into(),
                ));
            }
            Err(error) => return Err(store_failure(error)),
        }
    }
}

/// Attempts before an event is `dead`.
pub const MAX_ATTEMPTS: u32 = 8;
/// How long a claimed event is hidden from other workers.
pub const CLAIM_LEASE_MS: i64 = 60_000;
/// Done events are kept this long (TTL), for dedupe and inspection.
pub const DONE_RETENTION_SECS: i64 = 7 * 24 * 3600;

/// Delay before attempt `attempts + 1`: 30 s doubling, at most one hour.
pub fn backoff_ms(attempts: u32) -> i64 {
    (30_000i64 << attempts.min(7)).min(3_600_000)
}

/// The event's next state after an outcome. Pure.
pub fn settle(event: &mut InboxEvent, outcome: &Result<Applied, Failure>, now_ms: i64) {
    event.updated_at = now_ms;
    event.held = false;
    match outcome {
        Ok(applied) => {
            event.status = EventStatus::Done;
            event.last_error = applied.kept_notes();
            event.expires_at = Some(now_ms / 1000 + DONE_RETENTION_SECS);
        }
        // An outage is not a bad event: kept (failed, backing off to an hour) however long it lasts.
        Err(failure)
            if failure.is_outage() || (matches!(failure, Failure::Retry(_)) && event.attempts + 1 < MAX_ATTEMPTS) =>
        {
            event.attempts += 1;
            event.status = EventStatus::Failed;
            event.last_error = Some(failure.message().to_string());
            event.next_attempt_at = now_ms + backoff_ms(event.attempts - 1);
        }
        Err(failure) => {
            event.attempts += 1;
            event.status = EventStatus::Dead;
            event.last_error = Some(failure.message().to_string());
        }
    }
}

/// Whether a worker may claim the event now: it is owed processing and due. An event another
/// worker holds (its lease pushed the due time out) or one backing off after a failure is not —
/// whichever way it was found (the stream hands over events however old its record is, and the
/// schedule runs beside it).
pub fn claimable(event: &InboxEvent, now_ms: i64) -> bool {
    event.status.is_due_kind() && event.next_attempt_at <= now_ms
}

/// What a claim found: a claim before it never settled (its worker was killed, or ran out of
/// time), so that attempt is counted now — an event that always outlasts its worker goes `dead`
/// after [`MAX_ATTEMPTS`] instead of being claimed forever. Pure.
pub fn count_abandoned_claim(event: &mut InboxEvent) {
    if event.held {
        event.attempts += 1;
        event.last_error = Some("a worker claimed it and never finished: killed, or out of time".into());
        if event.attempts >= MAX_ATTEMPTS {
            event.status = EventStatus::Dead;
            event.held = false;
        }
    }
}

/// Claims and processes one event within [`budget::EVENT_TIME_LIMIT`].
pub async fn process(app: &App, event: InboxEvent) -> Result<Option<EventStatus>, StoreError> {
    process_within(app, event, Budget::unlimited()).await
}

/// Claims and processes one event within `budget`; one that takes longer than the time the
/// budget gives it (counted from after the claim) is given up for now (`failed`, the attempt
/// counted). `Ok(None)` if another worker holds it, it is not due yet, it is finished, or too
/// little time is left to claim it.
pub async fn process_within(
    app: &App,
    mut event: InboxEvent,
    budget: Budget,
) -> Result<Option<EventStatus>, StoreError> {
    let now = clock::now_ms();
    let instant = std::time::Instant::now();
    if !claimable(&event, now)
        || budget.next_event(instant).is_none()
        || app.outages.paused(&event.integration_id, instant)
    {
        return Ok(None);
    }
    event.next_attempt_at = now + CLAIM_LEASE_MS;
    event.updated_at = now;
    count_abandoned_claim(&mut event);
    event.claims += 1;
    event.held = event.status != EventStatus::Dead;
    match app.store.update_event(&mut event).await {
        Ok(()) => {}
        Err(StoreError::Conflict) => return Ok(None),
        Err(e) => return Err(e),
    }
    if event.status == EventStatus::Dead {
        tracing::warn!(event = %event.id, attempts = event.attempts, "event dead: its claims were abandoned");
        count_outcome(&event);
        return Ok(Some(EventStatus::Dead));
    }
    let limit = budget.next_event(std::time::Instant::now()).unwrap_or(Duration::ZERO);
    let outcome = match tokio::time::timeout(limit, apply_once_more_on_refusal(app, &event)).await {
        Ok(outcome) => outcome,
        // A service that hangs is an outage too: the event is kept.
        Err(_) => Err(Failure::Outage(format!(
            "not finished within {:.1} s; given up for now",
            limit.as_secs_f32()
        ))),
    };
    match &outcome {
        Err(failure) if failure.is_outage() => {
            app.outages.note(&event.integration_id, std::time::Instant::now());
            tracing::warn!(event = %event.id, integration = %event.integration_id, %failure, "outage: the integration's events wait");
        }
        Err(failure) => tracing::warn!(event = %event.id, ?failure, attempts = event.attempts + 1, "event not applied"),
        Ok(applied) => {
            app.outages.clear(&event.integration_id);
            let direction = match event.source {
                EventSource::AzureDevOps => "azure_devops_to_sentry",
                EventSource::Sentry => "sentry_to_azure_devops",
            };
            tracing::info!(event = %event.id, integration = %event.integration_id, direction,
                event_type = %event.event_type, changed = %applied.describe_changes(),
                notes = applied.kept_notes().as_deref(), "event applied");
        }
    }
    settle(&mut event, &outcome, clock::now_ms());
    app.store.update_event(&mut event).await?;
    count_outcome(&event);
    Ok(Some(event.status))
}

/// The event's outcome as metrics (on Lambda): applied (with the time since it arrived), failed
/// for a retry, or dead.
fn count_outcome(event: &InboxEvent) {
    use crate::metrics::{self, Unit};
    match event.status {
        EventStatus::Done => metrics::emit(&[
            (metrics::EVENTS_APPLIED, 1.0, Unit::Count),
            (
                metrics::SYNC_LATENCY,
                (event.updated_at - event.received_at).max(0) as f64,
                Unit::Milliseconds,
            ),
        ]),
        EventStatus::Failed => metrics::count(metrics::EVENTS_FAILED),
        EventStatus::Dead => metrics::count(metrics::EVENTS_DEAD),
        EventStatus::Pending => {}
    }
}

/// Applies the event; a credential the other side refused is read again and the event applied
/// once more (see [`Failure::Credential`]).
async fn apply_once_more_on_refusal(app: &App, event: &InboxEvent) -> Result<Applied, Failure> {
    let outcome = apply(app, event).await;
    let Err(Failure::Credential(refused)) = &outcome else {
        return outcome;
    };
    tracing::info!(event = %event.id, %refused, "credential refused; reading it again");
    if let Ok(Some(integration)) = app.store.get_integration(&event.integration_id).await {
        app.forget_credentials(&integration);
    }
    // The first run may have done part of the work (one link's effect before another's call was
    // refused): the second looks for its effects before making them again.
    let mut again = event.clone();
    again.claims += 1;
    apply(app, &again).await
}

/// Ends every event still owed to a deleted integration: nothing can apply it any more, and
/// no worker would find it (the schedule walks existing integrations). Each is left `dead`,
/// noted, and kept as long as a done event. Returns how many.
pub async fn end_events_of_deleted(app: &App, integration_id: &str) -> Result<usize, StoreError> {
    let mut ended = 0;
    for status in [EventStatus::Pending, EventStatus::Failed] {
        loop {
            let owed = app.store.events_by_status(integration_id, status, 100).await?;
            if owed.is_empty() {
                break;
            }
            for mut event in owed {
                let now = clock::now_ms();
                event.status = EventStatus::Dead;
                event.held = false;
                event.last_error = Some("the integration was deleted".into());
                event.updated_at = now;
                event.expires_at = Some(now / 1000 + DONE_RETENTION_SECS);
                match app.store.update_event(&mut event).await {
                    Ok(()) => ended += 1,
                    // A worker settled it meanwhile: read the list again.
                    Err(StoreError::Conflict) => {}
                    Err(error) => return Err(error),
                }
            }
        }
    }
    Ok(ended)
}

async fn apply(app: &App, event: &InboxEvent) -> Result<Applied, Failure> {
    match event.source {
        EventSource::AzureDevOps if event.event_type == crate::repositories::push_subscriptions::PUSH_EVENT => {
            crate::repositories::push::apply(app, event).await
        }
        EventSource::AzureDevOps => ado_to_sentry::handle(app, event).await,
        EventSource::Sentry => sentry_to_ado::handle(app, event).await,
    }
}

/// Processes what is owed (up to `limit` of each kind) within `budget`: failed events due for a
/// retry, and each integration's pending events received at least `pending_after_ms` ago (on
/// AWS those the stream missed or whose worker died; locally every fresh event). Returns how
/// many were processed.
pub async fn run_due(app: &App, limit: usize, budget: Budget, pending_after_ms: i64) -> Result<usize, StoreError> {
    let now = clock::now_ms();
    let mut due = app.store.due_events(now, limit).await?;
    for integration in app.store.list_integrations().await? {
        let pending = app
            .store
            .pending_events(&integration.id, now - pending_after_ms, limit)
            .await?;
        due.extend(pending.into_iter().filter(|event| claimable(event, now)));
    }
    let mut processed = 0;
    for event in due {
        if budget.next_event(std::time::Instant::now()).is_none() {
            break;
        }
        if process_within(app, event, budget).await?.is_some() {
            processed += 1;
        }
    }
    Ok(processed)
}

/// The in-process worker of the local server: runs when intake queues an event, and every
/// `interval` for due retries (and anything a crash left behind). A worker loop that dies (a
/// panic) is logged and started again, so the server never silently stops syncing.
pub fn spawn_local(app: Arc<App>, interval: Duration) -> tokio::task::JoinHandle<()> {
    keep_running("worker", Duration::from_secs(1), move || {
        let app = app.clone();
        async move {
            loop {
                match run_due(&app, 100, Budget::unlimited(), 0).await {
                    Ok(processed) if processed > 0 => continue,
                    Ok(_) => {}
                    Err(error) => tracing::error!(%error, "worker could not read the inbox"),
                }
                tokio::select! {
                    _ = app.wake.notified() => {}
                    _ = tokio::time::sleep(interval) => {}
                }
            }
        }
    })
}

/// Runs the task `start` makes, and makes and runs a new one `pause` after each time one ends
/// by panicking (logged); ends when one returns.
pub fn keep_running<F, Fut>(name: &'static str, pause: Duration, start: F) -> tokio::task::JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            match tokio::spawn(start()).await {
                Ok(()) => return,
                Err(error) if error.is_panic() => {
                    tracing::error!(task = name, "the {name} task panicked; starting it again");
                    tokio::time::sleep(pause).await;
                }
                Err(_) => return,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> InboxEvent {
        InboxEvent {
            id: "e".into(),
            integration_id: "i".into(),
            source: EventSource::AzureDevOps,
            event_type: "workitem.updated".into(),
            payload: crate::records::Payload::to_json(&serde_json::json!({})).unwrap(),
            status: EventStatus::Pending,
            attempts: 0,
            next_attempt_at: 0,
            last_error: None,
            received_at: 0,
            updated_at: 0,
            expires_at: None,
            claims: 0,
            held: false,
            version: 1,
        }
    }

    #[test]
    fn an_event_may_have_run_before_after_a_failure_or_a_dead_claim() {
        let mut e = event();
        assert!(!e.may_have_run_before());
        e.claims = 1;
        assert!(!e.may_have_run_before(), "the first claim is this run");
        e.claims = 2;
        assert!(e.may_have_run_before(), "a worker died holding it");
        e.claims = 1;
        e.attempts = 1;
        assert!(e.may_have_run_before());
    }

    #[test]
    fn a_held_or_backing_off_event_is_not_claimed() {
        let mut e = event();
        e.next_attempt_at = 1_000;
        assert!(claimable(&e, 1_000), "a fresh event is due at once");
        e.next_attempt_at = 1_000 + CLAIM_LEASE_MS;
        assert!(!claimable(&e, 1_000), "held by a worker's lease");
        e.status = EventStatus::Failed;
        e.next_attempt_at = 31_000;
        assert!(!claimable(&e, 1_000), "backing off");
        assert!(claimable(&e, 31_000));
        e.status = EventStatus::Done;
        assert!(!claimable(&e, 99_000));
    }

    #[test]
    fn an_abandoned_claim_counts_as_an_attempt_until_the_event_dies() {
        let mut e = event();
        e.claims = 1;
        e.held = true;
        count_abandoned_claim(&mut e);
        assert_eq!((e.attempts, e.status), (1, EventStatus::Pending));
        assert!(e.last_error.as_deref().unwrap().contains("never finished"));
        let mut settled = event();
        settled.claims = 3;
        settle(&mut settled, &Err(Failure::Retry("503".into())), 1_000);
        count_abandoned_claim(&mut settled);
        assert_eq!(settled.attempts, 1, "that claim settled: nothing abandoned");
        e.attempts = MAX_ATTEMPTS - 1;
        count_abandoned_claim(&mut e);
        assert_eq!((e.attempts, e.status, e.held), (MAX_ATTEMPTS, EventStatus::Dead, false));
    }

    #[tokio::test]
    async fn a_task_that_panics_is_started_again() {
        use std::sync::atomic::{AtomicU32, Ordering};
        let runs = Arc::new(AtomicU32::new(0));
        let counted = runs.clone();
        let task = keep_running("test", Duration::from_millis(1), move || {
            let counted = counted.clone();
            async move {
                if counted.fetch_add(1, Ordering::SeqCst) < 2 {
                    panic!("a bug");
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 3, "two panics, then a run that ended");
    }

    #[test]
    fn retries_back_off_then_die() {
        let mut e = event();
        settle(&mut e, &Err(Failure::Retry("503".into())), 1_000);
        assert_eq!(
            (e.status, e.attempts, e.next_attempt_at),
            (EventStatus::Failed, 1, 31_000)
        );
        for _ in 1..MAX_ATTEMPTS - 1 {
            settle(&mut e, &Err(Failure::Retry("503".into())), 1_000);
        }
        assert_eq!(e.status, EventStatus::Failed);
        settle(&mut e, &Err(Failure::Retry("503".into())), 1_000);
        assert_eq!((e.status, e.attempts), (EventStatus::Dead, MAX_ATTEMPTS));
        assert_eq!(backoff_ms(20), 3_600_000);
    }

    #[test]
    fn permanent_failures_die_at_once_and_success_expires() {
        let mut e = event();
        settle(&mut e, &Err(Failure::Permanent("bad".into())), 1_000);
        assert_eq!((e.status, e.last_error.as_deref()), (EventStatus::Dead, Some("bad")));
        let mut ok = event();
        let mut applied = Applied::change("Sentry issue 7: status → resolved");
        applied.extend(Applied::note("no Sentry member for x@y"));
        settle(&mut ok, &Ok(applied), 10_000);
        assert_eq!(ok.status, EventStatus::Done);
        assert_eq!(ok.last_error.as_deref(), Some("no Sentry member for x@y"));
        assert_eq!(ok.expires_at, Some(10 + DONE_RETENTION_SECS));
    }
}
