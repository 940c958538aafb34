//! Who is calling: the signature names the integration. Sentry signs component requests with
//! the app's client secret (`Sentry-App-Signature`, over the raw body; over "" for GET). The
//! installation id narrows the candidates; an integration that has not learned its installation
//! uuid yet learns it here, on first contact.

use axum::http::{HeaderMap, StatusCode};
use futures_util::future::join_all;

use super::SentryFacing;
use crate::App;
use crate::clock;
use crate::error::ApiError;
use crate::records::Integration;
use crate::secrets::IntegrationSecrets;
use crate::sentry::signature;

pub const SIGNATURE_HEADER: &str = "sentry-app-signature";

/// An authenticated caller: every integration of the installation whose client secret signed
/// the request (several when one Sentry app serves several Azure DevOps organizations).
pub struct Caller {
    pub installation_uuid: String,
    pub integrations: Vec<(Integration, IntegrationSecrets)>,
}

fn unauthorized() -> SentryFacing {
    SentryFacing(ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "the request is not signed by a known Sentry app",
    ))
}

/// The request's `Sentry-App-Signature`; a request without one is refused before its body is read.
pub fn signature(headers: &HeaderMap) -> Result<&str, SentryFacing> {
    headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(unauthorized)
}

/// The integrations whose client secret signed `body`. An integration that has not learned its
/// installation learns it here — but only from a signed body that names it (a POST): a GET is
/// signed over the empty string, a constant anyone who saw one request can replay with any
/// `installationId` in its query.
pub async fn authenticate(
    app: &App,
    headers: &HeaderMap,
    installation_uuid: &str,
    body: &[u8],
) -> Result<Caller, SentryFacing> {
    let signature = signature(headers)?;
    if installation_uuid.trim().is_empty() {
        return Err(unauthorized());
    }
    let candidates = app
        .store
        .integrations_for_installation(installation_uuid)
        .await
        .map_err(ApiError::from)?;
    let read = join_all(
        candidates
            .iter()
            .map(|integration| app.integration_secrets(integration)),
    )
    .await;
    let mut integrations = Vec::new();
    for (mut integration, secrets) in candidates.into_iter().zip(read) {
        let secrets = match secrets {
            Ok(secrets) => secrets,
            Err(error) => {
                tracing::warn!(integration = %integration.id, %error, "secrets unreadable; skipped for signature check");
                continue;
            }
        };
        if !signature::verify(secrets.sentry_client_secret.expose(), body, signature) {
            continue;
        }
        if integration.sentry.installation_uuid.is_none() && !body.is_empty() {
            integration.sentry.installation_uuid = Some(installation_uuid.to_ascii_lowercase());
            integration.updated_at = clock::now_ms();
            if let Err(error) = app.store.update_integration(&mut integration).await {
                tracing::warn!(integration = %integration.id, %error, "could not record the installation uuid");
            } else {
                tracing::info!(integration = %integration.id, installation = installation_uuid, "learned the Sentry installation");
            }
        }
        integrations.push((integration, secrets));
    }
    if integrations.is_empty() {
        return Err(unauthorized());
    }
    Ok(Caller {
        installation_uuid: installation_uuid.to_string(),
        integrations,
    })
}

impl Caller {
    /// The integration and Azure DevOps project an option value names: `{integration}::{project}`
    /// when several organizations share the installation, else the project name alone.
    pub fn resolve<'a>(&'a self, value: &'a str) -> (&'a (Integration, IntegrationSecrets), &'a str) {
        if let Some((id, project)) = value.split_once("::")
            && let Some(found) = self.integrations.iter().find(|(i, _)| i.id == id)
        {
            return (found, project);
        }
        (&self.integrations[0], value)
    }

    /// The option value for a project of an integration (see [`Self::resolve`]).
    pub fn project_value(&self, integration: &Integration, project: &str) -> String {
        if self.integrations.len() > 1 {
            format!("{}::{project}", integration.id)
        } else {
            project.to_string()
        }
    }
}
