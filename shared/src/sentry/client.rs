//! Sentry's REST API with the integration's token: org-scoped issue updates (status,
//! assignee), member lookup by email, comments. Timeouts, bounded 429 retries honouring
//! `Retry-After` / `X-Sentry-Rate-Limit-Reset`, typed errors.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::clock;
use crate::retry::{Attempt, RetryPolicy, may_resend};
use crate::secrets::Secret;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SentryError {
    #[error("Sentry refused the token ({status}): {message}")]
    Auth { status: u16, message: String },
    #[error("not found in Sentry: {0}")]
    NotFound(String),
    #[error("Sentry rate limit; retry after {retry_after_secs}s")]
    RateLimited { retry_after_secs: u64 },
    #[error("Sentry answered {status}: {message}")]
    Http { status: u16, message: String },
    #[error("could not reach Sentry: {0}")]
    Transport(String),
    #[error("unexpected answer from Sentry: {0}")]
    Decode(String),
}

impl SentryError {
    /// Worth trying again later.
    pub fn is_transient(&self) -> bool {
        matches!(self, SentryError::RateLimited { .. } | SentryError::Transport(_))
            || matches!(self, SentryError::Http { status, .. } if *status >= 500)
    }

    /// Sentry's answer to the same text from the same user within an hour: the comment is
    /// already there (typically posted by an attempt that crashed before recording it).
    pub fn is_duplicate_comment(&self) -> bool {
        matches!(self, SentryError::Http { status: 400, message } if message.contains("already posted"))
    }
}

#[derive(Clone)]
pub struct SentryClient {
    http: reqwest::Client,
    pub(super) base_url: String,
    pub(super) organization: String,
    token: Secret,
    pub(super) policy: RetryPolicy,
}

#[derive(Deserialize)]
struct Member {
    #[serde(default)]
    email: String,
    #[serde(default)]
    user: Option<MemberUser>,
}

#[derive(Deserialize)]
struct MemberUser {
    id: String,
    #[serde(default)]
    email: String,
}

/// A comment on an issue (an "activity" of type note).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SentryComment {
    pub id: String,
    #[serde(default)]
    pub data: Value,
}

/// The cursor of the next page from Sentry's `Link` header (`…; rel="next"; results="true";
/// cursor="100:1:0"`); `None` on the last page.
pub(super) fn next_cursor(headers: &reqwest::header::HeaderMap) -> Option<String> {
    let link = headers.get("link")?.to_str().ok()?;
    link.split(", <").find_map(|part| {
        let next = part.contains("rel=\"next\"") && part.contains("results=\"true\"");
        let cursor = part.split("cursor=\"").nth(1)?.split('"').next()?;
        next.then(|| cursor.to_string())
    })
}

pub(super) fn message_of(body: &str) -> String {
    let parsed: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    match parsed.get("detail").and_then(Value::as_str) {
        Some(detail) => detail.to_string(),
        None if parsed.is_object() => parsed.to_string().chars().take(300).collect(),
        None => body.chars().take(300).collect(),
    }
}

/// Seconds until Sentry accepts calls again: `Retry-After`, else `X-Sentry-Rate-Limit-Reset` (epoch).
fn wait_hint(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    let number = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<f64>().ok();
    number("retry-after").map(|s| s.ceil() as u64).or_else(|| {
        number("x-sentry-rate-limit-reset")
            .map(|reset| ((reset * 1000.0) as i64 - clock::now_ms()).max(0) as u64 / 1000 + 1)
    })
}

impl SentryClient {
    pub fn new(http: reqwest::Client, base_url: &str, organization: &str, token: Secret) -> Self {
        Self {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            organization: organization.to_string(),
            token,
            policy: RetryPolicy::default(),
        }
    }

    pub fn with_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!("{}/api/0/organizations/{}/{path}", self.base_url, self.organization)
    }

    pub(super) async fn send(
        &self,
        method: Method,
        url: String,
        body: Option<Value>,
    ) -> Result<(Option<String>, String), SentryError> {
        let mut retries = 0;
        loop {
            let mut request = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(self.token.expose())
                .timeout(self.policy.timeout);
            if let Some(body) = &body {
                request = request.json(body);
            }
            let response = match request.send().await {
                Ok(response) => response,
                Err(e) => {
                    let wait = self
                        .policy
                        .wait_before_resending(&method, Attempt::NoAnswer, retries, None);
                    let Some(wait) = wait else {
                        let what = if e.is_timeout() {
                            "timed out"
                        } else {
                            "connection failed"
                        };
                        return Err(SentryError::Transport(what.into()));
                    };
                    tracing::warn!(%method, "Sentry call failed; retrying");
                    tokio::time::sleep(wait).await;
                    retries += 1;
                    continue;
                }
            };
            let status = response.status();
            if !status.is_success() && may_resend(&method, Attempt::Status(status.as_u16())) {
                let requested = wait_hint(response.headers()).map(Duration::from_secs);
                if let Some(wait) = self.policy.wait_before_retry(retries, requested) {
                    tracing::warn!(%method, status = status.as_u16(), wait_ms = wait.as_millis() as u64, "Sentry refused the call for now; waiting");
                    tokio::time::sleep(wait).await;
                    retries += 1;
                    continue;
                }
                if status == StatusCode::TOO_MANY_REQUESTS {
                    return Err(SentryError::RateLimited {
                        retry_after_secs: requested.map_or(1, |w| w.as_secs().max(1)),
                    });
                }
            }
            let next = next_cursor(response.headers());
            let text = response
                .text()
                .await
                .map_err(|_| SentryError::Transport("could not read the body".into()))?;
            return match status.as_u16() {
                200..=299 => Ok((next, text)),
                401 | 403 => Err(SentryError::Auth {
                    status: status.as_u16(),
                    message: message_of(&text),
                }),
                404 => Err(SentryError::NotFound(message_of(&text))),
                code => Err(SentryError::Http {
                    status: code,
                    message: message_of(&text),
                }),
            };
        }
    }

    /// The organization's Sentry-app installations: `(installation uuid, app slug)`. Also the
    /// cheapest check that the token works.
    pub async fn installations(&self) -> Result<Vec<(String, String)>, SentryError> {
        let (_, text) = self
            .send(Method::GET, self.url("sentry-app-installations/"), None)
            .await?;
        let list: Vec<Value> = serde_json::from_str(&text).map_err(|e| SentryError::Decode(e.to_string()))?;
        Ok(list
            .iter()
            .filter_map(|i| {
                Some((
                    i["uuid"].as_str()?.to_string(),
                    i["app"]["slug"].as_str().unwrap_or_default().to_string(),
                ))
            })
            .collect())
    }

    /// An issue as Sentry shows it now (`status`, `assignedTo`, …).
    pub async fn issue(&self, issue_id: &str) -> Result<Value, SentryError> {
        let url = self.url(&format!("issues/{issue_id}/"));
        let (_, text) = self.send(Method::GET, url, None).await?;
        serde_json::from_str(&text).map_err(|e| SentryError::Decode(e.to_string()))
    }

    /// Most issues one [`Self::issues`] call asks for.
    pub const ISSUES_PER_CALL: usize = 100;

    /// Many issues as Sentry shows them now, in one call per [`Self::ISSUES_PER_CALL`] ids
    /// (`GET …/issues/?group=1&group=2…`); issues Sentry does not return (deleted, or in a
    /// project the token cannot see) are left out. Returns the issues and the calls made.
    pub async fn issues(&self, ids: &[String]) -> Result<(Vec<Value>, u32), SentryError> {
        let mut issues = Vec::with_capacity(ids.len());
        let mut calls = 0;
        for chunk in ids.chunks(Self::ISSUES_PER_CALL) {
            let mut url = url::Url::parse(&self.url("issues/")).map_err(|e| SentryError::Decode(e.to_string()))?;
            {
                let mut query = url.query_pairs_mut();
                for id in chunk {
                    query.append_pair("group", id);
                }
            }
            let (_, text) = self.send(Method::GET, url.to_string(), None).await?;
            calls += 1;
            let page: Vec<Value> = serde_json::from_str(&text).map_err(|e| SentryError::Decode(e.to_string()))?;
            issues.extend(page);
        }
        Ok((issues, calls))
    }

    /// Sets an issue's status (`resolved`, `unresolved`, `ignored`).
    pub async fn set_status(&self, issue_id: &str, status: &str) -> Result<(), SentryError> {
        let url = self.url(&format!("issues/{issue_id}/"));
        self.send(Method::PUT, url, Some(json!({"status": status})))
            .await
            .map(|_| ())
    }

    /// Assigns an issue to a user id (`user:{id}`), or unassigns with `None`.
    pub async fn assign(&self, issue_id: &str, user_id: Option<&str>) -> Result<(), SentryError> {
        let assigned_to = user_id.map(|id| format!("user:{id}")).unwrap_or_default();
        let url = self.url(&format!("issues/{issue_id}/"));
        self.send(Method::PUT, url, Some(json!({"assignedTo": assigned_to})))
            .await
            .map(|_| ())
    }

    /// The user id of the organization member with this email (pending invites have none).
    pub async fn member_user_id(&self, email: &str) -> Result<Option<String>, SentryError> {
        let mut url = reqwest::Url::parse(&self.url("members/")).map_err(|e| SentryError::Decode(e.to_string()))?;
        url.query_pairs_mut().append_pair("query", &format!("email:{email}"));
        let (_, text) = self.send(Method::GET, url.to_string(), None).await?;
        let members: Vec<Member> = serde_json::from_str(&text).map_err(|e| SentryError::Decode(e.to_string()))?;
        Ok(members
            .into_iter()
            .filter_map(|m| m.user.map(|u| (m.email, u)))
            .find(|(member_email, user)| {
                member_email.eq_ignore_ascii_case(email) || user.email.eq_ignore_ascii_case(email)
            })
            .map(|(_, user)| user.id))
    }

    /// The email of the member with this user id (for webhooks where privacy hides it).
    pub async fn member_email(&self, user_id: &str) -> Result<Option<String>, SentryError> {
        let mut url = reqwest::Url::parse(&self.url("members/")).map_err(|e| SentryError::Decode(e.to_string()))?;
        url.query_pairs_mut()
            .append_pair("query", &format!("user.id:{user_id}"));
        let (_, text) = self.send(Method::GET, url.to_string(), None).await?;
        let members: Vec<Member> = serde_json::from_str(&text).map_err(|e| SentryError::Decode(e.to_string()))?;
        Ok(members
            .into_iter()
            .filter_map(|m| m.user.map(|u| (m.email, u)))
            .find(|(_, user)| user.id == user_id)
            .map(|(email, user)| if email.is_empty() { user.email } else { email }.to_lowercase())
            .filter(|email| email.contains('@')))
    }

    /// Posts a comment; returns its id.
    pub async fn add_comment(&self, issue_id: &str, text: &str) -> Result<String, SentryError> {
        let url = self.url(&format!("issues/{issue_id}/comments/"));
        let (_, body) = self.send(Method::POST, url, Some(json!({"text": text}))).await?;
        let comment: SentryComment = serde_json::from_str(&body).map_err(|e| SentryError::Decode(e.to_string()))?;
        Ok(comment.id)
    }

    /// The issue's comments, newest first.
    pub async fn comments(&self, issue_id: &str) -> Result<Vec<SentryComment>, SentryError> {
        let url = self.url(&format!("issues/{issue_id}/comments/"));
        let (_, body) = self.send(Method::GET, url, None).await?;
        serde_json::from_str(&body).map_err(|e| SentryError::Decode(e.to_string()))
    }

    pub async fn update_comment(&self, issue_id: &str, comment_id: &str, text: &str) -> Result<(), SentryError> {
        let url = self.url(&format!("issues/{issue_id}/comments/{comment_id}/"));
        self.send(Method::PUT, url, Some(json!({"text": text})))
            .await
            .map(|_| ())
    }

    /// Shows the work item on the Sentry issue (upsert per issue and app):
    /// `POST /api/0/sentry-app-installations/{uuid}/external-issues/`. Returns the external issue id.
    pub async fn link_external_issue(
        &self,
        installation_uuid: &str,
        issue_id: &str,
        web_url: &str,
        project: &str,
        identifier: &str,
    ) -> Result<String, SentryError> {
        let issue: u64 = issue_id
            .parse()
            .map_err(|_| SentryError::Decode(format!("issue id {issue_id} is not a number")))?;
        let url = format!(
            "{}/api/0/sentry-app-installations/{installation_uuid}/external-issues/",
            self.base_url
        );
        let body = json!({"issueId": issue, "webUrl": web_url, "project": project, "identifier": identifier});
        let (_, text) = self.send(Method::POST, url, Some(body)).await?;
        let created: Value = serde_json::from_str(&text).map_err(|e| SentryError::Decode(e.to_string()))?;
        match &created["id"] {
            Value::String(id) => Ok(id.clone()),
            Value::Number(id) => Ok(id.to_string()),
            _ => Err(SentryError::Decode("external issue without id".into())),
        }
    }

    pub async fn unlink_external_issue(
        &self,
        installation_uuid: &str,
        external_issue_id: &str,
    ) -> Result<(), SentryError> {
        let url = format!(
            "{}/api/0/sentry-app-installations/{installation_uuid}/external-issues/{external_issue_id}/",
            self.base_url
        );
        match self.send(Method::DELETE, url, None).await {
            Ok(_) | Err(SentryError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub async fn delete_comment(&self, issue_id: &str, comment_id: &str) -> Result<(), SentryError> {
        let url = self.url(&format!("issues/{issue_id}/comments/{comment_id}/"));
        match self.send(Method::DELETE, url, None).await {
            Ok(_) | Err(SentryError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
