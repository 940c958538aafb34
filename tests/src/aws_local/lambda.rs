//! One Lambda function as the Lambda service runs it: a pool of instances (the real release or
//! debug binary, each a process of its own with its own caches), each polling a Runtime API on
//! loopback for one invocation at a time. An invocation that finds no idle instance starts a new
//! one (a cold start), up to a cap; an instance that overruns the function's timeout is killed,
//! as Lambda kills the sandbox; a process that exits fails the invocation it held.
//!
//! Why a Runtime API of our own rather than `cargo lambda watch`: `aws-local` must run several
//! functions, several instances of one function at once (the stream and the schedule invoke
//! `sync-worker` concurrently on AWS), kill an instance at its timeout and report what each
//! invocation did — and CI has only the Rust toolchain, where installing cargo-lambda would
//! compile a second large tool on every run.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};

use super::topology::FunctionSpec;

/// How an invocation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvokeError {
    /// The handler returned an error (`…/invocation/{id}/error`).
    Function(String),
    /// The function ran past its timeout; its instance was killed.
    Timeout,
    /// The instance's process exited (or never started) while it held the invocation.
    Crashed(String),
}

impl std::fmt::Display for InvokeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InvokeError::Function(body) => write!(f, "function error: {body}"),
            InvokeError::Timeout => f.write_str("task timed out"),
            InvokeError::Crashed(why) => write!(f, "runtime exited: {why}"),
        }
    }
}

type Reply = oneshot::Sender<Result<Value, InvokeError>>;

struct Invocation {
    request_id: String,
    payload: Bytes,
    reply: Reply,
}

/// What the pool has: instances started and alive, those waiting for work, invocations waiting
/// for an instance.
#[derive(Debug, Default)]
struct Pool {
    alive: usize,
    idle: usize,
    queued: usize,
}

/// What a function did so far (for tests and the summary line).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FunctionStats {
    pub cold_starts: u64,
    pub invocations: u64,
    pub errors: u64,
    pub timeouts: u64,
}

/// How to start the function's processes.
#[derive(Debug, Clone)]
pub struct Launch {
    pub binary: PathBuf,
    pub environment: Vec<(String, String)>,
    /// Appended to by every instance (stdout and stderr), like the function's log group.
    pub log_file: PathBuf,
    pub max_instances: usize,
}

pub struct LambdaFunction {
    pub spec: FunctionSpec,
    launch: Launch,
    queue: mpsc::UnboundedSender<Invocation>,
    next_invocation: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Invocation>>>,
    pool: Mutex<Pool>,
    stats: Mutex<FunctionStats>,
    sequence: AtomicU64,
    shutdown: watch::Receiver<bool>,
    /// Wakes every instance's supervisor to kill its process.
    kill_all: tokio::sync::Notify,
}

/// What an instance holds: the invocation it runs (request id and reply), and whether its
/// process has ended (then nothing more may be handed to it).
#[derive(Default)]
struct Held {
    invocation: Option<(String, Reply)>,
    ended: bool,
    /// Whether it ever took an invocation (one that never did failed at init).
    served: bool,
}

/// One running process of the function.
struct Instance {
    function: Arc<LambdaFunction>,
    held: Mutex<Held>,
    kill: tokio::sync::Notify,
    exited: watch::Receiver<bool>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl LambdaFunction {
    pub fn new(spec: FunctionSpec, launch: Launch, shutdown: watch::Receiver<bool>) -> Arc<Self> {
        let (queue, received) = mpsc::unbounded_channel();
        Arc::new(Self {
            spec,
            launch,
            queue,
            next_invocation: Arc::new(tokio::sync::Mutex::new(received)),
            pool: Mutex::new(Pool::default()),
            stats: Mutex::new(FunctionStats::default()),
            sequence: AtomicU64::new(0),
            shutdown,
            kill_all: tokio::sync::Notify::new(),
        })
    }

    pub fn stats(&self) -> FunctionStats {
        *lock(&self.stats)
    }

    /// Kills every running instance, as a crash (or Lambda at a timeout) would; what they held
    /// fails with [`InvokeError::Crashed`].
    pub fn kill_instances(&self) {
        self.kill_all.notify_waiters();
    }

    /// Instances alive now.
    pub fn instances(&self) -> usize {
        lock(&self.pool).alive
    }

    /// A synchronous (`RequestResponse`) invocation: waits for the function's answer.
    pub async fn invoke(self: &Arc<Self>, payload: &Value) -> Result<Value, InvokeError> {
        let (reply, answer) = oneshot::channel();
        let request_id = format!(
            "{:08x}-0000-4000-8000-{:012x}",
            std::process::id(),
            self.sequence.fetch_add(1, Ordering::Relaxed)
        );
        let payload = Bytes::from(serde_json::to_vec(payload).expect("a JSON payload"));
        // Queued first, so an instance that dies at init finds it and fails it.
        let start_one = {
            let mut pool = lock(&self.pool);
            pool.queued += 1;
            let start = pool.queued > pool.idle && pool.alive < self.launch.max_instances;
            if start {
                pool.alive += 1;
            }
            start
        };
        lock(&self.stats).invocations += 1;
        let queued = self.queue.send(Invocation {
            request_id,
            payload,
            reply,
        });
        if queued.is_err() {
            return Err(InvokeError::Crashed("the function is stopped".into()));
        }
        if start_one {
            lock(&self.stats).cold_starts += 1;
            self.clone().start_instance().await;
        }
        let outcome = answer
            .await
            .unwrap_or_else(|_| Err(InvokeError::Crashed("the invocation was dropped".into())));
        match &outcome {
            Err(InvokeError::Timeout) => lock(&self.stats).timeouts += 1,
            Err(_) => lock(&self.stats).errors += 1,
            Ok(_) => {}
        }
        outcome
    }

    /// Starts one process with its own Runtime API listener; `alive` is already counted.
    async fn start_instance(self: Arc<Self>) {
        let (exited_tx, exited) = watch::channel(false);
        let instance = Arc::new(Instance {
            function: self.clone(),
            held: Mutex::new(Held::default()),
            kill: tokio::sync::Notify::new(),
            exited,
        });
        let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
            Ok(listener) => listener,
            Err(error) => {
                self.instance_ended(&instance, &format!("no Runtime API listener: {error}"));
                return;
            }
        };
        let runtime_api = listener.local_addr().expect("bound address").to_string();
        let api = runtime_api_router(instance.clone());
        let server = tokio::spawn(async move { axum::serve(listener, api).await });
        let child = match self.command(&runtime_api).spawn() {
            Ok(child) => child,
            Err(error) => {
                server.abort();
                self.instance_ended(
                    &instance,
                    &format!("cannot start {}: {error}", self.launch.binary.display()),
                );
                return;
            }
        };
        tokio::spawn(supervise(instance, child, server, exited_tx));
    }

    fn command(&self, runtime_api: &str) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(&self.launch.binary);
        command
            .env_clear()
            .envs(self.launch.environment.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.launch.log_file)
        {
            Ok(log) => {
                let stderr = log.try_clone().map(Stdio::from).unwrap_or_else(|_| Stdio::null());
                command.stdout(Stdio::from(log)).stderr(stderr);
            }
            Err(_) => {
                command.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        command
    }

    /// Bookkeeping when an instance is gone: the invocation it held fails, as Lambda fails it.
    /// Invocations still queued with no instance to take them get one: a new instance when this
    /// one had served (it was killed, or crashed on an invocation), or — when it died before
    /// taking any, at init — the oldest of them fails, as Lambda answers `Runtime.ExitError`.
    fn instance_ended(self: &Arc<Self>, instance: &Instance, why: &str) {
        let (reply, served) = {
            let mut held = lock(&instance.held);
            held.ended = true;
            (held.invocation.take(), held.served)
        };
        if let Some((_, reply)) = reply {
            let _ = reply.send(Err(InvokeError::Crashed(why.to_string())));
        }
        let start_another = {
            let mut pool = lock(&self.pool);
            pool.alive -= 1;
            let start = served && pool.queued > pool.idle && pool.alive < self.launch.max_instances;
            if start {
                pool.alive += 1;
            }
            start
        };
        if start_another {
            lock(&self.stats).cold_starts += 1;
            tokio::spawn(self.clone().start_instance());
        } else if !served {
            self.fail_one_queued(why);
        }
    }

    /// Fails the oldest queued invocation, if no instance is waiting to take it.
    fn fail_one_queued(&self, why: &str) {
        if lock(&self.pool).idle > 0 {
            return;
        }
        let Ok(mut queue) = self.next_invocation.try_lock() else {
            return;
        };
        if let Ok(invocation) = queue.try_recv() {
            lock(&self.pool).queued -= 1;
            let message = format!("the runtime exited before taking an invocation: {why}");
            let _ = invocation.reply.send(Err(InvokeError::Crashed(message)));
        }
    }
}

/// Waits for the process to exit — on its own, killed at a timeout, or at shutdown.
async fn supervise(
    instance: Arc<Instance>,
    mut child: tokio::process::Child,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    exited: watch::Sender<bool>,
) {
    let mut shutdown = instance.function.shutdown.clone();
    let why = tokio::select! {
        status = child.wait() => match status {
            Ok(status) => format!("process exited with {status}"),
            Err(error) => format!("process lost: {error}"),
        },
        _ = instance.kill.notified() => {
            let _ = child.kill().await;
            "killed at the function's timeout".to_string()
        }
        _ = instance.function.kill_all.notified() => {
            let _ = child.kill().await;
            "killed".to_string()
        }
        _ = raised(&mut shutdown) => {
            let _ = child.kill().await;
            "aws-local is stopping".to_string()
        }
    };
    let _ = exited.send(true);
    server.abort();
    instance.function.instance_ended(&instance, &why);
}

/// Resolves once the flag is (or was already) raised.
pub async fn raised(flag: &mut watch::Receiver<bool>) {
    let _ = flag.wait_for(|up| *up).await;
}

/// The three Runtime API routes a function's runtime uses.
fn runtime_api_router(instance: Arc<Instance>) -> Router {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route("/2018-06-01/runtime/invocation/{id}/response", post(respond))
        .route("/2018-06-01/runtime/invocation/{id}/error", post(fail))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(instance)
}

/// Counts the instance idle while it waits for work, even if the wait is abandoned.
struct Idle<'a>(&'a Mutex<Pool>);

impl<'a> Idle<'a> {
    fn start(pool: &'a Mutex<Pool>) -> Self {
        lock(pool).idle += 1;
        Self(pool)
    }
}

impl Drop for Idle<'_> {
    fn drop(&mut self) {
        lock(self.0).idle -= 1;
    }
}

async fn next(State(instance): State<Arc<Instance>>) -> Response {
    let function = instance.function.clone();
    let mut exited = instance.exited.clone();
    let invocation = {
        let _idle = Idle::start(&function.pool);
        let mut queue = tokio::select! {
            queue = function.next_invocation.lock() => queue,
            _ = raised(&mut exited) => return StatusCode::GONE.into_response(),
        };
        let invocation = tokio::select! {
            invocation = queue.recv() => invocation,
            _ = raised(&mut exited) => return StatusCode::GONE.into_response(),
        };
        if invocation.is_some() {
            // Counted taken while still counted idle, so `invoke` never sees a gap.
            lock(&function.pool).queued -= 1;
        }
        invocation
    };
    let Some(invocation) = invocation else {
        return StatusCode::GONE.into_response();
    };
    let deadline = std::time::SystemTime::now() + function.spec.timeout;
    let deadline_ms = deadline
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    {
        let mut held = lock(&instance.held);
        if held.ended {
            drop(held);
            let _ = invocation.reply.send(Err(InvokeError::Crashed(
                "the instance ended as it took the invocation".into(),
            )));
            return StatusCode::GONE.into_response();
        }
        held.invocation = Some((invocation.request_id.clone(), invocation.reply));
        held.served = true;
    }
    tokio::spawn(enforce_timeout(
        instance.clone(),
        invocation.request_id.clone(),
        Instant::now() + function.spec.timeout,
    ));
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    set("lambda-runtime-aws-request-id", invocation.request_id);
    set("lambda-runtime-deadline-ms", deadline_ms.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        format!("arn:aws:lambda:us-east-1:123456789012:function:{}", function.spec.name),
    );
    set(
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000;Sampled=0".into(),
    );
    set("content-type", "application/json".into());
    (StatusCode::OK, headers, invocation.payload).into_response()
}

async fn enforce_timeout(instance: Arc<Instance>, request_id: String, deadline: Instant) {
    tokio::time::sleep_until(deadline.into()).await;
    if let Some(reply) = take_held(&instance, &request_id) {
        let _ = reply.send(Err(InvokeError::Timeout));
        instance.kill.notify_one();
    }
}

/// Takes the held invocation if it is `request_id`.
fn take_held(instance: &Instance, request_id: &str) -> Option<Reply> {
    let mut held = lock(&instance.held);
    match held.invocation.take() {
        Some((id, reply)) if id == request_id => Some(reply),
        other => {
            held.invocation = other;
            None
        }
    }
}

async fn respond(State(instance): State<Arc<Instance>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    let Some(reply) = take_held(&instance, &id) else {
        return StatusCode::BAD_REQUEST;
    };
    let answer = if body.is_empty() {
        Ok(Value::Null)
    } else {
        serde_json::from_slice(&body).map_err(|e| InvokeError::Function(format!("the response is not JSON: {e}")))
    };
    let _ = reply.send(answer);
    StatusCode::ACCEPTED
}

async fn fail(State(instance): State<Arc<Instance>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    let Some(reply) = take_held(&instance, &id) else {
        return StatusCode::BAD_REQUEST;
    };
    let _ = reply.send(Err(InvokeError::Function(String::from_utf8_lossy(&body).into_owned())));
    StatusCode::ACCEPTED
}

async fn init_error(State(instance): State<Arc<Instance>>, body: Bytes) -> StatusCode {
    service_log(
        &instance.function,
        &format!("init error: {}", String::from_utf8_lossy(&body)),
    );
    StatusCode::ACCEPTED
}

/// A line in the function's log file from the Lambda service itself (as `INIT_REPORT` lines are).
fn service_log(function: &LambdaFunction, line: &str) {
    use std::io::Write;
    if let Ok(mut log) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&function.launch.log_file)
    {
        let _ = writeln!(log, "[aws-local] {line}");
    }
}

/// Every function of a running stack by name.
pub type Functions = HashMap<&'static str, Arc<LambdaFunction>>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws_local::topology;

    /// A function whose process dies at init fails the invocation that started it, as Lambda
    /// answers `Runtime.ExitError`; the caller is never left waiting.
    #[tokio::test]
    async fn an_invocation_fails_when_the_runtime_dies_at_init() {
        let dir = tempfile::tempdir().unwrap();
        let (_stop, shutdown) = watch::channel(false);
        let function = LambdaFunction::new(
            topology::WEBHOOK_INTAKE,
            Launch {
                binary: PathBuf::from("/bin/false"),
                environment: Vec::new(),
                log_file: dir.path().join("f.log"),
                max_instances: 2,
            },
            shutdown,
        );
        let outcome = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            function.invoke(&serde_json::json!({})),
        )
        .await
        .expect("answered, not left waiting");
        assert!(matches!(outcome, Err(InvokeError::Crashed(_))), "{outcome:?}");
        assert_eq!(function.instances(), 0);
        assert_eq!(function.stats().errors, 1);
    }
}
