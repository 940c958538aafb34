use serde::{Deserialize, Serialize};

/// A work-item create that has started for a Sentry issue and not yet been recorded as a link.
/// Written before Azure DevOps is asked to create anything and removed once the link is
/// recorded (or Azure DevOps answered that it created nothing): one still present at the next
/// create means an earlier attempt may have made a work item whose answer was lost — the next
/// attempt looks for that work item before making another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateAttempt {
    pub integration_id: String,
    pub sentry_issue_id: String,
    /// The Sentry issue URL the work item's Hyperlink relation points at.
    pub sentry_url: String,
    pub project: String,
    pub started_at: i64,
    #[serde(default)]
    pub version: u64,
}
