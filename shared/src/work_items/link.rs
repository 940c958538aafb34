//! `POST /sentry/issue-link/link`: verify the work item exists (1 read), add the Hyperlink to
//! the Sentry issue and a comment in one patch (1 write), record the link. Linking the work item
//! the issue is already linked to changes nothing.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;

use super::create::{ComponentRequest, Created, ado_user_error, answer, record_link};
use super::{SentryFacing, field_text, user_error};
use crate::App;
use crate::azure_devops::patch;
use crate::domain::work_item::work_item_reference;
use crate::error::ApiError;
use crate::records::LinkOrigin;

pub async fn link(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, axum::Json<Value>), SentryFacing> {
    let (request, caller, issue_id) = ComponentRequest::read(&app, &headers, &body).await?;
    let typed = field_text(&request.fields, "work_item").ok_or_else(|| user_error("enter a work item id or URL"))?;
    // A value picked from the search carries the integration (`{integration}::{id}`).
    let ((integration, secrets), reference) = caller.resolve(&typed);
    let id = work_item_reference(reference)
        .ok_or_else(|| user_error(format!("\"{reference}\" is not a work item id or a work item URL")))?;

    if let Some(active) = app
        .store
        .get_link(&integration.id, &issue_id)
        .await
        .map_err(ApiError::from)?
        && active.work_item_id == id
    {
        return Ok((StatusCode::OK, axum::Json(answer(&active))));
    }
    let connection = app
        .connections
        .get(&app.http, integration, secrets)
        .map_err(|e| SentryFacing(e.into()))?;
    let item = connection.ado.work_item(id).await.map_err(|e| match e {
        crate::azure_devops::AdoError::NotFound { .. } => user_error(format!(
            "work item {id} does not exist in Azure DevOps, or the bridge may not read it"
        )),
        other => ado_user_error(other, "read the work item"),
    })?;
    let sentry_url = request.issue_url(integration, &issue_id);
    let mut ops = Vec::new();
    let has_link = item
        .relations
        .iter()
        .any(|r| r.rel == "Hyperlink" && r.url == sentry_url);
    if !has_link {
        ops.push(patch::hyperlink(&sentry_url, "Sentry issue"));
    }
    ops.push(patch::field(
        "System.History",
        format!("Linked to Sentry issue <a href=\"{sentry_url}\">{sentry_url}</a>."),
    ));
    let updated = connection
        .ado
        .update_work_item(id, Some(item.rev), ops)
        .await
        .map_err(|e| ado_user_error(e, "link the work item"))?;
    let project = updated.field_str("System.TeamProject").unwrap_or_default().to_string();
    let created = Created {
        integration: integration.clone(),
        project,
        work_item: updated,
    };
    let link = record_link(&app, &created, &issue_id, &sentry_url, LinkOrigin::Link).await?;
    Ok((StatusCode::OK, axum::Json(answer(&link))))
}
