use serde::{Deserialize, Serialize};

/// An Azure Repos repository registered for an integration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Repository {
    pub integration_id: String,
    /// Azure DevOps repository id (a GUID).
    pub id: String,
    pub name: String,
    pub project: String,
    pub url: String,
    /// The name Sentry knows the repository by.
    pub sentry_name: String,
    #[serde(default)]
    pub push_subscription_id: Option<String>,
    #[serde(default)]
    pub last_seen_head: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    #[serde(default)]
    pub version: u64,
}
