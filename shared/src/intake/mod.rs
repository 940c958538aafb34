//! Webhook intake: authenticate, validate, dedupe and persist in one conditional write, answer.
//! No outbound call happens here; the worker does the rest.

mod azure_devops;
mod basic_auth;
mod sentry;

pub use azure_devops::ado_hook;
pub use basic_auth::{basic_password, webhook_secret_matches};
pub use sentry::{fresh, sentry_hook};

use std::sync::Arc;

use crate::App;
use crate::http::Routes;

/// `POST /hooks/azure-devops/{integration_id}` (the `webhook-intake` function).
pub fn routes(app: Arc<App>) -> Routes {
    Routes::new()
        .post("/hooks/azure-devops/{integration_id}", ado_hook)
        .with_state(app)
}

/// `POST /hooks/sentry` (served by the `work-items` function: the Sentry app's webhook URL).
pub fn sentry_routes(app: Arc<App>) -> Routes {
    Routes::new().post("/hooks/sentry", sentry_hook).with_state(app)
}
