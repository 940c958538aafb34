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
    /// Serves admin routes: gets `BRIDGE_ADMIN_TOKEN_SECRET` (the stack's `AdminToken`).
    pub admin: bool,
}

const NO_URLS: &[&str] = &[];
const BOTH_URLS: &[&str] = &["BRIDGE_PUBLIC_URL", "BRIDGE_SENTRY_URL"];

pub const WEBHOOK_INTAKE: FunctionSpec = FunctionSpec {
    name: "webhook-intake",
    logical_id: "WebhookIntakeFunction",
    timeout: Duration::from_secs(5),
    memory_mb: 128,
    public_urls: NO_URLS,
    admin: false,
};
pub const WORK_ITEMS: FunctionSpec = FunctionSpec {
    name: "work-items",
    logical_id: "WorkItemsFunction",
    timeout: Duration::from_secs(15),
    memory_mb: 256,
    public_urls: NO_URLS,
    admin: false,
};
pub const INTEGRATIONS: FunctionSpec = FunctionSpec {
    name: "integrations",
    logical_id: "IntegrationsFunction",
    timeout: Duration::from_secs(30),
    memory_mb: 256,
    public_urls: BOTH_URLS,
    admin: true,
};
pub const SYNC_WORKER: FunctionSpec = FunctionSpec {
    name: "sync-worker",
    logical_id: "SyncWorkerFunction",
    timeout: Duration::from_secs(60),
    memory_mb: 256,
    public_urls: NO_URLS,
    admin: false,
};

pub const RECONCILE: FunctionSpec = FunctionSpec {
    name: "reconcile",
    logical_id: "ReconcileFunction",
    timeout: Duration::from_secs(120),
    memory_mb: 256,
    public_urls: BOTH_URLS,
    admin: false,
};

pub const REPOSITORIES: FunctionSpec = FunctionSpec {
    name: "repositories",
    logical_id: "RepositoriesFunction",
    timeout: Duration::from_secs(300),
    memory_mb: 256,
    public_urls: &["BRIDGE_PUBLIC_URL"],
    admin: true,
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
    /// API Gateway HTTP API (payload 2.0): only its declared routes; anything else is the API's
    /// own 404.
    HttpApi {
        function: HttpFunction,
        route_key: &'static str,
        path_parameters: Vec<(&'static str, String)>,
    },
    /// A function URL (payload 2.0, `routeKey` `$default`): every path reaches the function.
    FunctionUrl { function: HttpFunction },
}

impl Entry {
    pub fn function(&self) -> HttpFunction {
        match self {
            Entry::HttpApi { function, .. } | Entry::FunctionUrl { function } => *function,
        }
    }
}

/// The one route of the hook API.
pub const ADO_HOOK_ROUTE: &str = "POST /hooks/azure-devops/{integration_id}";

/// The admin API's routes (`AdminHttpApi`) and the function each reaches. The most specific route
/// wins, as API Gateway picks it.
pub const ADMIN_ROUTES: [(HttpFunction, &str); 8] = [
    (HttpFunction::Integrations, "ANY /integrations"),
    (HttpFunction::Integrations, "ANY /integrations/{proxy+}"),
    (HttpFunction::Integrations, "GET /sentry/schema"),
    (HttpFunction::Integrations, "GET /healthz"),
    (HttpFunction::Repositories, "ANY /integrations/{id}/repositories"),
    (
        HttpFunction::Repositories,
        "ANY /integrations/{id}/repositories/{proxy+}",
    ),
    (HttpFunction::Repositories, "ANY /integrations/{id}/code-mappings"),
    (
        HttpFunction::Repositories,
        "ANY /integrations/{id}/code-mappings/{proxy+}",
    ),
];

fn admin_route(route_key: &'static str, path_parameters: Vec<(&'static str, String)>) -> Entry {
    let function = ADMIN_ROUTES
        .iter()
        .find(|(_, key)| *key == route_key)
        .map(|(function, _)| *function)
        .expect("an admin route");
    Entry::HttpApi {
        function,
        route_key,
        path_parameters,
    }
}

/// Which admin route a path takes (`None`: not an admin path).
fn admin_entry(method: &Method, path: &str) -> Option<Option<Entry>> {
    match path {
        "/sentry/schema" => return Some((method == Method::GET).then(|| admin_route("GET /sentry/schema", vec![]))),
        "/healthz" => return Some((method == Method::GET).then(|| admin_route("GET /healthz", vec![]))),
        "/integrations" => return Some(Some(admin_route("ANY /integrations", vec![]))),
        _ => {}
    }
    let rest = path.strip_prefix("/integrations/")?;
    let segments: Vec<&str> = rest.splitn(3, '/').collect();
    let entry = match segments.as_slice() {
        [id, kind] if !id.is_empty() && matches!(*kind, "repositories" | "code-mappings") => admin_route(
            if *kind == "repositories" {
                "ANY /integrations/{id}/repositories"
            } else {
                "ANY /integrations/{id}/code-mappings"
            },
            vec![("id", id.to_string())],
        ),
        [id, kind, proxy]
            if !id.is_empty() && !proxy.is_empty() && matches!(*kind, "repositories" | "code-mappings") =>
        {
            admin_route(
                if *kind == "repositories" {
                    "ANY /integrations/{id}/repositories/{proxy+}"
                } else {
                    "ANY /integrations/{id}/code-mappings/{proxy+}"
                },
                vec![("id", id.to_string()), ("proxy", proxy.to_string())],
            )
        }
        _ if !rest.is_empty() => admin_route("ANY /integrations/{proxy+}", vec![("proxy", rest.to_string())]),
        _ => return Some(None),
    };
    Some(Some(entry))
}

/// Which function a request reaches in the deployed stack, told by its path (the hook API, the
/// admin API and the `work-items` function URL each have their own host there; `aws-local` puts
/// them behind one listener). `None`: an API's own 404 (its path, but not its route).
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
    if let Some(admin) = admin_entry(method, path) {
        return admin;
    }
    Some(Entry::FunctionUrl {
        function: HttpFunction::WorkItems,
    })
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
            Entry::HttpApi {
                function: HttpFunction::Integrations,
                route_key: "ANY /integrations/{proxy+}",
                path_parameters: vec![("proxy", "x/events".into())],
            }
        );
        assert_eq!(
            entry(&Method::GET, "/sentry/schema").unwrap().function(),
            HttpFunction::Integrations
        );
        assert!(entry(&Method::POST, "/sentry/schema").is_none());
        for path in [
            "/integrations/x/repositories",
            "/integrations/x/repositories/available",
            "/integrations/x/repositories/r/releases",
            "/integrations/x/code-mappings/m",
        ] {
            assert_eq!(
                entry(&Method::GET, path).unwrap().function(),
                HttpFunction::Repositories,
                "{path}"
            );
        }
        assert_eq!(
            entry(&Method::GET, "/integrations/x/repositoriesX").unwrap().function(),
            HttpFunction::Integrations
        );
        assert_eq!(
            entry(&Method::POST, "/sentry/issue-link/create").unwrap(),
            Entry::FunctionUrl {
                function: HttpFunction::WorkItems
            }
        );
        assert_eq!(
            entry(&Method::GET, "/sentry/stacktrace-link").unwrap().function(),
            HttpFunction::WorkItems
        );
        assert_eq!(
            entry(&Method::GET, "/integrationsX").unwrap().function(),
            HttpFunction::WorkItems
        );
    }
}
