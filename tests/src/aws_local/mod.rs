//! `aws-local`: the deployed topology on one machine, from the real Lambda binaries.
//!
//! - DynamoDB and Secrets Manager are moto's (the table created as `template.yaml` declares it);
//! - each function runs as Lambda runs it ([`lambda`]): processes polling a Runtime API, one
//!   invocation at a time each, more instances when busy, killed at their timeout;
//! - one HTTP front ([`front`]) routes like the stack: the HTTP API to `webhook-intake`, the
//!   the admin API to `integrations` and `repositories` (which check the bearer token), the
//!   function URL to `work-items`;
//! - the table's stream feeds `sync-worker` through the template's filter ([`stream`]), and a
//!   schedule invokes it every minute (shorter for tests) — both at once, as on AWS.

pub mod aws_calls;
pub mod event_filter;
pub mod front;
pub mod lambda;
pub mod stream;
pub mod topology;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use shared::secrets::Secret;
use tokio::net::TcpListener;
use tokio::sync::watch;

use aws_calls::CallLog;
use lambda::{FunctionStats, Functions, LambdaFunction, Launch};
use stream::{StreamMapping, StreamStats, StreamsApi};
use topology::FunctionSpec;

/// Most instances one function runs at once here (Lambda's default limit is the account's 1 000).
pub const MAX_INSTANCES: usize = 8;

/// Variables passed on from `aws-local`'s own environment to every function when set.
const PASSED_ON: [&str; 3] = [
    "BRIDGE_SENTRY_REPLAY_WINDOW_SECS",
    "RUST_BACKTRACE",
    "AWS_LAMBDA_LOG_LEVEL",
];

/// A schedule that never comes due in a run (a rule left disabled).
pub const NEVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

#[derive(Debug, Clone)]
pub struct Options {
    /// Where the function logs go (`logs/{function}.log`, and `logs/aws-local.log`).
    pub data_dir: PathBuf,
    /// `BRIDGE_PUBLIC_URL`; `None`: `http://<bound address>`.
    pub public_url: Option<String>,
    pub admin_token: Secret,
    /// How often the schedule invokes `sync-worker` (the template says every minute).
    pub schedule_every: Duration,
    /// How often the schedule invokes `reconcile` (the template says every five minutes).
    pub reconcile_every: Duration,
    /// The directory holding the function binaries (`target/debug` or `target/release`).
    pub binaries: PathBuf,
    pub moto_endpoint: String,
    pub table_name: String,
    pub secret_prefix: String,
    /// Timeouts other than the template's, by function name (tests that need a function to run
    /// out of time without waiting a minute).
    pub timeouts: Vec<(&'static str, Duration)>,
    /// More variables for every function (set last, so they win).
    pub environment: Vec<(String, String)>,
}

/// A running stack. [`AwsLocal::stop`] ends every process; dropping it kills them too.
pub struct AwsLocal {
    pub address: SocketAddr,
    pub public_url: String,
    pub functions: Functions,
    pub stream: Arc<StreamMapping>,
    /// Each function's calls to AWS (moto), through a recording proxy of its own.
    pub aws_calls: HashMap<&'static str, Arc<CallLog>>,
    schedule_runs: Arc<Mutex<u64>>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    log_file: PathBuf,
    options: Options,
}

/// The service's own log lines (`logs/aws-local.log`), like the Lambda service's lines in a log group.
pub fn service_log(path: &Path) -> impl Fn(&str) + Send + Sync + 'static {
    let path = path.to_path_buf();
    move |line: &str| {
        use std::io::Write;
        if let Ok(mut log) = std::fs::OpenOptions::new().create(true).append(true).open(&path) {
            let _ = writeln!(log, "{line}");
        }
    }
}

/// A function's binary in `binaries`: `{name}` (a cargo target directory), `{name}/bootstrap`
/// (`cargo lambda build`'s `target/lambda`) or `{logical id}/bootstrap` (`sam build`'s
/// `.aws-sam/build`); or what to build when it is missing.
pub fn binary(binaries: &Path, spec: &FunctionSpec) -> Result<PathBuf, String> {
    let candidates = [
        binaries.join(spec.name),
        binaries.join(spec.name).join("bootstrap"),
        binaries.join(spec.logical_id).join("bootstrap"),
    ];
    candidates.iter().find(|path| path.is_file()).cloned().ok_or_else(|| {
        format!(
            "{} is missing: build the functions first (`cargo build --workspace --bins`, or with --release)",
            candidates[0].display()
        )
    })
}

fn environment(spec: &FunctionSpec, options: &Options, public_url: &str, aws_endpoint: &str) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("AWS_LAMBDA_FUNCTION_NAME", spec.name.to_string()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", spec.memory_mb.to_string()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{}", spec.name)),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "aws-local".into()),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "aws-local".into()),
        ("AWS_SECRET_ACCESS_KEY", "aws-local".into()),
        ("AWS_SESSION_TOKEN", "aws-local".into()),
        ("AWS_ENDPOINT_URL", aws_endpoint.to_string()),
        ("TABLE_NAME", options.table_name.clone()),
        ("SECRET_PREFIX", options.secret_prefix.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for name in spec.public_urls {
        env.push((name.to_string(), public_url.to_string()));
    }
    if spec.admin {
        env.push((
            shared::app::ADMIN_TOKEN_SECRET_ENV.to_string(),
            admin_token_secret(options),
        ));
    }
    for name in PASSED_ON {
        if let Ok(value) = std::env::var(name) {
            env.push((name.to_string(), value));
        }
    }
    env.extend(options.environment.iter().cloned());
    env
}

/// EventBridge's scheduled event, as the rule `rule` sends it.
pub fn scheduled_event(rule: &str) -> Value {
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": shared::clock::rfc3339(shared::clock::now_ms()),
        "region": "us-east-1",
        "resources": [format!("arn:aws:events:us-east-1:123456789012:rule/{rule}")],
        "detail": {}
    })
}

impl AwsLocal {
    /// Creates the table in moto, then serves the front on `listener` and starts the stream
    /// mapping and the schedule. Function processes start on their first invocation.
    pub async fn start(options: Options, listener: TcpListener) -> Result<Self, String> {
        let address = listener.local_addr().map_err(|e| e.to_string())?;
        let public_url = options
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{address}"));
        let logs = options.data_dir.join("logs");
        std::fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
        let table_existed = create_table(&options).await?;
        create_admin_token(&options).await?;

        let (shutdown, stopping) = watch::channel(false);
        let mut functions = Functions::new();
        let mut aws_calls = HashMap::new();
        for mut spec in topology::FUNCTIONS {
            let (aws_endpoint, calls) = aws_calls::start_proxy(&options.moto_endpoint)
                .await
                .map_err(|e| format!("no AWS proxy for {}: {e}", spec.name))?;
            aws_calls.insert(spec.name, calls);
            if let Some((_, timeout)) = options.timeouts.iter().find(|(name, _)| *name == spec.name) {
                spec.timeout = *timeout;
            }
            let launch = Launch {
                binary: binary(&options.binaries, &spec)?,
                environment: environment(&spec, &options, &public_url, &aws_endpoint),
                log_file: logs.join(format!("{}.log", spec.name)),
                max_instances: MAX_INSTANCES,
            };
            functions.insert(spec.name, LambdaFunction::new(spec, launch, stopping.clone()));
        }
        let log_file = logs.join("aws-local.log");
        let worker = functions[topology::SYNC_WORKER.name].clone();
        // Over a table that outlived an earlier run (a redeploy, a kept moto), the mapping goes on
        // from now, as a deployed mapping keeps its place; what was written meanwhile is the
        // schedule's. Over a new table it reads from the start, as the template says.
        let trigger = if table_existed {
            topology::StreamTrigger {
                starting_position: "LATEST",
                ..topology::INBOX_INSERTS
            }
        } else {
            topology::INBOX_INSERTS
        };
        let stream = StreamMapping::new(
            trigger,
            StreamsApi::new(&options.moto_endpoint),
            &options.table_name,
            worker.clone(),
            Box::new(service_log(&log_file)),
        )?;
        let schedule_runs = Arc::new(Mutex::new(0));
        let front = Arc::new(front::Front {
            functions: functions.clone(),
            log: Box::new(service_log(&log_file)),
        });
        let mut stop_serving = stopping.clone();
        let tasks = vec![
            tokio::spawn(async move {
                let _ = shared::axum::serve(listener, front::router(front))
                    .with_graceful_shutdown(async move {
                        lambda::raised(&mut stop_serving).await;
                    })
                    .await;
            }),
            tokio::spawn(stream.clone().run(stopping.clone())),
            tokio::spawn(schedule(
                Rule {
                    name: "RetryDue",
                    function: worker,
                    every: options.schedule_every,
                },
                stopping.clone(),
                schedule_runs.clone(),
                service_log(&log_file),
            )),
            tokio::spawn(schedule(
                Rule {
                    name: "Reconcile",
                    function: functions[topology::RECONCILE.name].clone(),
                    every: options.reconcile_every,
                },
                stopping,
                Arc::new(Mutex::new(0)),
                service_log(&log_file),
            )),
        ];
        Ok(Self {
            address,
            public_url,
            functions,
            stream,
            aws_calls,
            schedule_runs,
            shutdown,
            tasks,
            log_file,
            options,
        })
    }

    /// What it was started with (a redeploy starts the same again).
    pub fn options(&self) -> &Options {
        &self.options
    }

    pub fn function(&self, name: &str) -> &Arc<LambdaFunction> {
        &self.functions[name]
    }

    pub fn function_stats(&self, name: &str) -> FunctionStats {
        self.functions[name].stats()
    }

    pub fn stream_stats(&self) -> StreamStats {
        self.stream.stats()
    }

    /// Scheduled invocations of `sync-worker` so far.
    pub fn schedule_runs(&self) -> u64 {
        *self.schedule_runs.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn log_file(&self) -> &Path {
        &self.log_file
    }

    /// What function `name` has written so far (`logs/{name}.log`).
    pub fn function_log(&self, name: &str) -> String {
        std::fs::read_to_string(self.log_file.with_file_name(format!("{name}.log"))).unwrap_or_default()
    }

    /// The values of metric `metric` in the embedded-metric-format lines function `name` wrote.
    pub fn metric_values(&self, name: &str, metric: &str) -> Vec<f64> {
        self.function_log(name)
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|record| record.get("_aws").is_some())
            .filter_map(|record| record.get(metric).and_then(serde_json::Value::as_f64))
            .collect()
    }

    /// Stops the front, the stream and the schedule, and ends every function process.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        let started = std::time::Instant::now();
        while self.functions.values().any(|f| f.instances() > 0) && started.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for task in std::mem::take(&mut self.tasks) {
            task.abort();
        }
    }
}

impl Drop for AwsLocal {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// The name of the secret holding the admin token (the stack's `AdminToken`), one per table.
fn admin_token_secret(options: &Options) -> String {
    format!("{}-admin-token", options.table_name)
}

/// The stack's `AdminToken` secret, in moto, holding `options.admin_token`.
async fn create_admin_token(options: &Options) -> Result<(), String> {
    let client = aws_sdk_secretsmanager::Client::new(&moto_sdk(options).await);
    let name = admin_token_secret(options);
    let token = options.admin_token.expose();
    match client.create_secret().name(&name).secret_string(token).send().await {
        Ok(_) => Ok(()),
        Err(error) if format!("{error:?}").contains("ResourceExists") => client
            .put_secret_value()
            .secret_id(&name)
            .secret_string(token)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| format!("cannot set the admin token secret: {e:?}")),
        Err(error) => Err(format!("cannot create the admin token secret: {error:?}")),
    }
}

async fn moto_sdk(options: &Options) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(&options.moto_endpoint)
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "aws-local",
            "aws-local",
            None,
            None,
            "aws-local",
        ))
        .load()
        .await
}

/// The table as the template declares it, in moto (an existing one is used as it is).
/// Creates the table; `true` if it existed already.
async fn create_table(options: &Options) -> Result<bool, String> {
    let client = aws_sdk_dynamodb::Client::new(&moto_sdk(options).await);
    match shared::store::DynamoTable::create_table(&client, &options.table_name).await {
        Ok(()) => Ok(false),
        // A moto that outlived an earlier run (`MOTO_ENDPOINT`), or a redeploy: its table and
        // records are kept.
        Err(error) if error.to_string().contains("ResourceInUseException") => Ok(true),
        Err(error) => Err(format!("cannot create table {}: {error}", options.table_name)),
    }
}

/// An EventBridge schedule rule: the function it invokes and how often.
struct Rule {
    name: &'static str,
    function: Arc<LambdaFunction>,
    every: Duration,
}

/// A schedule rule (`RetryDue` for `sync-worker`, `Reconcile` for `reconcile`): an asynchronous
/// invocation every `every`, which Lambda retries twice when it fails.
async fn schedule(
    rule: Rule,
    mut stopping: watch::Receiver<bool>,
    runs: Arc<Mutex<u64>>,
    log: impl Fn(&str) + Send + Sync + 'static,
) {
    let log = Arc::new(log);
    let every = rule.every;
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = lambda::raised(&mut stopping) => return,
        }
        *runs.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        let (function, log, name) = (rule.function.clone(), log.clone(), rule.name);
        tokio::spawn(async move {
            let event = scheduled_event(name);
            for attempt in 0..3u32 {
                match function.invoke(&event).await {
                    Ok(_) => return,
                    Err(error) => {
                        log(&format!(
                            "scheduled {name} run failed (attempt {}): {error}",
                            attempt + 1
                        ));
                        tokio::time::sleep(every * (attempt + 1)).await;
                    }
                }
            }
        });
    }
}
