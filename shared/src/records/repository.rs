use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// An Azure Repos repository registered for an integration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Repository {
    pub integration_id: String,
    /// Azure DevOps repository id (a GUID).
    pub id: String,
    pub name: String,
    pub project: String,
    /// The project's id (the push subscription's filter names it).
    #[serde(default)]
    pub project_id: String,
    /// The repository's web URL (`…/{project}/_git/{name}`).
    pub url: String,
    /// The default branch, without `refs/heads/` (`main`).
    #[serde(default)]
    pub default_branch: String,
    /// The name Sentry knows the repository by (commits carry it).
    pub sentry_name: String,
    /// Sentry project slugs whose releases take this repository's commits.
    #[serde(default)]
    pub sentry_projects: Vec<String>,
    #[serde(default)]
    pub push_subscription_id: Option<String>,
    /// Each branch's head as the last push delivered it (branch name without `refs/heads/`).
    #[serde(default)]
    pub heads: BTreeMap<String, String>,
    /// The push that set each head (a later push id wins; an older one arriving late is ignored).
    #[serde(default)]
    pub head_pushes: BTreeMap<String, u64>,
    /// The last release this repository set commits for.
    #[serde(default)]
    pub last_release: Option<ReleaseRange>,
    /// Per Sentry project, the creation time (RFC 3339) of the newest release reconciliation has
    /// looked at; releases created after it are new.
    #[serde(default)]
    pub releases_seen: BTreeMap<String, String>,
    pub created_at: i64,
    pub updated_at: i64,
    #[serde(default)]
    pub version: u64,
}

/// A release's commit range as it was set: `base..head` (`base` `None`: the newest commits up to
/// `head`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRange {
    pub version: String,
    pub head: String,
    #[serde(default)]
    pub base: Option<String>,
}
