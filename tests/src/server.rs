//! Serving a router on a free loopback port, and building the app in either shape.

use std::net::SocketAddr;
use std::sync::Arc;

use shared::App;
use shared::config::{AdminAuth, Config};
use shared::secrets::{FileSecretStore, Secret, SecretStore, SecretsManagerStore};
use shared::store::{SqliteTable, Store};

use crate::aws_local::{self, AwsLocal};
use crate::fake_ado::{self, FakeAdo};
use crate::fake_sentry::{self, FakeSentry};

pub const ADMIN_TOKEN: &str = "test-admin-token";
/// The Sentry app's client secret of the integrations tests create.
pub const SENTRY_CLIENT_SECRET: &str = "sentry-client-secret-value";

/// A server with an integration and a work item linked to a Sentry issue.
pub struct Linked {
    pub server: TestServer,
    pub integration_id: String,
    pub work_item: u64,
}

/// The Sentry issue [`Linked::create`] links.
pub const LINKED_ISSUE: &str = "6543210987";

impl Linked {
    /// Connects an integration on `server` and creates a work item from Sentry issue
    /// [`LINKED_ISSUE`] through the signed issue-link route, as Sentry would.
    pub async fn create(server: TestServer) -> Self {
        let integration_id = server.create_integration().await;
        let request = serde_json::json!({
            "fields": {"title": "ZeroDivisionError", "ado_project": "Fabrikam-Fiber", "work_item_type": "Bug"},
            "issueId": LINKED_ISSUE.parse::<u64>().expect("a number"),
            "installationId": fake_sentry::INSTALLATION,
            "webUrl": format!("https://contoso.sentry.io/issues/{LINKED_ISSUE}/"),
            "project": {"slug": "backend", "id": 4505123456789u64},
            "actor": {"type": "user", "id": 2234567, "name": "Jane Doe"}});
        let url = server.url("/sentry/issue-link/create");
        let (status, created) =
            crate::sentry_app::post_signed(&server.client, &url, &request, SENTRY_CLIENT_SECRET).await;
        assert_eq!(status, reqwest::StatusCode::CREATED, "{created}");
        let work_item = created["identifier"]
            .as_str()
            .expect("identifier")
            .parse()
            .expect("a work item id");
        server.sentry.add_issue(LINKED_ISSUE);
        Self {
            server,
            integration_id,
            work_item,
        }
    }

    /// A person (Jamal, with his own PAT) applies JSON Patch `ops` to the linked work item.
    pub async fn edit_as_person(&self, ops: serde_json::Value) {
        let person = crate::fake_ado::PERSON_IDENTITY_ID;
        let edited = self.server.ado.edit_work_item_as(person, self.work_item, ops).await;
        edited.expect("the person's edit was accepted");
    }

    /// The linked work item's comments in the fake Azure DevOps that are not deleted.
    pub fn ado_comments(&self) -> Vec<crate::fake_ado::FakeComment> {
        self.server.ado.state(|s| {
            s.work_items[&self.work_item]
                .comments
                .iter()
                .filter(|c| !c.deleted)
                .cloned()
                .collect()
        })
    }

    /// The integration's inbox events in `status` (at most 50, oldest first).
    pub async fn events(&self, status: shared::records::EventStatus) -> Vec<shared::records::InboxEvent> {
        let store = &self.server.app.store;
        store
            .events_by_status(&self.integration_id, status, 50)
            .await
            .expect("store")
    }
}

/// A running server; the task stops with the test's runtime.
pub struct TestServer {
    pub address: SocketAddr,
    pub app: Arc<App>,
    pub client: reqwest::Client,
    /// The fake Azure DevOps organization the server's integrations connect to.
    pub ado: FakeAdo,
    /// The fake Sentry its integrations talk to.
    pub sentry: FakeSentry,
    /// The AWS form on one machine, when the server is `aws-local` (`app` then only observes its
    /// table and secrets: the functions run in processes of their own).
    pub stack: Option<AwsLocal>,
    _dir: Option<tempfile::TempDir>,
}

impl TestServer {
    /// The active link of `sentry_issue` as stored now (panics when there is none).
    pub async fn stored_link(&self, integration_id: &str, sentry_issue: &str) -> shared::records::Link {
        self.app
            .store
            .get_link(integration_id, sentry_issue)
            .await
            .expect("store")
            .expect("an active link")
    }

    /// The stored integration `id` and its secrets.
    pub async fn integration_and_secrets(
        &self,
        id: &str,
    ) -> (shared::records::Integration, shared::secrets::IntegrationSecrets) {
        let integration = self
            .app
            .store
            .get_integration(id)
            .await
            .expect("store")
            .expect("the integration");
        let secrets = self
            .app
            .secrets
            .get(&integration.secret_ref)
            .await
            .expect("its secrets");
        (integration, secrets)
    }

    /// An admin request (bearer token set) to `path`.
    /// A person's change in Sentry, then its webhook: the fake issue set as `body` says, and
    /// `body` posted to `/hooks/sentry` as Sentry would (signed, stamped now).
    pub async fn sentry_webhook(&self, resource: &str, body: &serde_json::Value) -> reqwest::StatusCode {
        let body = serde_json::to_string(body).expect("JSON");
        crate::sentry_app::happened_in(&self.sentry, resource, &body);
        let url = self.url("/hooks/sentry");
        let now = shared::clock::now_ms() / 1000;
        crate::sentry_app::post_webhook(&self.client, &url, resource, &body, SENTRY_CLIENT_SECRET, now)
            .await
            .0
    }

    pub fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path)).bearer_auth(ADMIN_TOKEN)
    }

    /// One admin call with an optional JSON body: its status and JSON answer (`Null` if none).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (reqwest::StatusCode, serde_json::Value) {
        let mut request = self.admin(method, path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the admin call reached the server");
        let status = response.status();
        (status, response.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// An upgrade of the AWS form (`sam deploy` of a new build): every function replaced by a
    /// new process, the front and the schedules started again on the same address, table and
    /// secrets; nothing in the table is touched.
    pub async fn redeploy(&mut self) {
        let old = self.stack.take().expect("redeploy is for an aws-local server");
        let options = old.options().clone();
        old.stop().await;
        let mut bound = None;
        for _ in 0..50 {
            match tokio::net::TcpListener::bind(self.address).await {
                Ok(listener) => {
                    bound = Some(listener);
                    break;
                }
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
            }
        }
        let listener = bound.unwrap_or_else(|| panic!("{} not free again within 5 s", self.address));
        let stack = AwsLocal::start(options, listener)
            .await
            .unwrap_or_else(|e| panic!("aws-local did not start again: {e}"));
        self.stack = Some(stack);
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Creates an integration against the fakes through the admin API; returns its id.
    pub async fn create_integration(&self) -> String {
        let response = self
            .client
            .post(self.url("/integrations"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&self.create_body())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::CREATED);
        let created: serde_json::Value = response.json().await.unwrap();
        created["id"].as_str().unwrap().to_string()
    }

    /// A valid create body for the fake organization (PAT auth).
    pub fn create_body(&self) -> serde_json::Value {
        serde_json::json!({
            "name": "fabrikam",
            "azure_devops": {"organization_url": self.ado.org_url(),
                             "auth": {"type": "pat", "token": fake_ado::VALID_PAT}},
            "sentry": {"base_url": self.sentry.base_url(), "organization_slug": fake_sentry::ORG,
                       "client_secret": SENTRY_CLIENT_SECRET, "auth_token": fake_sentry::TOKEN},
            "sync": {}
        })
    }
}

/// Which backends the app under test uses.
#[derive(Debug, Clone, Copy)]
pub enum Backend {
    /// SQLite + local secrets file (the embedded default).
    Local,
    /// DynamoDB + Secrets Manager, on moto (the AWS shape), served in process.
    Aws,
    /// The AWS form end to end: `aws-local` runs the Lambda binaries, the stream and the schedule.
    AwsLocal,
}

fn config(public_url: String) -> Config {
    Config {
        sentry_facing_url: public_url.clone(),
        public_url,
        admin_auth: AdminAuth::Bearer(Secret::new(ADMIN_TOKEN)),
        secret_prefix: format!("bridge-test/{}/", uuid::Uuid::new_v4().simple()),
        sentry_replay_window_secs: shared::config::DEFAULT_REPLAY_WINDOW_SECS,
        stream_grace_ms: 0,
        retry: test_retry_policy(),
        secret_grace_secs: shared::config::DEFAULT_SECRET_GRACE_SECS,
    }
}

/// Quick retries after the first attempt of a call to the fakes (the real policy's count).
pub const RETRIES: u32 = 3;

/// The real policy's retries with short waits, so a test of an outage does not sit through
/// seconds of backoff per call. A fake told to fail [`ONE_CALL`] requests fails one call.
pub fn test_retry_policy() -> shared::retry::RetryPolicy {
    shared::retry::RetryPolicy {
        max_retries: RETRIES,
        base_delay: std::time::Duration::from_millis(20),
        ..Default::default()
    }
}

/// Requests one call makes when every attempt fails (the first and its retries).
pub const ONE_CALL: u32 = RETRIES + 1;

/// Starts the local server's router over the given backend, with the in-process worker.
pub async fn start(backend: Backend) -> TestServer {
    start_with(backend, true).await
}

/// Like [`start`]; without the worker when `worker` is false (to drive the Lambda worker by hand).
/// `aws-local` always has its worker (the stream and the schedule).
pub async fn start_with(backend: Backend, worker: bool) -> TestServer {
    if let Backend::AwsLocal = backend {
        return start_aws_local(AWS_LOCAL_SCHEDULE).await;
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let address = listener.local_addr().expect("address");
    let public_url = format!("http://{address}");
    let (store, secrets, dir): (Store, Arc<dyn SecretStore>, _) = match backend {
        Backend::Local => {
            let dir = tempfile::tempdir().expect("tempdir");
            let table = SqliteTable::open(&dir.path().join("bridge.sqlite3")).expect("sqlite");
            let secrets = FileSecretStore::open(&dir.path().join("secrets.json")).expect("secrets file");
            (Store::new(Arc::new(table)), Arc::new(secrets), Some(dir))
        }
        Backend::Aws | Backend::AwsLocal => {
            let store = crate::moto::dynamo_store().await;
            let secrets = SecretsManagerStore::new(crate::moto::secrets_manager().await);
            (store, Arc::new(secrets), None)
        }
    };
    serve(listener, App::new(store, secrets, config(public_url)), worker, dir).await
}

/// Serves `app` with the local server's router on `listener`, with the in-process worker when
/// `worker` is set, beside fresh fakes.
async fn serve(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    worker: bool,
    dir: Option<tempfile::TempDir>,
) -> TestServer {
    let address = listener.local_addr().expect("address");
    let router = shared::local::router(app.clone());
    tokio::spawn(async move { shared::axum::serve(listener, router).await });
    if worker {
        shared::worker::spawn_local(app.clone(), std::time::Duration::from_millis(100));
    }
    TestServer {
        address,
        app,
        client: reqwest::Client::new(),
        ado: FakeAdo::start().await,
        sentry: FakeSentry::start().await,
        stack: None,
        _dir: dir,
    }
}

/// The local server's router over `table` (any [`shared::store::Table`], e.g. one that counts
/// writes), with a secrets file, and the in-process worker when `worker` is set.
pub async fn start_over(table: Arc<dyn shared::store::Table>, worker: bool) -> TestServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let address = listener.local_addr().expect("address");
    let dir = tempfile::tempdir().expect("tempdir");
    let secrets = FileSecretStore::open(&dir.path().join("secrets.json")).expect("secrets file");
    let app = App::new(
        Store::new(table),
        Arc::new(secrets),
        config(format!("http://{address}")),
    );
    serve(listener, app, worker, Some(dir)).await
}

/// How often `aws-local`'s schedule invokes `sync-worker` in tests (every minute when deployed).
pub const AWS_LOCAL_SCHEDULE: std::time::Duration = std::time::Duration::from_secs(2);

/// The directory of the workspace's binaries this test binary was built with (`target/debug`).
/// Panics, saying what to run, when a function binary is older than the code it is built from
/// (`cargo test` does not rebuild other packages' binaries; `infra/test.sh` builds them first).
pub fn workspace_binaries() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    let deps = exe.parent().expect("target/<profile>/deps");
    let binaries = deps.parent().expect("target/<profile>").to_path_buf();
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let newest_source = ["shared/src", "functions"]
        .iter()
        .filter_map(|dir| newest_modification(&workspace.join(dir)))
        .max();
    for spec in crate::aws_local::topology::FUNCTIONS {
        let built = std::fs::metadata(binaries.join(spec.name))
            .and_then(|m| m.modified())
            .ok();
        if let (Some(built), Some(source)) = (built, newest_source) {
            assert!(
                built >= source,
                "target/…/{} is older than the code: run `cargo build --workspace --bins` first",
                spec.name
            );
        }
    }
    binaries
}

/// The latest modification time of any file under `dir`.
fn newest_modification(dir: &std::path::Path) -> Option<std::time::SystemTime> {
    let mut newest = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let time = if path.is_dir() {
            newest_modification(&path)
        } else {
            entry.metadata().and_then(|m| m.modified()).ok()
        };
        newest = newest.max(time);
    }
    newest
}

/// `aws-local` on a free loopback port: the function binaries of this build, a table and a
/// secret prefix of its own on the test binary's moto, the schedule every `schedule_every`.
pub async fn start_aws_local(schedule_every: std::time::Duration) -> TestServer {
    start_aws_local_with(AwsLocalSettings {
        schedule_every,
        ..AwsLocalSettings::default()
    })
    .await
}

/// How a test's `aws-local` differs from the deployed stack.
#[derive(Debug, Clone)]
pub struct AwsLocalSettings {
    pub schedule_every: std::time::Duration,
    /// How often `reconcile` runs (tests that do not reconcile leave it to an explicit call).
    pub reconcile_every: std::time::Duration,
    /// Functions with another timeout than the template's.
    pub timeouts: Vec<(&'static str, std::time::Duration)>,
    /// More environment for every function.
    pub environment: Vec<(String, String)>,
}

impl Default for AwsLocalSettings {
    fn default() -> Self {
        Self {
            schedule_every: AWS_LOCAL_SCHEDULE,
            reconcile_every: aws_local::NEVER,
            timeouts: Vec::new(),
            environment: Vec::new(),
        }
    }
}

/// [`start_aws_local`] with `settings`.
pub async fn start_aws_local_with(settings: AwsLocalSettings) -> TestServer {
    let AwsLocalSettings {
        schedule_every,
        reconcile_every,
        timeouts,
        environment,
    } = settings;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let address = listener.local_addr().expect("address");
    let public_url = format!("http://{address}");
    let dir = tempfile::tempdir().expect("tempdir");
    let table = crate::moto::table_name();
    let config = config(public_url);
    let stack = AwsLocal::start(
        aws_local::Options {
            data_dir: dir.path().to_path_buf(),
            public_url: None,
            admin_token: Secret::new(ADMIN_TOKEN),
            schedule_every,
            reconcile_every,
            binaries: workspace_binaries(),
            moto_endpoint: crate::moto::endpoint().to_string(),
            table_name: table.clone(),
            secret_prefix: config.secret_prefix.clone(),
            timeouts,
            environment,
        },
        listener,
    )
    .await
    .unwrap_or_else(|e| panic!("aws-local did not start: {e}"));
    let store = Store::new(Arc::new(crate::moto::dynamo_table_named(&table).await));
    let secrets = SecretsManagerStore::new(crate::moto::secrets_manager().await);
    TestServer {
        address,
        app: App::new(store, Arc::new(secrets), config),
        client: reqwest::Client::new(),
        ado: FakeAdo::start().await,
        sentry: FakeSentry::start().await,
        stack: Some(stack),
        _dir: Some(dir),
    }
}
