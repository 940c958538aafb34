//! `POST /sentry/alert-rule-action`: Sentry asks whether the settings chosen for the "create a
//! work item" alert action are usable when the rule is saved. 2xx saves it; a `{"message"}`
//! error is shown next to the rule.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};

use super::create::ado_user_error;
use super::{SentryFacing, authenticate, user_error};
use crate::App;
use crate::azure_devops::NodeKind;
use crate::http::parse_json;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SettingsRequest {
    #[serde(default)]
    fields: Vec<Setting>,
    installation_id: String,
}

#[derive(Deserialize)]
struct Setting {
    name: String,
    #[serde(default)]
    value: Value,
}

/// The value of an alert-rule setting (`[{"name","value"}]`) as text.
pub fn setting(settings: &[Value], name: &str) -> Option<String> {
    let entry = settings.iter().find(|s| s["name"] == name)?;
    match &entry["value"] {
        Value::String(text) if !text.trim().is_empty() => Some(text.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

pub async fn validate(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::Json<Value>, SentryFacing> {
    super::signature(&headers)?;
    let request: SettingsRequest = parse_json(&body)?;
    let caller = authenticate(&app, &headers, &request.installation_id, &body).await?;
    let settings: Vec<Value> = request
        .fields
        .iter()
        .map(|s| json!({"name": s.name, "value": s.value}))
        .collect();
    let project_value =
        setting(&settings, "ado_project").ok_or_else(|| user_error("choose an Azure DevOps project"))?;
    let work_item_type = setting(&settings, "work_item_type").ok_or_else(|| user_error("choose a work item type"))?;
    let ((integration, secrets), project) = caller.resolve(&project_value);
    let connection = app
        .connections
        .get(&app.http, integration, secrets)
        .map_err(|e| SentryFacing(e.into()))?;
    let context = "check the alert settings";
    let projects = connection
        .metadata
        .projects(&connection.ado)
        .await
        .map_err(|e| ado_user_error(e, context))?;
    if !projects.iter().any(|p| p.name.eq_ignore_ascii_case(project)) {
        return Err(user_error(format!(
            "Azure DevOps project \"{project}\" does not exist (or the bridge cannot see it)"
        )));
    }
    let types = connection
        .metadata
        .work_item_types(&connection.ado, project)
        .await
        .map_err(|e| ado_user_error(e, context))?;
    if !types
        .iter()
        .any(|t| !t.is_disabled && t.name.eq_ignore_ascii_case(&work_item_type))
    {
        let allowed: Vec<&str> = types
            .iter()
            .filter(|t| !t.is_disabled)
            .map(|t| t.name.as_str())
            .collect();
        return Err(user_error(format!(
            "work item type \"{work_item_type}\" is not available in {project}; choose one of: {}",
            allowed.join(", ")
        )));
    }
    if let Some(area) = setting(&settings, "area_path") {
        let areas = connection
            .metadata
            .paths(&connection.ado, project, NodeKind::Areas)
            .await
            .map_err(|e| ado_user_error(e, context))?;
        if !areas.iter().any(|a| a.eq_ignore_ascii_case(&area)) {
            return Err(user_error(format!("area path \"{area}\" does not exist in {project}")));
        }
    }
    Ok(axum::Json(json!({"status": "ok"})))
}
