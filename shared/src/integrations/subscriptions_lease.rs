//! One change of an integration's service-hook subscriptions at a time. A rotation puts a new
//! secret on every subscription it lists; a repository registration and a reconciliation repair
//! make one with the secret they read. Run at once, a subscription made with the secret read
//! before a rotation, and recorded after the rotation listed them, would keep the old secret and
//! fail every delivery once the old secret's grace ends — with nothing to notice it (Azure DevOps
//! hides the password it holds). Each of them holds this lease while it makes or replaces
//! subscriptions, and reads the secret after taking it.

use crate::App;
use crate::error::ApiError;
use crate::store::{Lease, StoreError};

/// Longer than any of them takes (a few Azure DevOps calls); a holder that died frees it by expiry.
const LEASE_SECS: i64 = 120;

fn name(integration_id: &str) -> String {
    format!("subscriptions#{integration_id}")
}

/// Takes the lease; `None` while another holds it.
pub async fn try_hold(app: &App, integration_id: &str) -> Result<Option<Lease>, StoreError> {
    crate::lease::hold_waiting(app, &name(integration_id), LEASE_SECS, std::time::Duration::ZERO).await
}

/// How long an admin request waits for the lease (a rotation or a registration takes a second or two).
const REQUEST_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Takes the lease for an admin request, waiting a few seconds for it, or answers `409` naming why.
pub async fn hold_for_request(app: &App, integration_id: &str) -> Result<Lease, ApiError> {
    let held = crate::lease::hold_waiting(app, &name(integration_id), LEASE_SECS, REQUEST_WAIT).await?;
    held.ok_or_else(|| {
        ApiError::conflict(format!(
            "integration {integration_id}'s service-hook subscriptions are being changed (a rotation, a \
             repository registration or a reconciliation); try again in a few seconds"
        ))
    })
}

pub use crate::lease::{holding, release};
