//! Finding the work item of a create whose answer was lost. Azure DevOps has no idempotency
//! key: when a process dies (or the answer is lost) after Azure DevOps made the work item and
//! before the link was recorded, the work item exists and the bridge does not know it. The
//! next attempt for the same Sentry issue looks for it — the newest work items tagged `sentry`
//! in the project, read with their relations — and takes the one whose Hyperlink is the Sentry
//! issue and that was made after the earlier attempt started.

use crate::azure_devops::{AdoClient, AdoError, WorkItem};
use crate::clock;
use crate::records::CreateAttempt;

/// How many of the project's newest `sentry` work items are looked at.
pub const CANDIDATES: usize = 50;
/// Clocks of the bridge and Azure DevOps may differ by this much.
const CLOCK_SKEW_MS: i64 = 10 * 60 * 1000;

/// Whether `item` is the one the attempt made: its Hyperlink is the issue's URL and it was
/// created after the attempt started (a work item linked to the same issue long ago — then
/// unlinked — is not it). Pure.
pub fn made_by(item: &WorkItem, attempt: &CreateAttempt) -> bool {
    let links_the_issue = item
        .relations
        .iter()
        .any(|r| r.rel == "Hyperlink" && r.url == attempt.sentry_url);
    let created = item.field_str("System.CreatedDate").and_then(clock::parse_rfc3339);
    links_the_issue && created.is_none_or(|at| at >= attempt.started_at - CLOCK_SKEW_MS)
}

/// The WIQL query for the candidates: the project's work items tagged `sentry`, made since the
/// day before the attempt (WIQL compares dates by day), newest first.
pub fn candidates_query() -> String {
    "SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project \
     AND [System.Tags] CONTAINS 'sentry' AND [System.CreatedDate] >= @today - 1 \
     ORDER BY [System.Id] DESC"
        .to_string()
}

/// The work item an unfinished earlier attempt made, if it made one (2 calls).
pub async fn find(ado: &AdoClient, attempt: &CreateAttempt) -> Result<Option<WorkItem>, AdoError> {
    let ids = ado.wiql(&attempt.project, &candidates_query(), CANDIDATES).await?;
    if ids.is_empty() {
        return Ok(None);
    }
    let items = ado.work_items_with_relations(&ids).await?;
    Ok(items.into_iter().find(|item| made_by(item, attempt)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attempt() -> CreateAttempt {
        CreateAttempt {
            integration_id: "i".into(),
            sentry_issue_id: "42".into(),
            sentry_url: "https://sentry.example/issues/42/".into(),
            project: "P".into(),
            started_at: clock::parse_rfc3339("2026-12-07T10:00:00Z").unwrap(),
            version: 1,
        }
    }

    fn item(url: &str, created: Option<&str>) -> WorkItem {
        let mut fields = json!({"System.Title": "t"});
        if let Some(created) = created {
            fields["System.CreatedDate"] = json!(created);
        }
        serde_json::from_value(json!({"id": 7, "rev": 1, "fields": fields,
            "relations": [{"rel": "Hyperlink", "url": url, "attributes": {}}]}))
        .unwrap()
    }

    #[test]
    fn the_work_item_linking_the_issue_made_after_the_attempt_started_is_it() {
        let url = "https://sentry.example/issues/42/";
        assert!(made_by(&item(url, Some("2026-12-07T10:00:01.5Z")), &attempt()));
        assert!(
            made_by(&item(url, Some("2026-12-07T09:55:00Z")), &attempt()),
            "clock skew"
        );
        assert!(made_by(&item(url, None), &attempt()));
        assert!(
            !made_by(&item(url, Some("2026-12-06T10:00:00Z")), &attempt()),
            "an older one"
        );
        assert!(!made_by(&item("https://sentry.example/issues/43/", None), &attempt()));
    }
}
