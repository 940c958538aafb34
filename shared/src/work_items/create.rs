//! `POST /sentry/issue-link/create`: one JSON Patch call creates the work item (title, description
//! with a link back, tag `sentry`, Hyperlink relation, optional area/iteration/tags/assignee),
//! then the link is recorded. A second request for the same issue while the first is running,
//! or repeating it right after, answers with the same work item instead of creating another.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{SentryFacing, authenticate, field_text, linked, lost_create, user_error};
use crate::App;
use crate::azure_devops::{AdoError, WorkItem};
use crate::clock;
use crate::domain::work_item::{NewWorkItem, create_patch, work_item_title};
use crate::failure::Failure;
use crate::http::parse_json;
use crate::records::{CreateAttempt, Integration, Link, LinkOrigin, LinkSyncState};
use crate::retry::ConflictRetries;
use crate::secrets::IntegrationSecrets;
use crate::store::StoreError;

/// A repeated create for the same issue, project, type and title within this window is the same one.
pub const REPEAT_WINDOW_MS: i64 = 120_000;
const LEASE_SECS: i64 = 60;

/// The body Sentry sends (`issueId` and ids are numbers in practice, strings in the docs).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentRequest {
    #[serde(default)]
    pub fields: Map<String, Value>,
    pub issue_id: Value,
    pub installation_id: String,
    #[serde(default)]
    pub web_url: String,
}

impl ComponentRequest {
    /// Parses and authenticates an issue-link request: the request, its caller and the issue id.
    pub async fn read(
        app: &App,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(Self, super::Caller, String), SentryFacing> {
        super::signature(headers)?;
        let request: ComponentRequest = parse_json(body)?;
        let caller = authenticate(app, headers, &request.installation_id, body).await?;
        let issue_id = request.issue_id()?;
        Ok((request, caller, issue_id))
    }

    /// The Sentry issue's URL: the request's `webUrl`, or — when Sentry sent none — the one the
    /// integration's Sentry organization serves it at (never an empty link in Azure DevOps).
    pub fn issue_url(&self, integration: &Integration, issue_id: &str) -> String {
        let given = self.web_url.trim();
        if !given.is_empty() {
            return given.to_string();
        }
        format!(
            "{}/organizations/{}/issues/{issue_id}/",
            integration.sentry.base_url.trim_end_matches('/'),
            integration.sentry.organization_slug
        )
    }

    pub fn issue_id(&self) -> Result<String, SentryFacing> {
        match &self.issue_id {
            Value::Number(n) => Ok(n.to_string()),
            Value::String(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
            _ => Err(user_error("the request names no Sentry issue (issueId)")),
        }
    }
}

/// An Azure DevOps failure while doing `context` for a person in the dialog (or an alert rule):
/// a refusal of the request itself is theirs to fix, worded for them; the rest is classified as
/// any failure is.
pub fn ado_failure(error: AdoError, context: &str) -> Failure {
    match error {
        AdoError::Field { field, message } => Failure::Permanent(format!(
            "Azure DevOps needs a valid value for \"{field}\" to {context}: {message}"
        )),
        AdoError::NotFound { message } => {
            Failure::Permanent(format!("Azure DevOps could not find it ({context}): {message}"))
        }
        AdoError::Http {
            status: 400, message, ..
        } => Failure::Permanent(format!("Azure DevOps refused to {context}: {message}")),
        other => Failure::from(other),
    }
}

/// [`ado_failure`] as the answer Sentry shows.
pub fn ado_user_error(error: AdoError, context: &str) -> SentryFacing {
    ado_failure(error, context).into()
}

pub struct Created {
    pub integration: Integration,
    pub project: String,
    pub work_item: WorkItem,
}

/// What the create dialog (or an alert rule) asks for.
pub struct CreateInput<'a> {
    pub issue_id: &'a str,
    pub sentry_url: &'a str,
    pub project: &'a str,
    pub work_item_type: &'a str,
    pub title: &'a str,
    pub description: &'a str,
    pub area_path: Option<&'a str>,
    pub iteration_path: Option<&'a str>,
    pub tags: Option<&'a str>,
    pub assignee: Option<&'a str>,
    pub footer: Option<String>,
    pub origin: LinkOrigin,
}

fn is_markdown_capable(integration: &Integration) -> bool {
    let host = url::Url::parse(&integration.azure_devops.organization_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string));
    host.is_some_and(|h| {
        h == "dev.azure.com" || h.ends_with(".visualstudio.com") || h == "127.0.0.1" || h == "localhost"
    })
}

/// The active link, when it is this very request repeated (same target, within the window).
async fn repeated(app: &App, integration: &Integration, input: &CreateInput<'_>) -> Result<Option<Link>, Failure> {
    let link = app.store.get_link(&integration.id, input.issue_id).await?;
    Ok(link.filter(|l| {
        l.created_by == input.origin
            && l.project.eq_ignore_ascii_case(input.project)
            && l.work_item_type.eq_ignore_ascii_case(input.work_item_type)
            && clock::now_ms() - l.created_at < REPEAT_WINDOW_MS
    }))
}

/// Creates the work item and records the link; idempotent per Sentry issue for a short window.
/// Returns the link (the existing one for a repeat).
pub async fn create_and_link(
    app: &App,
    integration: &Integration,
    secrets: &IntegrationSecrets,
    input: &CreateInput<'_>,
) -> Result<Link, Failure> {
    if let Some(existing) = repeated(app, integration, input).await? {
        return Ok(existing);
    }
    let name = format!("create#{}#{}", integration.id, input.issue_id);
    let Some(lease) = app.store.try_lease(&name, LEASE_SECS, clock::now_ms()).await? else {
        // Another request is creating it right now: answer with its result.
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if let Some(existing) = repeated(app, integration, input).await? {
                return Ok(existing);
            }
        }
        return Err(Failure::Retry(
            "a work item is already being created for this issue; try again in a moment".into(),
        ));
    };
    let held = HeldLease {
        store: app.store.clone(),
        lease: Some(lease),
    };
    let result = create_once(app, integration, secrets, input).await;
    held.release().await;
    result
}

/// A lease this request holds: released when done, and also when the request is dropped half
/// way (a worker's event that ran out of time), so a retry need not wait for it to expire.
struct HeldLease {
    store: crate::store::Store,
    lease: Option<crate::store::Lease>,
}

impl HeldLease {
    async fn release(mut self) {
        if let Some(lease) = self.lease.take()
            && let Err(error) = self.store.release_lease(&lease).await
        {
            tracing::warn!(%error, "lease not released; it expires by itself");
        }
    }
}

impl Drop for HeldLease {
    fn drop(&mut self) {
        if let Some(lease) = self.lease.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let store = self.store.clone();
            runtime.spawn(async move { store.release_lease(&lease).await });
        }
    }
}

async fn create_once(
    app: &App,
    integration: &Integration,
    secrets: &IntegrationSecrets,
    input: &CreateInput<'_>,
) -> Result<Link, Failure> {
    let connection = app.connections.get(&app.http, integration, secrets)?;
    let item = NewWorkItem {
        title: work_item_title(input.title, &format!("Sentry issue {}", input.issue_id)),
        description: input.description,
        sentry_url: input.sentry_url,
        work_item_type: input.work_item_type,
        markdown: is_markdown_capable(integration),
        area_path: input.area_path,
        iteration_path: input.iteration_path,
        tags: input.tags,
        assignee: input.assignee,
        footer: input.footer.clone(),
    };
    let mut attempt = CreateAttempt {
        integration_id: integration.id.clone(),
        sentry_issue_id: input.issue_id.to_string(),
        sentry_url: input.sentry_url.to_string(),
        project: input.project.to_string(),
        started_at: clock::now_ms(),
        version: 0,
    };
    let earlier = app.store.begin_create(&mut attempt).await?;
    if let Some(earlier) = earlier {
        let found = lost_create::find(&connection.ado, &earlier)
            .await
            .map_err(|e| ado_failure(e, "look for the work item an earlier attempt made"))?;
        if let Some(work_item) = found {
            tracing::info!(integration = %integration.id, issue = input.issue_id, work_item = work_item.id,
                "an earlier create made this work item but was not recorded; linking it");
            return finish(app, integration, input, work_item).await;
        }
    }
    match connection
        .ado
        .create_work_item(input.project, input.work_item_type, create_patch(&item))
        .await
    {
        Ok(work_item) => finish(app, integration, input, work_item).await,
        Err(error) => {
            if !error.may_have_been_applied() {
                end_create(app, &integration.id, input.issue_id).await;
            }
            Err(ado_failure(error, "create the work item"))
        }
    }
}

/// Records the link of a work item made for `input`; the create is over.
async fn finish(
    app: &App,
    integration: &Integration,
    input: &CreateInput<'_>,
    work_item: WorkItem,
) -> Result<Link, Failure> {
    let created = Created {
        integration: integration.clone(),
        project: input.project.to_string(),
        work_item,
    };
    let link = record_link(app, &created, input.issue_id, input.sentry_url, input.origin).await?;
    end_create(app, &integration.id, input.issue_id).await;
    Ok(link)
}

async fn end_create(app: &App, integration_id: &str, issue_id: &str) {
    if let Err(error) = app.store.end_create(integration_id, issue_id).await {
        tracing::warn!(%error, "a finished create is still on record; the next create for the issue looks for its work item first");
    }
}

/// Records (or replaces) the active link of the Sentry issue.
pub async fn record_link(
    app: &App,
    created: &Created,
    issue_id: &str,
    sentry_url: &str,
    origin: LinkOrigin,
) -> Result<Link, Failure> {
    let now = clock::now_ms();
    let item = &created.work_item;
    let mut link = Link {
        integration_id: created.integration.id.clone(),
        sentry_issue_id: issue_id.to_string(),
        sentry_short_id: None,
        sentry_url: Some(sentry_url.to_string()).filter(|u| !u.is_empty()),
        work_item_id: item.id,
        work_item_url: item.web_url().map(str::to_string),
        project: item
            .field_str("System.TeamProject")
            .unwrap_or(&created.project)
            .to_string(),
        work_item_type: item.field_str("System.WorkItemType").unwrap_or_default().to_string(),
        sync: LinkSyncState {
            // A work item is made for an issue being worked on; an existing one linked says
            // nothing of the issue (reconciliation takes it as it is then).
            sentry_status: matches!(origin, LinkOrigin::Create | LinkOrigin::Alert).then(|| "unresolved".to_string()),
            ado_state: item.field_str("System.State").map(str::to_string),
            ado_assignee: item
                .fields
                .get("System.AssignedTo")
                .and_then(crate::domain::identity::email_of),
            last_applied_rev: Some(item.rev),
            ..Default::default()
        },
        created_by: origin,
        created_at: now,
        updated_at: now,
        replaced_at: None,
        version: 0,
    };
    let mut retries = ConflictRetries::new();
    loop {
        match app.store.activate_link(&mut link, now).await {
            Ok(_) => {
                tracing::info!(integration = %link.integration_id, issue = %link.sentry_issue_id,
                    work_item = link.work_item_id, origin = ?origin, "work item linked to the Sentry issue");
                return Ok(link);
            }
            Err(StoreError::Conflict) if retries.another() => continue,
            Err(StoreError::Conflict) => {
                return Err(Failure::Retry(
                    "the issue's link changed concurrently; try again".into(),
                ));
            }
            Err(error) => return Err(error.into()),
        }
    }
}

/// The answer Sentry expects for a link.
pub fn answer(link: &Link) -> Value {
    linked(
        link.work_item_url.as_deref().unwrap_or_default(),
        &link.project,
        link.work_item_id,
    )
}

pub async fn create(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, axum::Json<Value>), SentryFacing> {
    let (request, caller, issue_id) = ComponentRequest::read(&app, &headers, &body).await?;
    let fields = &request.fields;
    let project_value =
        field_text(fields, "ado_project").ok_or_else(|| user_error("choose an Azure DevOps project"))?;
    let work_item_type = field_text(fields, "work_item_type").ok_or_else(|| user_error("choose a work item type"))?;
    let ((integration, secrets), project) = caller.resolve(&project_value);
    let sentry_url = request.issue_url(integration, &issue_id);
    let title = field_text(fields, "title").unwrap_or_default();
    let description = field_text(fields, "description").unwrap_or_default();
    let (area_path, iteration_path) = (field_text(fields, "area_path"), field_text(fields, "iteration_path"));
    let (tags, assignee) = (field_text(fields, "tags"), field_text(fields, "assignee"));
    let input = CreateInput {
        issue_id: &issue_id,
        sentry_url: &sentry_url,
        project,
        work_item_type: &work_item_type,
        title: &title,
        description: &description,
        area_path: area_path.as_deref(),
        iteration_path: iteration_path.as_deref(),
        tags: tags.as_deref(),
        assignee: assignee.as_deref(),
        footer: None,
        origin: LinkOrigin::Create,
    };
    let link = create_and_link(&app, integration, secrets, &input).await?;
    Ok((StatusCode::CREATED, axum::Json(answer(&link))))
}
