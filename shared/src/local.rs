//! The embedded single-machine mode: options, the admin token, SQLite + local secrets file,
//! and the one router that mounts every function's routes.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;

use crate::App;
use crate::config::{AdminAuth, Config, ConfigError, trim_url};
use crate::files;
use crate::functions::HttpFunction;
use crate::http::Routes;
use crate::secrets::{FileSecretStore, Secret};
use crate::store::{SqliteTable, Store};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATA_DIR: &str = "./.bridge-data";
pub const USAGE: &str = "usage: bridge-local [--listen ADDR] [--data-dir DIR]

  --listen ADDR    address to listen on (env BRIDGE_LISTEN, default 127.0.0.1:8080)
  --data-dir DIR   where records, secrets and the admin token live (env BRIDGE_DATA_DIR, default ./.bridge-data)

  env BRIDGE_ADMIN_TOKEN   admin bearer token (default: generated into <data-dir>/admin-token)
  env BRIDGE_PUBLIC_URL    URL Azure DevOps and Sentry reach this server at (default http://<listen>)
  env BRIDGE_RECONCILE_INTERVAL_SECS   seconds between reconciliation passes (default 300; 0: none)";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalOptions {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// From `BRIDGE_PUBLIC_URL`; `None` means `http://<bound address>`.
    pub public_url: Option<String>,
    pub admin_token: Option<String>,
    /// Between reconciliation passes (`BRIDGE_RECONCILE_INTERVAL_SECS`); `None`: no passes.
    pub reconcile_every: Option<std::time::Duration>,
}

/// Seconds between reconciliation passes when `BRIDGE_RECONCILE_INTERVAL_SECS` is not set.
pub const DEFAULT_RECONCILE_INTERVAL_SECS: u64 = 300;

/// Reads options from command-line arguments (after the program name), falling back to the
/// environment, then to defaults. `Err` carries the message to print (usage on `--help`).
pub fn parse_options(
    args: impl IntoIterator<Item = String>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<LocalOptions, String> {
    parse_command_line(USAGE, args, env)
}

/// [`parse_options`] for a program with the same options and its own `usage` text (`aws-local`).
pub fn parse_command_line(
    usage: &str,
    args: impl IntoIterator<Item = String>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<LocalOptions, String> {
    let mut listen = env("BRIDGE_LISTEN");
    let mut data_dir = env("BRIDGE_DATA_DIR");
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_string(), Some(value.to_string())),
            None => (arg.clone(), None),
        };
        let slot = match flag.as_str() {
            "--listen" => &mut listen,
            "--data-dir" => &mut data_dir,
            "-h" | "--help" => return Err(usage.to_string()),
            other => return Err(format!("unknown argument {other}\n\n{usage}")),
        };
        let value = inline
            .or_else(|| args.next())
            .ok_or_else(|| format!("{flag} needs a value\n\n{usage}"))?;
        *slot = Some(value);
    }
    let listen_text = listen.unwrap_or_else(|| DEFAULT_LISTEN.to_string());
    let listen: SocketAddr = listen_text
        .parse()
        .map_err(|_| format!("--listen {listen_text}: expected an address like 127.0.0.1:8080"))?;
    let public_url = env("BRIDGE_PUBLIC_URL")
        .filter(|u| !u.trim().is_empty())
        .map(|u| trim_url(&u));
    let reconcile_secs = match env("BRIDGE_RECONCILE_INTERVAL_SECS").filter(|v| !v.trim().is_empty()) {
        None => DEFAULT_RECONCILE_INTERVAL_SECS,
        Some(text) => text
            .trim()
            .parse::<u64>()
            .map_err(|_| format!("BRIDGE_RECONCILE_INTERVAL_SECS={text}: expected a number of seconds\n\n{usage}"))?,
    };
    Ok(LocalOptions {
        reconcile_every: (reconcile_secs > 0).then(|| std::time::Duration::from_secs(reconcile_secs)),
        listen,
        data_dir: PathBuf::from(data_dir.unwrap_or_else(|| DEFAULT_DATA_DIR.to_string())),
        public_url,
        admin_token: env("BRIDGE_ADMIN_TOKEN").filter(|t| !t.trim().is_empty()),
    })
}

/// Where the admin token came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    Environment,
    File(PathBuf),
    Generated(PathBuf),
}

/// The admin token: from the environment, else `<data_dir>/admin-token`, generated (mode 0600)
/// on first start.
pub fn admin_token(data_dir: &Path, from_env: Option<&str>) -> Result<(Secret, TokenSource), ConfigError> {
    if let Some(token) = from_env {
        return Ok((Secret::new(token.trim()), TokenSource::Environment));
    }
    files::create_private_dir(data_dir).map_err(|e| ConfigError::Invalid(format!("{}: {e}", data_dir.display())))?;
    let path = data_dir.join("admin-token");
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => Ok((Secret::new(text.trim()), TokenSource::File(path))),
        _ => {
            let token = Secret::generate(32).map_err(|e| ConfigError::Invalid(e.to_string()))?;
            files::write_private_file(&path, token.expose().as_bytes())
                .map_err(|e| ConfigError::Invalid(format!("{}: {e}", path.display())))?;
            Ok((token, TokenSource::Generated(path)))
        }
    }
}

/// Builds the app on `<data_dir>/bridge.sqlite3` and `<data_dir>/secrets.json`; `bound` is the
/// address the listener got (the public URL defaults to it).
pub fn build_app(options: &LocalOptions, bound: SocketAddr, admin_token: Secret) -> Result<Arc<App>, ConfigError> {
    let invalid = |e: &dyn std::fmt::Display| ConfigError::Invalid(e.to_string());
    files::create_private_dir(&options.data_dir)
        .map_err(|e| ConfigError::Invalid(format!("{}: {e}", options.data_dir.display())))?;
    let table = SqliteTable::open(&options.data_dir.join("bridge.sqlite3")).map_err(|e| invalid(&e))?;
    let secrets = FileSecretStore::open(&options.data_dir.join("secrets.json")).map_err(|e| invalid(&e))?;
    let config = Config {
        public_url: options.public_url.clone().unwrap_or_else(|| format!("http://{bound}")),
        sentry_facing_url: options.public_url.clone().unwrap_or_else(|| format!("http://{bound}")),
        admin_auth: AdminAuth::Bearer(admin_token),
        secret_prefix: "local/".to_string(),
        sentry_replay_window_secs: crate::config::replay_window_from_env(),
        stream_grace_ms: 0,
        retry: Default::default(),
        secret_grace_secs: crate::config::secret_grace_from_env(),
    };
    Ok(App::new(Store::new(Arc::new(table)), Arc::new(secrets), config))
}

/// A local program's `main` (`bridge-local`, `aws-local`): options from the command line and the
/// environment (`usage` printed on `--help`, exit 2 on a bad argument), then `run`, whose error
/// is printed after the program's name (exit 1).
pub async fn run_program<F, Fut>(program: &str, usage: &str, run: F) -> std::process::ExitCode
where
    F: FnOnce(LocalOptions) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    use std::process::ExitCode;
    let options = match parse_command_line(usage, std::env::args().skip(1), |name| std::env::var(name).ok()) {
        Ok(options) => options,
        Err(message) if message.starts_with("usage:") => {
            println!("{message}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    match run(options).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{program}: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Ctrl-C (SIGINT) or SIGTERM, listened for from the moment this is made: a signal that
/// arrives before anything awaits it is not missed.
pub struct ShutdownSignal {
    interrupt: Option<tokio::signal::unix::Signal>,
    terminate: Option<tokio::signal::unix::Signal>,
}

impl ShutdownSignal {
    pub fn listen() -> Self {
        use tokio::signal::unix::{SignalKind, signal};
        Self {
            interrupt: signal(SignalKind::interrupt()).ok(),
            terminate: signal(SignalKind::terminate()).ok(),
        }
    }

    /// Resolves on the first of the two signals.
    pub async fn received(mut self) {
        let wait = |signal: Option<tokio::signal::unix::Signal>| async move {
            match signal {
                Some(mut signal) => {
                    signal.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        let (interrupt, terminate) = (self.interrupt.take(), self.terminate.take());
        tokio::select! {
            _ = wait(interrupt) => {},
            _ = wait(terminate) => {},
        }
    }
}

/// Every function's routes, once each, and `GET /healthz`.
pub fn routes(app: Arc<App>) -> Routes {
    HttpFunction::ALL
        .into_iter()
        .fold(crate::http::health_routes(), |routes, function| {
            routes.merge(function.own_routes(app.clone()))
        })
}

/// Every function's routes on one router.
pub fn router(app: Arc<App>) -> Router {
    crate::http::finish(routes(app).into_router())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn defaults_flags_and_environment() {
        let options = parse_options(Vec::<String>::new(), no_env).unwrap();
        assert_eq!(options.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(options.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
        assert_eq!(options.public_url, None);

        let env = |name: &str| match name {
            "BRIDGE_LISTEN" => Some("127.0.0.1:9000".to_string()),
            "BRIDGE_DATA_DIR" => Some("/tmp/env-dir".to_string()),
            "BRIDGE_PUBLIC_URL" => Some("https://bridge.example.com/".to_string()),
            _ => None,
        };
        let options = parse_options(vec!["--data-dir=/tmp/flag-dir".to_string()], env).unwrap();
        assert_eq!(options.listen.to_string(), "127.0.0.1:9000");
        assert_eq!(options.data_dir, PathBuf::from("/tmp/flag-dir"));
        assert_eq!(options.public_url.as_deref(), Some("https://bridge.example.com"));

        let options = parse_options(vec!["--listen".into(), "0.0.0.0:1234".into()], no_env).unwrap();
        assert_eq!(options.listen.to_string(), "0.0.0.0:1234");
    }

    #[test]
    fn bad_arguments_explain_themselves() {
        assert!(
            parse_options(vec!["--bogus".into()], no_env)
                .unwrap_err()
                .contains("unknown argument --bogus")
        );
        assert!(
            parse_options(vec!["--listen".into()], no_env)
                .unwrap_err()
                .contains("needs a value")
        );
        assert!(
            parse_options(vec!["--listen".into(), "nope".into()], no_env)
                .unwrap_err()
                .contains("expected an address")
        );
        assert!(
            parse_options(vec!["--help".into()], no_env)
                .unwrap_err()
                .starts_with("usage:")
        );
    }

    #[test]
    fn admin_token_is_generated_once_then_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (first, source) = admin_token(dir.path(), None).unwrap();
        let path = dir.path().join("admin-token");
        assert_eq!(source, TokenSource::Generated(path.clone()));
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let (second, source) = admin_token(dir.path(), None).unwrap();
        assert_eq!(first, second);
        assert_eq!(source, TokenSource::File(path));
        let (from_env, source) = admin_token(dir.path(), Some("env-token")).unwrap();
        assert_eq!(from_env.expose(), "env-token");
        assert_eq!(source, TokenSource::Environment);
    }
}
