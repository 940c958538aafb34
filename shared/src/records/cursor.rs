use serde::{Deserialize, Serialize};

/// Where a resumable job (reconciliation and the like) got to, so a run that stops at its
/// time budget continues from there next time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    pub integration_id: String,
    pub kind: String,
    pub position: serde_json::Value,
    pub updated_at: i64,
    #[serde(default)]
    pub version: u64,
}
