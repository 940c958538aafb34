//! What reconciliation repairs on one link: the work item and the Sentry issue as they are now,
//! against what the link last synced. Pure.
//!
//! - **Inbound** (Azure DevOps → Sentry): the work item has a revision newer than the link applied,
//!   and its state or assignee is not what the link last saw — a delivery that never arrived.
//! - **Outbound** (Sentry → Azure DevOps): the issue's status or assignee is not what the link last
//!   synced — a webhook that never arrived, or a change Sentry sends none for (unassign,
//!   un-archive).
//! - **Conflict**: both sides moved the same field since the last sync. Azure DevOps wins: its
//!   change is a revision with a time, while a missed Sentry change has neither; the Sentry side is
//!   set from Azure DevOps and the conflict is counted. A repair is applied by the worker like any
//!   delivery, so it never writes back what it reads (no loop).

use crate::domain::identity::email_of;
use crate::domain::settings::SyncSettings;
use crate::records::Link;

/// A work item as the batch read shows it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkItemNow {
    pub rev: u64,
    pub state: Option<String>,
    /// The assignee's email (`None`: unassigned, or an identity without an email).
    pub assignee: Option<String>,
}

impl WorkItemNow {
    pub fn read(item: &crate::azure_devops::WorkItem) -> Self {
        Self {
            rev: item.rev,
            state: item.field_str("System.State").map(str::to_string),
            assignee: item.fields.get("System.AssignedTo").and_then(email_of),
        }
    }
}

/// Whom a Sentry issue is assigned to now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SentryAssignee {
    Nobody,
    /// A user; the email is missing under Sentry's enhanced privacy.
    User {
        id: String,
        email: Option<String>,
        name: String,
    },
    Team,
}

/// A Sentry issue as the batch read (`GET …/issues/?group=…`) shows it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueNow {
    pub id: String,
    /// `resolved`, `unresolved` or `ignored`.
    pub status: String,
    pub assignee: SentryAssignee,
}

impl IssueNow {
    /// Reads one issue of the list; `None` without an id.
    pub fn read(issue: &serde_json::Value) -> Option<Self> {
        let id = match &issue["id"] {
            serde_json::Value::String(id) => id.clone(),
            serde_json::Value::Number(id) => id.to_string(),
            _ => return None,
        };
        let current = super::sentry_current::CurrentIssue::read(issue);
        let actor = &issue["assignedTo"];
        let assignee = match current.assigned_to {
            None => SentryAssignee::Nobody,
            Some((kind, _)) if kind == "team" => SentryAssignee::Team,
            Some((_, user)) => SentryAssignee::User {
                id: user,
                email: actor["email"]
                    .as_str()
                    .map(str::to_lowercase)
                    .filter(|e| e.contains('@')),
                name: actor["name"].as_str().unwrap_or("someone").to_string(),
            },
        };
        Some(Self {
            id,
            status: current.status,
            assignee,
        })
    }
}

/// What to repair on one link.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Repairs {
    /// Apply the work item's current revision to Sentry.
    pub inbound: bool,
    /// The work item is gone (absent from the batch read): tell Sentry once.
    pub work_item_deleted: bool,
    /// Set the work item from the Sentry status.
    pub outbound_status: Option<String>,
    /// Set the work item's assignee from Sentry's.
    pub outbound_assignee: Option<SentryAssignee>,
    /// Fields both sides moved (Azure DevOps won).
    pub conflicts: u32,
}

impl Repairs {
    pub fn any(&self) -> bool {
        self.inbound || self.work_item_deleted || self.outbound_status.is_some() || self.outbound_assignee.is_some()
    }
}

fn same(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        (None, None) => true,
        _ => false,
    }
}

/// What a pass knows of a link's work item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen<'a> {
    /// Read now.
    Now(&'a WorkItemNow),
    /// Asked for and not returned: deleted (or no longer readable).
    Missing,
    /// Not read this pass: it has not changed since the last complete pass.
    Unchanged,
}

/// Decides the repairs of `link` from its work item and the issue (`None`: not in Sentry's
/// answer — left alone), within `settings`.
pub fn decide(link: &Link, item: Seen<'_>, issue: Option<&IssueNow>, settings: &SyncSettings) -> Repairs {
    let mut repairs = Repairs::default();
    if link.sync.work_item_deleted {
        return repairs;
    }
    let (state_moved, assignee_moved) = match item {
        Seen::Missing => {
            repairs.work_item_deleted = true;
            return repairs;
        }
        Seen::Unchanged => (false, false),
        Seen::Now(item) => {
            let newer = link.sync.last_applied_rev.is_none_or(|applied| item.rev > applied);
            (
                newer && settings.status_inbound && !same(item.state.as_deref(), link.sync.ado_state.as_deref()),
                newer
                    && settings.assignee_inbound
                    && !same(item.assignee.as_deref(), link.sync.ado_assignee.as_deref()),
            )
        }
    };
    repairs.inbound = state_moved || assignee_moved;

    // A link that never synced anything with Sentry has no baseline to drift from: the pass
    // takes the issue as it is now as one (see `reconcile::links`).
    let Some(issue) = issue.filter(|_| link.sync.sentry_status.is_some()) else {
        return repairs;
    };
    if settings.status_outbound {
        let synced = link.sync.sentry_status.as_deref().unwrap_or_default();
        let known = matches!(issue.status.as_str(), "resolved" | "unresolved" | "ignored");
        if known && issue.status != synced {
            if state_moved {
                repairs.conflicts += 1;
            } else {
                repairs.outbound_status = Some(issue.status.clone());
            }
        }
    }
    if settings.assignee_outbound {
        let synced = link.sync.sentry_assignee.as_deref();
        let moved = match &issue.assignee {
            SentryAssignee::Nobody => synced.is_some(),
            SentryAssignee::User { email: Some(email), .. } => !same(Some(email), synced),
            // Without an email only "someone where there was nobody" is sure to be a change.
            SentryAssignee::User { email: None, .. } => synced.is_none(),
            SentryAssignee::Team => false,
        };
        if moved {
            if assignee_moved {
                repairs.conflicts += 1;
            } else {
                repairs.outbound_assignee = Some(issue.assignee.clone());
            }
        }
    }
    repairs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{LinkOrigin, LinkSyncState};

    fn link(sync: LinkSyncState) -> Link {
        Link {
            integration_id: "i".into(),
            sentry_issue_id: "1".into(),
            sentry_short_id: None,
            sentry_url: None,
            work_item_id: 7,
            work_item_url: None,
            project: "P".into(),
            work_item_type: "Bug".into(),
            sync,
            created_by: LinkOrigin::Create,
            created_at: 0,
            updated_at: 0,
            replaced_at: None,
            version: 1,
        }
    }

    fn synced() -> LinkSyncState {
        LinkSyncState {
            sentry_status: Some("unresolved".into()),
            sentry_assignee: Some("alice@x.example".into()),
            ado_state: Some("Active".into()),
            ado_assignee: Some("alice@x.example".into()),
            last_applied_rev: Some(5),
            ..Default::default()
        }
    }

    fn item(rev: u64, state: &str, assignee: Option<&str>) -> WorkItemNow {
        WorkItemNow {
            rev,
            state: Some(state.into()),
            assignee: assignee.map(str::to_string),
        }
    }

    fn issue(status: &str, assignee: SentryAssignee) -> IssueNow {
        IssueNow {
            id: "1".into(),
            status: status.into(),
            assignee,
        }
    }

    fn alice() -> SentryAssignee {
        SentryAssignee::User {
            id: "101".into(),
            email: Some("alice@x.example".into()),
            name: "Alice".into(),
        }
    }

    fn all_on() -> SyncSettings {
        SyncSettings::read(&serde_json::Map::new()).unwrap()
    }

    #[test]
    fn nothing_moved_means_nothing_to_repair() {
        let repairs = decide(
            &link(synced()),
            Seen::Now(&item(5, "Active", Some("alice@x.example"))),
            Some(&issue("unresolved", alice())),
            &all_on(),
        );
        assert_eq!(repairs, Repairs::default());
        let newer_but_same = decide(
            &link(synced()),
            Seen::Now(&item(9, "active", Some("ALICE@x.example"))),
            Some(&issue("unresolved", alice())),
            &all_on(),
        );
        assert!(!newer_but_same.any(), "a newer revision of other fields is no drift");
    }

    #[test]
    fn a_missed_delivery_is_an_inbound_repair_and_a_missed_webhook_an_outbound_one() {
        let missed_delivery = decide(
            &link(synced()),
            Seen::Now(&item(6, "Resolved", Some("alice@x.example"))),
            Some(&issue("unresolved", alice())),
            &all_on(),
        );
        assert!(missed_delivery.inbound);
        assert_eq!(missed_delivery.outbound_status, None);
        let missed_webhook = decide(
            &link(synced()),
            Seen::Now(&item(5, "Active", Some("alice@x.example"))),
            Some(&issue("resolved", SentryAssignee::Nobody)),
            &all_on(),
        );
        assert!(!missed_webhook.inbound);
        assert_eq!(missed_webhook.outbound_status.as_deref(), Some("resolved"));
        assert_eq!(
            missed_webhook.outbound_assignee,
            Some(SentryAssignee::Nobody),
            "an unassign, which Sentry sends no webhook for"
        );
    }

    #[test]
    fn both_sides_moving_a_field_is_a_conflict_azure_devops_wins() {
        let repairs = decide(
            &link(synced()),
            Seen::Now(&item(6, "Closed", Some("bob@x.example"))),
            Some(&issue("ignored", SentryAssignee::Nobody)),
            &all_on(),
        );
        assert!(repairs.inbound);
        assert_eq!((repairs.outbound_status, repairs.outbound_assignee), (None, None));
        assert_eq!(repairs.conflicts, 2);
    }

    #[test]
    fn a_missing_work_item_is_deleted_once_and_settings_are_respected() {
        let gone = decide(
            &link(synced()),
            Seen::Missing,
            Some(&issue("unresolved", alice())),
            &all_on(),
        );
        assert!(gone.work_item_deleted);
        let mut marked = synced();
        marked.work_item_deleted = true;
        assert!(
            !decide(&link(marked), Seen::Missing, None, &all_on()).any(),
            "noted once"
        );
        let unread = decide(
            &link(synced()),
            Seen::Unchanged,
            Some(&issue("unresolved", alice())),
            &all_on(),
        );
        assert!(!unread.any(), "a work item not read is taken as unchanged");
        let off = SyncSettings::read(
            serde_json::json!({"status_outbound": false, "status_inbound": false})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        let repairs = decide(
            &link(synced()),
            Seen::Now(&item(6, "Resolved", Some("alice@x.example"))),
            Some(&issue("resolved", alice())),
            &off,
        );
        assert!(!repairs.any());
    }

    #[test]
    fn a_user_without_a_visible_email_counts_only_where_there_was_nobody() {
        let hidden = SentryAssignee::User {
            id: "102".into(),
            email: None,
            name: "Jamal".into(),
        };
        let mut nobody = synced();
        nobody.sentry_assignee = None;
        nobody.ado_assignee = None;
        let repairs = decide(
            &link(nobody),
            Seen::Now(&item(5, "Active", None)),
            Some(&issue("unresolved", hidden.clone())),
            &all_on(),
        );
        assert_eq!(repairs.outbound_assignee, Some(hidden.clone()));
        let repairs = decide(
            &link(synced()),
            Seen::Now(&item(5, "Active", Some("alice@x.example"))),
            Some(&issue("unresolved", hidden)),
            &all_on(),
        );
        assert_eq!(repairs.outbound_assignee, None);
    }
}
