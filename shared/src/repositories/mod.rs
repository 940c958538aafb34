//! The `repositories` function: Azure Repos repositories registered for an integration, their
//! commits set on Sentry releases, and code mappings for stack-trace links.
//!
//! `GET /integrations/{id}/repositories/available`, `POST/GET /integrations/{id}/repositories`,
//! `GET/DELETE /integrations/{id}/repositories/{repo_id}`,
//! `POST /integrations/{id}/repositories/{repo_id}/releases`,
//! `POST/GET /integrations/{id}/code-mappings`, `DELETE /integrations/{id}/code-mappings/{mapping_id}`.
//! Pushes are applied by the worker ([`push`]); reconciliation checks the push subscriptions and
//! sets commits on new releases ([`watch`]).

pub mod code_mappings;
pub mod commits;
pub mod push;
pub mod push_subscriptions;
pub mod releases;
pub mod watch;

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::App;
use crate::azure_devops;
use crate::clock;
use crate::connections::Connection;
use crate::error::ApiError;
use crate::http::{JsonBody, Routes, require_admin};
use crate::integrations::subscriptions_lease;
use crate::records::{Integration, IntegrationState, Repository};
use crate::secrets::IntegrationSecrets;
use crate::store::StoreError;

/// The admin routes, each behind admin authentication.
pub fn routes(app: Arc<App>) -> Routes {
    Routes::new()
        .get("/integrations/{id}/repositories/available", available)
        .get("/integrations/{id}/repositories", list)
        .post("/integrations/{id}/repositories", register)
        .get("/integrations/{id}/repositories/{repo_id}", show)
        .delete("/integrations/{id}/repositories/{repo_id}", remove)
        .post(
            "/integrations/{id}/repositories/{repo_id}/releases",
            releases::set_commits_route,
        )
        .get("/integrations/{id}/code-mappings", code_mappings::list)
        .post("/integrations/{id}/code-mappings", code_mappings::create)
        .delete("/integrations/{id}/code-mappings/{mapping_id}", code_mappings::remove)
        .map_router(|router| router.route_layer(axum::middleware::from_fn_with_state(app.clone(), require_admin)))
        .with_state(app)
}

/// An active integration with its secrets and clients.
pub struct Opened {
    pub integration: Integration,
    pub secrets: IntegrationSecrets,
    pub connection: Arc<Connection>,
}

pub(crate) async fn open(app: &App, id: &str) -> Result<Opened, ApiError> {
    let integration = crate::integrations::load(app, id).await?;
    if integration.state == IntegrationState::Connecting {
        return Err(ApiError::conflict(format!("integration {id} is still being connected")));
    }
    let secrets = app.integration_secrets(&integration).await?;
    let connection = app.connections.get(&app.http, &integration, &secrets)?;
    Ok(Opened {
        integration,
        secrets,
        connection,
    })
}

pub(crate) async fn load_repository(app: &App, id: &str, repo_id: &str) -> Result<Repository, ApiError> {
    app.store
        .get_repository(id, repo_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no repository {repo_id} registered for integration {id}")))
}

/// Applies `change` to the repository and saves it, reading it again on a conflict (a push, a
/// release or reconciliation may have moved it on). `change` returns whether it changed anything
/// (nothing changed: nothing written). Returns the record as saved (as read, if it is gone).
pub async fn update_repository_with(
    app: &App,
    repository: &Repository,
    change: impl Fn(&mut Repository) -> bool,
) -> Result<Repository, StoreError> {
    let mut current = repository.clone();
    let mut retries = crate::retry::ConflictRetries::new();
    loop {
        if !change(&mut current) {
            return Ok(current);
        }
        current.updated_at = clock::now_ms();
        match app.store.update_repository(&mut current).await {
            Ok(()) => return Ok(current),
            Err(StoreError::Conflict) if retries.another() => {
                match app
                    .store
                    .get_repository(&repository.integration_id, &repository.id)
                    .await?
                {
                    Some(fresh) => current = fresh,
                    None => return Ok(repository.clone()),
                }
            }
            Err(error) => return Err(error),
        }
    }
}

pub fn view(repository: &Repository) -> Value {
    json!({
        "id": repository.id,
        "name": repository.name,
        "project": repository.project,
        "url": repository.url,
        "default_branch": repository.default_branch,
        "sentry_name": repository.sentry_name,
        "sentry_projects": repository.sentry_projects,
        "push_subscription_id": repository.push_subscription_id,
        "heads": repository.heads,
        "last_release": repository.last_release,
    })
}

fn available_view(repository: &azure_devops::Repository) -> Value {
    json!({
        "id": repository.id,
        "name": repository.name,
        "project": repository.project.name,
        "url": web_url(repository),
        "default_branch": branch_name(&repository.default_branch),
    })
}

/// `refs/heads/main` → `main`.
pub fn branch_name(reference: &str) -> String {
    reference.trim_start_matches("refs/heads/").to_string()
}

fn web_url(repository: &azure_devops::Repository) -> String {
    if repository.web_url.is_empty() {
        repository.remote_url.clone()
    } else {
        repository.web_url.clone()
    }
}

async fn available(State(app): State<Arc<App>>, Path(id): Path<String>) -> Result<axum::Json<Value>, ApiError> {
    let opened = open(&app, &id).await?;
    let repositories = opened.connection.ado.repositories().await?;
    let shown: Vec<Value> = repositories
        .iter()
        .filter(|r| !r.is_disabled)
        .map(available_view)
        .collect();
    Ok(axum::Json(json!({"repositories": shown})))
}

async fn list(State(app): State<Arc<App>>, Path(id): Path<String>) -> Result<axum::Json<Value>, ApiError> {
    crate::integrations::load(&app, &id).await?;
    let repositories = app.store.list_repositories(&id).await?;
    Ok(axum::Json(
        json!({"repositories": repositories.iter().map(view).collect::<Vec<_>>()}),
    ))
}

async fn show(
    State(app): State<Arc<App>>,
    Path((id, repo_id)): Path<(String, String)>,
) -> Result<axum::Json<Value>, ApiError> {
    crate::integrations::load(&app, &id).await?;
    Ok(axum::Json(view(&load_repository(&app, &id, &repo_id).await?)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    /// `<project>/<name>`, or the repository id.
    pub repository: String,
    pub sentry_name: Option<String>,
    pub sentry_projects: Option<Vec<String>>,
}

/// Sentry's limit on a commit's repository name.
const MAX_SENTRY_NAME: usize = 64;

fn valid_slug(slug: &str) -> bool {
    !slug.is_empty() && slug.len() <= 100 && slug.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

pub fn check_projects(field: &str, projects: &[String]) -> Result<(), ApiError> {
    match projects.iter().find(|p| !valid_slug(p)) {
        Some(bad) => Err(ApiError::invalid(format!(
            "{field}: \"{bad}\" is not a Sentry project slug"
        ))),
        None => Ok(()),
    }
}

/// The repository `selector` names: its id, or `<project>/<name>` (any case).
fn find<'a>(repositories: &'a [azure_devops::Repository], selector: &str) -> Option<&'a azure_devops::Repository> {
    let selector = selector.trim();
    repositories.iter().find(|r| {
        r.id.eq_ignore_ascii_case(selector) || format!("{}/{}", r.project.name, r.name).eq_ignore_ascii_case(selector)
    })
}

fn webhook_url(app: &App, integration_id: &str) -> String {
    format!(
        "{}{}",
        app.config.public_url,
        crate::integrations::view::webhook_path(integration_id)
    )
}

/// `POST /integrations/{id}/repositories`: the record first (a registration that dies after it is
/// finished by the next, or by reconciliation), then the push subscription. Registering a
/// registered repository again changes its `sentry_name` and `sentry_projects` to what the body
/// gives (the fields it leaves out stay) and makes nothing new.
async fn register(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Registration>,
) -> Result<Response, ApiError> {
    check_projects("sentry_projects", body.sentry_projects.as_deref().unwrap_or_default())?;
    let opened = open(&app, &id).await?;
    let all = opened.connection.ado.repositories().await?;
    let found = find(&all, &body.repository).ok_or_else(|| {
        ApiError::invalid(format!(
            "repository: no repository \"{}\" in {} (name it <project>/<name> or by its id; \
             GET /integrations/{id}/repositories/available lists them)",
            body.repository, opened.integration.azure_devops.organization
        ))
    })?;
    let given_name = body.sentry_name.map(|n| n.trim().to_string());
    let sentry_name = given_name
        .clone()
        .unwrap_or_else(|| format!("{}/{}", found.project.name, found.name));
    if sentry_name.is_empty() || sentry_name.chars().count() > MAX_SENTRY_NAME {
        return Err(ApiError::invalid(format!(
            "sentry_name: 1 to {MAX_SENTRY_NAME} characters (Sentry's limit)"
        )));
    }
    let url = webhook_url(&app, &id);
    if let Some(existing) = app.store.get_repository(&id, &found.id).await? {
        let mut existing = update_repository_with(&app, &existing, |current| {
            let before = (current.sentry_name.clone(), current.sentry_projects.clone());
            if let Some(name) = &given_name {
                current.sentry_name = name.clone();
            }
            if let Some(projects) = &body.sentry_projects {
                // A project added now has its releases looked at from now on (not every release
                // since the repository was registered, which were never this repository's).
                let now = clock::rfc3339(clock::now_ms());
                for added in projects.iter().filter(|p| !current.sentry_projects.contains(p)) {
                    current.releases_seen.insert(added.clone(), now.clone());
                }
                current.sentry_projects = projects.clone();
            }
            (current.sentry_name.clone(), current.sentry_projects.clone()) != before
        })
        .await?;
        if existing.push_subscription_id.is_none() {
            finish_subscribing(&app, &mut existing, &url).await?;
        }
        return Ok((StatusCode::OK, axum::Json(view(&existing))).into_response());
    }
    let now = clock::now_ms();
    let mut repository = Repository {
        integration_id: id.clone(),
        id: found.id.clone(),
        name: found.name.clone(),
        project: found.project.name.clone(),
        project_id: found.project.id.clone(),
        url: web_url(found),
        default_branch: branch_name(&found.default_branch),
        sentry_name,
        sentry_projects: body.sentry_projects.unwrap_or_default(),
        push_subscription_id: None,
        heads: Default::default(),
        head_pushes: Default::default(),
        last_release: None,
        releases_seen: Default::default(),
        created_at: now,
        updated_at: now,
        version: 0,
    };
    match app.store.create_repository(&mut repository).await {
        Ok(()) => {}
        Err(StoreError::Conflict) => {
            let existing = load_repository(&app, &id, &found.id).await?;
            return Ok((StatusCode::OK, axum::Json(view(&existing))).into_response());
        }
        Err(error) => return Err(error.into()),
    }
    finish_subscribing(&app, &mut repository, &url).await?;
    tracing::info!(integration = %id, repository = %repository.id, name = %repository.sentry_name, "repository registered");
    Ok((StatusCode::CREATED, axum::Json(view(&repository))).into_response())
}

/// Makes the push subscription and records it on the repository — unless another registration
/// (or reconciliation) recorded one meanwhile: then this one is deleted again and theirs stays.
/// Holds the subscriptions lease, and reads the webhook secret after taking it (a rotation
/// finished just before is seen; one started meanwhile waits).
async fn finish_subscribing(app: &App, repository: &mut Repository, url: &str) -> Result<(), ApiError> {
    let lease = subscriptions_lease::hold_for_request(app, &repository.integration_id).await?;
    subscriptions_lease::holding(app, lease, subscribe_holding(app, repository, url)).await
}

async fn subscribe_holding(app: &App, repository: &mut Repository, url: &str) -> Result<(), ApiError> {
    let opened = open(app, &repository.integration_id).await?;
    let ado = &opened.connection.ado;
    let subscription = push_subscriptions::subscribe(ado, repository, url, &opened.secrets.webhook_secret).await?;
    let mut retries = crate::retry::ConflictRetries::new();
    loop {
        if repository.push_subscription_id.is_some() {
            if let Err(error) = ado.delete_subscription(&subscription).await {
                tracing::warn!(subscription = %subscription, %error, "a second push subscription is left; reconciliation will not use it");
            }
            return Ok(());
        }
        repository.push_subscription_id = Some(subscription.clone());
        repository.updated_at = clock::now_ms();
        match app.store.update_repository(repository).await {
            Ok(()) => return Ok(()),
            Err(StoreError::Conflict) if retries.another() => {
                *repository = load_repository(app, &repository.integration_id, &repository.id).await?;
            }
            Err(error) => {
                let _ = ado.delete_subscription(&subscription).await;
                return Err(error.into());
            }
        }
    }
}

/// `DELETE /integrations/{id}/repositories/{repo_id}`: the push subscription, the repository's
/// code mappings, then the record.
async fn remove(
    State(app): State<Arc<App>>,
    Path((id, repo_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    // Not beside a rotation, which would make the subscription again for a record it listed.
    let lease = subscriptions_lease::hold_for_request(&app, &id).await?;
    subscriptions_lease::holding(&app, lease, remove_holding(&app, &id, &repo_id)).await
}

async fn remove_holding(app: &App, id: &str, repo_id: &str) -> Result<StatusCode, ApiError> {
    let opened = open(app, id).await?;
    let repository = load_repository(app, id, repo_id).await?;
    if let Some(subscription) = &repository.push_subscription_id {
        opened.connection.ado.delete_subscription(subscription).await?;
    }
    for mapping in app.store.list_code_mappings(id).await? {
        if mapping.repository == repository.id {
            app.store.delete_code_mapping(id, &mapping.id).await?;
        }
    }
    app.store.delete_repository(id, repo_id).await?;
    tracing::info!(integration = %id, repository = %repo_id, "repository removed");
    Ok(StatusCode::NO_CONTENT)
}
