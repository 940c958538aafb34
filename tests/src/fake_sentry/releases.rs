//! Releases: create (`201`, or `208` when the version exists: its projects are added), set commits
//! (`PUT`, replacing the list), and a project's releases newest first.

// Handlers answer early with a ready `Response`; boxing it would only add noise in a test fake.
#![allow(clippy::result_large_err)]

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::{FakeSentry, Shared, not_found};

#[derive(Debug, Clone, Default)]
pub struct FakeRelease {
    pub version: String,
    pub projects: Vec<String>,
    pub commits: Vec<Value>,
    pub date_created: String,
}

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/api/0/organizations/{org}/releases/", post(create))
        .route("/api/0/organizations/{org}/releases/{version}/", get(show).put(update))
        .route("/api/0/projects/{org}/{project}/releases/", get(project_releases))
}

impl FakeSentry {
    pub fn release(&self, version: &str) -> Option<FakeRelease> {
        let inner = self.inner.lock().unwrap();
        inner.releases.iter().find(|r| r.version == version).cloned()
    }

    /// A release made in Sentry by someone else (`sentry-cli releases new`), without commits.
    pub fn add_release(&self, version: &str, projects: &[&str]) {
        let mut inner = self.inner.lock().unwrap();
        let release = new_release(
            &inner.releases,
            version,
            projects.iter().map(|p| p.to_string()).collect(),
        );
        inner.releases.push(release);
    }
}

/// Creation times strictly after every existing one (ms precision), as Sentry's ordering needs.
fn new_release(existing: &[FakeRelease], version: &str, projects: Vec<String>) -> FakeRelease {
    let newest = existing
        .iter()
        .filter_map(|r| shared::clock::parse_rfc3339(&r.date_created))
        .max();
    let now = shared::clock::now_ms();
    let at = newest.map_or(now, |newest| now.max(newest + 1));
    FakeRelease {
        version: version.to_string(),
        projects,
        commits: Vec::new(),
        date_created: shared::clock::rfc3339(at),
    }
}

fn release_json(release: &FakeRelease) -> Value {
    json!({
        "version": release.version,
        "dateCreated": release.date_created,
        "commitCount": release.commits.len(),
        "projects": release.projects.iter().map(|p| json!({"slug": p, "name": p})).collect::<Vec<_>>(),
        "lastCommit": release.commits.first(),
    })
}

fn bad_request(detail: &str) -> Response {
    (StatusCode::BAD_REQUEST, axum::Json(json!({"detail": detail}))).into_response()
}

fn valid_commits(body: &Value) -> Result<Option<Vec<Value>>, Response> {
    let Some(commits) = body.get("commits") else {
        return Ok(None);
    };
    let commits = commits
        .as_array()
        .ok_or_else(|| bad_request("commits: expected a list"))?;
    for commit in commits {
        let id = commit["id"].as_str().unwrap_or_default();
        let repository = commit["repository"].as_str().unwrap_or_default();
        if id.is_empty() || id.len() > 64 || repository.len() > 64 {
            return Err(bad_request("commits: id is required (≤ 64), repository ≤ 64"));
        }
        for file in commit["patch_set"].as_array().into_iter().flatten() {
            let kind = file["type"].as_str().unwrap_or_default();
            if !["A", "M", "D"].contains(&kind) || file["path"].as_str().is_none_or(|p| p.len() > 510) {
                return Err(bad_request("patch_set: type must be A, M or D and path ≤ 510"));
            }
        }
    }
    Ok(Some(commits.clone()))
}

async fn create(State(inner): State<Shared>, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(version) = body["version"].as_str().filter(|v| !v.is_empty()) else {
        return bad_request("version is required");
    };
    let projects: Vec<String> = body["projects"]
        .as_array()
        .map(|p| p.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    if projects.is_empty() {
        return bad_request("projects: at least one project is required");
    }
    let commits = match valid_commits(&body) {
        Ok(commits) => commits,
        Err(response) => return response,
    };
    let mut inner = inner.lock().unwrap();
    let index = match inner.releases.iter().position(|r| r.version == version) {
        Some(index) => index,
        None => {
            let release = new_release(&inner.releases, version, Vec::new());
            inner.releases.push(release);
            inner.releases.len() - 1
        }
    };
    let release = &mut inner.releases[index];
    let added = projects.iter().any(|p| !release.projects.contains(p));
    let created = release.projects.is_empty();
    for project in projects {
        if !release.projects.contains(&project) {
            release.projects.push(project);
        }
    }
    if let Some(commits) = commits {
        release.commits = commits;
    }
    let status = if created || added {
        StatusCode::CREATED
    } else {
        StatusCode::ALREADY_REPORTED
    };
    (status, axum::Json(release_json(release))).into_response()
}

async fn show(State(inner): State<Shared>, Path((_org, version)): Path<(String, String)>) -> Response {
    let inner = inner.lock().unwrap();
    match inner.releases.iter().find(|r| r.version == version) {
        Some(release) => axum::Json(release_json(release)).into_response(),
        None => not_found(),
    }
}

/// `PUT`: `commits` replaces the release's commit list.
async fn update(State(inner): State<Shared>, Path((_org, version)): Path<(String, String)>, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let commits = match valid_commits(&body) {
        Ok(commits) => commits,
        Err(response) => return response,
    };
    let mut inner = inner.lock().unwrap();
    let Some(release) = inner.releases.iter_mut().find(|r| r.version == version) else {
        return not_found();
    };
    if let Some(commits) = commits {
        release.commits = commits;
    }
    axum::Json(release_json(release)).into_response()
}

/// A project's releases, newest first (`per_page`, default 100, at most 100), paged as Sentry
/// pages: `cursor=0:{offset}:0`, and a `Link` header whose `rel="next"` says `results="true"` while
/// there are more.
async fn project_releases(
    State(inner): State<Shared>,
    Path((_org, project)): Path<(String, String)>,
    Query(params): Query<std::collections::HashMap<String, String>>,
    uri: axum::http::Uri,
) -> Response {
    let per_page: usize = params
        .get("per_page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(100)
        .min(100);
    let offset: usize = params
        .get("cursor")
        .and_then(|c| c.split(':').nth(1))
        .and_then(|o| o.parse().ok())
        .unwrap_or(0);
    let inner = inner.lock().unwrap();
    let mut releases: Vec<&FakeRelease> = inner
        .releases
        .iter()
        .filter(|r| r.projects.contains(&project))
        .collect();
    releases.sort_by_key(|r| std::cmp::Reverse(shared::clock::parse_rfc3339(&r.date_created)));
    let more = releases.len() > offset + per_page;
    let page: Vec<Value> = releases
        .into_iter()
        .skip(offset)
        .take(per_page)
        .map(release_json)
        .collect();
    let next = format!("0:{}:0", offset + per_page);
    let link = format!(
        "<{}?cursor={next}>; rel=\"next\"; results=\"{more}\"; cursor=\"{next}\"",
        uri.path()
    );
    let mut response = axum::Json(page).into_response();
    response.headers_mut().insert("link", link.parse().unwrap());
    response
}
