//! What the inbox keeps of an Azure DevOps delivery: the parts the bridge reads, in the
//! delivery's own shape, so [`parse_delivery`](super::ado_event::parse_delivery) reads the kept
//! copy exactly as it reads the original.
//!
//! A real delivery is 3–7 KB, most of it `message`/`detailedMessage` (the change rendered three
//! ways), `_links`, URLs, containers, and work item fields the bridge never reads. The kept copy
//! is about a third of that: one DynamoDB write unit per delivery instead of four to seven, and
//! fewer pages per event in the embedded store. Values are copied through untouched (`RawValue`),
//! so nothing the bridge reads is re-encoded; everything else is skipped without being built.

use serde::de::value::MapAccessDeserializer;
use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::records::Payload;

use super::ado_event::{Envelope, NO_EVENT_ID, NO_EVENT_TYPE, NO_RESOURCE, NO_WORK_ITEM_ID, work_item_id_field};
use super::key_time::key_time;

pub(super) type Raw<'a> = Option<&'a RawValue>;

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct Delivery<'a> {
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    subscription_id: Raw<'a>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    notification_id: Raw<'a>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    id: Raw<'a>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    event_type: Raw<'a>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    created_date: Raw<'a>,
    #[serde(
        borrow,
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    resource: Option<Resource<'a>>,
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct Resource<'a> {
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    id: Raw<'a>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    work_item_id: Raw<'a>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    rev: Raw<'a>,
    #[serde(
        borrow,
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    revised_by: Option<Identity<'a>>,
    #[serde(
        borrow,
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    comment_version_ref: Option<CommentRef<'a>>,
    /// The changed fields (`oldValue`/`newValue`) on `workitem.updated`; the current fields on
    /// the other events.
    #[serde(
        borrow,
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    fields: Option<Fields<'a>>,
    #[serde(
        borrow,
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    revision: Option<Revision<'a>>,
}

/// A part of the delivery read as its struct when it has that shape, and left out otherwise — as
/// `parse_delivery` treats a part of another shape as absent — so an odd part never turns an
/// authenticated delivery into a 400 (which Azure DevOps would count against the subscription).
/// One pass: an object goes to the struct, anything else is skipped.
pub(super) fn lenient<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    deserializer.deserialize_any(Lenient(std::marker::PhantomData))
}

struct Lenient<T>(std::marker::PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for Lenient<T> {
    type Value = Option<T>;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(Some)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// `revisedBy`: who made the change (an IdentityRef; the bridge reads its `id`).
#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct Identity<'a> {
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    id: Raw<'a>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    name: Raw<'a>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    display_name: Raw<'a>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    unique_name: Raw<'a>,
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct CommentRef<'a> {
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    comment_id: Raw<'a>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    version: Raw<'a>,
}

#[derive(Deserialize, Serialize)]
struct Revision<'a> {
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    id: Raw<'a>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    rev: Raw<'a>,
    #[serde(
        borrow,
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    fields: Option<Fields<'a>>,
}

/// The work item fields the bridge reads.
#[derive(Deserialize, Serialize)]
struct Fields<'a> {
    #[serde(rename = "System.TeamProject", borrow, skip_serializing_if = "Option::is_none")]
    team_project: Raw<'a>,
    #[serde(rename = "System.WorkItemType", borrow, skip_serializing_if = "Option::is_none")]
    work_item_type: Raw<'a>,
    #[serde(rename = "System.State", borrow, skip_serializing_if = "Option::is_none")]
    state: Raw<'a>,
    #[serde(rename = "System.AssignedTo", borrow, skip_serializing_if = "Option::is_none")]
    assigned_to: Raw<'a>,
    #[serde(rename = "System.Title", borrow, skip_serializing_if = "Option::is_none")]
    title: Raw<'a>,
    #[serde(rename = "System.ChangedBy", borrow, skip_serializing_if = "Option::is_none")]
    changed_by: Raw<'a>,
    #[serde(rename = "System.History", borrow, skip_serializing_if = "Option::is_none")]
    history: Raw<'a>,
}

/// The longest comment (`System.History`, HTML) the inbox keeps whole. The only field kept that
/// has no limit of its own: a longer one is cut here, so the event still fits a DynamoDB item
/// (400 KB) — otherwise intake would answer 5xx to every redelivery and Azure DevOps would put
/// the subscription on probation — and the Sentry comment stays readable.
pub const MAX_COMMENT_BYTES: usize = 64 * 1024;

/// Where a cut comment ends: the Sentry comment also links the whole one in Azure DevOps.
const CUT_NOTE: &str = "<br>… (cut here: the whole comment is in Azure DevOps)";

/// `html` cut to at most [`MAX_COMMENT_BYTES`] on a character boundary, never inside a tag,
/// with a note that it was cut.
pub(super) fn cut_comment(html: &str) -> String {
    let mut end = MAX_COMMENT_BYTES.min(html.len());
    while !html.is_char_boundary(end) {
        end -= 1;
    }
    let mut kept = &html[..end];
    if let Some(open) = kept.rfind('<')
        && kept.rfind('>').is_none_or(|close| close < open)
    {
        kept = &kept[..open];
    }
    format!("{kept}{CUT_NOTE}")
}

/// What is kept of a `System.History` over the limit: the comment cut, or nothing when it is a
/// value of another shape (the change record of an update, which the bridge does not read).
fn kept_history(raw: &RawValue) -> Result<Option<Box<RawValue>>, serde_json::Error> {
    match serde_json::from_str::<String>(raw.get()) {
        Ok(html) => serde_json::value::to_raw_value(&cut_comment(&html)).map(Some),
        Err(_) => Ok(None),
    }
}

/// What [`keep`] makes of a delivery's body.
#[derive(Debug)]
pub struct Kept {
    /// The kept copy.
    pub json: Payload,
    /// `None` when missing or not a string, so the caller can ignore events it does not handle
    /// before it asks anything else of the body.
    pub event_type: Option<String>,
    /// The envelope, read from the same pass as `parse_delivery` reads it (so the body is parsed
    /// once); `Err` names what is missing.
    pub envelope: Result<Envelope, String>,
}

fn as_u64(raw: Raw<'_>) -> Option<u64> {
    serde_json::from_str(raw?.get()).ok()
}

/// The event id as `parse_delivery` reads it: a non-empty string, or a number.
fn event_id(raw: Raw<'_>) -> Option<String> {
    match serde_json::from_str(raw?.get()).ok()? {
        Value::String(id) if !id.is_empty() => Some(id),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn envelope(delivery: &Delivery<'_>, event_type: Option<&str>) -> Result<Envelope, String> {
    let event_type = event_type.ok_or(NO_EVENT_TYPE)?;
    let event_id = event_id(delivery.id).ok_or(NO_EVENT_ID)?;
    let resource = delivery.resource.as_ref().ok_or(NO_RESOURCE)?;
    let work_item_id = if work_item_id_field(event_type) == "id" {
        resource.id
    } else {
        resource.work_item_id
    };
    Ok(Envelope {
        event_type: event_type.to_string(),
        event_id,
        created_date: delivery
            .created_date
            .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok())
            .filter(|date| key_time(date).is_some()),
        work_item_id: as_u64(work_item_id).ok_or(NO_WORK_ITEM_ID)?,
        rev: as_u64(resource.rev),
    })
}

/// A delivery's body, reduced to what the inbox keeps, with its event type and envelope.
/// `Err` = not JSON, or not an object.
pub fn keep(body: &[u8]) -> Result<Kept, serde_json::Error> {
    let (mut current, mut revised) = (None, None);
    let mut delivery: Delivery<'_> = serde_json::from_slice(body)?;
    if let Some(resource) = delivery.resource.as_mut() {
        for (fields, history) in [
            (resource.fields.as_mut(), &mut current),
            (resource.revision.as_mut().and_then(|r| r.fields.as_mut()), &mut revised),
        ] {
            if let Some(fields) = fields
                && let Some(raw) = fields.history.filter(|raw| raw.get().len() > MAX_COMMENT_BYTES)
            {
                *history = kept_history(raw)?;
                fields.history = history.as_deref();
            }
        }
    }
    let event_type = delivery
        .event_type
        .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok());
    Ok(Kept {
        json: Payload::to_json(&delivery)?,
        envelope: envelope(&delivery, event_type.as_deref()),
        event_type,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ado_event::parse_delivery;
    use serde_json::{Value, json};

    fn fixture(name: &str) -> String {
        let path = format!("{}/tests/fixtures/azure-devops/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn the_kept_copy_reads_exactly_as_the_delivery_and_is_much_smaller() {
        for name in [
            "workitem.updated.state_and_assignee.json",
            "workitem.updated.resolved_unassigned.json",
            "workitem.updated.echo_from_bridge.json",
            "workitem.updated.minimal_resource.SYNTHETIC.json",
            "workitem.commented.json",
            "workitem.created.json",
            "workitem.deleted.json",
            "workitem.restored.json",
        ] {
            let original = fixture(name);
            let Kept {
                json: kept,
                event_type,
                envelope,
            } = keep(original.as_bytes()).unwrap();
            let original: Value = serde_json::from_str(&original).unwrap();
            let kept_value: Value = serde_json::from_str(kept.get()).unwrap();
            assert_eq!(parse_delivery(&kept_value), parse_delivery(&original), "{name}");
            assert_eq!(envelope, parse_delivery(&original).map(|d| d.envelope()), "{name}");
            assert_eq!(event_type.as_deref(), original["eventType"].as_str(), "{name}");
            if !name.contains("minimal") {
                let full = original.to_string().len();
                assert!(
                    kept.get().len() * 2 < full,
                    "{name}: kept {} of {full} bytes",
                    kept.get().len()
                );
            }
        }
    }

    #[test]
    fn fields_the_bridge_does_not_read_are_dropped_and_values_pass_through() {
        let body = json!({
            "id": "e1", "eventType": "workitem.updated", "message": {"text": "long"},
            "resource": {"workItemId": 7, "rev": 3, "_links": {}, "url": "https://x",
                "fields": {"System.State": {"oldValue": "New", "newValue": "Done"}, "System.Reason": {"newValue": "x"}},
                "revision": {"id": 7, "rev": 3, "fields": {"System.Title": "a \"quoted\" title", "System.Tags": "t"}}}
        })
        .to_string();
        let Kept {
            json: kept, event_type, ..
        } = keep(body.as_bytes()).unwrap();
        assert_eq!(event_type.as_deref(), Some("workitem.updated"));
        let kept: Value = serde_json::from_str(kept.get()).unwrap();
        assert_eq!(
            kept,
            json!({
                "id": "e1", "eventType": "workitem.updated",
                "resource": {"workItemId": 7, "rev": 3,
                    "fields": {"System.State": {"oldValue": "New", "newValue": "Done"}},
                    "revision": {"id": 7, "rev": 3, "fields": {"System.Title": "a \"quoted\" title"}}}
            })
        );
    }

    #[test]
    fn a_huge_comment_is_cut_never_inside_a_tag_or_a_character() {
        let mut delivery: Value = serde_json::from_str(&fixture("workitem.commented.json")).unwrap();
        let picture = format!("<img src=\"data:image/png;base64,{}\">", "A".repeat(300_000));
        let words = "é".repeat(MAX_COMMENT_BYTES / 2 - 10);
        delivery["resource"]["fields"]["System.History"] = json!(format!("<div>{words}{picture}</div>"));
        let Kept { json: kept, .. } = keep(delivery.to_string().as_bytes()).unwrap();
        assert!(
            kept.get().len() < MAX_COMMENT_BYTES + 4096,
            "kept {} bytes",
            kept.get().len()
        );
        let comment = parse_delivery(&serde_json::from_str(kept.get()).unwrap())
            .unwrap()
            .comment
            .unwrap();
        assert!(comment.text.starts_with("<div>é"));
        assert!(
            comment.text.ends_with(&format!("é{CUT_NOTE}")),
            "cut before the unfinished tag"
        );
        assert!(!comment.text.contains("<img"));

        // The limit falls inside a two-byte character: the cut steps back to its start.
        delivery["resource"]["fields"]["System.History"] = json!(format!("a{}", "é".repeat(MAX_COMMENT_BYTES)));
        let Kept { json: kept, .. } = keep(delivery.to_string().as_bytes()).unwrap();
        let comment = parse_delivery(&serde_json::from_str(kept.get()).unwrap())
            .unwrap()
            .comment
            .unwrap();
        assert_eq!(comment.text.len(), MAX_COMMENT_BYTES - 1 + CUT_NOTE.len());

        // A comment just under the limit is kept whole.
        let whole = "x".repeat(MAX_COMMENT_BYTES - 100);
        delivery["resource"]["fields"]["System.History"] = json!(whole);
        let Kept { json: kept, .. } = keep(delivery.to_string().as_bytes()).unwrap();
        let comment = parse_delivery(&serde_json::from_str(kept.get()).unwrap())
            .unwrap()
            .comment
            .unwrap();
        assert_eq!(comment.text, whole);
    }

    #[test]
    fn odd_parts_read_as_they_do_in_the_original() {
        let original = fixture("workitem.updated.state_and_assignee.json");
        for (path, odd) in [
            ("/resource/revisedBy", json!("Jamal")),
            ("/resource/fields", json!(["System.State"])),
            ("/resource/revision", json!("rev 3")),
            ("/resource/revision/fields", json!(null)),
            ("/resource/commentVersionRef", json!(5)),
        ] {
            let mut delivery: Value = serde_json::from_str(&original).unwrap();
            let (parent, name) = path.rsplit_once('/').unwrap();
            delivery.pointer_mut(parent).unwrap()[name] = odd;
            let Kept {
                json: kept, envelope, ..
            } = keep(delivery.to_string().as_bytes()).unwrap_or_else(|e| panic!("{path}: {e}"));
            let kept: Value = serde_json::from_str(kept.get()).unwrap();
            assert_eq!(parse_delivery(&kept), parse_delivery(&delivery), "{path}");
            assert_eq!(envelope, parse_delivery(&delivery).map(|d| d.envelope()), "{path}");
        }
    }

    #[test]
    fn the_envelope_is_read_as_parse_delivery_reads_it() {
        let updated = r#""eventType": "workitem.updated", "resource": {"workItemId": 7, "id": 70, "rev": 3}"#;
        let commented = r#""eventType": "workitem.commented", "resource": {"workItemId": 7, "id": 70}"#;
        for body in [
            format!(r#"{{"id": "e1", {updated}}}"#),
            format!(r#"{{"id": 12, {commented}}}"#),
            format!(r#"{{"id": 1e3, {commented}}}"#),
            format!(r#"{{"id": "", {updated}}}"#),
            format!(r#"{{"id": null, {updated}}}"#),
            format!(r#"{{"id": ["e1"], {updated}}}"#),
            format!(r#"{{{updated}}}"#),
            r#"{"id": "e1"}"#.to_string(),
            r#"{"id": "e1", "eventType": "workitem.updated"}"#.to_string(),
            r#"{"id": "e1", "eventType": "workitem.updated", "resource": [1]}"#.to_string(),
            r#"{"id": "e1", "eventType": "workitem.updated", "resource": {"id": 7}}"#.to_string(),
            r#"{"id": "e1", "eventType": "workitem.updated", "resource": {"workItemId": -7}}"#.to_string(),
            r#"{"id": "e1", "eventType": "workitem.updated", "resource": {"workItemId": 7.5, "rev": 1}}"#.to_string(),
            r#"{"id": "e1", "eventType": "workitem.deleted", "resource": {"id": "7", "rev": "2"}}"#.to_string(),
            r#"{"id": "e1", "eventType": "workitem.deleted", "resource": {"id": 7, "rev": 2.0}}"#.to_string(),
            r#"{"id": "e1", "eventType": "workitem.updated", "resource": {"workItemId": 18446744073709551616}}"#
                .to_string(),
        ] {
            let original: Value = serde_json::from_str(&body).unwrap();
            let read = parse_delivery(&original).map(|d| d.envelope());
            assert_eq!(keep(body.as_bytes()).unwrap().envelope, read, "{body}");
        }
        let read = keep(format!(r#"{{"id": 1e3, {commented}}}"#).as_bytes())
            .unwrap()
            .envelope
            .unwrap();
        assert_eq!((read.event_id.as_str(), read.work_item_id), ("1000.0", 70));
    }

    #[test]
    fn other_events_and_odd_shapes() {
        let Kept { event_type, .. } = keep(br#"{"eventType": "git.push", "resource": {"commits": []}}"#).unwrap();
        assert_eq!(event_type.as_deref(), Some("git.push"));
        assert_eq!(keep(br#"{"eventType": 5}"#).unwrap().event_type, None);
        assert!(keep(b"[1, 2]").is_err(), "not an object");
        assert!(keep(b"{\"id\": ").is_err(), "not JSON");
        let Kept { json: kept, .. } = keep(br#"{"eventType": "git.push", "resource": "text"}"#).unwrap();
        assert_eq!(
            kept.get(),
            r#"{"eventType":"git.push"}"#,
            "a resource of another shape is left out"
        );
    }
}
