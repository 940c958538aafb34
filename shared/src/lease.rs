//! Named leases held around work that must not run twice at once (the store's `try_lease`):
//! taken, waited for, and given back. A holder that died frees its lease when it expires.

use std::time::Duration;

use crate::App;
use crate::clock;
use crate::store::{Lease, StoreError};

/// How often a waiter tries again.
const POLL: Duration = Duration::from_millis(100);

/// Takes lease `name` for `ttl_secs`, waiting up to `wait` while another holds it; `None` if it
/// is still held then.
pub async fn hold_waiting(app: &App, name: &str, ttl_secs: i64, wait: Duration) -> Result<Option<Lease>, StoreError> {
    let until = std::time::Instant::now() + wait;
    loop {
        if let Some(lease) = app.store.try_lease(name, ttl_secs, clock::now_ms()).await? {
            return Ok(Some(lease));
        }
        if std::time::Instant::now() >= until {
            return Ok(None);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Gives `lease` back; one that cannot be released expires by itself.
pub async fn release(app: &App, lease: Lease) {
    if let Err(error) = app.store.release_lease(&lease).await {
        tracing::warn!(lease = %lease.name, %error, "lease not released; it expires by itself");
    }
}

/// Runs `work` holding `lease`, and gives it back whatever `work` returned.
pub async fn holding<T>(app: &App, lease: Lease, work: impl std::future::Future<Output = T>) -> T {
    let outcome = work.await;
    release(app, lease).await;
    outcome
}
