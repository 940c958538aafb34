use serde::{Deserialize, Serialize};

/// A Sentry issue linked to an Azure DevOps work item, with what was last synced on each side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    pub integration_id: String,
    pub sentry_issue_id: String,
    #[serde(default)]
    pub sentry_short_id: Option<String>,
    #[serde(default)]
    pub sentry_url: Option<String>,
    pub work_item_id: u64,
    #[serde(default)]
    pub work_item_url: Option<String>,
    pub project: String,
    pub work_item_type: String,
    #[serde(default)]
    pub sync: LinkSyncState,
    pub created_by: LinkOrigin,
    pub created_at: i64,
    pub updated_at: i64,
    /// Set when a newer link for the same Sentry issue replaced this one (kept as history).
    #[serde(default)]
    pub replaced_at: Option<i64>,
    #[serde(default)]
    pub version: u64,
}

/// What the bridge last saw or wrote on each side, for echo suppression and idempotency.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LinkSyncState {
    pub sentry_status: Option<String>,
    pub sentry_assignee: Option<String>,
    pub ado_state: Option<String>,
    pub ado_assignee: Option<String>,
    /// Highest work-item revision applied; older deliveries are ignored.
    pub last_applied_rev: Option<u64>,
    /// The work item is in the recycle bin.
    #[serde(default)]
    pub work_item_deleted: bool,
    /// When the newest Sentry status change applied to the work item was received (Unix ms);
    /// an older one (a failed event retried late) is superseded, not applied over it.
    #[serde(default)]
    pub sentry_status_at: Option<i64>,
    /// The same for Sentry assignee changes.
    #[serde(default)]
    pub sentry_assignee_at: Option<i64>,
    /// When the newest Azure DevOps deleted/restored notice applied was received (Unix ms); an
    /// older one retried late is superseded.
    #[serde(default)]
    pub recycle_bin_at: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkOrigin {
    Create,
    Link,
    Alert,
}
