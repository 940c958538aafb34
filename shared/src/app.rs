//! The application state every handler shares, built once per process (once per cold start).

use std::sync::Arc;
use std::time::Duration;

use crate::config::{AdminAuth, Config, ConfigError, SdkTimeouts, required_env, trim_url};
use crate::connections::Connections;
use crate::records::Integration;
use crate::secrets::{CachedSecrets, IntegrationSecrets, Secret, SecretStore, SecretsError, SecretsManagerStore};
use crate::store::{DynamoTable, Store};

/// How long secrets stay in memory before they are read again.
pub const SECRET_CACHE_TTL: Duration = Duration::from_secs(60);

pub struct App {
    pub store: Store,
    /// One HTTP client (connection pool, TLS config) for every outbound call.
    pub http: reqwest::Client,
    /// Secrets, cached in memory for [`SECRET_CACHE_TTL`]; read an integration's with
    /// [`App::integration_secrets`].
    pub secrets: Arc<CachedSecrets>,
    pub config: Config,
    /// Per-integration Azure DevOps and Sentry clients.
    pub connections: Connections,
    /// Wakes the in-process worker when intake queues an event (the local server).
    pub wake: tokio::sync::Notify,
    /// Integrations whose other side is out (as this process saw it): their events wait.
    pub outages: crate::worker::outage::Outages,
}

impl App {
    pub fn new(store: Store, secrets: Arc<dyn SecretStore>, config: Config) -> Arc<Self> {
        let secrets = Arc::new(CachedSecrets::new(secrets, SECRET_CACHE_TTL));
        Arc::new(Self {
            store,
            // Every call also has a timeout of its own (the clients' retry policies); these bound
            // what a call with none could hang on.
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap_or_default(),
            secrets,
            connections: Connections::new(config.retry.clone()),
            config,
            wake: tokio::sync::Notify::new(),
            outages: Default::default(),
        })
    }

    /// The secrets of `integration` as of its record's version: a credential changed by the admin
    /// API (in another process, on AWS) is read again here, never served stale from memory.
    pub async fn integration_secrets(&self, integration: &Integration) -> Result<IntegrationSecrets, SecretsError> {
        self.secrets.get_for(&integration.secret_ref, integration.version).await
    }

    /// Forgets the cached clients and secrets of `integration`, so the next use reads the
    /// credential again (the other side refused the one in memory).
    pub fn forget_credentials(&self, integration: &Integration) {
        self.secrets.forget(&integration.secret_ref);
        self.connections.forget(&integration.id);
    }

    /// The AWS shape: DynamoDB table `TABLE_NAME`, secrets under `SECRET_PREFIX`, public URL
    /// `BRIDGE_PUBLIC_URL` (optional here), admin routes authenticated by the bearer token in the
    /// secret `BRIDGE_ADMIN_TOKEN_SECRET` names (read once, at start; without it admin routes are closed).
    /// Endpoints honour `AWS_ENDPOINT_URL*`, so the same binary runs against moto.
    /// Makes no network call: clients connect lazily. Every AWS call is bounded by `timeouts`.
    pub async fn aws_from_env(timeouts: SdkTimeouts) -> Result<Arc<Self>, ConfigError> {
        let table_name = required_env("TABLE_NAME")?;
        let secret_prefix = required_env("SECRET_PREFIX")?;
        // Only the integrations function needs it (it checks at start); intake and worker do not.
        let public_url = std::env::var("BRIDGE_PUBLIC_URL")
            .map(|u| trim_url(&u))
            .unwrap_or_default();
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(timeouts.connect)
                    .operation_attempt_timeout(timeouts.attempt)
                    .operation_timeout(timeouts.operation)
                    .build(),
            )
            .load()
            .await;
        let table = DynamoTable::new(aws_sdk_dynamodb::Client::new(&sdk), table_name);
        let secrets_client = aws_sdk_secretsmanager::Client::new(&sdk);
        let admin_auth = admin_auth_from(&secrets_client).await?;
        let secrets = SecretsManagerStore::new(secrets_client);
        let sentry_url = std::env::var("BRIDGE_SENTRY_URL")
            .map(|u| trim_url(&u))
            .unwrap_or_default();
        let config = Config {
            public_url,
            sentry_facing_url: sentry_url,
            admin_auth,
            secret_prefix,
            sentry_replay_window_secs: crate::config::replay_window_from_env(),
            stream_grace_ms: crate::config::stream_grace_from_env(),
            retry: Default::default(),
            secret_grace_secs: crate::config::secret_grace_from_env(),
        };
        Ok(Self::new(Store::new(Arc::new(table)), Arc::new(secrets), config))
    }
}

/// The admin token the secret `BRIDGE_ADMIN_TOKEN_SECRET` holds; [`AdminAuth::Closed`] without one.
async fn admin_auth_from(client: &aws_sdk_secretsmanager::Client) -> Result<AdminAuth, ConfigError> {
    let Ok(secret_id) = std::env::var(ADMIN_TOKEN_SECRET_ENV) else {
        return Ok(AdminAuth::Closed);
    };
    let read = client
        .get_secret_value()
        .secret_id(&secret_id)
        .send()
        .await
        .map_err(|e| ConfigError::Invalid(format!("{ADMIN_TOKEN_SECRET_ENV}: cannot read the admin token: {e}")))?;
    match read.secret_string().map(str::trim).filter(|t| t.len() >= 16) {
        Some(token) => Ok(AdminAuth::Bearer(Secret::new(token))),
        None => Err(ConfigError::Invalid(format!(
            "{ADMIN_TOKEN_SECRET_ENV}: the admin token secret holds no token of 16 characters or more"
        ))),
    }
}

/// Names the secret holding the admin API's bearer token (the stack's `AdminToken`).
pub const ADMIN_TOKEN_SECRET_ENV: &str = "BRIDGE_ADMIN_TOKEN_SECRET";
