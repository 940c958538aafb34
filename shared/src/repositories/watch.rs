//! What reconciliation does for repositories: keeps each push subscription alive, and gives new
//! Sentry releases whose version is a commit id (`1a2b3c4d`, `backend@1a2b3c4d`) and that have no
//! commits the commits the release route would set — teams that name releases after the git sha
//! (`sentry-cli releases propose-version`) get commits with no pipeline change.

use serde::{Deserialize, Serialize};

use super::Opened;
use super::commits;
use super::push_subscriptions;
use super::releases::{ReleaseRequest, set_commits};
use crate::App;
use crate::azure_devops::Subscription;
use crate::clock;
use crate::domain::release_version::commit_of_version;
use crate::reconcile::links::Calls;
use crate::reconcile::subscriptions::SubscriptionReport;
use crate::records::Repository;
use crate::retry::ConflictRetries;
use crate::sentry::ReleaseSummary;
use crate::store::StoreError;

/// Releases read per project and pass (newest first).
pub const RELEASES_PER_PASS: usize = 100;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseReport {
    /// New releases looked at.
    pub checked: u32,
    /// Releases that got their commits.
    pub commits_set: u32,
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
        if repository.push_subscription_id != old.push_subscription_id {
            let subscription = repository.push_subscription_id.clone();
            update(app, repository, |r| r.push_subscription_id = subscription.clone())
                .await
                .map_err(|e| format!("store: {e}"))?;
        }
    }
    Ok(checked)
}

/// Reads the record again and applies `change` until the write lands.
async fn update(
    app: &App,
    repository: &Repository,
    change: impl Fn(&mut Repository),
) -> Result<Repository, StoreError> {
    let mut current = repository.clone();
    let mut retries = ConflictRetries::new();
    loop {
        change(&mut current);
        current.updated_at = clock::now_ms();
        match app.store.update_repository(&mut current).await {
            Err(StoreError::Conflict) if retries.another() => {
                match app
                    .store
                    .get_repository(&repository.integration_id, &repository.id)
                    .await?
                {
                    Some(fresh) => current = fresh,
                    None => return Ok(repository.clone()),
                }
            }
            Err(error) => return Err(error),
            Ok(()) => return Ok(current),
        }
    }
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

/// Looks at the new releases of every repository's Sentry projects.
pub async fn check_releases(app: &App, opened: &Opened, calls: &mut Calls) -> Result<ReleaseReport, String> {
    let id = &opened.integration.id;
    let repositories = app
        .store
        .list_repositories(id)
        .await
        .map_err(|e| format!("store: {e}"))?;
    let mut report = ReleaseReport::default();
    for mut repository in repositories {
        for project in repository.sentry_projects.clone() {
            let listed = opened
                .connection
                .sentry
                .project_releases(&project, RELEASES_PER_PASS)
                .await
                .map_err(|e| format!("Sentry: {e}"))?;
            calls.sentry += 1;
            let seen_ms = repository
                .releases_seen
                .get(&project)
                .and_then(|seen| clock::parse_rfc3339(seen))
                .unwrap_or(repository.created_at - 1);
            // The newest by its time, not its place in the list or its text (`…:00Z` and
            // `…:00.5Z` do not sort as text).
            let Some(newest) = listed
                .iter()
                .filter_map(|r| Some((clock::parse_rfc3339(&r.date_created)?, &r.date_created)))
                .max_by_key(|(at, _)| *at)
                .map(|(_, date)| date.clone())
            else {
                continue;
            };
            for release in new_releases(listed, seen_ms) {
                report.checked += 1;
                if release.commit_count > 0 {
                    continue;
                }
                let Some(named) = commit_of_version(&release.version) else {
                    continue;
                };
                let (head, resolve_calls) = commits::resolve(&opened.connection.ado, &repository, &named)
                    .await
                    .map_err(|e| format!("Azure DevOps: {e}"))?;
                calls.azure_devops += resolve_calls;
                let Some(head) = head else {
                    continue;
                };
                let request = ReleaseRequest {
                    version: release.version.clone(),
                    commit: head,
                    previous_commit: None,
                    projects: Some(vec![project.clone()]),
                };
                let (outcome, saved) = set_commits(app, opened, &repository, &request)
                    .await
                    .map_err(|e| format!("release {}: {}", release.version, e.message))?;
                calls.azure_devops += outcome.calls.azure_devops;
                calls.sentry += outcome.calls.sentry;
                repository = saved;
                report.commits_set += 1;
            }
            if clock::parse_rfc3339(&newest).is_some_and(|at| at > seen_ms) {
                repository = update(app, &repository, |r| {
                    r.releases_seen.insert(project.clone(), newest.clone());
                })
                .await
                .map_err(|e| format!("store: {e}"))?;
            }
        }
    }
    Ok(report)
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
