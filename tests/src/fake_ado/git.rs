//! Identities by email and Git: repositories, commits, one commit, changes, commit ranges.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::state::{FakeRepository, State as FakeState};
use super::{Fake, ado_error, json_body};

pub async fn identities(State(fake): State<Fake>, Query(params): Query<HashMap<String, String>>) -> Response {
    let state = fake.state.lock().unwrap();
    let wanted = params.get("filterValue").cloned().unwrap_or_default();
    let value: Vec<Value> = state
        .identities
        .iter()
        .filter(|i| i.email.eq_ignore_ascii_case(&wanted))
        .map(|i| json!({"id": i.id, "providerDisplayName": i.display_name, "isActive": true,
                        "properties": {"Mail": {"$type": "System.String", "$value": i.email}, "Account": {"$type": "System.String", "$value": i.email}}}))
        .collect();
    axum::Json(json!({"count": value.len(), "value": value})).into_response()
}

fn repository_json(state: &FakeState, repository: &FakeRepository) -> Value {
    let project = state.project(&repository.project);
    json!({
        "id": repository.id, "name": repository.name,
        "url": format!("{}/_apis/git/repositories/{}", state.base_url, repository.id),
        "project": {"id": project.map(|p| p.id.clone()), "name": repository.project, "state": "wellFormed"},
        "defaultBranch": "refs/heads/main",
        "remoteUrl": format!("{}/{}/_git/{}", state.base_url, repository.project, repository.name),
        "webUrl": format!("{}/{}/_git/{}", state.base_url, repository.project, repository.name),
        "isDisabled": false
    })
}

fn commit_json(
    state: &FakeState,
    repository: &FakeRepository,
    (sha, message, email): &(String, String, String),
    truncate: bool,
) -> Value {
    let (comment, truncated) = match message.split_once('\n') {
        Some((first, _)) if truncate => (first.to_string(), true),
        _ => (message.clone(), false),
    };
    let person = json!({"name": "Jamal Hartnett", "email": email, "date": "2026-11-20T10:00:00Z"});
    json!({
        "commitId": sha, "author": person, "committer": person, "comment": comment, "commentTruncated": truncated,
        "url": format!("{}/_apis/git/repositories/{}/commits/{sha}", state.base_url, repository.id),
        "remoteUrl": format!("{}/{}/_git/{}/commit/{sha}", state.base_url, repository.project, repository.name)
    })
}

fn find<'a>(state: &'a FakeState, id: &str) -> Result<&'a FakeRepository, Response> {
    state
        .repositories
        .iter()
        .find(|r| r.id == id || r.name == id)
        .ok_or_else(|| {
            ado_error(
                StatusCode::NOT_FOUND,
                &format!("TF401019: The Git repository with name or identifier {id} does not exist."),
                "GitRepositoryNotFoundException",
            )
        })
}

pub async fn repositories(State(fake): State<Fake>) -> Response {
    let state = fake.state.lock().unwrap();
    let value: Vec<Value> = state.repositories.iter().map(|r| repository_json(&state, r)).collect();
    axum::Json(json!({"count": value.len(), "value": value})).into_response()
}

pub async fn repository(State(fake): State<Fake>, Path((_org, repo)): Path<(String, String)>) -> Response {
    let state = fake.state.lock().unwrap();
    match find(&state, &repo) {
        Ok(repository) => axum::Json(repository_json(&state, repository)).into_response(),
        Err(response) => response,
    }
}

pub async fn commits(
    State(fake): State<Fake>,
    Path((_org, repo)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let state = fake.state.lock().unwrap();
    let repository = match find(&state, &repo) {
        Ok(repository) => repository,
        Err(response) => return response,
    };
    let top: usize = params
        .get("searchCriteria.$top")
        .or(params.get("$top"))
        .and_then(|t| t.parse().ok())
        .unwrap_or(100);
    let value: Vec<Value> = repository
        .commits
        .iter()
        .take(top)
        .map(|c| commit_json(&state, repository, c, true))
        .collect();
    axum::Json(json!({"count": value.len(), "value": value})).into_response()
}

pub async fn commit(State(fake): State<Fake>, Path((_org, repo, sha)): Path<(String, String, String)>) -> Response {
    let state = fake.state.lock().unwrap();
    let repository = match find(&state, &repo) {
        Ok(repository) => repository,
        Err(response) => return response,
    };
    match repository.commits.iter().find(|c| c.0 == sha) {
        Some(commit) => axum::Json(commit_json(&state, repository, commit, false)).into_response(),
        None => ado_error(
            StatusCode::NOT_FOUND,
            &format!("TF401175: The commit {sha} does not exist."),
            "GitCommitDoesNotExistException",
        ),
    }
}

pub async fn changes(State(fake): State<Fake>, Path((_org, repo, sha)): Path<(String, String, String)>) -> Response {
    let state = fake.state.lock().unwrap();
    if let Err(response) = find(&state, &repo) {
        return response;
    }
    axum::Json(json!({
        "changeCounts": {"Add": 1, "Edit": 1},
        "changes": [
            {"item": {"gitObjectType": "tree", "path": "/src", "isFolder": true}, "changeType": "edit"},
            {"item": {"gitObjectType": "blob", "path": format!("/src/{sha}.rs")}, "changeType": "add"},
            {"item": {"gitObjectType": "blob", "path": "/README.md"}, "changeType": "edit, rename"}
        ]
    }))
    .into_response()
}

/// Commits after `compareVersion` up to `itemVersion` (newest first).
pub async fn commits_batch(
    State(fake): State<Fake>,
    Path((_org, repo)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let request = match json_body(&body) {
        Ok(request) => request,
        Err(response) => return response,
    };
    let state = fake.state.lock().unwrap();
    let repository = match find(&state, &repo) {
        Ok(repository) => repository,
        Err(response) => return response,
    };
    let head = request["itemVersion"]["version"].as_str().unwrap_or_default();
    let base = request["compareVersion"]["version"].as_str().unwrap_or_default();
    let value: Vec<Value> = repository
        .commits
        .iter()
        .skip_while(|c| c.0 != head)
        .take_while(|c| c.0 != base)
        .map(|c| commit_json(&state, repository, c, true))
        .collect();
    axum::Json(json!({"count": value.len(), "value": value})).into_response()
}
