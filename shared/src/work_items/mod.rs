//! The `work-items` function: what Sentry calls on behalf of a user — the issue-link
//! component (create and link a work item), its select options, and the alert-rule action
//! settings, and the stack-trace link (unsigned browser navigation: a redirect to Azure Repos).
//! Every other request is signed (`Sentry-App-Signature`); errors carry a top-level
//! `message`, which Sentry shows to the user.

mod alert_rule;
mod auth;
mod create;
mod link;
mod lost_create;
mod options;
mod schema;
mod stacktrace_link;

pub use alert_rule::setting;
pub use auth::{Caller, authenticate, signature};
pub use create::{CreateInput, create_and_link};
pub use schema::{component_schema, schema_route};

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::App;
use crate::error::ApiError;
use crate::failure::Failure;
use crate::http::Routes;

/// Sentry-facing routes (`/sentry/*` and `/hooks/sentry`), on the host of the Sentry app's webhook URL.
pub fn routes(app: Arc<App>) -> Routes {
    Routes::new()
        .post("/sentry/issue-link/create", create::create)
        .post("/sentry/issue-link/link", link::link)
        .get("/sentry/options/{kind}", options::options)
        .post("/sentry/alert-rule-action", alert_rule::validate)
        .get("/sentry/stacktrace-link", stacktrace_link::stacktrace_link)
        .with_state(app.clone())
        .merge(crate::intake::sentry_routes(app))
}

/// An error Sentry shows to the user: `{"message"}` plus the bridge's usual `error` object.
#[derive(Debug)]
pub struct SentryFacing(pub ApiError);

impl From<ApiError> for SentryFacing {
    fn from(error: ApiError) -> Self {
        Self(error)
    }
}

/// A classified failure as Sentry's dialog shows it: the request's own fault is a 400 to act on,
/// a refused credential a 400 naming it, a passing conflict a 409, an outage a 503.
impl From<Failure> for SentryFacing {
    fn from(failure: Failure) -> Self {
        Self(match failure {
            Failure::Permanent(message) => ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message),
            Failure::Credential(message) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "azure_devops_credential_rejected",
                format!(
                    "{message}. Check that the integration's credential is valid, not expired, and may do this \
                     (PATCH /integrations/{{id}} replaces it)."
                ),
            ),
            Failure::Retry(message) => ApiError::conflict(message),
            Failure::Outage(message) => ApiError::unavailable(message, 5),
        })
    }
}

impl<E: Into<ApiError>> From<Box<E>> for SentryFacing {
    fn from(error: Box<E>) -> Self {
        Self((*error).into())
    }
}

impl IntoResponse for SentryFacing {
    fn into_response(self) -> Response {
        let error = self.0;
        if error.status.is_server_error() {
            tracing::error!(code = error.code, message = %error.message, "Sentry component request failed");
        }
        let body = json!({"message": error.message, "error": {"code": error.code, "message": error.message}});
        (error.status, axum::Json(body)).into_response()
    }
}

/// A 400 the user can act on.
pub fn user_error(message: impl Into<String>) -> SentryFacing {
    SentryFacing(ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message))
}

/// The issue-link answer: `{"webUrl", "project", "identifier"}`, all strings.
pub fn linked(web_url: &str, project: &str, work_item_id: u64) -> Value {
    json!({"webUrl": web_url, "project": project, "identifier": work_item_id.to_string()})
}

/// A field value from Sentry's form as text (Sentry sends numbers for some).
pub fn field_text(fields: &serde_json::Map<String, Value>, name: &str) -> Option<String> {
    match fields.get(name)? {
        Value::String(text) => Some(text.trim().to_string()).filter(|t| !t.is_empty()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}
