//! Code mappings: which repository, branch and folder a Sentry project's stack frames come from.
//! `POST /integrations/{id}/code-mappings {"sentry_project", "repository", "branch"?,
//! "stack_root", "source_root"}` → `201`, `GET` lists them, `DELETE …/{mapping_id}` → `204`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::check_projects;
use crate::App;
use crate::clock;
use crate::domain::stacktrace::normalize;
use crate::error::ApiError;
use crate::http::JsonBody;
use crate::records::CodeMapping;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMapping {
    pub sentry_project: String,
    /// The registered repository's id.
    pub repository: String,
    /// Default: the repository's default branch.
    pub branch: Option<String>,
    #[serde(default)]
    pub stack_root: String,
    #[serde(default)]
    pub source_root: String,
}

pub fn view(mapping: &CodeMapping) -> Value {
    json!({
        "id": mapping.id,
        "sentry_project": mapping.sentry_project,
        "repository": mapping.repository,
        "branch": mapping.branch,
        "stack_root": mapping.stack_root,
        "source_root": mapping.source_root,
    })
}

fn check_root(field: &str, root: &str) -> Result<(), ApiError> {
    if root.len() > 510 || normalize(root).split('/').any(|s| s == "..") {
        Err(ApiError::invalid(format!(
            "{field}: a folder path without '..' (at most 510 characters)"
        )))
    } else {
        Ok(())
    }
}

pub async fn create(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<NewMapping>,
) -> Result<(StatusCode, axum::Json<Value>), ApiError> {
    crate::integrations::load(&app, &id).await?;
    check_projects("sentry_project", std::slice::from_ref(&body.sentry_project))?;
    check_root("stack_root", &body.stack_root)?;
    check_root("source_root", &body.source_root)?;
    let repository = app.store.get_repository(&id, &body.repository).await?.ok_or_else(|| {
        ApiError::invalid(format!(
            "repository: {} is not registered (POST /integrations/{id}/repositories first)",
            body.repository
        ))
    })?;
    let branch = body
        .branch
        .map(|b| super::branch_name(b.trim()))
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| repository.default_branch.clone());
    let mut mapping = CodeMapping {
        integration_id: id.clone(),
        id: uuid::Uuid::new_v4().simple().to_string(),
        sentry_project: body.sentry_project,
        repository: repository.id,
        branch,
        stack_root: body.stack_root,
        source_root: body.source_root,
        created_at: clock::now_ms(),
        version: 0,
    };
    app.store.create_code_mapping(&mut mapping).await?;
    tracing::info!(integration = %id, mapping = %mapping.id, project = %mapping.sentry_project, "code mapping saved");
    Ok((StatusCode::CREATED, axum::Json(view(&mapping))))
}

pub async fn list(State(app): State<Arc<App>>, Path(id): Path<String>) -> Result<axum::Json<Value>, ApiError> {
    crate::integrations::load(&app, &id).await?;
    let mappings = app.store.list_code_mappings(&id).await?;
    Ok(axum::Json(
        json!({"code_mappings": mappings.iter().map(view).collect::<Vec<_>>()}),
    ))
}

pub async fn remove(
    State(app): State<Arc<App>>,
    Path((id, mapping_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    crate::integrations::load(&app, &id).await?;
    if app.store.get_code_mapping(&id, &mapping_id).await?.is_none() {
        return Err(ApiError::not_found(format!("no code mapping {mapping_id}")));
    }
    app.store.delete_code_mapping(&id, &mapping_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
