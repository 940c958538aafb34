//! Whether Sentry still shows what a webhook says. A webhook's signature covers its body, not
//! its timestamp: a captured body can be sent again at any time with a fresh timestamp, and a
//! genuine delivery can arrive after a newer change. So before a status or assignee change is
//! written to Azure DevOps the issue is read back, and a webhook Sentry no longer agrees with is
//! not applied — a replay cannot flip a state back.

use serde_json::Value;

use super::sentry_event::{Assignee, SentryChange};

/// What Sentry's issue read (`GET …/issues/{id}/`) says now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentIssue {
    /// `resolved`, `unresolved` or `ignored` (`resolvedInNextRelease` and `muted` read as the
    /// status they stand for).
    pub status: String,
    /// `(type, id)` of `assignedTo`: `("user", "12")`, `("team", "3")`.
    pub assigned_to: Option<(String, String)>,
}

impl CurrentIssue {
    /// Reads the issue leniently (`assignedTo.id` is a string, older forms `user:12`).
    pub fn read(issue: &Value) -> Self {
        let status = match issue["status"].as_str().unwrap_or_default() {
            "resolvedInNextRelease" => "resolved",
            "muted" => "ignored",
            other => other,
        };
        let assigned = &issue["assignedTo"];
        let assigned_to = match assigned {
            Value::Object(actor) => {
                let id = match &actor.get("id") {
                    Some(Value::String(id)) => id.clone(),
                    Some(Value::Number(id)) => id.to_string(),
                    _ => String::new(),
                };
                Some((
                    actor.get("type").and_then(Value::as_str).unwrap_or("user").to_string(),
                    id,
                ))
            }
            Value::String(actor) if !actor.is_empty() => {
                let (kind, id) = actor.split_once(':').unwrap_or(("user", actor));
                Some((kind.to_string(), id.to_string()))
            }
            _ => None,
        };
        Self {
            status: status.to_string(),
            assigned_to,
        }
    }
}

/// Why `change` is out of date against the issue as Sentry shows it now; `None` when it still
/// holds (or is not a change this check applies to).
pub fn outdated(change: &SentryChange, issue: &CurrentIssue) -> Option<String> {
    match change {
        SentryChange::Status { status, .. } if *status != issue.status => Some(format!(
            "the issue is {} in Sentry now, not {status}: an out-of-date or replayed delivery; not applied",
            issue.status
        )),
        SentryChange::Assigned {
            assignee: Some(Assignee::User { id: Some(id), name, .. }),
            ..
        } if issue.assigned_to.as_ref() != Some(&("user".to_string(), id.clone())) => Some(format!(
            "the issue is no longer assigned to {name} in Sentry: an out-of-date or replayed delivery; not applied"
        )),
        SentryChange::Assigned { assignee: None, .. } if issue.assigned_to.is_some() => {
            Some("the issue is assigned again in Sentry: an out-of-date unassign; not applied".to_string())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn status(status: &str) -> SentryChange {
        SentryChange::Status {
            issue_id: "1".into(),
            status: status.into(),
        }
    }

    fn assigned(id: &str) -> SentryChange {
        SentryChange::Assigned {
            issue_id: "1".into(),
            assignee: Some(Assignee::User {
                id: Some(id.into()),
                email: None,
                name: "Jane".into(),
            }),
        }
    }

    #[test]
    fn a_status_sentry_no_longer_shows_is_out_of_date() {
        let unresolved = CurrentIssue::read(&json!({"status": "unresolved", "assignedTo": null}));
        assert!(outdated(&status("resolved"), &unresolved).is_some());
        assert_eq!(outdated(&status("unresolved"), &unresolved), None);
        let next_release = CurrentIssue::read(&json!({"status": "resolvedInNextRelease"}));
        assert_eq!(outdated(&status("resolved"), &next_release), None);
        let muted = CurrentIssue::read(&json!({"status": "muted"}));
        assert_eq!(outdated(&status("ignored"), &muted), None);
    }

    #[test]
    fn an_assignee_sentry_no_longer_shows_is_out_of_date() {
        let jane = CurrentIssue::read(&json!({"assignedTo": {"type": "user", "id": "12", "name": "Jane"}}));
        assert_eq!(outdated(&assigned("12"), &jane), None);
        assert!(outdated(&assigned("13"), &jane).is_some());
        let nobody = CurrentIssue::read(&json!({"assignedTo": null}));
        assert!(outdated(&assigned("12"), &nobody).is_some());
        let team = CurrentIssue::read(&json!({"assignedTo": {"type": "team", "id": "12"}}));
        assert!(outdated(&assigned("12"), &team).is_some(), "team 12 is not user 12");
        let older_form = CurrentIssue::read(&json!({"assignedTo": "user:12"}));
        assert_eq!(outdated(&assigned("12"), &older_form), None);
        let unassigned = SentryChange::Assigned {
            issue_id: "1".into(),
            assignee: None,
        };
        assert_eq!(outdated(&unassigned, &nobody), None);
        assert!(outdated(&unassigned, &jane).is_some());
    }
}
