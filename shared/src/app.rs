//! The application state every handler shares, built once per process (once per cold start).

use std::sync::Arc;
use std::time::Duration;

use crate::config::{AdminAuth, Config, ConfigError, SdkTimeouts, required_env, trim_url};
use crate::connections::Connections;
use crate::records::Integration;
use crate::secrets::{CachedSecrets, IntegrationSecrets, SecretStore, SecretsError, SecretsManagerStore};
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
    /// `BRIDGE_PUBLIC_URL` (optional here), admin routes authenticated by the function URL (`AWS_IAM`).
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
        let secrets = SecretsManagerStore::new(aws_sdk_secretsmanager::Client::new(&sdk));
        let sentry_url = std::env::var("BRIDGE_SENTRY_URL")
            .map(|u| trim_url(&u))
            .unwrap_or_default();
        let config = Config {
            public_url,
            sentry_facing_url: sentry_url,
            admin_auth: AdminAuth::Platform,
            secret_prefix,
            sentry_replay_window_secs: crate::config::replay_window_from_env(),
            stream_grace_ms: crate::config::stream_grace_from_env(),
            retry: Default::default(),
            secret_grace_secs: crate::config::secret_grace_from_env(),
        };
        Ok(Self::new(Store::new(Arc::new(table)), Arc::new(secrets), config))
    }
}
