//! The Azure DevOps REST client (api-version 7.1), hand-written on reqwest: auth (PAT, Entra),
//! retries and typed errors in `client`, endpoints grouped by area, and a metadata cache.

mod auth;
mod client;
mod core;
mod error;
mod git;
pub use git::{GitVersion, PAGE as GIT_PAGE};
mod hooks;
mod metadata;
mod types;
mod work_items;

pub use auth::{ADO_SCOPE, AdoAuth, EntraTokens, REFRESH_MARGIN};
pub use client::{API_VERSION, AdoClient, Body, Reply, RetryPolicy, identity_base, requested_delay};
pub use core::{NodeKind, flatten_paths};
pub use error::{AdoError, rule_error_field};
pub use hooks::{HOOK_USERNAME, WORK_ITEM_EVENTS, subscription_request};
pub use metadata::{METADATA_TTL, Metadata, TtlCache};
pub use types::*;
pub use work_items::{BATCH_LIMIT, TextFormat, WIQL_LIMIT, patch};

use crate::records::{AdoAuthKind, Integration};
use crate::secrets::{AdoCredential, IntegrationSecrets};

/// The client for an integration, from its record (URLs, auth kind) and its secrets.
pub fn client_for(
    http: reqwest::Client,
    integration: &Integration,
    secrets: &IntegrationSecrets,
) -> Result<AdoClient, AdoError> {
    let auth = match (&integration.azure_devops.auth, &secrets.azure_devops) {
        (AdoAuthKind::Pat, AdoCredential::Pat { token }) => AdoAuth::Pat(token.clone()),
        (
            AdoAuthKind::Entra {
                tenant_id,
                client_id,
                authority,
            },
            AdoCredential::Entra { client_secret },
        ) => AdoAuth::Entra(EntraTokens::new(authority, tenant_id, client_id, client_secret.clone())),
        _ => {
            return Err(AdoError::Auth {
                status: 0,
                message:
                    "the stored credential does not match the integration's auth type; set `azure_devops.auth` again"
                        .into(),
            });
        }
    };
    AdoClient::new(http, &integration.azure_devops.organization_url, auth)
}
