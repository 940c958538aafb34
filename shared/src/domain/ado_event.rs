//! Azure DevOps service-hook deliveries (resourceVersion 1.0) as the bridge reads them.

use serde_json::Value;

use super::identity::{display_name_of, email_of};
use super::key_time::key_time;

/// The events the bridge acts on.
pub const HANDLED_EVENTS: [&str; 4] = [
    "workitem.updated",
    "workitem.commented",
    "workitem.deleted",
    "workitem.restored",
];

/// A field's move in one revision; `None` = empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange<T> {
    pub old: Option<T>,
    pub new: Option<T>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdoComment {
    /// `commentVersionRef.commentId` when the payload carries it.
    pub id: Option<u64>,
    pub text: String,
    pub author_name: String,
    pub author_email: Option<String>,
}

/// What one delivery says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdoDelivery {
    /// The event id (the same for redeliveries of one notification).
    pub event_id: String,
    pub event_type: String,
    /// When Azure DevOps raised the event (`createdDate`), when it reads as a timestamp
    /// ([`key_time`]).
    pub created_date: Option<String>,
    pub work_item_id: u64,
    pub rev: Option<u64>,
    /// Who made the change (`revisedBy.id`), for echo suppression.
    pub revised_by_id: Option<String>,
    pub project: Option<String>,
    pub work_item_type: Option<String>,
    pub state: Option<FieldChange<String>>,
    /// The state at this revision (`System.State` of the current fields), changed or not.
    pub current_state: Option<String>,
    /// The assignee email at this revision, when the payload carries the revision's fields:
    /// `Some(None)` = unassigned. `None` = unknown (no snapshot, or an assignee without email).
    pub current_assignee: Option<Option<String>>,
    /// Assignee emails; a change to someone without an email is `new: None` only if cleared.
    pub assignee: Option<FieldChange<String>>,
    /// Whether the assignee field changed at all (a change to a non-email identity still counts).
    pub assignee_changed: bool,
    pub comment: Option<AdoComment>,
    pub title: Option<String>,
}

fn text(value: &Value) -> Option<String> {
    value.as_str().map(str::to_string).filter(|s| !s.is_empty())
}

/// The assignee in a revision's fields (Azure DevOps omits empty fields, so absent = unassigned).
fn current_assignee(fields: &Value) -> Option<Option<String>> {
    let fields = fields.as_object()?;
    match fields.get("System.AssignedTo") {
        None | Some(Value::Null) => Some(None),
        Some(value) => email_of(value).map(Some),
    }
}

/// Which notification a delivery is, and about which work item: what the intake checks and
/// dedupes on (read from the kept copy by
/// [`ado_payload::keep`](super::ado_payload::keep), by the same rules as [`parse_delivery`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub event_type: String,
    /// The event id (the same for redeliveries of one notification).
    pub event_id: String,
    /// When Azure DevOps raised the event (the same for redeliveries: they resend the event).
    pub created_date: Option<String>,
    pub work_item_id: u64,
    pub rev: Option<u64>,
}

impl Envelope {
    /// The inbox key: one per (event, work item, revision), so a redelivery is a duplicate.
    /// It starts with the event's creation time when the delivery has one, so keys of events
    /// raised together sort together: the embedded store's key index then takes a burst's
    /// inserts in a few pages rather than one page each at random (the event id is a random
    /// GUID), and a commit writes that many fewer pages.
    ///
    /// The integration is part of the key: two integrations on one organization get the same
    /// event (one id) through their own subscriptions, and each must apply it.
    pub fn dedupe_key(&self, integration_id: &str) -> String {
        let rev = self.rev.map(|r| r.to_string()).unwrap_or_default();
        match &self.created_date {
            Some(created) => format!(
                "ado:{created}:{integration_id}:{}:{}:{rev}",
                self.event_id, self.work_item_id
            ),
            None => format!("ado:{integration_id}:{}:{}:{rev}", self.event_id, self.work_item_id),
        }
    }
}

#[cfg(test)]
impl AdoDelivery {
    /// The envelope as the intake reads it (tests compare the two readers).
    pub(crate) fn envelope(&self) -> Envelope {
        Envelope {
            event_type: self.event_type.clone(),
            event_id: self.event_id.clone(),
            created_date: self.created_date.clone(),
            work_item_id: self.work_item_id,
            rev: self.rev,
        }
    }
}

/// What a broken envelope lacks (the `Err` of [`parse_delivery`] and of the intake's check).
pub const NO_EVENT_TYPE: &str = "`eventType` is missing";
pub const NO_EVENT_ID: &str = "`id` is missing";
pub const NO_RESOURCE: &str = "`resource` is missing";
pub const NO_WORK_ITEM_ID: &str = "the work item id is missing from `resource`";

/// Where the work item id is: `workItemId` on updates (`id` is the update's number there),
/// `id` on the other events.
pub fn work_item_id_field(event_type: &str) -> &'static str {
    if event_type == "workitem.updated" {
        "workItemId"
    } else {
        "id"
    }
}

/// Checks the envelope and reads the parts the bridge uses. `Err` names what is missing.
pub fn parse_delivery(payload: &Value) -> Result<AdoDelivery, String> {
    let event_type = payload["eventType"].as_str().ok_or(NO_EVENT_TYPE)?.to_string();
    let event_id = match &payload["id"] {
        Value::String(id) if !id.is_empty() => id.clone(),
        Value::Number(n) => n.to_string(),
        _ => return Err(NO_EVENT_ID.into()),
    };
    let resource = payload.get("resource").filter(|r| r.is_object()).ok_or(NO_RESOURCE)?;
    let updated = event_type == "workitem.updated";
    let work_item_id = resource[work_item_id_field(&event_type)]
        .as_u64()
        .ok_or(NO_WORK_ITEM_ID)?;
    // Current field values: `revision.fields` on updates, `fields` on the other events.
    let current = if updated {
        &resource["revision"]["fields"]
    } else {
        &resource["fields"]
    };
    let changes = if updated { &resource["fields"] } else { &Value::Null };

    let state = changes.get("System.State").map(|change| FieldChange {
        old: text(&change["oldValue"]),
        new: text(&change["newValue"]),
    });
    let assignee_change = changes.get("System.AssignedTo");
    let assignee = assignee_change.map(|change| FieldChange {
        old: email_of(&change["oldValue"]),
        new: email_of(&change["newValue"]),
    });
    let comment = (event_type == "workitem.commented").then(|| {
        let author = &current["System.ChangedBy"];
        AdoComment {
            id: resource["commentVersionRef"]["commentId"].as_u64(),
            text: text(&current["System.History"]).unwrap_or_default(),
            author_name: display_name_of(author).unwrap_or_else(|| "Someone".into()),
            author_email: email_of(author),
        }
    });
    Ok(AdoDelivery {
        event_id,
        created_date: payload["createdDate"].as_str().and_then(key_time).map(str::to_string),
        work_item_id,
        rev: resource["rev"].as_u64(),
        revised_by_id: text(&resource["revisedBy"]["id"]),
        project: text(&current["System.TeamProject"]),
        work_item_type: text(&current["System.WorkItemType"]),
        state,
        current_state: text(&current["System.State"]),
        current_assignee: current_assignee(current),
        assignee,
        assignee_changed: assignee_change.is_some(),
        comment,
        title: text(&current["System.Title"]),
        event_type,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/tests/fixtures/azure-devops/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
    }

    #[test]
    fn an_update_with_state_and_assignee() {
        let delivery = parse_delivery(&fixture("workitem.updated.state_and_assignee.json")).unwrap();
        assert_eq!(delivery.event_type, "workitem.updated");
        assert_eq!(
            delivery.work_item_id, 42,
            "workItemId, not the update number in resource.id"
        );
        assert_eq!(delivery.rev, Some(2));
        assert_eq!(
            delivery.state,
            Some(FieldChange {
                old: Some("New".into()),
                new: Some("Active".into())
            })
        );
        assert_eq!(
            delivery.assignee,
            Some(FieldChange {
                old: None,
                new: Some("fabrikamfiber4@hotmail.com".into())
            })
        );
        assert_eq!(
            delivery.revised_by_id.as_deref(),
            Some("d291b0c4-a05c-4ea6-8df1-4b41d5f39eff")
        );
        assert!(delivery.comment.is_none());
        assert_eq!(
            delivery.envelope().dedupe_key("i1"),
            "ado:2026-09-02T08:15:07.4493006Z:i1:59437b90-f084-48cb-b93c-6d0ff1f4da62:42:2"
        );
    }

    #[test]
    fn dedupe_keys_sort_by_the_time_the_event_was_raised() {
        let mut delivery = parse_delivery(&fixture("workitem.updated.state_and_assignee.json")).unwrap();
        let mut keys = Vec::new();
        for (created, id) in [
            ("2026-09-02T08:15:07.4493006Z", "f0"),
            ("2026-09-02T08:15:08.0000001Z", "0a"),
            ("2026-09-02T08:15:09.12Z", "00"),
        ] {
            delivery.created_date = Some(created.into());
            delivery.event_id = id.into();
            keys.push(delivery.envelope().dedupe_key("i1"));
        }
        assert!(keys.is_sorted(), "{keys:?}");
    }

    #[test]
    fn a_delivery_without_a_usable_created_date_keys_on_its_id() {
        let mut payload = fixture("workitem.updated.state_and_assignee.json");
        for odd in [Value::Null, 7.into(), "yesterday".into(), "2026-09-02/../x#y".into()] {
            payload["createdDate"] = odd.clone();
            let delivery = parse_delivery(&payload).unwrap();
            assert_eq!(delivery.created_date, None, "{odd}");
            assert_eq!(
                delivery.envelope().dedupe_key("i1"),
                "ado:i1:59437b90-f084-48cb-b93c-6d0ff1f4da62:42:2"
            );
        }
    }

    #[test]
    fn resolved_and_unassigned() {
        let delivery = parse_delivery(&fixture("workitem.updated.resolved_unassigned.json")).unwrap();
        let assignee = delivery.assignee.unwrap();
        assert!(assignee.old.is_some() && assignee.new.is_none());
        assert!(delivery.assignee_changed);
        assert_eq!(delivery.state.unwrap().new.as_deref(), Some("Resolved"));
    }

    #[test]
    fn a_comment_and_the_other_events() {
        let delivery = parse_delivery(&fixture("workitem.commented.json")).unwrap();
        assert_eq!(delivery.work_item_id, 42);
        let comment = delivery.comment.unwrap();
        assert!(!comment.text.is_empty());
        assert!(comment.author_name != "Someone");
        for name in [
            "workitem.deleted.json",
            "workitem.restored.json",
            "workitem.created.json",
        ] {
            assert_eq!(parse_delivery(&fixture(name)).unwrap().work_item_id, 42, "{name}");
        }
    }

    #[test]
    fn the_echo_of_the_bridge_names_its_identity() {
        let delivery = parse_delivery(&fixture("workitem.updated.echo_from_bridge.json")).unwrap();
        assert!(delivery.revised_by_id.is_some());
    }

    #[test]
    fn broken_envelopes_say_what_is_missing() {
        assert!(
            parse_delivery(&serde_json::json!({}))
                .unwrap_err()
                .contains("eventType")
        );
        assert!(
            parse_delivery(&serde_json::json!({"eventType": "workitem.updated", "id": "x"}))
                .unwrap_err()
                .contains("resource")
        );
        let no_id = serde_json::json!({"eventType": "workitem.updated", "id": "x", "resource": {"id": 3}});
        assert!(parse_delivery(&no_id).unwrap_err().contains("work item id"));
    }
}
