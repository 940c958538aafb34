//! A short-lived in-memory cache in front of any secret store, so hot paths read secrets from
//! memory. Writes go through and refresh the cache; deletes evict.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{IntegrationSecrets, SecretStore, SecretsError};

pub struct CachedSecrets {
    inner: Arc<dyn SecretStore>,
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, IntegrationSecrets)>>,
}

impl CachedSecrets {
    pub fn new(inner: Arc<dyn SecretStore>, ttl: Duration) -> Self {
        Self {
            inner,
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, IntegrationSecrets)>> {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl SecretStore for CachedSecrets {
    async fn get(&self, reference: &str) -> Result<IntegrationSecrets, SecretsError> {
        if let Some((at, secrets)) = self.entries().get(reference)
            && at.elapsed() < self.ttl
        {
            return Ok(secrets.clone());
        }
        let secrets = self.inner.get(reference).await?;
        self.entries()
            .insert(reference.to_string(), (Instant::now(), secrets.clone()));
        Ok(secrets)
    }

    async fn put(&self, reference: &str, secrets: &IntegrationSecrets) -> Result<(), SecretsError> {
        self.entries().remove(reference);
        self.inner.put(reference, secrets).await?;
        self.entries()
            .insert(reference.to_string(), (Instant::now(), secrets.clone()));
        Ok(())
    }

    async fn delete(&self, reference: &str) -> Result<(), SecretsError> {
        self.entries().remove(reference);
        self.inner.delete(reference).await
    }
}
