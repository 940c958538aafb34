use serde::{Deserialize, Serialize};

/// A Sentry comment and the Azure DevOps comment that mirrors it (or the other way round).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommentLink {
    pub integration_id: String,
    pub sentry_issue_id: String,
    pub sentry_comment_id: String,
    pub work_item_id: u64,
    pub ado_comment_id: u64,
    pub origin: CommentOrigin,
    pub created_at: i64,
    /// A Sentry comment deleted before it was mirrored (its create was still failing): kept under
    /// the Sentry id only, so that late create is not posted. `ado_comment_id` is 0 then.
    #[serde(default)]
    pub deleted: bool,
    #[serde(default)]
    pub version: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommentOrigin {
    Sentry,
    AzureDevOps,
}
