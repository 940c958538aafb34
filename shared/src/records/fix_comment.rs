use serde::{Deserialize, Serialize};

/// A commit that says it fixes a Sentry issue was announced on that issue (once per commit and
/// issue, however often its push is delivered).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixComment {
    pub integration_id: String,
    pub sentry_issue_id: String,
    pub commit_id: String,
    pub posted_at: i64,
    #[serde(default)]
    pub version: u64,
}
