use serde::{Deserialize, Serialize};

/// A connection between one Sentry organization and one Azure DevOps organization.
/// Holds no secret values: `secret_ref` names the entry in the secret store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Integration {
    pub id: String,
    pub name: String,
    pub azure_devops: AzureDevOpsSettings,
    pub sentry: SentrySettings,
    /// Per-integration sync settings (docs/sync.md); a JSON object.
    #[serde(default)]
    pub sync: serde_json::Map<String, serde_json::Value>,
    pub secret_ref: String,
    #[serde(default)]
    pub state: IntegrationState,
    pub created_at: i64,
    pub updated_at: i64,
    #[serde(default)]
    pub version: u64,
}

/// Whether an integration is whole. The record is stored before anything is made in Azure DevOps
/// or the secret store (`connecting`), and becomes `active` once the subscriptions exist: a create
/// that dies half way leaves a record that says what to remove.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntegrationState {
    Connecting,
    #[default]
    Active,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AzureDevOpsSettings {
    /// Normalised organization (or collection) URL, no trailing slash.
    pub organization_url: String,
    /// The organization (or collection) name taken from the URL.
    pub organization: String,
    pub auth: AdoAuthKind,
    #[serde(default)]
    pub collection_id: Option<String>,
    /// The identity the bridge writes as; changes revised by it are echoes.
    #[serde(default)]
    pub bridge_identity_id: Option<String>,
    /// Service-hook subscription ids by event type.
    #[serde(default)]
    pub subscriptions: std::collections::BTreeMap<String, String>,
    /// A webhook-secret rotation stored its new secret and has not put it on every subscription
    /// yet: the next rotation finishes this one instead of making another secret.
    #[serde(default)]
    pub rotation_unfinished: bool,
}

/// How the bridge authenticates to Azure DevOps. Only the non-secret parts live here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AdoAuthKind {
    Pat,
    Entra {
        tenant_id: String,
        client_id: String,
        authority: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentrySettings {
    /// Sentry's base URL, no trailing slash (`https://sentry.io` or a self-hosted URL).
    pub base_url: String,
    pub organization_slug: String,
    #[serde(default)]
    pub installation_uuid: Option<String>,
    #[serde(default)]
    pub app_uuid: Option<String>,
}
