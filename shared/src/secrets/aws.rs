//! Secrets in AWS Secrets Manager: one secret per integration, named `{prefix}{integration id}`.

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};

use super::{IntegrationSecrets, SecretStore, SecretsError, decode, encode};

pub struct SecretsManagerStore {
    client: Client,
}

impl SecretsManagerStore {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

fn is_not_found<E: ProvideErrorMetadata>(error: &SdkError<E>) -> bool {
    error.code() == Some("ResourceNotFoundException")
}

/// A secret scheduled for deletion answers `InvalidRequestException` until it is gone.
fn is_marked_for_deletion<E: ProvideErrorMetadata>(error: &SdkError<E>) -> bool {
    error.code() == Some("InvalidRequestException")
        && error
            .message()
            .is_some_and(|m| m.contains("marked for deletion") || m.contains("marked deleted"))
}

fn backend<E: ProvideErrorMetadata>(reference: &str, error: SdkError<E>) -> SecretsError {
    let code = error.code().unwrap_or("unreachable").to_string();
    SecretsError::Backend(format!("{reference}: {code}"))
}

#[async_trait]
impl SecretStore for SecretsManagerStore {
    async fn get(&self, reference: &str) -> Result<IntegrationSecrets, SecretsError> {
        let output = self
            .client
            .get_secret_value()
            .secret_id(reference)
            .send()
            .await
            .map_err(|e| {
                if is_not_found(&e) || is_marked_for_deletion(&e) {
                    SecretsError::NotFound(reference.to_string())
                } else {
                    backend(reference, e)
                }
            })?;
        let text = output
            .secret_string()
            .ok_or_else(|| SecretsError::Corrupt(reference.to_string()))?;
        decode(reference, text)
    }

    /// Writes a new version; creates the secret when missing and restores one that is
    /// scheduled for deletion (a deleted integration's name coming back).
    async fn put(&self, reference: &str, secrets: &IntegrationSecrets) -> Result<(), SecretsError> {
        let text = encode(secrets)?;
        match self.client.describe_secret().secret_id(reference).send().await {
            Ok(description) => {
                if description.deleted_date().is_some() {
                    self.client
                        .restore_secret()
                        .secret_id(reference)
                        .send()
                        .await
                        .map_err(|e| backend(reference, e))?;
                }
                self.client
                    .put_secret_value()
                    .secret_id(reference)
                    .secret_string(text)
                    .send()
                    .await
                    .map_err(|e| backend(reference, e))?;
            }
            Err(e) if is_not_found(&e) => {
                self.client
                    .create_secret()
                    .name(reference)
                    .description("Sentry ⇄ Azure DevOps bridge: one integration's credentials")
                    .secret_string(text)
                    .send()
                    .await
                    .map_err(|e| backend(reference, e))?;
            }
            Err(e) => return Err(backend(reference, e)),
        }
        Ok(())
    }

    async fn delete(&self, reference: &str) -> Result<(), SecretsError> {
        match self
            .client
            .delete_secret()
            .secret_id(reference)
            .recovery_window_in_days(7)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) || is_marked_for_deletion(&e) => Ok(()),
            Err(e) => Err(backend(reference, e)),
        }
    }
}
