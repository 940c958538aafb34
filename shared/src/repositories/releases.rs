//! `POST /integrations/{id}/repositories/{repo_id}/releases`: a Sentry release (made if missing)
//! gets the commits of `previous_commit..commit` — without `previous_commit`, from the head of
//! the last release this repository set commits for; the first release gets the newest 20.
//! Set-commits replaces, so the same call again leaves the same list.

use std::sync::Arc;

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Opened, check_projects, commits, load_repository, open, update_repository_with};
use crate::App;
use crate::azure_devops::AdoError;
use crate::error::ApiError;
use crate::http::JsonBody;
use crate::records::{ReleaseRange, Repository};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRequest {
    pub version: String,
    /// The release's head: a commit id (full or 7+ hex) or a branch.
    pub commit: String,
    pub previous_commit: Option<String>,
    pub projects: Option<Vec<String>>,
}

/// What a release got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReleaseOutcome {
    pub version: String,
    pub commits: usize,
    pub head: String,
    pub base: Option<String>,
    /// Calls made to each side.
    pub calls: ReleaseCalls,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReleaseCalls {
    pub azure_devops: u32,
    pub sentry: u32,
}

/// Sentry's rules for a version: not empty, at most 200 characters, no `/`, no line breaks or
/// tabs, not `.` or `..`.
pub fn check_version(version: &str) -> Result<(), String> {
    let refused = version.trim().is_empty()
        || version.chars().count() > 200
        || version.contains(['/', '\n', '\r', '\t'])
        || version == "."
        || version == "..";
    if refused {
        Err(format!(
            "version: \"{version}\" is not a Sentry release version (1–200 characters, no '/', no line breaks)"
        ))
    } else {
        Ok(())
    }
}

/// How long the release route waits for another release of the same repository to finish.
pub const RELEASE_WAIT: std::time::Duration = std::time::Duration::from_secs(20);
/// Longer than setting one release's commits takes; a holder that died frees it by expiry.
const RELEASE_LEASE_SECS: i64 = 300;

/// Sets the commits of `request.version`; returns what it got and the repository as saved (with
/// the new `last_release`). One release of a repository at a time (the release route and
/// reconciliation alike): a range without `previous_commit` starts at the last release's head,
/// which two at once would both read before either saved — overlapping ranges. The repository
/// is read again once the lease is held; another holding it is waited for up to `wait`, then `409`.
pub async fn set_commits(
    app: &App,
    opened: &Opened,
    repository: &Repository,
    request: &ReleaseRequest,
    wait: std::time::Duration,
) -> Result<(ReleaseOutcome, Repository), ApiError> {
    check_version(&request.version).map_err(ApiError::invalid)?;
    let name = format!("release#{}#{}", repository.integration_id, repository.id);
    let lease = crate::lease::hold_waiting(app, &name, RELEASE_LEASE_SECS, wait)
        .await?
        .ok_or_else(|| {
            ApiError::conflict(format!(
                "another release of repository {} is having its commits set; try again",
                repository.sentry_name
            ))
        })?;
    let set = async {
        let current = load_repository(app, &repository.integration_id, &repository.id).await?;
        set_commits_holding(app, opened, &current, request).await
    };
    crate::lease::holding(app, lease, set).await
}

async fn set_commits_holding(
    app: &App,
    opened: &Opened,
    repository: &Repository,
    request: &ReleaseRequest,
) -> Result<(ReleaseOutcome, Repository), ApiError> {
    let projects = request
        .projects
        .clone()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| repository.sentry_projects.clone());
    if projects.is_empty() {
        return Err(ApiError::invalid(format!(
            "projects: none given, and repository {} has no sentry_projects",
            repository.id
        )));
    }
    check_projects("projects", &projects)?;
    let ado = &opened.connection.ado;
    let mut calls = ReleaseCalls::default();
    let (head, resolve_calls) = commits::resolve(ado, repository, &request.commit).await?;
    calls.azure_devops += resolve_calls;
    let head = head.ok_or_else(|| {
        ApiError::invalid(format!(
            "commit: \"{}\" is neither a commit nor a branch of {}",
            request.commit, repository.sentry_name
        ))
    })?;
    let base = match &request.previous_commit {
        Some(previous) => {
            let (found, resolve_calls) = commits::resolve(ado, repository, previous).await?;
            calls.azure_devops += resolve_calls;
            Some(found.ok_or_else(|| {
                ApiError::invalid(format!(
                    "previous_commit: \"{previous}\" is not a commit of {}",
                    repository.sentry_name
                ))
            })?)
        }
        None => match &repository.last_release {
            // The same release again: the same range.
            Some(last) if last.version == request.version => last.base.clone(),
            Some(last) => Some(last.head.clone()),
            None => None,
        },
    };
    let unreadable = |error: AdoError| match error {
        AdoError::NotFound { message } => ApiError::invalid(format!(
            "the commits {}..{head} of {} cannot be read ({message}); give previous_commit",
            base.as_deref().unwrap_or(""),
            repository.sentry_name
        )),
        other => ApiError::from(other),
    };
    let (listed, range_calls) = commits::range(ado, repository, base.as_deref(), &head)
        .await
        .map_err(unreadable)?;
    calls.azure_devops += range_calls;
    let (sentry_commits, detail_calls) = commits::in_sentry_form(ado, repository, listed)
        .await
        .map_err(unreadable)?;
    calls.azure_devops += detail_calls;

    let sentry = &opened.connection.sentry;
    sentry.ensure_release(&request.version, &projects).await?;
    sentry.set_release_commits(&request.version, &sentry_commits).await?;
    calls.sentry += 2;

    let range = ReleaseRange {
        version: request.version.clone(),
        head: head.clone(),
        base: base.clone(),
    };
    let saved = update_repository_with(app, repository, |r| {
        r.last_release = Some(range.clone());
        true
    })
    .await?;
    tracing::info!(
        integration = %repository.integration_id, repository = %repository.id, version = %request.version,
        commits = sentry_commits.len(), head = %head, base = ?base, "release commits set"
    );
    let outcome = ReleaseOutcome {
        version: request.version.clone(),
        commits: sentry_commits.len(),
        head,
        base,
        calls,
    };
    Ok((outcome, saved))
}

pub async fn set_commits_route(
    State(app): State<Arc<App>>,
    Path((id, repo_id)): Path<(String, String)>,
    JsonBody(request): JsonBody<ReleaseRequest>,
) -> Result<axum::Json<Value>, ApiError> {
    check_version(&request.version).map_err(ApiError::invalid)?;
    let opened = open(&app, &id).await?;
    let repository = load_repository(&app, &id, &repo_id).await?;
    let (outcome, _) = set_commits(&app, &opened, &repository, &request, RELEASE_WAIT).await?;
    Ok(axum::Json(serde_json::json!(outcome)))
}
