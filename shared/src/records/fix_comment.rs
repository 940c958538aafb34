use serde::{Deserialize, Serialize};

/// A commit that says it fixes a Sentry issue, announced on that issue once per commit and issue
/// however often (and by however many pushes) it is delivered: the event that claims it first
/// posts the comment, then marks it posted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixComment {
    pub integration_id: String,
    pub sentry_issue_id: String,
    pub commit_id: String,
    /// The inbox event that claimed it (only it posts).
    #[serde(default)]
    pub claimed_by: String,
    #[serde(default)]
    pub posted: bool,
    pub posted_at: i64,
    #[serde(default)]
    pub version: u64,
}
