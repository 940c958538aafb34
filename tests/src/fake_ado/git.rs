//! Identities by email and Git: repositories (two to a page, with continuation tokens), commits
//! of a branch, a commit or a push, one commit, changes, commit ranges, and pushes delivered as
//! `git.push`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::state::{FakeCommit, FakeRepository, State as FakeState};
use super::{Fake, FakeAdo, acts_as_person, ado_error, json_body};

/// Repositories per page of the list (so every listing follows a continuation token).
const REPOSITORIES_PER_PAGE: usize = 2;

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

pub fn web_url(state: &FakeState, repository: &FakeRepository) -> String {
    format!("{}/{}/_git/{}", state.base_url, repository.project, repository.name)
}

fn repository_json(state: &FakeState, repository: &FakeRepository) -> Value {
    let project = state.project(&repository.project);
    json!({
        "id": repository.id, "name": repository.name,
        "url": format!("{}/_apis/git/repositories/{}", state.base_url, repository.id),
        "project": {"id": project.map(|p| p.id.clone()), "name": repository.project, "state": "wellFormed"},
        "defaultBranch": "refs/heads/main",
        "remoteUrl": web_url(state, repository),
        "webUrl": web_url(state, repository),
        "isDisabled": false
    })
}

/// A commit as the lists answer it (`truncate`: the first line of a longer message only).
fn commit_json(state: &FakeState, repository: &FakeRepository, commit: &FakeCommit, truncate: bool) -> Value {
    let (comment, truncated) = match commit.message.split_once('\n') {
        Some((first, _)) if truncate => (first.to_string(), true),
        _ => (commit.message.clone(), false),
    };
    let person = json!({"name": commit.author_name, "email": commit.author_email, "date": commit.date});
    json!({
        "commitId": commit.sha, "author": person, "committer": person, "comment": comment, "commentTruncated": truncated,
        "url": format!("{}/_apis/git/repositories/{}/commits/{}", state.base_url, repository.id, commit.sha),
        "remoteUrl": format!("{}/commit/{}", web_url(state, repository), commit.sha)
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

fn no_commit(version: &str) -> Response {
    ado_error(
        StatusCode::NOT_FOUND,
        &format!("TF401175: The version descriptor <{version}> could not be resolved to a version in the repository."),
        "GitUnresolvableToCommitException",
    )
}

fn number(params: &HashMap<String, String>, names: &[&str], default: usize) -> usize {
    names
        .iter()
        .find_map(|n| params.get(*n))
        .and_then(|t| t.parse().ok())
        .unwrap_or(default)
}

fn list(value: Vec<Value>) -> Response {
    axum::Json(json!({"count": value.len(), "value": value})).into_response()
}

pub async fn repositories(State(fake): State<Fake>, Query(params): Query<HashMap<String, String>>) -> Response {
    let state = fake.state.lock().unwrap();
    let start = number(&params, &["continuationToken"], 0);
    let value: Vec<Value> = state
        .repositories
        .iter()
        .skip(start)
        .take(REPOSITORIES_PER_PAGE)
        .map(|r| repository_json(&state, r))
        .collect();
    let mut response = list(value);
    let next = start + REPOSITORIES_PER_PAGE;
    if next < state.repositories.len() {
        response
            .headers_mut()
            .insert("x-ms-continuationtoken", HeaderValue::from(next));
    }
    response
}

pub async fn repository(State(fake): State<Fake>, Path((_org, repo)): Path<(String, String)>) -> Response {
    let state = fake.state.lock().unwrap();
    match find(&state, &repo) {
        Ok(repository) => axum::Json(repository_json(&state, repository)).into_response(),
        Err(response) => response,
    }
}

/// Where in the history a version (branch or commit) is; `None`: unknown.
fn position(repository: &FakeRepository, version: &str, version_type: &str) -> Option<usize> {
    let sha = match version_type {
        "branch" => repository
            .branches
            .get(version.trim_start_matches("refs/heads/"))?
            .as_str(),
        _ => version,
    };
    repository.commits.iter().position(|c| c.sha == sha)
}

/// `GET …/commits`: of a push (`pushId`, `top`/`skip`), or from a version
/// (`searchCriteria.itemVersion.*`, default the main branch), `searchCriteria.$top`.
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
    let top = number(&params, &["searchCriteria.$top", "$top", "top"], 100);
    let skip = number(&params, &["searchCriteria.$skip", "$skip", "skip"], 0);
    if let Some(push_id) = params.get("pushId").and_then(|p| p.parse::<u64>().ok()) {
        let value = repository
            .commits
            .iter()
            .filter(|c| c.push_id == Some(push_id))
            .skip(skip)
            .take(top)
            .map(|c| commit_json(&state, repository, c, true))
            .collect();
        return list(value);
    }
    let version = params.get("searchCriteria.itemVersion.version").cloned();
    let version_type = params
        .get("searchCriteria.itemVersion.versionType")
        .map_or("branch", String::as_str);
    let start = match &version {
        Some(version) => match position(repository, version, version_type) {
            Some(start) => start,
            None => return no_commit(version),
        },
        None => 0,
    };
    let value = repository.commits[start..]
        .iter()
        .skip(skip)
        .take(top)
        .map(|c| commit_json(&state, repository, c, true))
        .collect();
    list(value)
}

pub async fn commit(State(fake): State<Fake>, Path((_org, repo, sha)): Path<(String, String, String)>) -> Response {
    let state = fake.state.lock().unwrap();
    let repository = match find(&state, &repo) {
        Ok(repository) => repository,
        Err(response) => return response,
    };
    match repository.commit(&sha) {
        Some(commit) => axum::Json(commit_json(&state, repository, commit, false)).into_response(),
        None => no_commit(&sha),
    }
}

/// `GET …/commits/{sha}/changes?top=&skip=`.
pub async fn changes(
    State(fake): State<Fake>,
    Path((_org, repo, sha)): Path<(String, String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let state = fake.state.lock().unwrap();
    let repository = match find(&state, &repo) {
        Ok(repository) => repository,
        Err(response) => return response,
    };
    let Some(commit) = repository.commit(&sha) else {
        return no_commit(&sha);
    };
    let top = number(&params, &["top"], 100);
    let skip = number(&params, &["skip"], 0);
    let page: Vec<&Value> = commit.changes.iter().skip(skip).take(top).collect();
    axum::Json(json!({"changeCounts": {}, "changes": page})).into_response()
}

/// Commits after `compareVersion` up to `itemVersion` (newest first), `$top`/`$skip`.
pub async fn commits_batch(
    State(fake): State<Fake>,
    Path((_org, repo)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
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
    let mut head = request["itemVersion"]["version"].as_str().unwrap_or_default();
    let mut base = request["compareVersion"]["version"].as_str().unwrap_or_default();
    if state.commitsbatch_item_is_base {
        std::mem::swap(&mut head, &mut base);
    }
    for version in [head, base] {
        if repository.commit(version).is_none() {
            return no_commit(version);
        }
    }
    let top = number(&params, &["$top"], 100);
    let skip = number(&params, &["$skip"], 0);
    let value = repository
        .commits
        .iter()
        .skip_while(|c| c.sha != head)
        .take_while(|c| c.sha != base)
        .skip(skip)
        .take(top)
        .map(|c| commit_json(&state, repository, c, true))
        .collect();
    list(value)
}

/// `POST …/git/repositories/{repo}/pushes` (the real API's shape, simplified): commits with a
/// `comment` each (oldest first, as Azure DevOps takes them) onto the branch of
/// `refUpdates[0].name`; shas are made up. Delivers `git.push` like a push from a person's clone.
pub async fn create_push(
    State(fake): State<Fake>,
    Path((_org, repo)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = match json_body(&body) {
        Ok(request) => request,
        Err(response) => return response,
    };
    let branch = request["refUpdates"][0]["name"]
        .as_str()
        .unwrap_or("refs/heads/main")
        .trim_start_matches("refs/heads/")
        .to_string();
    let messages: Vec<String> = request["commits"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["comment"].as_str().map(str::to_string))
        .collect();
    if messages.is_empty() {
        return ado_error(
            StatusCode::BAD_REQUEST,
            "A push needs at least one commit with a comment.",
            "InvalidArgumentValueException",
        );
    }
    let person = {
        let state = fake.state.lock().unwrap();
        if let Err(response) = find(&state, &repo) {
            return response;
        }
        match state.identity_by_id(super::PERSON_IDENTITY_ID) {
            Some(person) if acts_as_person(&headers) => person.clone(),
            _ => state.acting_identity(),
        }
    };
    let commits: Vec<FakeCommit> = messages
        .iter()
        .rev()
        .map(|message| {
            let sha = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())[..40].to_string();
            let mut commit = FakeCommit::new(&sha, message);
            commit.author_name = person.display_name.clone();
            commit.author_email = person.email.clone();
            commit
        })
        .collect();
    let head = commits[0].sha.clone();
    let push_id = FakeAdo::from_shared(fake).push(&repo, &branch, commits).await;
    (
        StatusCode::CREATED,
        axum::Json(
            json!({"pushId": push_id, "refUpdates": [{"name": format!("refs/heads/{branch}"), "newObjectId": head}]}),
        ),
    )
        .into_response()
}

impl FakeAdo {
    /// Commits made on `branch` of `repository` (name or id), newest first, without a push
    /// delivery (history that was there before).
    pub fn add_commits(&self, repository: &str, branch: &str, commits: Vec<FakeCommit>) {
        self.state(|state| {
            let repository = state
                .repositories
                .iter_mut()
                .find(|r| r.id == repository || r.name == repository)
                .expect("repository");
            if let Some(head) = commits.first() {
                repository.branches.insert(branch.into(), head.sha.clone());
            }
            repository.commits.splice(0..0, commits);
        });
    }

    /// A push of `commits` (newest first) to `branch`: the history moves, and `git.push` is
    /// delivered to the subscriptions of the repository (at most `push_payload_commits` commits in
    /// the payload, the count in `detailedMessage`, as Azure DevOps words it). Returns the push id.
    pub async fn push(&self, repository: &str, branch: &str, mut commits: Vec<FakeCommit>) -> u64 {
        let (resource, project_id, detailed) = self.state(|state| {
            state.next_push += 1;
            let push_id = state.next_push;
            for commit in &mut commits {
                commit.push_id = Some(push_id);
            }
            let cap = state.push_payload_commits;
            let base_url = state.base_url.clone();
            let index = state
                .repositories
                .iter()
                .position(|r| r.id == repository || r.name == repository)
                .expect("repository");
            let old = state.repositories[index]
                .branches
                .get(branch)
                .cloned()
                .unwrap_or_else(|| "0".repeat(40));
            {
                let repository = &mut state.repositories[index];
                repository.branches.insert(branch.into(), commits[0].sha.clone());
                repository.commits.splice(0..0, commits.clone());
            }
            let repository = &state.repositories[index];
            let project_id = state.project(&repository.project).map(|p| p.id.clone()).unwrap_or_default();
            let carried: Vec<Value> = commits
                .iter()
                .take(cap)
                .map(|c| commit_json(state, repository, c, true))
                .collect();
            let pusher = state.acting_identity();
            let detailed = json!({"text": format!("{} pushed {} commits to {}:{branch}.", pusher.display_name, commits.len(), repository.name)});
            let resource = json!({
                "commits": carried,
                "refUpdates": [{"name": format!("refs/heads/{branch}"), "oldObjectId": old, "newObjectId": commits[0].sha}],
                "repository": repository_json(state, repository),
                "pushedBy": {"id": pusher.id, "displayName": pusher.display_name, "uniqueName": pusher.email},
                "pushId": push_id,
                "date": shared::clock::rfc3339(shared::clock::now_ms()),
                "url": format!("{base_url}/_apis/git/repositories/{}/pushes/{push_id}", repository.id)
            });
            (resource, project_id, detailed)
        });
        let push_id = resource["pushId"].as_u64().unwrap_or_default();
        super::hooks::deliver_described(&self.shared, "git.push", &project_id, resource, detailed).await;
        push_id
    }
}
