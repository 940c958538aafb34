//! Admin request bodies and their pure translation into records. No I/O.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::validate;
use crate::records::{AdoAuthKind, AzureDevOpsSettings, Integration, IntegrationState, SentrySettings};
use crate::secrets::{AdoCredential, IntegrationSecrets, Secret};

pub const DEFAULT_ENTRA_AUTHORITY: &str = "https://login.microsoftonline.com";
const MAX_NAME: usize = 100;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateIntegration {
    pub name: String,
    pub azure_devops: AzureDevOpsInput,
    pub sentry: SentryInput,
    #[serde(default)]
    pub sync: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureDevOpsInput {
    pub organization_url: String,
    pub auth: AuthInput,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AuthInput {
    Pat {
        token: Secret,
    },
    Entra {
        tenant_id: String,
        client_id: String,
        client_secret: Secret,
        authority: Option<String>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SentryInput {
    pub base_url: String,
    pub organization_slug: String,
    #[serde(default)]
    pub installation_uuid: Option<String>,
    pub client_secret: Secret,
    pub auth_token: Secret,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchIntegration {
    /// When given, the update applies only if the record is still at this version (else 409).
    pub version: Option<u64>,
    pub name: Option<String>,
    pub sync: Option<Value>,
    pub sentry: Option<SentryPatch>,
    pub azure_devops: Option<AzureDevOpsPatch>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SentryPatch {
    pub base_url: Option<String>,
    pub organization_slug: Option<String>,
    pub installation_uuid: Option<String>,
    pub client_secret: Option<Secret>,
    pub auth_token: Option<Secret>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureDevOpsPatch {
    pub organization_url: Option<String>,
    pub auth: Option<AuthInput>,
}

/// New secret values a patch brings; applied to the stored secrets by the handler.
#[derive(Debug, Default)]
pub struct SecretChanges {
    pub azure_devops: Option<AdoCredential>,
    pub sentry_client_secret: Option<Secret>,
    pub sentry_auth_token: Option<Secret>,
}

impl SecretChanges {
    pub fn is_empty(&self) -> bool {
        self.azure_devops.is_none() && self.sentry_client_secret.is_none() && self.sentry_auth_token.is_none()
    }

    pub fn apply(self, secrets: &mut IntegrationSecrets) {
        if let Some(credential) = self.azure_devops {
            secrets.azure_devops = credential;
        }
        if let Some(secret) = self.sentry_client_secret {
            secrets.sentry_client_secret = secret;
        }
        if let Some(token) = self.sentry_auth_token {
            secrets.sentry_auth_token = token;
        }
    }
}

fn non_empty_secret(field: &str, secret: &Secret) -> Result<(), String> {
    if secret.expose().trim().is_empty() {
        Err(format!("`{field}` must not be empty"))
    } else {
        Ok(())
    }
}

fn sync_settings(value: Option<Value>) -> Result<Map<String, Value>, String> {
    match value {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(map)) => crate::domain::settings::SyncSettings::validate(&map).map(|_| map),
        Some(_) => Err("`sync` must be a JSON object".into()),
    }
}

fn auth(input: AuthInput) -> Result<(AdoAuthKind, AdoCredential), String> {
    match input {
        AuthInput::Pat { token } => {
            non_empty_secret("azure_devops.auth.token", &token)?;
            Ok((AdoAuthKind::Pat, AdoCredential::Pat { token }))
        }
        AuthInput::Entra {
            tenant_id,
            client_id,
            client_secret,
            authority,
        } => {
            non_empty_secret("azure_devops.auth.client_secret", &client_secret)?;
            let kind = AdoAuthKind::Entra {
                tenant_id: validate::required_text("azure_devops.auth.tenant_id", &tenant_id, 100)?,
                client_id: validate::uuid("azure_devops.auth.client_id", &client_id)?,
                authority: validate::authority_url(authority.as_deref().unwrap_or(DEFAULT_ENTRA_AUTHORITY))?,
            };
            Ok((kind, AdoCredential::Entra { client_secret }))
        }
    }
}

fn installation_uuid(text: Option<String>) -> Result<Option<String>, String> {
    text.filter(|t| !t.trim().is_empty())
        .map(|t| validate::uuid("sentry.installation_uuid", &t))
        .transpose()
}

/// Everything a create needs besides the body: generated id, clock, secret naming, hook secret.
pub struct NewIdentity {
    pub id: String,
    pub secret_ref: String,
    pub webhook_secret: Secret,
    pub now_ms: i64,
}

/// Validates a create request into the record and its secrets. Errors name the field.
pub fn new_integration(
    input: CreateIntegration,
    identity: NewIdentity,
) -> Result<(Integration, IntegrationSecrets), String> {
    let name = validate::required_text("name", &input.name, MAX_NAME)?;
    let (organization_url, organization) = validate::organization_url(&input.azure_devops.organization_url)?;
    let (auth_kind, credential) = auth(input.azure_devops.auth)?;
    let sentry = input.sentry;
    non_empty_secret("sentry.client_secret", &sentry.client_secret)?;
    non_empty_secret("sentry.auth_token", &sentry.auth_token)?;
    let integration = Integration {
        id: identity.id,
        name,
        azure_devops: AzureDevOpsSettings {
            organization_url,
            organization,
            auth: auth_kind,
            collection_id: None,
            bridge_identity_id: None,
            subscriptions: Default::default(),
            rotation_unfinished: false,
        },
        sentry: SentrySettings {
            base_url: validate::sentry_base_url(&sentry.base_url)?,
            organization_slug: validate::organization_slug(&sentry.organization_slug)?,
            installation_uuid: installation_uuid(sentry.installation_uuid)?,
            app_uuid: None,
        },
        sync: sync_settings(input.sync)?,
        secret_ref: identity.secret_ref,
        state: IntegrationState::Connecting,
        created_at: identity.now_ms,
        updated_at: identity.now_ms,
        version: 0,
    };
    let secrets = IntegrationSecrets {
        azure_devops: credential,
        webhook_secret: identity.webhook_secret,
        previous_webhook_secret: None,
        previous_webhook_secret_expires_at: None,
        sentry_client_secret: sentry.client_secret,
        sentry_auth_token: sentry.auth_token,
    };
    Ok((integration, secrets))
}

/// Applies a patch to the record; returns the secret values it changes.
pub fn apply_patch(
    integration: &mut Integration,
    patch: PatchIntegration,
    now_ms: i64,
) -> Result<SecretChanges, String> {
    let mut changes = SecretChanges::default();
    if let Some(name) = patch.name {
        integration.name = validate::required_text("name", &name, MAX_NAME)?;
    }
    if patch.sync.is_some() {
        integration.sync = sync_settings(patch.sync)?;
    }
    if let Some(ado) = patch.azure_devops {
        if let Some(url) = ado.organization_url {
            let (normalised, _) = validate::organization_url(&url)?;
            if normalised != integration.azure_devops.organization_url {
                return Err("`azure_devops.organization_url` cannot change; create a new integration instead".into());
            }
        }
        if let Some(input) = ado.auth {
            let (kind, credential) = auth(input)?;
            integration.azure_devops.auth = kind;
            changes.azure_devops = Some(credential);
        }
    }
    if let Some(sentry) = patch.sentry {
        if let Some(url) = sentry.base_url {
            integration.sentry.base_url = validate::sentry_base_url(&url)?;
        }
        if let Some(slug) = sentry.organization_slug {
            integration.sentry.organization_slug = validate::organization_slug(&slug)?;
        }
        if sentry.installation_uuid.is_some() {
            integration.sentry.installation_uuid = installation_uuid(sentry.installation_uuid)?;
        }
        if let Some(secret) = sentry.client_secret {
            non_empty_secret("sentry.client_secret", &secret)?;
            changes.sentry_client_secret = Some(secret);
        }
        if let Some(token) = sentry.auth_token {
            non_empty_secret("sentry.auth_token", &token)?;
            changes.sentry_auth_token = Some(token);
        }
    }
    integration.updated_at = now_ms;
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> NewIdentity {
        NewIdentity {
            id: "int-1".into(),
            secret_ref: "bridge/int-1".into(),
            webhook_secret: Secret::new("hook"),
            now_ms: 10,
        }
    }

    fn create_body(auth: Value) -> CreateIntegration {
        serde_json::from_value(serde_json::json!({
            "name": " contoso ",
            "azure_devops": {"organization_url": "https://dev.azure.com/contoso/", "auth": auth},
            "sentry": {"base_url": "https://sentry.io/", "organization_slug": "acme",
                       "client_secret": "cs", "auth_token": "tok"},
            "sync": {}
        }))
        .unwrap()
    }

    #[test]
    fn a_valid_create_splits_into_record_and_secrets() {
        let (record, secrets) = new_integration(
            create_body(serde_json::json!({"type": "pat", "token": "pat-value"})),
            identity(),
        )
        .unwrap();
        assert_eq!(record.name, "contoso");
        assert_eq!(record.azure_devops.organization, "contoso");
        assert_eq!(record.azure_devops.auth, AdoAuthKind::Pat);
        assert_eq!(record.sentry.base_url, "https://sentry.io");
        assert_eq!(
            secrets.azure_devops,
            AdoCredential::Pat {
                token: Secret::new("pat-value")
            }
        );
        let stored = serde_json::to_string(&record).unwrap();
        assert!(!stored.contains("pat-value") && !stored.contains("tok"), "{stored}");
    }

    #[test]
    fn entra_gets_the_default_authority_and_a_checked_client_id() {
        let auth = serde_json::json!({"type": "entra", "tenant_id": "t1",
            "client_id": "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9", "client_secret": "s"});
        let (record, _) = new_integration(create_body(auth), identity()).unwrap();
        assert_eq!(
            record.azure_devops.auth,
            AdoAuthKind::Entra {
                tenant_id: "t1".into(),
                client_id: "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9".into(),
                authority: DEFAULT_ENTRA_AUTHORITY.into()
            }
        );
        let bad = serde_json::json!({"type": "entra", "tenant_id": "t1", "client_id": "x", "client_secret": "s"});
        assert!(
            new_integration(create_body(bad), identity())
                .unwrap_err()
                .contains("client_id")
        );
    }

    #[test]
    fn empty_secrets_and_non_object_sync_are_rejected() {
        let error = new_integration(
            create_body(serde_json::json!({"type": "pat", "token": " "})),
            identity(),
        );
        assert!(error.unwrap_err().contains("azure_devops.auth.token"));
        let mut body = create_body(serde_json::json!({"type": "pat", "token": "p"}));
        body.sync = Some(serde_json::json!([1]));
        assert!(new_integration(body, identity()).unwrap_err().contains("`sync`"));
    }

    #[test]
    fn patch_changes_fields_and_collects_secret_changes() {
        let (mut record, mut secrets) = new_integration(
            create_body(serde_json::json!({"type": "pat", "token": "pat"})),
            identity(),
        )
        .unwrap();
        let patch: PatchIntegration = serde_json::from_value(serde_json::json!({
            "name": "renamed", "sentry": {"auth_token": "new-token", "installation_uuid": "0A1B2C3D4E5F60718293A4B5C6D7E8F9"}
        }))
        .unwrap();
        let changes = apply_patch(&mut record, patch, 20).unwrap();
        assert_eq!(record.name, "renamed");
        assert_eq!(record.updated_at, 20);
        assert_eq!(
            record.sentry.installation_uuid.as_deref(),
            Some("0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9")
        );
        assert!(!changes.is_empty());
        changes.apply(&mut secrets);
        assert_eq!(secrets.sentry_auth_token, Secret::new("new-token"));

        let moved: PatchIntegration = serde_json::from_value(
            serde_json::json!({"azure_devops": {"organization_url": "https://dev.azure.com/other"}}),
        )
        .unwrap();
        assert!(
            apply_patch(&mut record, moved, 30)
                .unwrap_err()
                .contains("cannot change")
        );
    }
}
