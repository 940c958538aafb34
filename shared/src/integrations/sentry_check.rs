//! Checking the Sentry side of an integration when it is saved: the token works, and the
//! installation uuid is discovered when it was not given (internal integrations never receive
//! `installation.created`).

use axum::http::StatusCode;

use crate::error::ApiError;
use crate::records::Integration;
use crate::secrets::IntegrationSecrets;
use crate::sentry::{SentryClient, SentryError};

/// Verifies the Sentry token; fills in the installation uuid when there is exactly one.
pub async fn check_sentry(
    http: &reqwest::Client,
    integration: &mut Integration,
    secrets: &IntegrationSecrets,
) -> Result<(), ApiError> {
    let client = SentryClient::new(
        http.clone(),
        &integration.sentry.base_url,
        &integration.sentry.organization_slug,
        secrets.sentry_auth_token.clone(),
    );
    match client.installations().await {
        Ok(installations) => {
            if integration.sentry.installation_uuid.is_none()
                && let [(uuid, _)] = installations.as_slice()
            {
                integration.sentry.installation_uuid = Some(uuid.to_ascii_lowercase());
            }
            Ok(())
        }
        Err(SentryError::Auth { status, message }) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "sentry_token_rejected",
            format!(
                "Sentry did not accept the token ({status}: {message}). Use a token of the internal integration with \
                 Organization Read, Issue & Event Write and Member Read."
            ),
        )),
        Err(SentryError::NotFound(_)) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "sentry_not_found",
            format!(
                "Sentry has no organization \"{}\" at {}",
                integration.sentry.organization_slug, integration.sentry.base_url
            ),
        )),
        Err(error) if error.is_transient() => Err(ApiError::unavailable(format!("could not reach Sentry: {error}"), 5)),
        Err(error) => Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "sentry_error",
            error.to_string(),
        )),
    }
}
