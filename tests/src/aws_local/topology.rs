//! The deployed stack as `template.yaml` declares it, in the terms `aws-local` needs: each
//! function's binary, timeout and memory, the worker's two triggers, and which function a
//! request reaches. `template_matches_topology` (suite `aws_local`) compares every value here with
//! the template itself, so the two cannot drift apart.

use std::time::Duration;

use axum::http::Method;
use shared::functions::HttpFunction;

/// One Lambda function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunctionSpec {
    /// The binary (`BuildProperties.Binary`) and the function's name here.
    pub name: &'static str,
    /// The template's logical id.
    pub logical_id: &'static str,
    pub timeout: Duration,
    pub memory_mb: u32,
    /// Which of `BRIDGE_PUBLIC_URL` / `BRIDGE_SENTRY_URL` the function gets.
    pub public_urls: &'static [&'static str],
}

const NO_URLS: &[&str] = &[];
const BOTH_URLS: &[&str] = &["BRIDGE_PUBLIC_URL", "BRIDGE_SENTRY_URL"];

pub const WEBHOOK_INTAKE: FunctionSpec = FunctionSpec {
    name: "webhook-intake",
    logical_id: "WebhookIntakeFunction",
    timeout: Duration::from_secs(5),
    memory_mb: 128,
    public_urls: NO_URLS,
};
pub const WORK_ITEMS: FunctionSpec = FunctionSpec {
    name: "work-items",
    logical_id: "WorkItemsFunction",
    timeout: Duration::from_secs(15),
    memory_mb: 256,
    public_urls: NO_URLS,
};
pub const INTEGRATIONS: FunctionSpec = FunctionSpec {
    name: "integrations",
    logical_id: "IntegrationsFunction",
    timeout: Duration::from_secs(30),
    memory_mb: 256,
    public_urls: BOTH_URLS,
};
pub const SYNC_WORKER: FunctionSpec = FunctionSpec {
    name: "sync-worker",
    logical_id: "SyncWorkerFunction",
    timeout: Duration::from_secs(60),
    memory_mb: 256,
    public_urls: NO_URLS,
};

pub const RECONCILE: FunctionSpec = FunctionSpec {
    name: "reconcile",
    logical_id: "ReconcileFunction",
    timeout: Duration::from_secs(120),
    memory_mb: 256,
    public_urls: BOTH_URLS,
};

pub const REPOSITORIES: FunctionSpec = FunctionSpec {
    name: "repositories",
    logical_id: "RepositoriesFunction",
    timeout: Duration::from_secs(300),
    memory_mb: 256,
    public_urls: &["BRIDGE_PUBLIC_URL"],
};

pub const FUNCTIONS: [FunctionSpec; 6] = [
    WEBHOOK_INTAKE,
    WORK_ITEMS,
    INTEGRATIONS,
    REPOSITORIES,
    SYNC_WORKER,
    RECONCILE,
];

/// `reconcile`'s schedule (the `Reconcile` event, the `ReconcileSchedule` parameter's default):
/// `rate(5 minutes)`.
pub const RECONCILE_EVERY: Duration = Duration::from_secs(300);

/// `sync-worker`'s DynamoDB stream trigger (the `InboxInserts` event of the template).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamTrigger {
    pub batch_size: usize,
    pub batching_window: Duration,
    pub bisect_on_error: bool,
    pub maximum_retry_attempts: u32,
    pub report_batch_item_failures: bool,
    pub starting_position: &'static str,
    /// The one filter pattern (Lambda event filtering syntax).
    pub filter: &'static str,
}

pub const INBOX_INSERTS: StreamTrigger = StreamTrigger {
    batch_size: 10,
    batching_window: Duration::from_secs(1),
    bisect_on_error: true,
    maximum_retry_attempts: 10,
    report_batch_item_failures: true,
    starting_position: "TRIM_HORIZON",
    filter: r#"{"eventName": ["INSERT", "MODIFY"], "dynamodb": {"NewImage": {"kind": {"S": ["event"]}, "version": {"N": ["1"]}}}}"#,
};

/// `sync-worker`'s schedule (the `RetryDue` event): `rate(1 minute)`.
pub const RETRY_DUE_EVERY: Duration = Duration::from_secs(60);

/// How a request reaches a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// API Gateway HTTP API (payload 2.0): only its declared route; anything else is the API's
    /// own 404.
    HttpApi {
        function: HttpFunction,
        route_key: &'static str,
        path_parameters: Vec<(&'static str, String)>,
    },
    /// A function URL (payload 2.0, `routeKey` `$default`): every path reaches the function.
    FunctionUrl { function: HttpFunction, admin: bool },
}

impl Entry {
    pub fn function(&self) -> HttpFunction {
        match self {
            Entry::HttpApi { function, .. } | Entry::FunctionUrl { function, .. } => *function,
        }
    }
}

/// `/integrations/{id}/repositories…` and `/integrations/{id}/code-mappings…`: the repositories
/// function's.
fn is_repositories_path(path: &str) -> bool {
    let mut segments = path.trim_start_matches('/').split('/');
    segments.next() == Some("integrations")
        && segments.next().is_some()
        && matches!(segments.next(), Some("repositories" | "code-mappings"))
}

/// The one route of the HTTP API.
pub const ADO_HOOK_ROUTE: &str = "POST /hooks/azure-devops/{integration_id}";

/// Which function a request reaches in the deployed stack, told by its path (each function has
/// its own host there; `aws-local` puts them behind one listener). `None`: the HTTP API's own
/// 404 (its path prefix, but not its route).
pub fn entry(method: &Method, path: &str) -> Option<Entry> {
    if let Some(rest) = path.strip_prefix("/hooks/azure-devops") {
        let id = rest
            .strip_prefix('/')
            .filter(|id| !id.is_empty() && !id.contains('/'))?;
        return (method == Method::POST).then(|| Entry::HttpApi {
            function: HttpFunction::WebhookIntake,
            route_key: ADO_HOOK_ROUTE,
            path_parameters: vec![("integration_id", id.to_string())],
        });
    }
    let admin = path == "/integrations" || path.starts_with("/integrations/") || path == "/sentry/schema";
    let function = if is_repositories_path(path) {
        HttpFunction::Repositories
    } else if admin {
        HttpFunction::Integrations
    } else {
        HttpFunction::WorkItems
    };
    Some(Entry::FunctionUrl { function, admin })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_reach_the_function_that_serves_them() {
        let hook = entry(&Method::POST, "/hooks/azure-devops/abc").unwrap();
        assert_eq!(hook.function(), HttpFunction::WebhookIntake);
        assert!(
            entry(&Method::GET, "/hooks/azure-devops/abc").is_none(),
            "the HTTP API routes POST only"
        );
        assert!(entry(&Method::POST, "/hooks/azure-devops/a/b").is_none());
        assert!(entry(&Method::POST, "/hooks/azure-devops/").is_none());
        assert_eq!(
            entry(&Method::GET, "/integrations/x/events").unwrap(),
            Entry::FunctionUrl {
                function: HttpFunction::Integrations,
                admin: true
            }
        );
        assert_eq!(
            entry(&Method::GET, "/sentry/schema").unwrap().function(),
            HttpFunction::Integrations
        );
        for path in [
            "/integrations/x/repositories",
            "/integrations/x/repositories/available",
            "/integrations/x/repositories/r/releases",
            "/integrations/x/code-mappings/m",
        ] {
            assert_eq!(
                entry(&Method::GET, path).unwrap(),
                Entry::FunctionUrl {
                    function: HttpFunction::Repositories,
                    admin: true
                },
                "{path}"
            );
        }
        assert_eq!(
            entry(&Method::GET, "/sentry/stacktrace-link").unwrap().function(),
            HttpFunction::WorkItems
        );
        assert_eq!(
            entry(&Method::POST, "/sentry/issue-link/create").unwrap(),
            Entry::FunctionUrl {
                function: HttpFunction::WorkItems,
                admin: false
            }
        );
        assert_eq!(
            entry(&Method::GET, "/integrationsX").unwrap().function(),
            HttpFunction::WorkItems
        );
    }
}
