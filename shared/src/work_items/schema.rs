//! `GET /sentry/schema` (admin): the UI-component schema to paste into the Sentry internal
//! integration's "Schema" field — an issue-link (create + link), an alert-rule action and a stack-trace link, with
//! this deployment's paths. Sentry sends component requests to the webhook URL's host + `uri`.

use std::sync::Arc;

use axum::extract::State;
use serde_json::{Value, json};

use crate::App;

fn select(label: &str, name: &str, kind: &str) -> Value {
    json!({"type": "select", "label": label, "name": name, "uri": format!("/sentry/options/{kind}"), "async": true, "skip_load_on_open": false})
}

fn depends(mut field: Value) -> Value {
    field["depends_on"] = json!(["ado_project"]);
    field
}

pub fn component_schema() -> Value {
    let project = select("Azure DevOps project", "ado_project", "projects");
    let work_item_type = depends(select("Work item type", "work_item_type", "work-item-types"));
    let area = depends(select("Area path", "area_path", "area-paths"));
    let iteration = depends(select("Iteration", "iteration_path", "iterations"));
    let mut work_item = depends(select("Work item (id, URL or title)", "work_item", "work-items"));
    work_item["skip_load_on_open"] = json!(true);
    json!({"elements": [
        {
            "type": "issue-link",
            "create": {
                "uri": "/sentry/issue-link/create",
                "required_fields": [
                    project,
                    work_item_type,
                    {"type": "text", "label": "Title", "name": "title", "default": "issue.title"}
                ],
                "optional_fields": [
                    {"type": "textarea", "label": "Description", "name": "description", "default": "issue.description"},
                    area,
                    iteration,
                    {"type": "text", "label": "Tags (comma separated; `sentry` is always added)", "name": "tags"},
                    {"type": "text", "label": "Assignee (email)", "name": "assignee"}
                ]
            },
            "link": {
                "uri": "/sentry/issue-link/link",
                "required_fields": [project, work_item]
            }
        },
        {
            "type": "alert-rule-action",
            "title": "Create an Azure DevOps work item",
            "settings": {
                "type": "alert-rule-settings",
                "uri": "/sentry/alert-rule-action",
                "description": "Creates one work item per Sentry issue, linked and kept in sync.",
                "required_fields": [project, work_item_type],
                "optional_fields": [area]
            }
        },
        {"type": "stacktrace-link", "uri": "/sentry/stacktrace-link"}
    ]})
}

/// `GET /sentry/schema`: the schema plus where Sentry must send webhooks.
pub async fn schema_route(State(app): State<Arc<App>>) -> axum::Json<Value> {
    let mut schema = component_schema();
    if !app.config.sentry_facing_url.is_empty() {
        schema["webhook_url"] = json!(format!("{}/hooks/sentry", app.config.sentry_facing_url));
    }
    axum::Json(schema)
}
