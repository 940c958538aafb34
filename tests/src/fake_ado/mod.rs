//! A stateful fake Azure DevOps organization on a free loopback port, speaking the real wire
//! formats (JSON Patch with revisions, comments, WIQL, subscriptions with status, continuation
//! tokens, the 203 sign-in page). It records every request, injects faults per route, and
//! delivers service-hook payloads (resourceVersion 1.0) to subscribers, as Azure DevOps does.

// Handlers answer early with a ready `Response`; boxing it would only add noise in a test fake.
#![allow(clippy::result_large_err, clippy::type_complexity)]

mod git;
mod hooks;
mod state;
mod wit;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State as AxumState};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde_json::{Value, json};

pub use hooks::Delivery;
pub use state::*;

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: String,
}

/// A fault to inject on requests whose path contains `path_contains` (and method, if set).
#[derive(Debug, Clone)]
pub struct Fault {
    pub path_contains: String,
    pub method: Option<Method>,
    pub kind: FaultKind,
    /// How many matching requests get the fault.
    pub times: u32,
    /// How many matching requests pass untouched before the fault applies.
    pub after: u32,
}

#[derive(Debug, Clone)]
pub enum FaultKind {
    /// 429 with `Retry-After: seconds`.
    Throttle { retry_after_secs: u64 },
    /// 503 without a delay header.
    Unavailable,
    /// Answer after a delay.
    Slow(Duration),
    /// 203 with an HTML sign-in page.
    SignInPage,
    /// 401 JSON.
    Unauthorized,
    /// 412, as a `test /rev` against a revision someone else just moved on answers.
    RevisionConflict,
    /// The request is carried out, but its answer never reaches the caller: a gateway's 502
    /// (a process that crashed after the call looks the same to whoever retries it).
    AnswerLost,
}

pub(crate) struct Shared {
    pub state: Mutex<State>,
    pub requests: Mutex<Vec<Recorded>>,
    pub faults: Mutex<Vec<Fault>>,
    pub deliveries: Mutex<Vec<Delivery>>,
    pub http: reqwest::Client,
}

pub(crate) type Fake = Arc<Shared>;

/// A running fake. The server task ends with the test's runtime.
#[derive(Clone)]
pub struct FakeAdo {
    pub address: SocketAddr,
    shared: Fake,
}

impl FakeAdo {
    /// Starts on a free loopback port.
    pub async fn start() -> Self {
        Self::start_on("127.0.0.1:0").await
    }

    /// Starts on `address` (`fake-services` uses fixed ports).
    pub async fn start_on(address: &str) -> Self {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .unwrap_or_else(|e| panic!("bind fake ADO on {address}: {e}"));
        let address = listener.local_addr().expect("address");
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(format!("http://{address}/{ORG}"))),
            requests: Mutex::new(Vec::new()),
            faults: Mutex::new(Vec::new()),
            deliveries: Mutex::new(Vec::new()),
            http: reqwest::Client::new(),
        });
        let router = router(shared.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { address, shared }
    }

    pub(crate) fn from_shared(shared: Fake) -> Self {
        let address = shared.state.lock().unwrap().base_url.clone();
        let address = address
            .trim_start_matches("http://")
            .split('/')
            .next()
            .and_then(|a| a.parse().ok())
            .expect("the fake's own address");
        Self { address, shared }
    }

    /// The organization URL (`http://127.0.0.1:port/fabrikam`).
    pub fn org_url(&self) -> String {
        format!("http://{}/{ORG}", self.address)
    }

    /// The Entra authority serving `/{tenant}/oauth2/v2.0/token`.
    pub fn authority(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn state<T>(&self, read: impl FnOnce(&mut State) -> T) -> T {
        read(&mut self.shared.state.lock().unwrap())
    }

    pub fn inject(&self, fault: Fault) {
        self.shared.faults.lock().unwrap().push(fault);
    }

    /// Shorthand: `times` faults of `kind` on paths containing `path_contains`.
    pub fn fail(&self, path_contains: &str, kind: FaultKind, times: u32) {
        self.inject(Fault {
            path_contains: path_contains.into(),
            method: None,
            kind,
            times,
            after: 0,
        });
    }

    /// Ends every injected fault (the organization recovers).
    pub fn clear_faults(&self) {
        self.shared.faults.lock().unwrap().clear();
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Requests whose path contains `fragment`.
    pub fn requests_to(&self, fragment: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.path.contains(fragment))
            .collect()
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared.deliveries.lock().unwrap().clone()
    }

    /// The first delivery so far that `matches`.
    pub fn delivery_where(&self, matches: impl Fn(&Delivery) -> bool) -> Option<Delivery> {
        self.deliveries().into_iter().find(|d| matches(d))
    }

    /// Sends `payload` again to `delivery`'s subscriber with its credentials, as Azure DevOps
    /// redelivers a notification.
    pub async fn redeliver(&self, delivery: &Delivery, payload: &Value) -> reqwest::Response {
        let inputs = self.subscription_raw(&delivery.subscription_id).expect("subscription")["consumerInputs"].clone();
        hooks::post_to_subscriber(&self.shared, &inputs, payload)
            .await
            .expect("subscriber reachable")
    }

    /// Stored subscriptions (as the API returns them, password masked).
    pub fn subscriptions(&self) -> Vec<Value> {
        let state = self.shared.state.lock().unwrap();
        state.subscriptions.values().map(hooks::masked).collect()
    }

    /// The stored subscription including its real consumer inputs (what a delivery uses).
    pub fn subscription_raw(&self, id: &str) -> Option<Value> {
        self.shared.state.lock().unwrap().subscriptions.get(id).cloned()
    }

    pub fn set_subscription_status(&self, id: &str, status: &str) {
        if let Some(subscription) = self.shared.state.lock().unwrap().subscriptions.get_mut(id) {
            subscription["status"] = json!(status);
        }
    }

    /// Changes a work item as a person would in the UI (fires `workitem.updated`).
    pub async fn edit_work_item_as(
        &self,
        identity_id: &str,
        id: u64,
        ops: Value,
    ) -> Result<Value, (StatusCode, Value)> {
        wit::apply_patch_as(&self.shared, identity_id, id, ops).await
    }

    /// Deletes (to the recycle bin) or restores a work item as a person would (fires
    /// `workitem.deleted` / `workitem.restored`).
    pub async fn recycle_as(&self, identity_id: &str, id: u64, deleted: bool) -> Result<(), (StatusCode, Value)> {
        wit::recycle_as(&self.shared, identity_id, id, deleted).await
    }

    /// Adds a comment as a person would (fires `workitem.commented`).
    pub async fn comment_as(&self, identity_id: &str, id: u64, text: &str) -> Result<Value, (StatusCode, Value)> {
        wit::add_comment_as(&self.shared, identity_id, id, text, "html").await
    }
}

pub(crate) fn ado_error(status: StatusCode, message: &str, type_key: &str) -> Response {
    (status, axum::Json(json!({"$id": "1", "innerException": null, "message": message, "typeKey": type_key, "errorCode": 0, "eventId": 3000})))
        .into_response()
}

const SIGN_IN_PAGE: &str =
    "<!DOCTYPE html><html><head><title>Azure DevOps Services | Sign In</title></head><body>Sign in</body></html>";

fn sign_in_page() -> Response {
    (
        StatusCode::NON_AUTHORITATIVE_INFORMATION,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        SIGN_IN_PAGE,
    )
        .into_response()
}

/// Whether the request carries the person's PAT rather than the bridge's credential.
pub(crate) fn acts_as_person(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|encoded| base64::engine::general_purpose::STANDARD.decode(encoded).ok())
        .is_some_and(|decoded| String::from_utf8_lossy(&decoded).ends_with(&format!(":{PERSON_PAT}")))
}

fn authenticated(state: &State, headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    if let Some(encoded) = value.strip_prefix("Basic ") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&decoded);
        return text
            .split_once(':')
            .is_some_and(|(_, pat)| pat == state.pat || pat == PERSON_PAT);
    }
    value
        .strip_prefix("Bearer ")
        .is_some_and(|token| state.issued_tokens.iter().any(|t| t == token))
}

/// Records the request, applies injected faults, checks credentials (token endpoint excepted).
async fn gate(AxumState(fake): AxumState<Fake>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 16 * 1024 * 1024).await.unwrap_or_default();
    fake.requests.lock().unwrap().push(Recorded {
        method: parts.method.clone(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or_default().to_string(),
        headers: parts.headers.clone(),
        body: String::from_utf8_lossy(&bytes).to_string(),
    });
    let fault = {
        let mut faults = fake.faults.lock().unwrap();
        let found = faults.iter().position(|f| {
            f.times > 0
                && parts.uri.path().contains(&f.path_contains)
                && f.method.as_ref().is_none_or(|m| *m == parts.method)
        });
        found.and_then(|i| {
            if faults[i].after > 0 {
                faults[i].after -= 1;
                return None;
            }
            faults[i].times -= 1;
            Some(faults[i].kind.clone())
        })
    };
    match fault {
        Some(FaultKind::Throttle { retry_after_secs }) => {
            let mut response = ado_error(
                StatusCode::TOO_MANY_REQUESTS,
                "TF400733: The request has been canceled: Request was blocked due to exceeding usage of resource 'Core' in namespace 'User'.",
                "RequestBlockedException",
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, retry_after_secs.into());
            return response;
        }
        Some(FaultKind::Unavailable) => {
            return ado_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "Service Unavailable",
                "ServiceUnavailableException",
            );
        }
        Some(FaultKind::SignInPage) => return sign_in_page(),
        Some(FaultKind::Unauthorized) => {
            return ado_error(
                StatusCode::UNAUTHORIZED,
                "TF400813: The user '' is not authorized to access this resource.",
                "UnauthorizedRequestException",
            );
        }
        Some(FaultKind::RevisionConflict) => {
            return ado_error(
                StatusCode::PRECONDITION_FAILED,
                "The update failed because the work item was changed (rev).",
                "WorkItemRevisionMismatchException",
            );
        }
        Some(FaultKind::Slow(delay)) => tokio::time::sleep(delay).await,
        Some(FaultKind::AnswerLost) => {
            let _ = next.run(Request::from_parts(parts, Body::from(bytes))).await;
            return (StatusCode::BAD_GATEWAY, "<html><body>502 Bad Gateway</body></html>").into_response();
        }
        None => {}
    }
    let is_token_request = parts.uri.path().ends_with("/oauth2/v2.0/token");
    if !is_token_request && !authenticated(&fake.state.lock().unwrap(), &parts.headers) {
        let suppressed = parts
            .headers
            .get("x-tfs-fedauthredirect")
            .is_some_and(|v| v == "Suppress");
        return if suppressed && parts.method != Method::GET {
            ado_error(
                StatusCode::UNAUTHORIZED,
                "TF400813: The user '' is not authorized to access this resource.",
                "UnauthorizedRequestException",
            )
        } else {
            // Azure DevOps answers unauthenticated GETs with the sign-in page even when asked
            // not to redirect; other methods get 401 JSON.
            sign_in_page()
        };
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

fn router(fake: Fake) -> Router {
    Router::new()
        .route("/{org}/oauth2/v2.0/token", post(hooks::token))
        .route("/{org}/_apis/connectionData", get(hooks::connection_data))
        .route("/{org}/_apis/projects", get(wit::projects))
        .route("/{org}/_apis/identities", get(git::identities))
        .route("/{org}/_apis/hooks/subscriptions", get(hooks::list).post(hooks::create))
        .route(
            "/{org}/_apis/hooks/subscriptions/{id}",
            get(hooks::show).put(hooks::replace).delete(hooks::delete),
        )
        .route(
            "/{org}/_apis/wit/workitems/{id}",
            get(wit::get_item).patch(wit::update_item),
        )
        .route("/{org}/_apis/wit/workitemsbatch", post(wit::batch))
        .route("/{org}/_apis/wit/wiql", post(wit::wiql_org))
        .route(
            "/{org}/{project}/_apis/wit/workitems/{kind}",
            post(wit::create_item).get(wit::get_item_in_project),
        )
        .route("/{org}/{project}/_apis/wit/workitemtypes", get(wit::types))
        .route(
            "/{org}/{project}/_apis/wit/workitemtypes/{kind}/states",
            get(wit::states),
        )
        .route(
            "/{org}/{project}/_apis/wit/workitemtypecategories",
            get(wit::categories),
        )
        .route(
            "/{org}/{project}/_apis/wit/classificationnodes/{group}",
            get(wit::classification),
        )
        .route("/{org}/{project}/_apis/wit/wiql", post(wit::wiql))
        .route(
            "/{org}/{project}/_apis/wit/workItems/{id}/comments",
            get(wit::list_comments).post(wit::add_comment),
        )
        .route(
            "/{org}/{project}/_apis/wit/workItems/{id}/comments/{comment}",
            axum::routing::patch(wit::update_comment).delete(wit::delete_comment),
        )
        .route("/{org}/_apis/git/repositories", get(git::repositories))
        .route("/{org}/_apis/git/repositories/{repo}", get(git::repository))
        .route("/{org}/_apis/git/repositories/{repo}/commits", get(git::commits))
        .route("/{org}/_apis/git/repositories/{repo}/commits/{sha}", get(git::commit))
        .route(
            "/{org}/_apis/git/repositories/{repo}/commits/{sha}/changes",
            get(git::changes),
        )
        .route(
            "/{org}/_apis/git/repositories/{repo}/commitsbatch",
            post(git::commits_batch),
        )
        .route("/{org}/_apis/git/repositories/{repo}/pushes", post(git::create_push))
        .fallback(|| async {
            ado_error(
                StatusCode::NOT_FOUND,
                "The resource cannot be found.",
                "NotFoundException",
            )
        })
        .layer(axum::middleware::from_fn_with_state(fake.clone(), gate))
        .with_state(fake)
}

/// Parses a JSON body or answers 400 like ADO does.
pub(crate) fn json_body(bytes: &Bytes) -> Result<Value, Response> {
    serde_json::from_slice(bytes).map_err(|_| {
        ado_error(
            StatusCode::BAD_REQUEST,
            "VS402382: The request body is not valid JSON.",
            "InvalidArgumentValueException",
        )
    })
}
