//! Sentry webhooks as the bridge reads them.

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::key_time::key_time;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assignee {
    /// `id` is the Sentry user id (for looking up an email the webhook hides).
    User {
        id: Option<String>,
        email: Option<String>,
        name: String,
    },
    Team {
        name: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommentAction {
    Created,
    Updated,
    Deleted,
}

/// What one webhook says, for the resources the bridge handles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SentryChange {
    /// `resolved`, `unresolved` or `ignored`.
    Status { issue_id: String, status: String },
    Assigned {
        issue_id: String,
        assignee: Option<Assignee>,
    },
    Comment {
        action: CommentAction,
        issue_id: String,
        comment_id: String,
        text: String,
        author: String,
    },
    /// An alert rule with the bridge's action fired for an issue.
    Alert {
        issue_id: String,
        web_url: String,
        title: String,
        culprit: String,
        rule: String,
        settings: Vec<Value>,
    },
}

impl SentryChange {
    pub fn issue_id(&self) -> &str {
        match self {
            SentryChange::Status { issue_id, .. }
            | SentryChange::Assigned { issue_id, .. }
            | SentryChange::Comment { issue_id, .. }
            | SentryChange::Alert { issue_id, .. } => issue_id,
        }
    }
}

fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_string()
}

/// Reads a webhook of `resource` (the `Sentry-Hook-Resource` header). `Ok(None)` for resources
/// and actions the bridge does not act on; `Err` names what is missing from a handled one.
pub fn parse_webhook(resource: &str, payload: &Value) -> Result<Option<SentryChange>, String> {
    let action = payload["action"].as_str().ok_or("`action` is missing")?;
    let data = &payload["data"];
    let issue_id = |value: &Value| id_text(value).ok_or_else(|| format!("{resource}.{action} without an issue id"));
    Ok(match (resource, action) {
        ("issue", "resolved" | "unresolved" | "ignored" | "archived") => Some(SentryChange::Status {
            issue_id: issue_id(&data["issue"]["id"])?,
            status: if action == "archived" {
                "ignored".into()
            } else {
                action.to_string()
            },
        }),
        ("issue", "assigned") => {
            let assignee = &data["assignee"];
            let assignee = match assignee["type"].as_str() {
                Some("user") => Some(Assignee::User {
                    id: id_text(&assignee["id"]),
                    email: assignee["email"]
                        .as_str()
                        .map(str::to_lowercase)
                        .filter(|e| e.contains('@')),
                    name: text(&assignee["name"]),
                }),
                Some("team") => Some(Assignee::Team {
                    name: text(&assignee["name"]),
                }),
                _ => None,
            };
            Some(SentryChange::Assigned {
                issue_id: issue_id(&data["issue"]["id"])?,
                assignee,
            })
        }
        ("comment", "created" | "updated" | "deleted") => Some(SentryChange::Comment {
            action: match action {
                "created" => CommentAction::Created,
                "updated" => CommentAction::Updated,
                _ => CommentAction::Deleted,
            },
            issue_id: issue_id(&data["issue_id"])?,
            comment_id: id_text(&data["comment_id"]).ok_or("comment without comment_id")?,
            text: text(&data["comment"]),
            author: payload["actor"]["name"].as_str().unwrap_or("Someone").to_string(),
        }),
        ("event_alert", "triggered") => {
            let event = &data["event"];
            Some(SentryChange::Alert {
                issue_id: issue_id(&event["issue_id"])?,
                web_url: event["issue_url"]
                    .as_str()
                    .or(event["web_url"].as_str())
                    .unwrap_or_default()
                    .to_string(),
                title: text(&event["title"]),
                culprit: text(&event["culprit"]),
                rule: data["issue_alert"]["title"]
                    .as_str()
                    .or(data["triggered_rule"].as_str())
                    .unwrap_or("an alert rule")
                    .to_string(),
                settings: data["issue_alert"]["settings"].as_array().cloned().unwrap_or_default(),
            })
        }
        _ => None,
    })
}

/// The inbox key of a webhook: a hash of the raw body and `Sentry-Hook-Timestamp` (Sentry's
/// `Request-ID` changes on every send; identical actions can have identical bodies), per
/// integration. The timestamp also leads the hash, as the creation time leads an Azure DevOps
/// key ([`Envelope::dedupe_key`](super::ado_event::Envelope::dedupe_key)): keys of webhooks sent
/// together sort together.
pub fn dedupe_key(integration_id: &str, body: &[u8], timestamp: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(body);
    hash.update(b"\n");
    hash.update(timestamp.as_bytes());
    let digest: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    match key_time(timestamp) {
        Some(time) => format!("sentry:{integration_id}:{time}:{digest}"),
        None => format!("sentry:{integration_id}:{digest}"),
    }
}

/// Whether a comment is one the bridge posted (a mirrored Azure DevOps comment).
pub fn is_bridge_comment(text: &str) -> bool {
    super::attribution::is_mirrored_from(text, "Azure DevOps")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/tests/fixtures/sentry-platform/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn issue_and_comment_webhooks() {
        let resolved = parse_webhook("issue", &fixture("webhook_issue_resolved.json"))
            .unwrap()
            .unwrap();
        assert_eq!(
            resolved,
            SentryChange::Status {
                issue_id: "6543210987".into(),
                status: "resolved".into()
            }
        );
        let ignored = parse_webhook("issue", &fixture("webhook_issue_ignored.json"))
            .unwrap()
            .unwrap();
        assert!(matches!(ignored, SentryChange::Status { ref status, .. } if status == "ignored"));
        match parse_webhook("issue", &fixture("webhook_issue_assigned.json"))
            .unwrap()
            .unwrap()
        {
            SentryChange::Assigned {
                assignee: Some(Assignee::User { email, .. }),
                ..
            } => {
                assert_eq!(email.as_deref(), Some("john.smith@contoso.com"))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_webhook("issue", &fixture("webhook_issue_assigned_team.json"))
                .unwrap()
                .unwrap(),
            SentryChange::Assigned {
                assignee: Some(Assignee::Team { .. }),
                ..
            }
        ));
        match parse_webhook("comment", &fixture("webhook_comment_created.json"))
            .unwrap()
            .unwrap()
        {
            SentryChange::Comment {
                action,
                issue_id,
                comment_id,
                author,
                ..
            } => {
                assert_eq!(
                    (action, issue_id.as_str(), comment_id.as_str(), author.as_str()),
                    (CommentAction::Created, "6543210987", "8812345678", "Jane Doe")
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(
            parse_webhook("issue", &fixture("webhook_issue_created.json"))
                .unwrap()
                .is_none()
        );
        assert!(
            parse_webhook("installation", &fixture("webhook_installation_created.json"))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn keys_differ_by_timestamp_and_integration() {
        let a = dedupe_key("i1", b"{}", "1700000000");
        assert_eq!(a, dedupe_key("i1", b"{}", "1700000000"));
        assert_ne!(a, dedupe_key("i1", b"{}", "1700000001"));
        assert_ne!(a, dedupe_key("i2", b"{}", "1700000000"));
        assert!(dedupe_key("i1", b"{\"z\":1}", "1700000000") < dedupe_key("i1", b"{}", "1700000001"));
        assert!(!dedupe_key("i1", b"{}", "1e9/x").contains("1e9/x"));
        assert!(is_bridge_comment("**Jamal** (Azure DevOps) wrote:\n\nhi"));
    }
}
