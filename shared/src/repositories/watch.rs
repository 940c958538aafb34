//! What reconciliation does for repositories: keeps each push subscription alive, and gives new
//! Sentry releases whose version is a commit id (`1a2b3c4d`, `backend@1a2b3c4d`) and that have no
//! commits the commits the release route would set — teams that name releases after the git sha
//! (`sentry-cli releases propose-version`) get commits with no pipeline change.

use serde::{Deserialize, Serialize};

use super::commits;
use super::push_subscriptions;
use super::releases::{ReleaseRequest, set_commits};
use super::{Opened, update_repository_with};
use crate::App;
use crate::azure_devops::Subscription;
use crate::clock;
use crate::domain::release_version::commit_of_version;
use crate::reconcile::links::Calls;
use crate::reconcile::subscriptions::SubscriptionReport;
use crate::records::Repository;
use crate::sentry::ReleaseSummary;
use crate::worker::Budget;
use std::time::Instant;

/// Pages of 100 releases read per project and pass at most (newest first, down to the last seen).
pub const RELEASE_PAGES: u32 = 10;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseReport {
    /// New releases looked at.
    pub checked: u32,
    /// Releases that got their commits.
    pub commits_set: u32,
    /// Releases whose commits were refused for good (`version: why`); not tried again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<String>,
}

/// Checks every registered repository's push subscription against `all`.
pub async fn check_push_subscriptions(
    app: &App,
    opened: &Opened,
    all: &[Subscription],
    webhook_url: &str,
) -> Result<(SubscriptionReport, u32), String> {
    let id = &opened.integration.id;
    let mut repositories = app
        .store
        .list_repositories(id)
        .await
        .map_err(|e| format!("store: {e}"))?;
    let before = repositories.clone();
    let checked = push_subscriptions::check(
        &opened.connection.ado,
        all,
        &mut repositories,
        webhook_url,
        &opened.secrets.webhook_secret,
    )
    .await
    .map_err(|e| format!("Azure DevOps: {e}"))?;
    for (repository, old) in repositories.iter().zip(&before) {
        let Some(made) = repository.push_subscription_id.clone() else {
            continue;
        };
        if repository.push_subscription_id == old.push_subscription_id {
            continue;
        }
        // Recorded only over what this pass saw (a registration may have recorded its own since).
        let seen = old.push_subscription_id.clone();
        let saved = update_repository_with(app, old, |r| {
            let ours = r.push_subscription_id == seen;
            if ours {
                r.push_subscription_id = Some(made.clone());
            }
            ours
        })
        .await
        .map_err(|e| format!("store: {e}"))?;
        if saved.push_subscription_id.as_ref() != Some(&made) {
            let _ = opened.connection.ado.delete_subscription(&made).await;
        }
    }
    Ok(checked)
}

/// The releases of `listed` created after `seen_ms`, oldest first.
pub fn new_releases(listed: Vec<ReleaseSummary>, seen_ms: i64) -> Vec<ReleaseSummary> {
    let mut new: Vec<(i64, ReleaseSummary)> = listed
        .into_iter()
        .filter_map(|r| Some((clock::parse_rfc3339(&r.date_created)?, r)))
        .filter(|(at, _)| *at > seen_ms)
        .collect();
    new.sort_by_key(|(at, _)| *at);
    new.into_iter().map(|(_, r)| r).collect()
}

/// Looks at the new releases of every repository's Sentry projects, oldest first across them (so a
/// release's range starts where the one before it in time ended), within `budget`. A release is
/// seen once it is looked at; one that a side cannot take now stops the step, and it and the newer
/// ones are looked at by the next pass.
pub async fn check_releases(
    app: &App,
    opened: &Opened,
    budget: Budget,
    calls: &mut Calls,
) -> Result<ReleaseReport, String> {
    let id = &opened.integration.id;
    let repositories = app
        .store
        .list_repositories(id)
        .await
        .map_err(|e| format!("store: {e}"))?;
    let mut report = ReleaseReport::default();
    for mut repository in repositories {
        let mut new: Vec<(String, ReleaseSummary)> = Vec::new();
        for project in &repository.sentry_projects {
            let seen_ms = repository
                .releases_seen
                .get(project)
                .and_then(|seen| clock::parse_rfc3339(seen))
                .unwrap_or(repository.created_at - 1);
            let (listed, pages) = opened
                .connection
                .sentry
                .releases_since(project, seen_ms, RELEASE_PAGES)
                .await
                .map_err(|e| format!("Sentry: {e}"))?;
            calls.sentry += pages;
            new.extend(new_releases(listed, seen_ms).into_iter().map(|r| (project.clone(), r)));
        }
        new.sort_by_key(|(_, r)| clock::parse_rfc3339(&r.date_created));
        let mut seen = std::collections::BTreeMap::new();
        let mut stopped = None;
        for (project, release) in new {
            if budget.next_event(Instant::now()).is_none() {
                break;
            }
            report.checked += 1;
            match give_commits(app, opened, &repository, &project, &release, calls).await {
                Ok(Given::Set(saved)) => {
                    repository = *saved;
                    report.commits_set += 1;
                }
                Ok(Given::Nothing) => {}
                Ok(Given::Refused(why)) => {
                    tracing::warn!(integration = %id, version = %release.version, error = %why, "release commits refused");
                    report.refused.push(format!("{}: {why}", release.version));
                }
                Err(error) => {
                    report.checked -= 1;
                    stopped = Some(format!("release {}: {error}", release.version));
                    break;
                }
            }
            seen.insert(project, release.date_created);
        }
        if !seen.is_empty() {
            update_repository_with(app, &repository, |r| {
                r.releases_seen.extend(seen.clone());
                true
            })
            .await
            .map_err(|e| format!("store: {e}"))?;
        }
        if let Some(error) = stopped {
            return Err(error);
        }
    }
    Ok(report)
}

/// What a release got.
enum Given {
    Set(Box<Repository>),
    /// Not named after a commit of the repository, or it has commits already.
    Nothing,
    Refused(String),
}

/// Gives `release` its commits if it has none and its version names a commit of `repository`.
/// `Err`: a side cannot take it now (try again next pass).
async fn give_commits(
    app: &App,
    opened: &Opened,
    repository: &Repository,
    project: &str,
    release: &ReleaseSummary,
    calls: &mut Calls,
) -> Result<Given, String> {
    if release.commit_count > 0 {
        return Ok(Given::Nothing);
    }
    let Some(named) = commit_of_version(&release.version) else {
        return Ok(Given::Nothing);
    };
    let (head, resolve_calls) = commits::resolve(&opened.connection.ado, repository, &named)
        .await
        .map_err(|e| format!("Azure DevOps: {e}"))?;
    calls.azure_devops += resolve_calls;
    let Some(head) = head else {
        return Ok(Given::Nothing);
    };
    let request = ReleaseRequest {
        version: release.version.clone(),
        commit: head,
        previous_commit: None,
        projects: Some(vec![project.to_string()]),
    };
    // Not waited for: a pass has its own time budget, and the next pass takes the release.
    match set_commits(app, opened, repository, &request, std::time::Duration::ZERO).await {
        Ok((outcome, saved)) => {
            calls.azure_devops += outcome.calls.azure_devops;
            calls.sentry += outcome.calls.sentry;
            Ok(Given::Set(Box::new(saved)))
        }
        // A side down, or another release of the repository being set: the next pass.
        Err(error) if error.status.is_server_error() || error.status == axum::http::StatusCode::CONFLICT => {
            Err(error.message)
        }
        Err(error) => Ok(Given::Refused(error.message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(version: &str, at: &str) -> ReleaseSummary {
        ReleaseSummary {
            version: version.into(),
            date_created: at.into(),
            commit_count: 0,
        }
    }

    #[test]
    fn only_releases_after_the_last_seen_are_new_oldest_first() {
        let seen = clock::parse_rfc3339("2026-12-01T10:00:00Z").unwrap();
        let listed = vec![
            release("c", "2026-12-01T12:00:00.001Z"),
            release("d", "2026-12-01T12:00:00Z"),
            release("b", "2026-12-01T11:00:00Z"),
            release("a", "2026-12-01T10:00:00Z"),
            release("old", "2026-11-30T10:00:00Z"),
        ];
        let new: Vec<String> = new_releases(listed, seen).into_iter().map(|r| r.version).collect();
        assert_eq!(new, vec!["b", "d", "c"]);
    }
}
