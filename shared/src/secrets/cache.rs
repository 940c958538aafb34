//! A short-lived in-memory cache in front of any secret store, so hot paths read secrets from
//! memory. Writes go through and refresh the cache; deletes evict.
//!
//! On AWS every function process has its own cache, and an admin change of a credential is made
//! by another process. So a read for an integration names the record version it is for
//! ([`CachedSecrets::get_for`]): secrets cached for an older version are read again (the admin
//! API writes the secret before the record whose version moves on).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{IntegrationSecrets, SecretStore, SecretsError};

pub struct CachedSecrets {
    inner: Arc<dyn SecretStore>,
    ttl: Duration,
    entries: Mutex<HashMap<String, Entry>>,
}

struct Entry {
    read_at: Instant,
    /// The integration record version the secrets were read for (0: none named).
    for_version: u64,
    secrets: IntegrationSecrets,
}

impl CachedSecrets {
    pub fn new(inner: Arc<dyn SecretStore>, ttl: Duration) -> Self {
        Self {
            inner,
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn remember(&self, reference: &str, for_version: u64, secrets: &IntegrationSecrets) {
        let entry = Entry {
            read_at: Instant::now(),
            for_version,
            secrets: secrets.clone(),
        };
        self.entries().insert(reference.to_string(), entry);
    }

    /// The secrets of an integration whose record is at `version`: from memory when read for
    /// that version (or a later one) within the TTL, else from the store.
    pub async fn get_for(&self, reference: &str, version: u64) -> Result<IntegrationSecrets, SecretsError> {
        if let Some(entry) = self.entries().get(reference)
            && entry.read_at.elapsed() < self.ttl
            && entry.for_version >= version
        {
            return Ok(entry.secrets.clone());
        }
        let secrets = self.inner.get(reference).await?;
        self.remember(reference, version, &secrets);
        Ok(secrets)
    }

    /// Drops what is cached for `reference` (after the other side refused a credential).
    pub fn forget(&self, reference: &str) {
        self.entries().remove(reference);
    }
}

#[async_trait]
impl SecretStore for CachedSecrets {
    async fn get(&self, reference: &str) -> Result<IntegrationSecrets, SecretsError> {
        self.get_for(reference, 0).await
    }

    async fn put(&self, reference: &str, secrets: &IntegrationSecrets) -> Result<(), SecretsError> {
        self.entries().remove(reference);
        self.inner.put(reference, secrets).await?;
        self.remember(reference, 0, secrets);
        Ok(())
    }

    async fn delete(&self, reference: &str) -> Result<(), SecretsError> {
        self.entries().remove(reference);
        self.inner.delete(reference).await
    }
}
