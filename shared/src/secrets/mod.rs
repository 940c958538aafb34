//! Secrets: one entry per integration (docs/architecture.md, data model) in Secrets Manager or a local 0600 file,
//! behind one trait, with a short-lived in-memory cache. Secret values never reach logs
//! (`Debug` prints a mask) or API responses (views never hold a [`Secret`]).

mod aws;
mod cache;
mod file;

pub use aws::SecretsManagerStore;
pub use cache::CachedSecrets;
pub use file::FileSecretStore;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A secret string. `Debug` masks it; read it with [`Secret::expose`] at the point of use.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// `bytes` random bytes from the OS, hex-encoded.
    pub fn generate(bytes: usize) -> Result<Self, SecretsError> {
        let mut buffer = vec![0u8; bytes];
        getrandom::fill(&mut buffer).map_err(|e| SecretsError::Backend(format!("no randomness: {e}")))?;
        Ok(Self(buffer.iter().map(|b| format!("{b:02x}")).collect()))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Everything secret about one integration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegrationSecrets {
    pub azure_devops: AdoCredential,
    /// Password Azure DevOps service hooks send (HTTP Basic).
    pub webhook_secret: Secret,
    /// The secret before the last rotation, accepted until `previous_webhook_secret_expires_at`.
    #[serde(default)]
    pub previous_webhook_secret: Option<Secret>,
    #[serde(default)]
    pub previous_webhook_secret_expires_at: Option<i64>,
    /// Signs Sentry webhooks and component requests.
    pub sentry_client_secret: Secret,
    /// Bearer token for Sentry's REST API.
    pub sentry_auth_token: Secret,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AdoCredential {
    Pat { token: Secret },
    Entra { client_secret: Secret },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretsError {
    #[error("secret {0} not found")]
    NotFound(String),
    #[error("secret {0} is not valid JSON of the expected shape")]
    Corrupt(String),
    #[error("secret store error: {0}")]
    Backend(String),
}

/// Where integration secrets live. `reference` is the name kept on the integration record.
#[async_trait]
pub trait SecretStore: Send + Sync {
    async fn get(&self, reference: &str) -> Result<IntegrationSecrets, SecretsError>;
    /// Creates or replaces the entry.
    async fn put(&self, reference: &str, secrets: &IntegrationSecrets) -> Result<(), SecretsError>;
    /// Removes the entry; removing a missing entry is not an error.
    async fn delete(&self, reference: &str) -> Result<(), SecretsError>;
}

fn decode(reference: &str, text: &str) -> Result<IntegrationSecrets, SecretsError> {
    serde_json::from_str(text).map_err(|_| SecretsError::Corrupt(reference.to_string()))
}

fn encode(secrets: &IntegrationSecrets) -> Result<String, SecretsError> {
    serde_json::to_string(secrets).map_err(|e| SecretsError::Backend(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_masks_every_secret_value() {
        let secrets = IntegrationSecrets {
            azure_devops: AdoCredential::Pat {
                token: Secret::new("pat-value-123"),
            },
            webhook_secret: Secret::new("hook-value-456"),
            previous_webhook_secret: Some(Secret::new("old-hook-789")),
            previous_webhook_secret_expires_at: Some(1),
            sentry_client_secret: Secret::new("client-secret-abc"),
            sentry_auth_token: Secret::new("token-def"),
        };
        let printed = format!("{secrets:?}");
        for value in [
            "pat-value-123",
            "hook-value-456",
            "old-hook-789",
            "client-secret-abc",
            "token-def",
        ] {
            assert!(!printed.contains(value), "{value} leaked into {printed}");
        }
        assert!(printed.contains("Secret(***)"));
    }

    #[test]
    fn generated_secrets_are_long_random_hex() {
        let a = Secret::generate(32).unwrap();
        let b = Secret::generate(32).unwrap();
        assert_eq!(a.expose().len(), 64);
        assert!(a.expose().chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
