//! `GET /sentry/options/{kind}`: the select options of the create and link dialogs, from the
//! metadata caches (opening the dialog costs no Azure DevOps call once warm). `work-items`
//! searches by id or title and only when the person typed something.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::create::ado_user_error;
use super::{Caller, SentryFacing, authenticate, user_error};
use crate::App;
use crate::azure_devops::NodeKind;
use crate::connections::Connection;
use crate::domain::work_item::work_item_reference;
use crate::error::ApiError;

/// Most options one answer carries (Sentry renders them all).
const MAX_OPTIONS: usize = 100;
const MAX_SEARCH_RESULTS: usize = 20;

fn option(label: impl Into<String>, value: impl Into<String>) -> Value {
    json!({"label": label.into(), "value": value.into()})
}

fn matches(text: &str, query: &str) -> bool {
    query.is_empty() || text.to_lowercase().contains(&query.to_lowercase())
}

/// The value of a field this one depends on (`dependentData` is a JSON object as a string).
fn dependent(params: &HashMap<String, String>, name: &str) -> Option<String> {
    let data: Value = serde_json::from_str(params.get("dependentData")?).ok()?;
    match &data[name] {
        Value::String(text) if !text.is_empty() => Some(text.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

async fn projects(app: &App, caller: &Caller, query: &str) -> Result<Vec<Value>, SentryFacing> {
    let mut options = Vec::new();
    for (integration, secrets) in &caller.integrations {
        let connection = app
            .connections
            .get(&app.http, integration, secrets)
            .map_err(|e| SentryFacing(e.into()))?;
        let projects = connection
            .metadata
            .projects(&connection.ado)
            .await
            .map_err(|e| ado_user_error(e, "list projects"))?;
        for project in projects.iter().filter(|p| matches(&p.name, query)) {
            let label = if caller.integrations.len() > 1 {
                format!("{} / {}", integration.azure_devops.organization, project.name)
            } else {
                project.name.clone()
            };
            options.push(option(label, caller.project_value(integration, &project.name)));
        }
    }
    Ok(options)
}

async fn work_item_types(connection: &Connection, project: &str, query: &str) -> Result<Vec<Value>, SentryFacing> {
    let context = "list work item types";
    let types = connection
        .metadata
        .work_item_types(&connection.ado, project)
        .await
        .map_err(|e| ado_user_error(e, context))?;
    let categories = connection
        .metadata
        .categories(&connection.ado, project)
        .await
        .map_err(|e| ado_user_error(e, context))?;
    let hidden: Vec<&str> = categories
        .iter()
        .filter(|c| c.reference_name == "Microsoft.HiddenCategory")
        .flat_map(|c| c.work_item_types.iter().map(|t| t.name.as_str()))
        .collect();
    let default = categories
        .iter()
        .find(|c| c.reference_name == "Microsoft.BugCategory")
        .and_then(|c| c.default_work_item_type.as_ref())
        .map(|t| t.name.clone());
    Ok(types
        .iter()
        .filter(|t| !t.is_disabled && !hidden.contains(&t.name.as_str()) && matches(&t.name, query))
        .map(|t| {
            let mut entry = option(&t.name, &t.name);
            if default.as_deref() == Some(t.name.as_str()) {
                entry["default"] = json!(true);
            }
            entry
        })
        .collect())
}

async fn paths(
    connection: &Connection,
    project: &str,
    kind: NodeKind,
    query: &str,
) -> Result<Vec<Value>, SentryFacing> {
    let paths = connection
        .metadata
        .paths(&connection.ado, project, kind)
        .await
        .map_err(|e| ado_user_error(e, "list paths"))?;
    Ok(paths
        .iter()
        .filter(|p| matches(p, query))
        .map(|p| option(p, p))
        .collect())
}

/// Work items by id or title (WIQL, newest first) — only when something was typed.
async fn work_items(
    connection: &Connection,
    caller: &Caller,
    integration_id: &str,
    project: Option<&str>,
    query: &str,
) -> Result<Vec<Value>, SentryFacing> {
    let query = query.trim();
    if query.is_empty() {
        return Ok(Vec::new());
    }
    let value_of = |id: u64| {
        if caller.integrations.len() > 1 {
            format!("{integration_id}::{id}")
        } else {
            id.to_string()
        }
    };
    let context = "search work items";
    let ids = match (work_item_reference(query), project) {
        (Some(id), _) => vec![id],
        (None, Some(project)) => {
            let escaped = query.replace('\'', "''");
            let wiql = format!(
                "SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project AND [System.Title] CONTAINS '{escaped}' ORDER BY [System.Id] DESC"
            );
            connection
                .ado
                .wiql(project, &wiql, MAX_SEARCH_RESULTS)
                .await
                .map_err(|e| ado_user_error(e, context))?
        }
        (None, None) => return Ok(Vec::new()),
    };
    let items = connection
        .ado
        .work_items_batch(&ids, &["System.Id", "System.Title", "System.WorkItemType"])
        .await
        .map_err(|e| ado_user_error(e, context))?;
    Ok(items
        .iter()
        .map(|item| {
            let label = format!("#{} {}", item.id, item.field_str("System.Title").unwrap_or_default());
            option(label, value_of(item.id))
        })
        .collect())
}

pub async fn options(
    State(app): State<Arc<App>>,
    Path(kind): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<axum::Json<Value>, SentryFacing> {
    let installation = params.get("installationId").cloned().unwrap_or_default();
    let caller = authenticate(&app, &headers, &installation, b"").await?;
    let query = params.get("query").cloned().unwrap_or_default();
    let project_value = dependent(&params, "ado_project");
    let with_project = |value: &Option<String>| -> Result<_, SentryFacing> {
        let value = value
            .as_deref()
            .ok_or_else(|| user_error("choose an Azure DevOps project first"))?;
        let ((integration, secrets), project) = caller.resolve(value);
        let connection = app
            .connections
            .get(&app.http, integration, secrets)
            .map_err(|e| SentryFacing(ApiError::from(e)))?;
        Ok((integration.id.clone(), connection, project.to_string()))
    };
    let mut options = match kind.as_str() {
        "projects" => projects(&app, &caller, &query).await?,
        "work-item-types" => {
            let (_, connection, project) = with_project(&project_value)?;
            work_item_types(&connection, &project, &query).await?
        }
        "area-paths" | "iterations" => {
            let (_, connection, project) = with_project(&project_value)?;
            let node = if kind == "area-paths" {
                NodeKind::Areas
            } else {
                NodeKind::Iterations
            };
            paths(&connection, &project, node, &query).await?
        }
        "work-items" => {
            let (integration_id, connection, project) = match &project_value {
                Some(_) => {
                    let (integration_id, connection, project) = with_project(&project_value)?;
                    (integration_id, connection, Some(project))
                }
                None => {
                    let (integration, secrets) = &caller.integrations[0];
                    let connection = app
                        .connections
                        .get(&app.http, integration, secrets)
                        .map_err(|e| SentryFacing(e.into()))?;
                    (integration.id.clone(), connection, None)
                }
            };
            work_items(&connection, &caller, &integration_id, project.as_deref(), &query).await?
        }
        other => return Err(SentryFacing(ApiError::not_found(format!("no options of kind {other}")))),
    };
    options.truncate(MAX_OPTIONS);
    Ok(axum::Json(Value::Array(options)))
}
