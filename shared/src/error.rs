//! The one error shape every HTTP route answers with: `{"error": {"code", "message"}}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::secrets::SecretsError;
use crate::store::StoreError;

/// An error that becomes an HTTP response. `code` is a stable machine-readable word,
/// `message` is for a person and never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds for a `Retry-After` header (429 / 503).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }
    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed_request", message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("request body exceeds {limit} bytes"),
        )
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", message)
    }
    pub fn unavailable(message: impl Into<String>, retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
        }
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // Messages never hold a secret (they name fields and records, not values).
        if self.status.is_server_error() {
            tracing::error!(status = self.status.as_u16(), code = self.code, message = %self.message, "request failed");
        } else {
            tracing::info!(status = self.status.as_u16(), code = self.code, message = %self.message, "request refused");
        }
        let body = json!({"error": {"code": self.code, "message": self.message}});
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict => {
                ApiError::conflict("the record was changed by someone else; read it again and retry")
            }
            StoreError::Unavailable(message) => ApiError::unavailable(message, 1),
            StoreError::Backend(message) | StoreError::Corrupt(message) => ApiError::internal(message),
        }
    }
}

impl From<SecretsError> for ApiError {
    fn from(error: SecretsError) -> Self {
        match error {
            SecretsError::NotFound(reference) => {
                ApiError::internal(format!("secret {reference} is missing from the secret store"))
            }
            other => ApiError::internal(other.to_string()),
        }
    }
}

impl From<crate::sentry::SentryError> for ApiError {
    /// Sentry failures as an admin sees them.
    fn from(error: crate::sentry::SentryError) -> Self {
        use crate::sentry::SentryError;
        match &error {
            SentryError::Auth { status, message } => ApiError::new(
                StatusCode::BAD_REQUEST,
                "sentry_credential_rejected",
                format!(
                    "Sentry refused the integration's token ({status}): {message}. Releases need the internal \
                     integration's Release (Admin) permission; issues Issue & Event (Write)."
                ),
            ),
            error if error.is_transient() => ApiError::unavailable(format!("Sentry: {error}; retry shortly"), 5),
            SentryError::NotFound(message) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "sentry_not_found",
                format!("Sentry: {message}"),
            ),
            SentryError::Http { status, message } if *status < 500 => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "sentry_refused",
                format!("Sentry refused it ({status}): {message}"),
            ),
            other => ApiError::new(StatusCode::BAD_GATEWAY, "sentry_error", other.to_string()),
        }
    }
}

impl From<crate::azure_devops::AdoError> for ApiError {
    /// Azure DevOps failures as an admin sees them: what went wrong and what to do about it.
    fn from(error: crate::azure_devops::AdoError) -> Self {
        use crate::azure_devops::AdoError;
        match error {
            AdoError::Auth { status: 403, message } => ApiError::new(
                StatusCode::BAD_REQUEST,
                "azure_devops_forbidden",
                format!(
                    "Azure DevOps refused the operation (403): {message}. The identity needs Work Items (read & write), \
                     Project and team (read), Code (read) and the 'Edit subscriptions' permission for service hooks."
                ),
            ),
            AdoError::Auth { message, .. } => ApiError::new(
                StatusCode::BAD_REQUEST,
                "azure_devops_credential_rejected",
                format!(
                    "Azure DevOps did not accept the credential: {message}. Check that the PAT (or the Entra service \
                     principal's secret) is valid, not expired, and belongs to this organization."
                ),
            ),
            AdoError::NotFound { message } => ApiError::new(
                StatusCode::BAD_REQUEST,
                "azure_devops_not_found",
                format!("Azure DevOps could not find it: {message}. Check the organization URL."),
            ),
            AdoError::Throttled { retry_after_secs, .. } => ApiError::unavailable(
                format!("Azure DevOps is throttling or unavailable; retry in {retry_after_secs}s"),
                retry_after_secs,
            ),
            AdoError::Transport(message) => {
                ApiError::unavailable(format!("could not reach Azure DevOps: {message}"), 5)
            }
            AdoError::Http { status, .. } if status >= 500 => {
                ApiError::unavailable(format!("Azure DevOps failed ({status}); retry shortly"), 5)
            }
            other @ (AdoError::Conflict | AdoError::Field { .. } | AdoError::Http { .. } | AdoError::Decode(_)) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "azure_devops_error", other.to_string())
            }
        }
    }
}
