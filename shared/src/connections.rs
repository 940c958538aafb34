//! Per-integration clients, built once and reused: the Azure DevOps client (with its Entra token
//! cache), its metadata cache, and the Sentry client. Keyed by integration version, so a PATCH
//! that rotates a credential gets fresh clients.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::azure_devops::{self, AdoClient, AdoError, Metadata};
use crate::records::Integration;
use crate::retry::RetryPolicy;
use crate::secrets::IntegrationSecrets;
use crate::sentry::SentryClient;

pub struct Connection {
    pub ado: AdoClient,
    pub metadata: Metadata,
    pub sentry: SentryClient,
}

#[derive(Default)]
pub struct Connections {
    cached: Mutex<HashMap<String, (u64, Arc<Connection>)>>,
    /// The retry policy of every client built here.
    policy: RetryPolicy,
}

impl Connections {
    pub fn new(policy: RetryPolicy) -> Self {
        Self {
            cached: Mutex::default(),
            policy,
        }
    }

    pub fn get(
        &self,
        http: &reqwest::Client,
        integration: &Integration,
        secrets: &IntegrationSecrets,
    ) -> Result<Arc<Connection>, AdoError> {
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((version, connection)) = cached.get(&integration.id)
            && *version == integration.version
        {
            return Ok(connection.clone());
        }
        let connection = Arc::new(Connection {
            ado: azure_devops::client_for(http.clone(), integration, secrets)?.with_policy(self.policy.clone()),
            metadata: Metadata::default(),
            sentry: SentryClient::new(
                http.clone(),
                &integration.sentry.base_url,
                &integration.sentry.organization_slug,
                secrets.sentry_auth_token.clone(),
            )
            .with_policy(self.policy.clone()),
        });
        cached.insert(integration.id.clone(), (integration.version, connection.clone()));
        Ok(connection)
    }

    /// Drops the integration's clients (and the Entra token and metadata they hold).
    pub fn forget(&self, integration_id: &str) {
        self.cached
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(integration_id);
    }
}
