//! Secrets in one local JSON file (`secrets.json`, mode 0600), for the single-machine mode.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use tokio::sync::Mutex;

use super::{IntegrationSecrets, SecretStore, SecretsError, decode, encode};
use crate::files;

pub struct FileSecretStore {
    path: PathBuf,
    /// Serialises read-modify-write cycles of the file.
    lock: Mutex<()>,
}

type Entries = BTreeMap<String, serde_json::Value>;

impl FileSecretStore {
    /// Uses `path`, creating an empty file with mode 0600 when it does not exist.
    pub fn open(path: &Path) -> Result<Self, SecretsError> {
        if !path.exists() {
            files::write_private_file(path, b"{}").map_err(|e| io_error(path, e))?;
        }
        Ok(Self {
            path: path.to_path_buf(),
            lock: Mutex::new(()),
        })
    }

    fn read_all(&self) -> Result<Entries, SecretsError> {
        let text = std::fs::read_to_string(&self.path).map_err(|e| io_error(&self.path, e))?;
        serde_json::from_str(&text).map_err(|_| SecretsError::Corrupt(self.path.display().to_string()))
    }

    fn write_all(&self, entries: &Entries) -> Result<(), SecretsError> {
        let text = serde_json::to_vec_pretty(entries).map_err(|e| SecretsError::Backend(e.to_string()))?;
        files::write_private_file(&self.path, &text).map_err(|e| io_error(&self.path, e))
    }
}

fn io_error(path: &Path, error: std::io::Error) -> SecretsError {
    SecretsError::Backend(format!("{}: {error}", path.display()))
}

#[async_trait]
impl SecretStore for FileSecretStore {
    async fn get(&self, reference: &str) -> Result<IntegrationSecrets, SecretsError> {
        let _guard = self.lock.lock().await;
        let entries = self.read_all()?;
        let value = entries
            .get(reference)
            .ok_or_else(|| SecretsError::NotFound(reference.to_string()))?;
        decode(reference, &value.to_string())
    }

    async fn put(&self, reference: &str, secrets: &IntegrationSecrets) -> Result<(), SecretsError> {
        let _guard = self.lock.lock().await;
        let mut entries = self.read_all()?;
        let value = serde_json::from_str(&encode(secrets)?).map_err(|e| SecretsError::Backend(e.to_string()))?;
        entries.insert(reference.to_string(), value);
        self.write_all(&entries)
    }

    async fn delete(&self, reference: &str) -> Result<(), SecretsError> {
        let _guard = self.lock.lock().await;
        let mut entries = self.read_all()?;
        if entries.remove(reference).is_some() {
            self.write_all(&entries)?;
        }
        Ok(())
    }
}
