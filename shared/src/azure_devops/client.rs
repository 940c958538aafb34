//! The HTTP core every endpoint goes through: auth header, `X-TFS-FedAuthRedirect: Suppress`,
//! timeout, bounded retries with jitter on 429/503 (honouring `Retry-After` and
//! `X-RateLimit-Delay`), the 203 sign-in page as an auth error, typed errors, continuation tokens.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use super::auth::{AdoAuth, without_url};
use super::error::{self, AdoError};
use crate::retry::{Attempt, may_resend};

pub const API_VERSION: &str = "7.1";
const CONTINUATION_HEADER: &str = "x-ms-continuationtoken";

pub use crate::retry::RetryPolicy;

/// A request body.
pub enum Body {
    Json(Value),
    /// `application/json-patch+json`.
    JsonPatch(Value),
}

/// A successful answer.
pub struct Reply {
    pub status: StatusCode,
    pub text: String,
    pub continuation: Option<String>,
}

impl Reply {
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, AdoError> {
        serde_json::from_str(&self.text).map_err(|e| AdoError::Decode(e.to_string()))
    }
}

/// A client for one Azure DevOps organization (or Server collection).
#[derive(Clone)]
pub struct AdoClient {
    http: reqwest::Client,
    org_url: Url,
    identity_url: Url,
    auth: Arc<AdoAuth>,
    policy: RetryPolicy,
}

/// `https://dev.azure.com/{org}` → `https://vssps.dev.azure.com/{org}`;
/// `https://{org}.visualstudio.com` → `https://{org}.vssps.visualstudio.com`; anything else
/// (Azure DevOps Server, fakes) serves identities at the organization URL itself.
pub fn identity_base(org_url: &Url) -> Url {
    let mut url = org_url.clone();
    match org_url.host_str() {
        Some("dev.azure.com") => {
            let _ = url.set_host(Some("vssps.dev.azure.com"));
        }
        Some(host) if host.ends_with(".visualstudio.com") && !host.contains(".vssps.") => {
            let org = host.trim_end_matches(".visualstudio.com");
            let _ = url.set_host(Some(&format!("{org}.vssps.visualstudio.com")));
        }
        _ => {}
    }
    url
}

/// The longest delay an answer's headers are taken to ask for (a day); anything beyond is that.
pub const LONGEST_REQUESTED_DELAY: Duration = Duration::from_secs(86_400);

/// The delay an answer asks for: `Retry-After` (seconds), else `X-RateLimit-Delay` (seconds, decimals).
pub fn requested_delay(headers: &header::HeaderMap) -> Option<Duration> {
    let seconds = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<f64>().ok();
    seconds("retry-after")
        .or_else(|| seconds("x-ratelimit-delay"))
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::try_from_secs_f64(s).map_or(LONGEST_REQUESTED_DELAY, |d| d.min(LONGEST_REQUESTED_DELAY)))
}

fn is_json(headers: &header::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("json"))
}

impl AdoClient {
    pub fn new(http: reqwest::Client, org_url: &str, auth: AdoAuth) -> Result<Self, AdoError> {
        let org_url = Url::parse(org_url.trim_end_matches('/'))
            .map_err(|e| AdoError::Decode(format!("organization URL: {e}")))?;
        Ok(Self {
            identity_url: identity_base(&org_url),
            http,
            org_url,
            auth: Arc::new(auth),
            policy: RetryPolicy::default(),
        })
    }

    pub fn with_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    pub fn org_url(&self) -> &Url {
        &self.org_url
    }

    /// `{org}/{segments…}?{query…}`; segments are percent-encoded, `api-version` added unless given.
    pub fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        Self::build(&self.org_url, segments, query)
    }

    /// Like [`Self::url`] on the identity host.
    pub fn identity_endpoint(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        Self::build(&self.identity_url, segments, query)
    }

    fn build(base: &Url, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        {
            let mut pairs = url.query_pairs_mut();
            for (name, value) in query {
                pairs.append_pair(name, value);
            }
            if !query.iter().any(|(name, _)| *name == "api-version") {
                pairs.append_pair("api-version", API_VERSION);
            }
        }
        url
    }

    async fn authorize(&self, request: reqwest::RequestBuilder) -> Result<reqwest::RequestBuilder, AdoError> {
        Ok(match self.auth.as_ref() {
            AdoAuth::Pat(token) => request.basic_auth("", Some(token.expose())),
            AdoAuth::Entra(tokens) => request.bearer_auth(tokens.token().await?.expose()),
        })
    }

    /// Sends one call, resent as [`crate::retry`] allows; returns the 2xx answer or a typed error.
    pub async fn send(&self, method: Method, url: Url, body: Option<&Body>) -> Result<Reply, AdoError> {
        let mut retries = 0u32;
        loop {
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .timeout(self.policy.timeout)
                .header("X-TFS-FedAuthRedirect", "Suppress")
                .header(header::ACCEPT, "application/json");
            request = match body {
                Some(Body::Json(value)) => request.json(value),
                Some(Body::JsonPatch(value)) => request
                    .header(header::CONTENT_TYPE, "application/json-patch+json")
                    .body(value.to_string()),
                None => request,
            };
            let request = self.authorize(request).await?;
            let response = match request.send().await {
                Ok(response) => response,
                Err(e) => {
                    let wait = self
                        .policy
                        .wait_before_resending(&method, Attempt::NoAnswer, retries, None);
                    let Some(wait) = wait else {
                        return Err(AdoError::Transport(without_url(&e)));
                    };
                    tracing::warn!(%method, path = url.path(), error = without_url(&e), "Azure DevOps call failed; retrying");
                    tokio::time::sleep(wait).await;
                    retries += 1;
                    continue;
                }
            };
            let status = response.status();
            if !status.is_success() && may_resend(&method, Attempt::Status(status.as_u16())) {
                let requested = requested_delay(response.headers());
                if let Some(wait) = self.policy.wait_before_retry(retries, requested) {
                    tracing::warn!(%method, path = url.path(), status = status.as_u16(), wait_ms = wait.as_millis() as u64, "Azure DevOps refused the call for now; waiting");
                    tokio::time::sleep(wait).await;
                    retries += 1;
                    continue;
                }
                if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
                    let wait = requested.unwrap_or(self.policy.base_delay);
                    return Err(AdoError::Throttled {
                        status: status.as_u16(),
                        retry_after_secs: wait.as_secs().max(1),
                    });
                }
            }
            let json = is_json(response.headers());
            let continuation = response
                .headers()
                .get(CONTINUATION_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
                .filter(|t| !t.is_empty());
            let text = response
                .text()
                .await
                .map_err(|e| AdoError::Transport(without_url(&e)))?;
            if status == StatusCode::NON_AUTHORITATIVE_INFORMATION || (status.is_success() && !text.is_empty() && !json)
            {
                return Err(AdoError::Auth {
                    status: status.as_u16(),
                    message: "Azure DevOps answered with a sign-in page instead of JSON: the credential is invalid or expired".into(),
                });
            }
            if !status.is_success() {
                if status == StatusCode::UNAUTHORIZED
                    && let AdoAuth::Entra(tokens) = self.auth.as_ref()
                {
                    tokens.invalidate().await;
                }
                return Err(error::from_status(status, &text));
            }
            return Ok(Reply {
                status,
                text,
                continuation,
            });
        }
    }

    /// Sends a call and decodes its JSON answer.
    pub async fn call<T: DeserializeOwned>(&self, method: Method, url: Url, body: Option<Body>) -> Result<T, AdoError> {
        self.send(method, url, body.as_ref()).await?.json()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_host_follows_the_organization_host() {
        let base = |u: &str| identity_base(&Url::parse(u).unwrap()).to_string();
        assert_eq!(
            base("https://dev.azure.com/contoso"),
            "https://vssps.dev.azure.com/contoso"
        );
        assert_eq!(
            base("https://contoso.visualstudio.com/"),
            "https://contoso.vssps.visualstudio.com/"
        );
        assert_eq!(
            base("https://tfs.example.com/tfs/Default"),
            "https://tfs.example.com/tfs/Default"
        );
        assert_eq!(base("http://127.0.0.1:9/fake"), "http://127.0.0.1:9/fake");
    }

    #[test]
    fn requested_delay_prefers_retry_after() {
        let mut headers = header::HeaderMap::new();
        assert_eq!(requested_delay(&headers), None);
        headers.insert("x-ratelimit-delay", "0.25".parse().unwrap());
        assert_eq!(requested_delay(&headers), Some(Duration::from_millis(250)));
        headers.insert("retry-after", "2".parse().unwrap());
        assert_eq!(requested_delay(&headers), Some(Duration::from_secs(2)));
    }

    #[test]
    fn an_absurd_requested_delay_is_capped_not_a_panic() {
        let mut headers = header::HeaderMap::new();
        headers.insert("retry-after", "1e300".parse().unwrap());
        assert_eq!(requested_delay(&headers), Some(LONGEST_REQUESTED_DELAY));
        headers.insert("retry-after", "-5".parse().unwrap());
        assert_eq!(requested_delay(&headers), None);
        headers.insert("retry-after", "NaN".parse().unwrap());
        assert_eq!(requested_delay(&headers), None);
    }

    #[test]
    fn urls_encode_segments_and_add_the_api_version() {
        let client = AdoClient::new(
            reqwest::Client::new(),
            "https://dev.azure.com/contoso/",
            AdoAuth::Pat(crate::secrets::Secret::new("x")),
        )
        .unwrap();
        let url = client.url(
            &["Fabrikam Fiber", "_apis", "wit", "workitems", "$User Story"],
            &[("$expand", "relations")],
        );
        assert_eq!(
            url.as_str(),
            "https://dev.azure.com/contoso/Fabrikam%20Fiber/_apis/wit/workitems/$User%20Story?%24expand=relations&api-version=7.1"
        );
    }
}
