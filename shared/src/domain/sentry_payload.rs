//! What the inbox keeps of a Sentry webhook: the parts [`parse_webhook`](super::sentry_event::parse_webhook)
//! reads, in the webhook's own shape. An issue webhook carries the whole issue and an alert
//! webhook the whole event (stack traces, breadcrumbs, contexts: easily hundreds of KB, past
//! DynamoDB's 400 KB item limit — and Sentry does not redeliver to an internal integration, so a
//! failed write would be a lost webhook). The kept copy is a few hundred bytes; a comment over
//! [`MAX_COMMENT_BYTES`] is cut with a note.

use serde::{Deserialize, Serialize};

use crate::records::Payload;

use super::ado_payload::{MAX_COMMENT_BYTES, Raw, cut_comment, lenient};

#[derive(Deserialize, Serialize)]
struct Webhook<'a> {
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    action: Raw<'a>,
    #[serde(
        borrow,
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    installation: Option<Installation<'a>>,
    #[serde(
        borrow,
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    actor: Option<Actor<'a>>,
    #[serde(
        borrow,
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    data: Option<Data<'a>>,
}

#[derive(Deserialize, Serialize)]
struct Installation<'a> {
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    uuid: Raw<'a>,
}

#[derive(Deserialize, Serialize)]
struct Actor<'a> {
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    name: Raw<'a>,
}

#[derive(Deserialize, Serialize)]
struct Data<'a> {
    #[serde(
        borrow,
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    issue: Option<Issue<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    assignee: Raw<'a>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    issue_id: Raw<'a>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    comment_id: Raw<'a>,
    /// Owned: a long comment is cut.
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<serde_json::Value>,
    #[serde(
        borrow,
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    event: Option<Event<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    triggered_rule: Raw<'a>,
    #[serde(
        borrow,
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    issue_alert: Option<IssueAlert<'a>>,
}

#[derive(Deserialize, Serialize)]
struct Issue<'a> {
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    id: Raw<'a>,
}

#[derive(Deserialize, Serialize)]
struct Event<'a> {
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    issue_id: Raw<'a>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    issue_url: Raw<'a>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    web_url: Raw<'a>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    title: Raw<'a>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    culprit: Raw<'a>,
}

#[derive(Deserialize, Serialize)]
struct IssueAlert<'a> {
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    title: Raw<'a>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    settings: Raw<'a>,
}

/// A webhook's body reduced to what the inbox keeps. `Err` = not JSON, or not an object.
pub fn keep(body: &[u8]) -> Result<Payload, serde_json::Error> {
    let mut webhook: Webhook<'_> = serde_json::from_slice(body)?;
    if let Some(data) = webhook.data.as_mut()
        && let Some(serde_json::Value::String(text)) = data.comment.as_mut()
        && text.len() > MAX_COMMENT_BYTES
    {
        *text = cut_comment(text);
    }
    Payload::to_json(&webhook)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::sentry_event::parse_webhook;
    use serde_json::{Value, json};

    fn fixture(name: &str) -> Value {
        let path = format!("{}/tests/fixtures/sentry-platform/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
    }

    fn alert(event_extra: Value) -> Value {
        let mut event = json!({"issue_id": "7000000001", "title": "TypeError: x is undefined", "culprit": "app.js in render",
            "issue_url": "https://contoso.sentry.io/issues/7000000001/", "web_url": "https://contoso.sentry.io/e/1/"});
        for (key, value) in event_extra.as_object().unwrap() {
            event[key] = value.clone();
        }
        json!({"action": "triggered", "installation": {"uuid": "7c0b3f52-1111-4222-8333-444455556666"},
            "data": {"event": event, "triggered_rule": "Errors in checkout",
                "issue_alert": {"id": 12, "title": "Errors in checkout", "settings": [{"name": "ado_project", "value": "Fabrikam-Fiber"}]}},
            "actor": {"type": "application", "id": "sentry", "name": "Sentry"}})
    }

    fn kept(webhook: &Value) -> Value {
        serde_json::from_str(keep(webhook.to_string().as_bytes()).unwrap().get()).unwrap()
    }

    #[test]
    fn every_webhook_reads_the_same_from_the_kept_copy() {
        let cases = [
            ("issue", fixture("webhook_issue_resolved.json")),
            ("issue", fixture("webhook_issue_unresolved.json")),
            ("issue", fixture("webhook_issue_ignored.json")),
            ("issue", fixture("webhook_issue_assigned.json")),
            ("issue", fixture("webhook_issue_assigned_team.json")),
            ("issue", fixture("webhook_issue_created.json")),
            ("comment", fixture("webhook_comment_created.json")),
            ("comment", fixture("webhook_comment_updated.json")),
            ("comment", fixture("webhook_comment_deleted.json")),
            ("installation", fixture("webhook_installation_created.json")),
            ("event_alert", alert(json!({}))),
        ];
        for (resource, webhook) in cases {
            let copy = kept(&webhook);
            assert_eq!(
                parse_webhook(resource, &copy),
                parse_webhook(resource, &webhook),
                "{resource}: {webhook}"
            );
            assert_eq!(copy["installation"]["uuid"], webhook["installation"]["uuid"]);
        }
    }

    #[test]
    fn a_huge_alert_event_keeps_only_what_is_read() {
        let frames: Vec<Value> = (0..5_000)
            .map(|n| json!({"filename": format!("app/module_{n}.js"), "lineno": n, "context_line": "x".repeat(80)}))
            .collect();
        let webhook = alert(json!({"exception": {"values": [{"stacktrace": {"frames": frames}}]}, "breadcrumbs": []}));
        assert!(webhook.to_string().len() > 400_000);
        let copy = keep(webhook.to_string().as_bytes()).unwrap();
        assert!(copy.get().len() < 1_000, "{} bytes", copy.get().len());
        let copy: Value = serde_json::from_str(copy.get()).unwrap();
        assert_eq!(
            parse_webhook("event_alert", &copy),
            parse_webhook("event_alert", &webhook)
        );
    }

    #[test]
    fn a_huge_comment_is_cut() {
        let mut webhook = fixture("webhook_comment_created.json");
        webhook["data"]["comment"] = json!("y".repeat(3 * MAX_COMMENT_BYTES));
        let text = kept(&webhook)["data"]["comment"].as_str().unwrap().to_string();
        assert!(text.len() < MAX_COMMENT_BYTES + 100);
        assert!(text.starts_with("yyy") && text.contains("cut here"));
    }
}
