//! A repair is queued as an inbox event shaped like the delivery or webhook that never came, so
//! the worker applies it exactly as it would have applied that one (same decisions, echo and
//! ordering rules, retries, outage handling). Pure builders.

use serde_json::{Value, json};

use crate::azure_devops::WorkItem;
use crate::clock;
use crate::domain::drift::SentryAssignee;
use crate::records::{EventSource, InboxEvent, Link, Payload};

/// Fields read of each linked work item (the batch read asks for these).
pub const WORK_ITEM_FIELDS: [&str; 7] = [
    "System.Rev",
    "System.State",
    "System.WorkItemType",
    "System.TeamProject",
    "System.AssignedTo",
    "System.ChangedDate",
    "System.ChangedBy",
];

fn event(id: String, link: &Link, source: EventSource, event_type: &str, payload: &Value, now_ms: i64) -> InboxEvent {
    let payload = Payload::to_json(payload).unwrap_or_else(|_| Payload::to_json(&Value::Null).expect("null"));
    InboxEvent::pending(id, &link.integration_id, source, event_type, payload, now_ms)
}

/// Repairs of one drift queued within the same hour are one event: a pass while the first is
/// still pending finds it a duplicate, and a repair that was skipped or gave up is queued again
/// an hour later if the drift is still there.
pub fn generation(now_ms: i64) -> i64 {
    now_ms / 3_600_000
}

/// The `workitem.updated` delivery of the work item's current revision.
pub fn work_item_revision(link: &Link, item: &WorkItem, now_ms: i64) -> InboxEvent {
    let id = format!(
        "reconcile:{}:ado:{}:{}:{}",
        link.integration_id,
        item.id,
        item.rev,
        generation(now_ms)
    );
    // No `revisedBy`: the latest revision's author need not be who changed the state (a bridge's
    // own later edit would make a person's lost change look like an echo).
    let payload = json!({
        "id": id,
        "eventType": "workitem.updated",
        "createdDate": clock::rfc3339(now_ms),
        "resource": {
            "workItemId": item.id,
            "rev": item.rev,
            "fields": {},
            "revision": {"id": item.id, "rev": item.rev, "fields": item.fields},
        },
    });
    event(id, link, EventSource::AzureDevOps, "workitem.updated", &payload, now_ms)
}

/// The `workitem.deleted` notice of a work item the batch read no longer returns.
pub fn work_item_deleted(link: &Link, now_ms: i64) -> InboxEvent {
    let id = format!(
        "reconcile:{}:ado:{}:deleted:{}:{}",
        link.integration_id,
        link.work_item_id,
        link.updated_at,
        generation(now_ms)
    );
    let payload = json!({
        "id": id,
        "eventType": "workitem.deleted",
        "createdDate": clock::rfc3339(now_ms),
        "resource": {"id": link.work_item_id, "fields": {"System.TeamProject": link.project}},
    });
    event(id, link, EventSource::AzureDevOps, "workitem.deleted", &payload, now_ms)
}

fn sentry_webhook(action: &str, link: &Link, data: Value) -> Value {
    json!({
        "action": action,
        "data": data,
        "actor": {"type": "application", "id": "reconciliation", "name": "Reconciliation"},
        "reconciled": link.sentry_issue_id,
    })
}

/// The `issue.{status}` webhook Sentry never sent. One per status and link state.
pub fn issue_status(link: &Link, status: &str, now_ms: i64) -> InboxEvent {
    let id = format!(
        "reconcile:{}:sentry:{}:status:{status}:{}:{}",
        link.integration_id,
        link.sentry_issue_id,
        link.updated_at,
        generation(now_ms)
    );
    let data = json!({"issue": {"id": link.sentry_issue_id, "status": status}});
    let payload = sentry_webhook(status, link, data);
    event(
        id,
        link,
        EventSource::Sentry,
        &format!("issue.{status}"),
        &payload,
        now_ms,
    )
}

/// The `issue.assigned` webhook Sentry never sent — or, for an unassign, never sends: an
/// `assigned` without an assignee.
pub fn issue_assignee(link: &Link, assignee: &SentryAssignee, now_ms: i64) -> InboxEvent {
    let (who, actor) = match assignee {
        SentryAssignee::User { id, email, name } => (
            email.clone().unwrap_or_else(|| id.clone()),
            json!({"type": "user", "id": id, "email": email, "name": name}),
        ),
        SentryAssignee::Team => ("team".into(), json!({"type": "team"})),
        SentryAssignee::Nobody => ("nobody".into(), Value::Null),
    };
    let id = format!(
        "reconcile:{}:sentry:{}:assignee:{who}:{}:{}",
        link.integration_id,
        link.sentry_issue_id,
        link.updated_at,
        generation(now_ms)
    );
    let data = json!({"issue": {"id": link.sentry_issue_id}, "assignee": actor});
    let payload = sentry_webhook("assigned", link, data);
    event(id, link, EventSource::Sentry, "issue.assigned", &payload, now_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ado_event::parse_delivery;
    use crate::domain::sentry_event::{Assignee, SentryChange, parse_webhook};
    use crate::records::{LinkOrigin, LinkSyncState};

    fn link() -> Link {
        Link {
            integration_id: "i".into(),
            sentry_issue_id: "77".into(),
            sentry_short_id: None,
            sentry_url: None,
            work_item_id: 7,
            work_item_url: None,
            project: "P".into(),
            work_item_type: "Bug".into(),
            sync: LinkSyncState::default(),
            created_by: LinkOrigin::Create,
            created_at: 0,
            updated_at: 12,
            replaced_at: None,
            version: 1,
        }
    }

    fn payload(event: &InboxEvent) -> Value {
        serde_json::from_str(event.payload.get()).unwrap()
    }

    #[test]
    fn a_revision_reads_as_the_delivery_of_that_revision() {
        let item: WorkItem = serde_json::from_value(json!({"id": 7, "rev": 9, "fields": {
            "System.State": "Resolved", "System.TeamProject": "P", "System.WorkItemType": "Bug",
            "System.AssignedTo": {"id": "a1", "uniqueName": "alice@x.example", "displayName": "Alice"},
            "System.ChangedBy": {"id": "j1", "uniqueName": "jamal@x.example", "displayName": "Jamal"}}}))
        .unwrap();
        let event = work_item_revision(&link(), &item, 1_000);
        assert_eq!(event.id, "reconcile:i:ado:7:9:0");
        let delivery = parse_delivery(&payload(&event)).unwrap();
        assert_eq!(delivery.rev, Some(9));
        assert_eq!(delivery.current_state.as_deref(), Some("Resolved"));
        assert_eq!(delivery.current_assignee, Some(Some("alice@x.example".into())));
        assert_eq!(
            delivery.revised_by_id, None,
            "not judged by the latest revision's author"
        );
        assert_eq!(
            parse_delivery(&payload(&work_item_deleted(&link(), 1)))
                .unwrap()
                .work_item_id,
            7
        );
    }

    #[test]
    fn sentry_repairs_read_as_the_webhooks_they_stand_for() {
        let status = issue_status(&link(), "resolved", 1);
        assert_eq!(status.event_type, "issue.resolved");
        assert_eq!(
            parse_webhook("issue", &payload(&status)).unwrap(),
            Some(SentryChange::Status {
                issue_id: "77".into(),
                status: "resolved".into()
            })
        );
        let unassign = issue_assignee(&link(), &SentryAssignee::Nobody, 1);
        assert_eq!(
            parse_webhook("issue", &payload(&unassign)).unwrap(),
            Some(SentryChange::Assigned {
                issue_id: "77".into(),
                assignee: None
            })
        );
        let alice = SentryAssignee::User {
            id: "101".into(),
            email: Some("alice@x.example".into()),
            name: "Alice".into(),
        };
        let assign = issue_assignee(&link(), &alice, 1);
        assert!(matches!(
            parse_webhook("issue", &payload(&assign)).unwrap(),
            Some(SentryChange::Assigned { assignee: Some(Assignee::User { id: Some(id), .. }), .. }) if id == "101"
        ));
        assert_ne!(assign.id, unassign.id);
    }
}
