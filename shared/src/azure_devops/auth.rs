//! Credentials for Azure DevOps: a PAT (HTTP Basic `:PAT`) or a Microsoft Entra service
//! principal (client-credentials token, cached until five minutes before expiry, refreshed by
//! one caller at a time).

use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::Mutex;

use super::error::AdoError;
use crate::secrets::Secret;

/// Azure DevOps' resource id; `/.default` asks for the app's configured permissions.
pub const ADO_SCOPE: &str = "499b84ac-1321-427f-aa17-267ca6975798/.default";
/// A cached token is replaced this long before it expires.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(300);
/// How long one token request may take (connecting: a third of it).
pub const TOKEN_REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

pub enum AdoAuth {
    Pat(Secret),
    Entra(EntraTokens),
}

/// The client-credentials flow against `{authority}/{tenant}/oauth2/v2.0/token`, on an HTTP
/// client of its own that follows no redirect (a 307 would post the client secret again, to
/// wherever it points) and gives up after [`TOKEN_REQUEST_TIMEOUT`].
pub struct EntraTokens {
    http: reqwest::Client,
    token_url: String,
    client_id: String,
    client_secret: Secret,
    cached: Mutex<Option<(Secret, Instant)>>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
}

#[derive(Deserialize, Default)]
struct TokenError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

impl EntraTokens {
    pub fn new(authority: &str, tenant_id: &str, client_id: &str, client_secret: Secret) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(TOKEN_REQUEST_TIMEOUT / 3)
            .timeout(TOKEN_REQUEST_TIMEOUT)
            .build()
            .unwrap_or_default();
        Self {
            http,
            token_url: format!("{}/{tenant_id}/oauth2/v2.0/token", authority.trim_end_matches('/')),
            client_id: client_id.to_string(),
            client_secret,
            cached: Mutex::new(None),
        }
    }

    /// A valid access token: the cached one, or a new one. Concurrent callers wait for the one
    /// refresh in flight instead of starting their own.
    pub async fn token(&self) -> Result<Secret, AdoError> {
        let mut cached = self.cached.lock().await;
        if let Some((token, refresh_at)) = cached.as_ref()
            && Instant::now() < *refresh_at
        {
            return Ok(token.clone());
        }
        let (token, lifetime) = self.request().await?;
        let refresh_at = Instant::now() + lifetime.saturating_sub(REFRESH_MARGIN);
        *cached = Some((token.clone(), refresh_at));
        Ok(token)
    }

    /// Drops the cached token (after Azure DevOps refused it).
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    async fn request(&self) -> Result<(Secret, Duration), AdoError> {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose()),
            ("scope", ADO_SCOPE),
        ];
        let response = self
            .http
            .post(&self.token_url)
            .form(&form)
            .send()
            .await
            .map_err(|e| AdoError::Transport(format!("Entra token endpoint: {}", without_url(&e))))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| AdoError::Transport(without_url(&e)))?;
        if status.is_redirection() {
            return Err(AdoError::Auth {
                status: status.as_u16(),
                message:
                    "the Entra token endpoint answered with a redirect, which is not followed: check the authority URL"
                        .into(),
            });
        }
        if !status.is_success() {
            let error: TokenError = serde_json::from_str(&text).unwrap_or_default();
            let description = error.error_description.lines().next().unwrap_or_default().to_string();
            return Err(AdoError::Auth {
                status: status.as_u16(),
                message: format!(
                    "Microsoft Entra refused the client credentials: {} {description}",
                    error.error
                ),
            });
        }
        let token: TokenResponse = serde_json::from_str(&text)
            .map_err(|_| AdoError::Decode("Entra token response without access_token/expires_in".into()))?;
        Ok((Secret::new(token.access_token), Duration::from_secs(token.expires_in)))
    }
}

/// A reqwest error's text without its URL (URLs may carry a query the logs need not see).
pub fn without_url(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else if error.is_decode() || error.is_body() {
        "could not read the body"
    } else {
        "request failed"
    };
    kind.to_string()
}
