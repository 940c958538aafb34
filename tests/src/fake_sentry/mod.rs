//! A stateful fake Sentry on a free loopback port: issues with status and assignee, members,
//! comments (with Sentry's duplicate-comment rule), bearer-token checks, recorded calls and
//! injectable failures; releases with their commits ([`releases`]).

mod releases;
pub use releases::FakeRelease;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use serde_json::{Value, json};

pub const TOKEN: &str = "sentry-auth-token-value";
pub const ORG: &str = "acme";
/// The installation of the bridge's internal integration in the fake organization.
pub const INSTALLATION: &str = "6f2b7a0e-3c1d-4e5f-9a8b-7c6d5e4f3a2b";

#[derive(Debug, Clone, Default)]
pub struct FakeIssue {
    pub status: String,
    /// `user:{id}` or `None`.
    pub assigned_to: Option<String>,
    pub comments: Vec<(String, String)>,
    /// `BACKEND-{id}` unless set otherwise.
    pub short_id: String,
}

#[derive(Debug, Clone)]
pub struct Call {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub body: String,
}

#[derive(Default)]
struct Inner {
    issues: BTreeMap<String, FakeIssue>,
    /// `(user id, email)`.
    members: Vec<(String, String)>,
    calls: Vec<Call>,
    /// Answer this many requests with 503.
    failures: u32,
    /// Answer this many requests with 429 and `Retry-After: 1`.
    throttles: u32,
    /// External issues: `(id, body)`.
    external_issues: Vec<(String, Value)>,
    next_comment: u64,
    /// Tokens accepted besides [`TOKEN`].
    extra_tokens: Vec<String>,
    releases: Vec<FakeRelease>,
    /// Carry out this many requests whose path contains the text, but answer each with 502 (the
    /// answer lost on the way).
    lost_answers: Option<(String, u32)>,
}

#[derive(Clone)]
pub struct FakeSentry {
    pub address: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

type Shared = Arc<Mutex<Inner>>;

impl FakeSentry {
    /// Starts on a free loopback port.
    pub async fn start() -> Self {
        Self::start_on("127.0.0.1:0").await
    }

    /// Starts on `address` (`fake-services` uses fixed ports).
    pub async fn start_on(address: &str) -> Self {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .unwrap_or_else(|e| panic!("bind fake Sentry on {address}: {e}"));
        let address = listener.local_addr().expect("address");
        let inner = Arc::new(Mutex::new(Inner {
            members: vec![
                ("101".into(), "alice@fabrikam.example".into()),
                ("102".into(), "jamal@fabrikam.example".into()),
                // Jamal again, under the email he uses in Sentry (a user mapping pairs them).
                ("103".into(), "jamal.h@personal.example".into()),
            ],
            next_comment: 500,
            ..Default::default()
        }));
        let router = Router::new()
            .route("/api/0/organizations/{org}/issues/", get(list_issues))
            .route(
                "/api/0/organizations/{org}/issues/{id}/",
                get(show_issue).put(update_issue),
            )
            .route(
                "/api/0/organizations/{org}/issues/{id}/comments/",
                get(list_comments).post(add_comment),
            )
            .route(
                "/api/0/organizations/{org}/issues/{id}/comments/{comment}/",
                put(edit_comment).delete(delete_comment),
            )
            .route("/api/0/organizations/{org}/members/", get(members))
            .route(
                "/api/0/organizations/{org}/sentry-app-installations/",
                get(installations),
            )
            .route(
                "/api/0/sentry-app-installations/{uuid}/external-issues/",
                axum::routing::post(link_external),
            )
            .route(
                "/api/0/sentry-app-installations/{uuid}/external-issues/{id}/",
                axum::routing::delete(unlink_external),
            )
            .route("/api/0/organizations/{org}/shortids/{short_id}/", get(short_id))
            .merge(releases::routes())
            .layer(axum::middleware::from_fn_with_state(inner.clone(), gate))
            .with_state(inner.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { address, inner }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn add_issue(&self, id: &str) {
        self.inner.lock().unwrap().issues.insert(
            id.into(),
            FakeIssue {
                status: "unresolved".into(),
                short_id: format!("BACKEND-{id}"),
                ..Default::default()
            },
        );
    }

    /// A person changed the issue's status in Sentry (what its webhook then reports).
    pub fn set_status(&self, id: &str, status: &str) {
        let mut inner = self.inner.lock().unwrap();
        inner.issues.entry(id.into()).or_default().status = status.to_string();
    }

    /// A person assigned the issue in Sentry to a user id (`None`: unassigned).
    pub fn set_assignee(&self, id: &str, user_id: Option<&str>) {
        let mut inner = self.inner.lock().unwrap();
        let issue = inner.issues.entry(id.into()).or_insert_with(|| FakeIssue {
            status: "unresolved".into(),
            ..Default::default()
        });
        issue.assigned_to = user_id.map(|user| format!("user:{user}"));
    }

    pub fn issue(&self, id: &str) -> FakeIssue {
        self.inner.lock().unwrap().issues.get(id).cloned().unwrap_or_default()
    }

    pub fn calls(&self) -> Vec<Call> {
        self.inner.lock().unwrap().calls.clone()
    }

    /// Calls that change something (PUT, POST, DELETE).
    pub fn writes(&self) -> Vec<Call> {
        self.calls().into_iter().filter(|c| c.method != Method::GET).collect()
    }

    /// The next `count` requests get 429 with `Retry-After: 1`.
    pub fn throttle_next(&self, count: u32) {
        self.inner.lock().unwrap().throttles = count;
    }

    /// Accepts `token` too (a rotated token).
    pub fn accept_token(&self, token: &str) {
        self.inner.lock().unwrap().extra_tokens.push(token.to_string());
    }

    /// External issues linked through the installation API: `(id, body)`.
    pub fn external_issues(&self) -> Vec<(String, Value)> {
        self.inner.lock().unwrap().external_issues.clone()
    }

    /// The next `count` requests to a path containing `path_contains` are carried out, but their
    /// answers are lost (502).
    pub fn lose_next_answers(&self, path_contains: &str, count: u32) {
        self.inner.lock().unwrap().lost_answers = Some((path_contains.to_string(), count));
    }

    /// The next `count` requests get 503.
    pub fn fail_next(&self, count: u32) {
        self.inner.lock().unwrap().failures = count;
    }
}

async fn gate(State(inner): State<Shared>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 16 << 20).await.unwrap_or_default();
    {
        let mut inner = inner.lock().unwrap();
        inner.calls.push(Call {
            method: parts.method.clone(),
            path: parts.uri.path().to_string(),
            query: parts.uri.query().unwrap_or_default().to_string(),
            body: String::from_utf8_lossy(&bytes).to_string(),
        });
        if inner.throttles > 0 {
            inner.throttles -= 1;
            let mut response = (
                StatusCode::TOO_MANY_REQUESTS,
                axum::Json(json!({"detail": "Rate limit exceeded"})),
            )
                .into_response();
            response.headers_mut().insert(header::RETRY_AFTER, 1.into());
            return response;
        }
        if inner.failures > 0 {
            inner.failures -= 1;
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({"detail": "Service unavailable"})),
            )
                .into_response();
        }
    }
    let presented = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let authorized = presented.is_some_and(|t| t == TOKEN || inner.lock().unwrap().extra_tokens.iter().any(|e| e == t));
    if !authorized {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({"detail": "Invalid token"}))).into_response();
    }
    let path = parts.uri.path().to_string();
    let response = next
        .run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await;
    let mut inner = inner.lock().unwrap();
    if let Some((fragment, count)) = inner.lost_answers.as_mut()
        && *count > 0
        && path.contains(fragment.as_str())
    {
        *count -= 1;
        return (StatusCode::BAD_GATEWAY, axum::Json(json!({"detail": "Bad gateway"}))).into_response();
    }
    response
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"detail": "The requested resource does not exist"})),
    )
        .into_response()
}

/// An issue as Sentry serializes it: `assignedTo` is an actor (`{type, id (a string), name,
/// email}`) or null.
fn issue_json(inner: &Inner, id: &str, issue: &FakeIssue) -> Value {
    let assigned_to = issue.assigned_to.as_deref().map(|actor| {
        let user = actor.trim_start_matches("user:");
        let email = inner
            .members
            .iter()
            .find(|(member, _)| member == user)
            .map(|(_, email)| email.clone())
            .unwrap_or_default();
        json!({"type": "user", "id": user, "name": email, "email": email})
    });
    json!({"id": id, "shortId": issue.short_id, "status": issue.status, "assignedTo": assigned_to})
}

/// `GET …/shortids/{short_id}/`: the issue a short id names in this organization.
async fn short_id(State(inner): State<Shared>, Path((org, short_id)): Path<(String, String)>) -> Response {
    let inner = inner.lock().unwrap();
    let found = inner
        .issues
        .iter()
        .find(|(_, issue)| issue.short_id.eq_ignore_ascii_case(&short_id));
    match found {
        Some((id, issue)) => axum::Json(json!({
            "organizationSlug": org, "projectSlug": "backend", "groupId": id, "shortId": issue.short_id,
            "group": issue_json(&inner, id, issue)
        }))
        .into_response(),
        None => not_found(),
    }
}

/// `GET …/issues/?group=1&group=2…`: those issues, as the issue stream serializes them (at most
/// 100 ids a call, as the bridge asks; unknown ids are left out).
async fn list_issues(State(inner): State<Shared>, uri: axum::http::Uri) -> Response {
    let ids: Vec<String> = url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .filter(|(name, _)| name == "group")
        .map(|(_, id)| id.into_owned())
        .collect();
    if ids.len() > 100 {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"detail": "too many groups"})),
        )
            .into_response();
    }
    let inner = inner.lock().unwrap();
    let issues: Vec<Value> = ids
        .iter()
        .filter_map(|id| inner.issues.get(id).map(|issue| issue_json(&inner, id, issue)))
        .collect();
    axum::Json(issues).into_response()
}

/// `GET` an issue: its status and assignee, so a person trying the bridge against the fakes can
/// watch a sync land.
async fn show_issue(State(inner): State<Shared>, Path((_org, id)): Path<(String, String)>) -> Response {
    let inner = inner.lock().unwrap();
    match inner.issues.get(&id) {
        Some(issue) => axum::Json(issue_json(&inner, &id, issue)).into_response(),
        None => not_found(),
    }
}

async fn update_issue(State(inner): State<Shared>, Path((_org, id)): Path<(String, String)>, body: Bytes) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut inner = inner.lock().unwrap();
    let members: Vec<String> = inner.members.iter().map(|(id, _)| format!("user:{id}")).collect();
    let Some(issue) = inner.issues.get_mut(&id) else {
        return not_found();
    };
    if let Some(status) = request["status"].as_str() {
        if !["resolved", "unresolved", "ignored", "resolvedInNextRelease"].contains(&status) {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"status": ["invalid choice"]})),
            )
                .into_response();
        }
        issue.status = status.to_string();
    }
    if let Some(assignee) = request.get("assignedTo") {
        match assignee.as_str() {
            None | Some("") => issue.assigned_to = None,
            Some(actor) if members.iter().any(|m| m == actor) => issue.assigned_to = Some(actor.to_string()),
            Some(_) => {
                return (
                    StatusCode::BAD_REQUEST,
                    axum::Json(json!({"assignedTo": ["Unknown actor input"]})),
                )
                    .into_response();
            }
        }
    }
    let issue = issue.clone();
    axum::Json(issue_json(&inner, &id, &issue)).into_response()
}

async fn members(
    State(inner): State<Shared>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let query = query.get("query").cloned().unwrap_or_default();
    let by_email = query.strip_prefix("email:").map(str::to_lowercase);
    let by_user = query.strip_prefix("user.id:").map(str::to_string);
    let inner = inner.lock().unwrap();
    let found: Vec<Value> = inner
        .members
        .iter()
        .filter(|(id, email)| by_email.as_deref() == Some(email.as_str()) || by_user.as_deref() == Some(id.as_str()))
        .map(|(id, email)| json!({"id": format!("m{id}"), "email": email, "user": {"id": id, "email": email}}))
        .collect();
    axum::Json(found).into_response()
}

async fn add_comment(State(inner): State<Shared>, Path((_org, id)): Path<(String, String)>, body: Bytes) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let text = request["text"].as_str().unwrap_or_default().to_string();
    let mut inner = inner.lock().unwrap();
    inner.next_comment += 1;
    let comment_id = inner.next_comment.to_string();
    let Some(issue) = inner.issues.get_mut(&id) else {
        return not_found();
    };
    if issue.comments.iter().any(|(_, existing)| *existing == text) {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"detail": "You have already posted that comment."})),
        )
            .into_response();
    }
    issue.comments.push((comment_id.clone(), text.clone()));
    (
        StatusCode::CREATED,
        axum::Json(json!({"id": comment_id, "type": "note", "data": {"text": text}})),
    )
        .into_response()
}

async fn list_comments(State(inner): State<Shared>, Path((_org, id)): Path<(String, String)>) -> Response {
    let inner = inner.lock().unwrap();
    let Some(issue) = inner.issues.get(&id) else {
        return not_found();
    };
    let comments: Vec<Value> = issue
        .comments
        .iter()
        .rev()
        .map(|(cid, text)| json!({"id": cid, "type": "note", "data": {"text": text}}))
        .collect();
    axum::Json(comments).into_response()
}

async fn edit_comment(
    State(inner): State<Shared>,
    Path((_org, id, comment)): Path<(String, String, String)>,
    body: Bytes,
) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut inner = inner.lock().unwrap();
    let Some(issue) = inner.issues.get_mut(&id) else {
        return not_found();
    };
    match issue.comments.iter_mut().find(|(cid, _)| *cid == comment) {
        Some(entry) => {
            entry.1 = request["text"].as_str().unwrap_or_default().to_string();
            axum::Json(json!({"id": comment, "data": {"text": entry.1}})).into_response()
        }
        None => not_found(),
    }
}

async fn delete_comment(
    State(inner): State<Shared>,
    Path((_org, id, comment)): Path<(String, String, String)>,
) -> Response {
    let mut inner = inner.lock().unwrap();
    let Some(issue) = inner.issues.get_mut(&id) else {
        return not_found();
    };
    let before = issue.comments.len();
    issue.comments.retain(|(cid, _)| *cid != comment);
    if issue.comments.len() < before {
        StatusCode::NO_CONTENT.into_response()
    } else {
        not_found()
    }
}

async fn link_external(State(inner): State<Shared>, body: Bytes) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if !request["issueId"].is_u64() {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"issueId": ["A valid integer is required."]})),
        )
            .into_response();
    }
    let mut inner = inner.lock().unwrap();
    let issue = request["issueId"].to_string();
    if !inner.issues.contains_key(&issue) {
        return not_found();
    }
    inner
        .external_issues
        .retain(|(_, existing)| existing["issueId"] != request["issueId"]);
    inner.next_comment += 1;
    let id = inner.next_comment.to_string();
    inner.external_issues.push((id.clone(), request.clone()));
    let answer = json!({"id": id, "issueId": issue, "serviceType": "azure-devops-bridge", "displayName": request["identifier"], "webUrl": request["webUrl"]});
    axum::Json(answer).into_response()
}

async fn unlink_external(State(inner): State<Shared>, Path((_uuid, id)): Path<(String, String)>) -> Response {
    let mut inner = inner.lock().unwrap();
    let before = inner.external_issues.len();
    inner.external_issues.retain(|(existing, _)| *existing != id);
    if inner.external_issues.len() < before {
        StatusCode::NO_CONTENT.into_response()
    } else {
        not_found()
    }
}

async fn installations() -> Response {
    axum::Json(json!([{"uuid": INSTALLATION, "status": "installed", "app": {"uuid": "a1b2c3d4-0000-4000-8000-000000000001", "slug": "azure-devops-bridge"}, "organization": {"slug": ORG}}])).into_response()
}
