//! Settings read from the environment (on AWS) or the command line (locally).

use crate::secrets::Secret;

/// How admin routes authenticate callers.
#[derive(Debug, Clone)]
pub enum AdminAuth {
    /// `Authorization: Bearer <token>`, compared in constant time: the local server's token, and
    /// on AWS the stack's `AdminToken` secret.
    Bearer(Secret),
    /// No admin token configured: every admin request is refused (a function that serves no
    /// admin route).
    Closed,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// Base URL where Azure DevOps reaches the bridge's hook route (no trailing slash).
    pub public_url: String,
    /// The bridge's own base URL for the Sentry-facing routes: the Sentry app's webhook URL host
    /// (no trailing slash).
    pub sentry_facing_url: String,
    pub admin_auth: AdminAuth,
    /// Prefix of secret names (`{prefix}{integration id}`).
    pub secret_prefix: String,
    /// Sentry webhooks whose `Sentry-Hook-Timestamp` is further than this from now are refused.
    pub sentry_replay_window_secs: i64,
    /// How long the worker's scheduled run leaves a pending event to the table's stream before it
    /// takes the event itself (AWS: `BRIDGE_STREAM_GRACE_SECS`, default two minutes; locally 0:
    /// there is no stream).
    pub stream_grace_ms: i64,
    /// The quick retries of calls to Azure DevOps and Sentry (the default everywhere but tests).
    pub retry: crate::retry::RetryPolicy,
    /// How long the previous webhook secret is still accepted after a rotation
    /// (`BRIDGE_SECRET_GRACE_SECS`, default an hour).
    pub secret_grace_secs: i64,
}

/// Seconds the previous webhook secret stays valid after a rotation, unless configured.
pub const DEFAULT_SECRET_GRACE_SECS: i64 = 3600;

/// `BRIDGE_SECRET_GRACE_SECS`, else an hour.
pub fn secret_grace_from_env() -> i64 {
    std::env::var("BRIDGE_SECRET_GRACE_SECS")
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|v| *v >= 0)
        .unwrap_or(DEFAULT_SECRET_GRACE_SECS)
}

/// How long a call to AWS (DynamoDB, Secrets Manager) may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdkTimeouts {
    pub connect: std::time::Duration,
    /// One try of an operation.
    pub attempt: std::time::Duration,
    /// The operation, its retries included.
    pub operation: std::time::Duration,
}

impl SdkTimeouts {
    /// The Sentry-facing function: a webhook must be answered inside Sentry's 1 s, after three
    /// round trips on a cold process (each a few milliseconds in-region when AWS is well).
    pub const SENTRY_FACING: Self = Self {
        connect: std::time::Duration::from_millis(200),
        attempt: std::time::Duration::from_millis(300),
        operation: std::time::Duration::from_millis(700),
    };
    /// The worker: an event's result must be settled in the 3 s it keeps before its
    /// invocation's deadline.
    pub const WORKER: Self = Self {
        connect: std::time::Duration::from_secs(1),
        attempt: std::time::Duration::from_secs(1),
        operation: std::time::Duration::from_millis(2_500),
    };
    /// Everything else: Azure DevOps waits longer for a hook's answer, and the admin API has
    /// seconds.
    pub const STANDARD: Self = Self {
        connect: std::time::Duration::from_secs(1),
        attempt: std::time::Duration::from_secs(2),
        operation: std::time::Duration::from_secs(6),
    };
}

/// Default for [`Config::sentry_replay_window_secs`].
pub const DEFAULT_REPLAY_WINDOW_SECS: i64 = 300;

/// Default for [`Config::stream_grace_ms`] on AWS.
pub const DEFAULT_STREAM_GRACE_MS: i64 = 120_000;

/// `BRIDGE_STREAM_GRACE_SECS`, else two minutes.
pub fn stream_grace_from_env() -> i64 {
    std::env::var("BRIDGE_STREAM_GRACE_SECS")
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|v| *v >= 0)
        .map_or(DEFAULT_STREAM_GRACE_MS, |secs| secs * 1000)
}

/// `BRIDGE_SENTRY_REPLAY_WINDOW_SECS`, else five minutes.
pub fn replay_window_from_env() -> i64 {
    std::env::var("BRIDGE_SENTRY_REPLAY_WINDOW_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|v| *v > 0)
        .unwrap_or(DEFAULT_REPLAY_WINDOW_SECS)
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("{0}")]
    Invalid(String),
}

/// Reads a required environment variable.
pub fn required_env(name: &'static str) -> Result<String, ConfigError> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .ok_or(ConfigError::Missing(name))
}

/// Removes one trailing slash so URLs can be joined with `/path`.
pub fn trim_url(url: &str) -> String {
    url.trim().trim_end_matches('/').to_string()
}
