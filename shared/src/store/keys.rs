//! How each record is keyed in the single table. Pure functions: the layout in one place.
//!
//! | record | pk | sk | gsi1 | gsi2 |
//! |---|---|---|---|---|
//! | integration | `INT#{id}` | `META` | `INTEGRATIONS` / `{id}` | `SENTRY#{installation uuid, or "unknown"}` / `{id}` |
//! | deleted integration (tombstone) | `INT#{id}` | `DELETED` | | |
//! | link (active) | `INT#{int}` | `LINK#{sentry issue}` | `INT#{int}#WI#{work item}` / `LINK#{sentry issue}` | |
//! | link (history) | `INT#{int}` | `LINKHIST#{sentry issue}#{replaced at}#{work item}` | | |
//! | comment link | `INT#{int}` | `CMT#S#{sentry comment}` and `CMT#A#{work item}#{ado comment}` | | |
//! | repository | `INT#{int}` | `REPO#{repo id}` | | |
//! | code mapping | `INT#{int}` | `CODEMAP#{mapping id}` | | |
//! | fix comment posted | `INT#{int}` | `FIX#{sentry issue}#{commit}` | | |
//! | user mapping | `INT#{int}` | `USER#{email}` | | |
//! | cursor | `INT#{int}` | `CURSOR#{kind}` | | |
//! | work-item create under way | `INT#{int}` | `CREATING#{sentry issue}` | | |
//! | lease | `LEASE#{name}` | `LEASE` | | |
//! | inbox event | `EVT#{dedupe key}` | `EVENT` | `DUE#{shard}` / `{next attempt:020}#{id}` while failed | `INT#{int}#EVT#{status}` / `{received:020}#{id}` |

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::table::Key;
use crate::records::{
    CodeMapping, CommentLink, CreateAttempt, Cursor, EventStatus, FixComment, InboxEvent, Integration, Link,
    Repository, UserMapping,
};

/// A record type the [`super::Store`] can persist.
pub trait Record: Serialize + DeserializeOwned + Send + Sync + 'static {
    const KIND: &'static str;
    fn key(&self) -> Key;
    fn gsi1(&self) -> Option<Key> {
        None
    }
    fn gsi2(&self) -> Option<Key> {
        None
    }
    /// Unix seconds after which the item may be dropped.
    fn expires_at(&self) -> Option<i64> {
        None
    }
    fn version(&self) -> u64;
    fn set_version(&mut self, version: u64);
}

macro_rules! versioned {
    () => {
        fn version(&self) -> u64 {
            self.version
        }
        fn set_version(&mut self, version: u64) {
            self.version = version;
        }
    };
}

pub fn integration_pk(integration_id: &str) -> String {
    format!("INT#{integration_id}")
}
pub const INTEGRATIONS_INDEX_PK: &str = "INTEGRATIONS";
/// The integrations of one Sentry installation (`None`: those that have not learned theirs).
pub fn installation_index_pk(installation_uuid: Option<&str>) -> String {
    format!(
        "SENTRY#{}",
        installation_uuid.map_or_else(|| "unknown".to_string(), str::to_ascii_lowercase)
    )
}
/// How many partition keys the due index is spread over (`DUE#0` … `DUE#7`): one key for the
/// whole deployment would cap every tenant's failures together near DynamoDB's ~1 000 writes a
/// second per partition.
pub const DUE_SHARDS: u32 = 8;

/// The due index's one partition key before it was spread (entries written by older versions
/// are still read, until each has been retried).
pub const LEGACY_DUE_INDEX_PK: &str = "DUE";

pub fn due_index_pk(shard: u32) -> String {
    format!("DUE#{shard}")
}

/// The due-index shard of an event: FNV-1a of its id (stable across processes and versions).
pub fn due_shard(event_id: &str) -> u32 {
    let hash = event_id.bytes().fold(0x811c_9dc5u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    });
    hash % DUE_SHARDS
}

pub fn integration_key(id: &str) -> Key {
    Key::new(integration_pk(id), "META")
}
/// Left behind by a deleted integration, so its late deliveries are told 410 Gone.
pub fn tombstone_key(id: &str) -> Key {
    Key::new(integration_pk(id), "DELETED")
}
/// A short exclusive lease (e.g. "one create per Sentry issue at a time").
pub fn lease_key(name: &str) -> Key {
    Key::new(format!("LEASE#{name}"), "LEASE")
}
pub fn link_key(integration_id: &str, sentry_issue_id: &str) -> Key {
    Key::new(integration_pk(integration_id), format!("LINK#{sentry_issue_id}"))
}
pub fn link_history_prefix(sentry_issue_id: &str) -> String {
    format!("LINKHIST#{sentry_issue_id}#")
}
pub fn work_item_index_pk(integration_id: &str, work_item_id: u64) -> String {
    format!("INT#{integration_id}#WI#{work_item_id}")
}
pub fn comment_by_sentry_key(integration_id: &str, sentry_comment_id: &str) -> Key {
    Key::new(integration_pk(integration_id), format!("CMT#S#{sentry_comment_id}"))
}
pub fn comment_by_ado_key(integration_id: &str, work_item_id: u64, ado_comment_id: u64) -> Key {
    Key::new(
        integration_pk(integration_id),
        format!("CMT#A#{work_item_id}#{ado_comment_id}"),
    )
}
pub fn repository_key(integration_id: &str, repo_id: &str) -> Key {
    Key::new(integration_pk(integration_id), format!("REPO#{repo_id}"))
}
pub const REPOSITORY_PREFIX: &str = "REPO#";
pub fn code_mapping_key(integration_id: &str, mapping_id: &str) -> Key {
    Key::new(
        integration_pk(integration_id),
        format!("{CODE_MAPPING_PREFIX}{mapping_id}"),
    )
}
pub const CODE_MAPPING_PREFIX: &str = "CODEMAP#";
pub fn fix_comment_key(integration_id: &str, sentry_issue_id: &str, commit_id: &str) -> Key {
    Key::new(
        integration_pk(integration_id),
        format!("FIX#{sentry_issue_id}#{commit_id}"),
    )
}
pub fn user_mapping_key(integration_id: &str, email: &str) -> Key {
    Key::new(integration_pk(integration_id), format!("USER#{}", email.to_lowercase()))
}
pub const USER_MAPPING_PREFIX: &str = "USER#";
pub fn cursor_key(integration_id: &str, kind: &str) -> Key {
    Key::new(integration_pk(integration_id), format!("CURSOR#{kind}"))
}
pub fn create_attempt_key(integration_id: &str, sentry_issue_id: &str) -> Key {
    Key::new(integration_pk(integration_id), format!("CREATING#{sentry_issue_id}"))
}
/// How long an unfinished create is remembered: a retry days later makes a new work item.
pub const CREATE_ATTEMPT_RETENTION_SECS: i64 = 24 * 3600;
pub fn event_key(id: &str) -> Key {
    Key::new(format!("EVT#{id}"), "EVENT")
}
pub fn events_by_status_pk(integration_id: &str, status: &str) -> String {
    format!("INT#{integration_id}#EVT#{status}")
}
/// A sort key that orders by a timestamp, then by id.
pub fn time_ordered(at_ms: i64, id: &str) -> String {
    format!("{:020}#{id}", at_ms.max(0))
}

impl Record for Integration {
    const KIND: &'static str = "integration";
    fn key(&self) -> Key {
        integration_key(&self.id)
    }
    fn gsi1(&self) -> Option<Key> {
        Some(Key::new(INTEGRATIONS_INDEX_PK, self.id.clone()))
    }
    /// Found by its Sentry installation with one keyed query (a Sentry webhook has 1 s).
    fn gsi2(&self) -> Option<Key> {
        let installation = self.sentry.installation_uuid.as_deref();
        Some(Key::new(installation_index_pk(installation), self.id.clone()))
    }
    versioned!();
}

impl Record for Link {
    const KIND: &'static str = "link";
    fn key(&self) -> Key {
        match self.replaced_at {
            None => link_key(&self.integration_id, &self.sentry_issue_id),
            Some(at) => Key::new(
                integration_pk(&self.integration_id),
                format!(
                    "{}{}#{}",
                    link_history_prefix(&self.sentry_issue_id),
                    time_ordered(at, ""),
                    self.work_item_id
                ),
            ),
        }
    }
    /// Only active links are found by work item.
    fn gsi1(&self) -> Option<Key> {
        self.replaced_at.is_none().then(|| {
            Key::new(
                work_item_index_pk(&self.integration_id, self.work_item_id),
                format!("LINK#{}", self.sentry_issue_id),
            )
        })
    }
    versioned!();
}

impl Record for CommentLink {
    const KIND: &'static str = "comment_link";
    fn key(&self) -> Key {
        comment_by_sentry_key(&self.integration_id, &self.sentry_comment_id)
    }
    versioned!();
}

impl Record for Repository {
    const KIND: &'static str = "repository";
    fn key(&self) -> Key {
        repository_key(&self.integration_id, &self.id)
    }
    versioned!();
}

impl Record for CodeMapping {
    const KIND: &'static str = "code_mapping";
    fn key(&self) -> Key {
        code_mapping_key(&self.integration_id, &self.id)
    }
    versioned!();
}

impl Record for FixComment {
    const KIND: &'static str = "fix_comment";
    fn key(&self) -> Key {
        fix_comment_key(&self.integration_id, &self.sentry_issue_id, &self.commit_id)
    }
    versioned!();
}

impl Record for CreateAttempt {
    const KIND: &'static str = "create_attempt";
    fn key(&self) -> Key {
        create_attempt_key(&self.integration_id, &self.sentry_issue_id)
    }
    fn expires_at(&self) -> Option<i64> {
        Some(self.started_at / 1000 + CREATE_ATTEMPT_RETENTION_SECS)
    }
    versioned!();
}

impl Record for UserMapping {
    const KIND: &'static str = "user_mapping";
    fn key(&self) -> Key {
        user_mapping_key(&self.integration_id, &self.email)
    }
    versioned!();
}

impl Record for Cursor {
    const KIND: &'static str = "cursor";
    fn key(&self) -> Key {
        cursor_key(&self.integration_id, &self.kind)
    }
    versioned!();
}

impl Record for InboxEvent {
    const KIND: &'static str = "event";
    fn key(&self) -> Key {
        event_key(&self.id)
    }
    /// The due queue holds only events waiting for a retry. A fresh event is not in it: it
    /// reaches the worker through the table's stream on AWS (the schedule finds the ones the
    /// stream missed through their integration's pending events, `gsi2`), so an insert writes no
    /// partition key that every tenant shares.
    fn gsi1(&self) -> Option<Key> {
        (self.status == EventStatus::Failed).then(|| {
            Key::new(
                due_index_pk(due_shard(&self.id)),
                time_ordered(self.next_attempt_at, &self.id),
            )
        })
    }
    fn gsi2(&self) -> Option<Key> {
        Some(Key::new(
            events_by_status_pk(&self.integration_id, self.status.as_str()),
            time_ordered(self.received_at, &self.id),
        ))
    }
    fn expires_at(&self) -> Option<i64> {
        self.expires_at
    }
    versioned!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{EventSource, EventStatus, LinkOrigin, LinkSyncState};

    fn event(status: EventStatus) -> InboxEvent {
        InboxEvent {
            id: "ado:n1:42:3".into(),
            integration_id: "i1".into(),
            source: EventSource::AzureDevOps,
            event_type: "workitem.updated".into(),
            payload: crate::records::Payload::to_json(&serde_json::json!({})).unwrap(),
            status,
            attempts: 0,
            next_attempt_at: 1_000,
            last_error: None,
            received_at: 900,
            updated_at: 900,
            expires_at: None,
            claims: 0,
            held: false,
            version: 0,
        }
    }

    #[test]
    fn only_failed_events_are_in_the_due_index() {
        assert_eq!(
            event(EventStatus::Failed).gsi1(),
            Some(Key::new(
                due_index_pk(due_shard("ado:n1:42:3")),
                "00000000000000001000#ado:n1:42:3"
            ))
        );
        assert!(
            event(EventStatus::Pending).gsi1().is_none(),
            "fresh events come by the stream"
        );
        assert!(event(EventStatus::Done).gsi1().is_none());
        assert!(event(EventStatus::Dead).gsi1().is_none());
        assert_eq!(event(EventStatus::Dead).gsi2().unwrap().pk, "INT#i1#EVT#dead");
    }

    #[test]
    fn due_shards_spread_events_evenly() {
        let mut counts = [0u32; DUE_SHARDS as usize];
        for n in 0..10_000 {
            counts[due_shard(&format!("ado:2026-12-07T10:00:00.000Z:{n:08x}-0000:42:{n}")) as usize] += 1;
        }
        let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
        assert!(*min > 1_100 && *max < 1_400, "{counts:?}");
        assert_eq!(due_shard("abc"), due_shard("abc"));
    }

    #[test]
    fn replaced_links_move_to_history_and_leave_the_work_item_index() {
        let mut link = Link {
            integration_id: "i1".into(),
            sentry_issue_id: "77".into(),
            sentry_short_id: None,
            sentry_url: None,
            work_item_id: 42,
            work_item_url: None,
            project: "Fabrikam".into(),
            work_item_type: "Bug".into(),
            sync: LinkSyncState::default(),
            created_by: LinkOrigin::Create,
            created_at: 1,
            updated_at: 1,
            replaced_at: None,
            version: 1,
        };
        assert_eq!(link.key(), Key::new("INT#i1", "LINK#77"));
        assert_eq!(link.gsi1().unwrap().pk, "INT#i1#WI#42");
        link.replaced_at = Some(5);
        assert!(link.key().sk.starts_with(&link_history_prefix("77")));
        assert!(link.gsi1().is_none());
    }

    #[test]
    fn user_mapping_keys_ignore_email_case() {
        assert_eq!(
            user_mapping_key("i", "Alice@Example.COM"),
            user_mapping_key("i", "alice@example.com")
        );
    }
}
