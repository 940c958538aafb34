use serde::{Deserialize, Serialize};

/// Where a Sentry project's stack frames live in a registered repository: a frame path that
/// starts with `stack_root` is the file at `source_root` + the rest, on `branch`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeMapping {
    pub integration_id: String,
    pub id: String,
    pub sentry_project: String,
    /// The registered repository's Azure DevOps id.
    pub repository: String,
    pub branch: String,
    pub stack_root: String,
    pub source_root: String,
    pub created_at: i64,
    #[serde(default)]
    pub version: u64,
}
