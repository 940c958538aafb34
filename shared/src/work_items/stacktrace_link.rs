//! `GET /sentry/stacktrace-link?installationId=&projectSlug=&filename=&lineNo=`: the link Sentry
//! puts on a stack frame (the `stacktrace-link` component). Unsigned browser navigation, so it
//! answers a redirect to the file in Azure Repos at that line, or a short page saying what is
//! missing (404) — nothing else about the deployment is revealed.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::App;
use crate::domain::stacktrace::{NoLink, map_frame, source_url};
use crate::store::StoreError;

fn page(status: StatusCode, what: &str) -> Response {
    let page = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>No source link</title></head>\
         <body><p>{what}</p></body></html>"
    );
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
}

fn missing(what: &str) -> Response {
    page(StatusCode::NOT_FOUND, what)
}

pub async fn stacktrace_link(State(app): State<Arc<App>>, Query(params): Query<HashMap<String, String>>) -> Response {
    match find(&app, &params).await {
        Ok(response) => response,
        // The same short page: nothing about the store reaches an unauthenticated browser.
        Err(error) => {
            tracing::warn!(%error, "stack-trace link not answered");
            page(
                StatusCode::SERVICE_UNAVAILABLE,
                "The link cannot be followed right now; try again shortly.",
            )
        }
    }
}

async fn find(app: &App, params: &HashMap<String, String>) -> Result<Response, StoreError> {
    let param = |name: &str| params.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let (Some(installation), Some(project), Some(filename)) =
        (param("installationId"), param("projectSlug"), param("filename"))
    else {
        return Ok(missing(
            "This link does not name an installation, a project and a file.",
        ));
    };
    let line = param("lineNo").and_then(|l| l.parse::<u64>().ok()).filter(|l| *l > 0);
    let integrations = app.store.integrations_for_installation(installation).await?;
    if integrations.is_empty() {
        return Ok(missing(
            "No Azure DevOps integration is connected to this Sentry installation.",
        ));
    }
    let mut why = NoLink::NoMapping;
    for integration in integrations {
        let mappings = app.store.list_code_mappings(&integration.id).await?;
        let (mapping, path) = match map_frame(&mappings, project, filename) {
            Ok(found) => found,
            Err(error) => {
                why = error;
                continue;
            }
        };
        let Some(repository) = app.store.get_repository(&integration.id, &mapping.repository).await? else {
            return Ok(missing("The code mapping's repository is no longer registered."));
        };
        return Ok(match source_url(&repository.url, &path, &mapping.branch, line) {
            Some(url) => (StatusCode::FOUND, [(header::LOCATION, url)]).into_response(),
            None => missing("The repository has no usable web address."),
        });
    }
    Ok(missing(why.explain()))
}
