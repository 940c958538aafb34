use serde::{Deserialize, Serialize};

use super::Payload;

/// A webhook delivery accepted by intake, waiting to be (or having been) processed.
/// Keyed by its dedupe key, so a second delivery of the same event is never a second event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboxEvent {
    /// The dedupe key (docs/architecture.md); also the event's id in the admin API.
    pub id: String,
    pub integration_id: String,
    pub source: EventSource,
    pub event_type: String,
    /// The delivery as JSON: from Azure DevOps, the parts the bridge reads
    /// ([`ado_payload::keep`](crate::domain::ado_payload::keep)); from Sentry, the body as received.
    pub payload: Payload,
    pub status: EventStatus,
    pub attempts: u32,
    /// When a pending or failed event is due (Unix ms).
    pub next_attempt_at: i64,
    #[serde(default)]
    pub last_error: Option<String>,
    pub received_at: i64,
    pub updated_at: i64,
    /// Unix seconds after which the record may be dropped (set once the event is done).
    #[serde(default)]
    pub expires_at: Option<i64>,
    /// How many times a worker claimed it. More claims than settled attempts means a worker
    /// died holding it (a crash leaves no attempt count).
    #[serde(default)]
    pub claims: u32,
    /// Claimed by a worker and not settled since. Found set by the next claim (after the lease),
    /// it means that worker died or ran out of time holding it.
    #[serde(default)]
    pub held: bool,
    #[serde(default)]
    pub version: u64,
}

impl InboxEvent {
    /// A freshly received event, due now.
    pub fn pending(
        id: String,
        integration_id: &str,
        source: EventSource,
        event_type: &str,
        payload: Payload,
        now_ms: i64,
    ) -> Self {
        Self {
            id,
            integration_id: integration_id.to_string(),
            source,
            event_type: event_type.to_string(),
            payload,
            status: EventStatus::Pending,
            attempts: 0,
            next_attempt_at: now_ms,
            last_error: None,
            received_at: now_ms,
            updated_at: now_ms,
            expires_at: None,
            claims: 0,
            held: false,
            version: 0,
        }
    }

    /// Whether an earlier run may have done part of this event's work (a failed attempt, or a
    /// claim whose worker died), so effects must be looked for before they are made again.
    pub fn may_have_run_before(&self) -> bool {
        self.attempts > 0 || self.claims > 1
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventSource {
    AzureDevOps,
    Sentry,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    Pending,
    Failed,
    Done,
    Dead,
}

impl EventStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Pending => "pending",
            EventStatus::Failed => "failed",
            EventStatus::Done => "done",
            EventStatus::Dead => "dead",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Failed, Self::Done, Self::Dead]
            .into_iter()
            .find(|s| s.as_str() == text)
    }

    /// Pending and failed events are still owed processing.
    pub fn is_due_kind(self) -> bool {
        matches!(self, EventStatus::Pending | EventStatus::Failed)
    }
}
