//! One conformance suite for both secret stores (local file, Secrets Manager on moto), plus
//! the cache in front of them.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bridge_tests::moto;
use shared::secrets::*;

fn sample(token: &str) -> IntegrationSecrets {
    IntegrationSecrets {
        azure_devops: AdoCredential::Pat {
            token: Secret::new(token),
        },
        webhook_secret: Secret::new("hook-secret"),
        previous_webhook_secret: None,
        previous_webhook_secret_expires_at: None,
        sentry_client_secret: Secret::new("client-secret"),
        sentry_auth_token: Secret::new("auth-token"),
    }
}

async fn conformance(store: &dyn SecretStore) {
    let reference = format!("bridge-test/{}", uuid::Uuid::new_v4().simple());
    assert_eq!(
        store.get(&reference).await,
        Err(SecretsError::NotFound(reference.clone()))
    );

    store.put(&reference, &sample("pat-one")).await.unwrap();
    assert_eq!(store.get(&reference).await.unwrap(), sample("pat-one"));

    let mut rotated = sample("pat-two");
    rotated.previous_webhook_secret = Some(Secret::new("hook-secret-old"));
    rotated.previous_webhook_secret_expires_at = Some(1_800_000_000);
    rotated.azure_devops = AdoCredential::Entra {
        client_secret: Secret::new("entra-secret"),
    };
    store.put(&reference, &rotated).await.unwrap();
    assert_eq!(store.get(&reference).await.unwrap(), rotated);

    let other = format!("{reference}-other");
    store.put(&other, &sample("pat-other")).await.unwrap();
    store.delete(&reference).await.unwrap();
    assert!(matches!(store.get(&reference).await, Err(SecretsError::NotFound(_))));
    store.delete(&reference).await.unwrap();
    assert_eq!(store.get(&other).await.unwrap(), sample("pat-other"));

    store.put(&reference, &sample("pat-again")).await.unwrap();
    assert_eq!(
        store.get(&reference).await.unwrap(),
        sample("pat-again"),
        "a deleted name can be written again"
    );
}

#[tokio::test]
async fn file_store_conforms_and_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secrets.json");
    let store = FileSecretStore::open(&path).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    conformance(&store).await;
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);

    store.put("persisted", &sample("pat-kept")).await.unwrap();
    let reopened = FileSecretStore::open(&path).unwrap();
    assert_eq!(reopened.get("persisted").await.unwrap(), sample("pat-kept"));
}

#[tokio::test]
async fn file_store_reports_a_corrupt_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secrets.json");
    std::fs::write(&path, "{not json").unwrap();
    let store = FileSecretStore::open(&path).unwrap();
    assert!(matches!(store.get("x").await, Err(SecretsError::Corrupt(_))));
}

#[tokio::test]
async fn secrets_manager_store_conforms() {
    let store = SecretsManagerStore::new(moto::secrets_manager().await);
    conformance(&store).await;
}

#[tokio::test]
async fn secrets_manager_secret_is_one_json_document() {
    let client = moto::secrets_manager().await;
    let store = SecretsManagerStore::new(client.clone());
    let reference = format!("bridge-test/{}", uuid::Uuid::new_v4().simple());
    store.put(&reference, &sample("pat-json")).await.unwrap();
    let raw = client.get_secret_value().secret_id(&reference).send().await.unwrap();
    let document: serde_json::Value = serde_json::from_str(raw.secret_string().unwrap()).unwrap();
    assert_eq!(document["azure_devops"]["type"], "pat");
    assert_eq!(document["azure_devops"]["token"], "pat-json");
    assert_eq!(document["webhook_secret"], "hook-secret");
}

/// Counts reads that reach the inner store.
struct Counting {
    inner: FileSecretStore,
    reads: AtomicUsize,
}

#[async_trait]
impl SecretStore for Counting {
    async fn get(&self, reference: &str) -> Result<IntegrationSecrets, SecretsError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.get(reference).await
    }
    async fn put(&self, reference: &str, secrets: &IntegrationSecrets) -> Result<(), SecretsError> {
        self.inner.put(reference, secrets).await
    }
    async fn delete(&self, reference: &str) -> Result<(), SecretsError> {
        self.inner.delete(reference).await
    }
}

#[tokio::test]
async fn cache_serves_reads_from_memory_until_the_ttl() {
    let dir = tempfile::tempdir().unwrap();
    let counting = Arc::new(Counting {
        inner: FileSecretStore::open(&dir.path().join("s.json")).unwrap(),
        reads: AtomicUsize::new(0),
    });
    counting.put("r", &sample("pat-1")).await.unwrap();
    let cache = CachedSecrets::new(counting.clone(), Duration::from_millis(200));
    conformance(&cache).await;
    let before = counting.reads.load(Ordering::SeqCst);

    for _ in 0..5 {
        assert_eq!(cache.get("r").await.unwrap(), sample("pat-1"));
    }
    assert_eq!(
        counting.reads.load(Ordering::SeqCst),
        before + 1,
        "one read, then memory"
    );

    cache.put("r", &sample("pat-2")).await.unwrap();
    assert_eq!(
        cache.get("r").await.unwrap(),
        sample("pat-2"),
        "a write refreshes the cache"
    );
    assert_eq!(counting.reads.load(Ordering::SeqCst), before + 1);

    tokio::time::sleep(Duration::from_millis(250)).await;
    cache.get("r").await.unwrap();
    assert_eq!(
        counting.reads.load(Ordering::SeqCst),
        before + 2,
        "expired entries are read again"
    );

    cache.delete("r").await.unwrap();
    assert!(matches!(cache.get("r").await, Err(SecretsError::NotFound(_))));
}

/// Another process changed the secret and moved the integration's version on: a read for the
/// newer version goes to the store, one for the version already read stays in memory.
#[tokio::test]
async fn cache_reads_again_for_a_newer_integration_version_or_after_forget() {
    let dir = tempfile::tempdir().unwrap();
    let counting = Arc::new(Counting {
        inner: FileSecretStore::open(&dir.path().join("s.json")).unwrap(),
        reads: AtomicUsize::new(0),
    });
    counting.put("r", &sample("pat-1")).await.unwrap();
    let cache = CachedSecrets::new(counting.clone(), Duration::from_secs(60));
    let reads = || counting.reads.load(Ordering::SeqCst);
    assert_eq!(cache.get_for("r", 3).await.unwrap(), sample("pat-1"));
    assert_eq!(cache.get_for("r", 3).await.unwrap(), sample("pat-1"));
    assert_eq!(reads(), 1);
    counting.put("r", &sample("pat-2")).await.unwrap();
    assert_eq!(
        cache.get_for("r", 2).await.unwrap(),
        sample("pat-1"),
        "older versions read memory"
    );
    assert_eq!(
        cache.get_for("r", 4).await.unwrap(),
        sample("pat-2"),
        "a newer version reads again"
    );
    assert_eq!(reads(), 2);
    counting.put("r", &sample("pat-3")).await.unwrap();
    cache.forget("r");
    assert_eq!(cache.get_for("r", 4).await.unwrap(), sample("pat-3"));
    assert_eq!(reads(), 3);
}
