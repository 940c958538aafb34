//! The `integrations` function: the admin API that connects a Sentry organization to an Azure
//! DevOps organization. Routes: `POST/GET /integrations`, `GET/PATCH/DELETE /integrations/{id}`.

pub mod connect;
mod events;
pub mod request;
mod sentry_check;
mod sync_check;
pub mod validate;
pub mod view;

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::App;
use crate::azure_devops;
use crate::clock;
use crate::domain::settings::SyncSettings;
use crate::error::ApiError;
use crate::http::{JsonBody, Routes, require_admin};
use crate::records::Integration;
use crate::secrets::{Secret, SecretStore};
use request::{CreateIntegration, NewIdentity, PatchIntegration};

/// Bytes of randomness in a generated webhook secret.
pub const WEBHOOK_SECRET_BYTES: usize = 32;

/// The admin routes, each behind admin authentication.
pub fn routes(app: Arc<App>) -> Routes {
    Routes::new()
        .get("/integrations", list)
        .post("/integrations", create)
        .get("/integrations/{id}", show)
        .patch("/integrations/{id}", update)
        .delete("/integrations/{id}", remove)
        .get("/integrations/{id}/status", status)
        .get("/integrations/{id}/events", events::list)
        .post("/integrations/{id}/events/retry", events::retry_all)
        .post("/integrations/{id}/events/{event_id}/retry", events::retry)
        .get("/sentry/schema", crate::work_items::schema_route)
        .map_router(|router| router.route_layer(axum::middleware::from_fn_with_state(app.clone(), require_admin)))
        .with_state(app)
}

fn view(app: &App, integration: &Integration) -> Value {
    view::integration_view(integration, &app.config.public_url)
}

pub(crate) async fn load(app: &App, id: &str) -> Result<Integration, ApiError> {
    app.store
        .get_integration(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no integration {id}")))
}

async fn create(
    State(app): State<Arc<App>>,
    JsonBody(body): JsonBody<CreateIntegration>,
) -> Result<Response, ApiError> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let identity = NewIdentity {
        secret_ref: format!("{}{id}", app.config.secret_prefix),
        id,
        webhook_secret: Secret::generate(WEBHOOK_SECRET_BYTES)?,
        now_ms: clock::now_ms(),
    };
    let (mut integration, secrets) = request::new_integration(body, identity).map_err(ApiError::invalid)?;
    refuse_a_second_connection(&app, &integration).await?;
    let webhook_url = webhook_url(&app, &integration.id);
    connect::check_webhook_url(&integration.azure_devops.organization_url, &webhook_url).map_err(ApiError::invalid)?;

    // Verify both credentials (learning the Sentry installation) and check the sync settings, then
    // subscribe to the work item events — all before anything is stored.
    sentry_check::check_sentry(&app.http, &mut integration, &secrets).await?;
    let client = azure_devops::client_for(app.http.clone(), &integration, &secrets)?;
    sync_check::check_project_states(
        &client,
        &SyncSettings::read(&integration.sync).map_err(ApiError::invalid)?,
    )
    .await?;
    let connection = connect::connect(&client, &webhook_url, &secrets.webhook_secret).await?;
    integration.azure_devops.collection_id = Some(connection.collection_id);
    integration.azure_devops.bridge_identity_id = Some(connection.bridge_identity_id);
    integration.azure_devops.subscriptions = connection.subscriptions;

    let stored = match app.secrets.put(&integration.secret_ref, &secrets).await {
        Ok(()) => app
            .store
            .create_integration(&mut integration)
            .await
            .map_err(ApiError::from),
        Err(error) => Err(error.into()),
    };
    if let Err(error) = stored {
        connect::disconnect(&client, &integration.azure_devops.subscriptions).await;
        if let Err(cleanup) = app.secrets.delete(&integration.secret_ref).await {
            tracing::warn!(integration = %integration.id, error = %cleanup, "could not remove the secret of a failed create");
        }
        return Err(error);
    }
    tracing::info!(integration = %integration.id, organization = %integration.azure_devops.organization, "integration created");
    let location = format!("/integrations/{}", integration.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        axum::Json(view(&app, &integration)),
    )
        .into_response())
}

/// One integration per Azure DevOps organization and Sentry organization: a re-pasted create
/// command would subscribe the organization twice and show every project twice in Sentry.
async fn refuse_a_second_connection(app: &App, new: &Integration) -> Result<(), ApiError> {
    let existing = app.store.list_integrations().await?;
    let same = existing.iter().find(|i| {
        i.azure_devops.organization_url == new.azure_devops.organization_url
            && i.sentry.base_url == new.sentry.base_url
            && i.sentry
                .organization_slug
                .eq_ignore_ascii_case(&new.sentry.organization_slug)
    });
    match same {
        Some(same) => Err(ApiError::conflict(format!(
            "integration {} (\"{}\") already connects {} to the Sentry organization {}; change it with PATCH /integrations/{}",
            same.id, same.name, same.azure_devops.organization_url, same.sentry.organization_slug, same.id
        ))),
        None => Ok(()),
    }
}

fn webhook_url(app: &App, integration_id: &str) -> String {
    format!("{}{}", app.config.public_url, view::webhook_path(integration_id))
}

async fn list(State(app): State<Arc<App>>) -> Result<axum::Json<Value>, ApiError> {
    let integrations = app.store.list_integrations().await?;
    let items: Vec<Value> = integrations.iter().map(|i| view(&app, i)).collect();
    Ok(axum::Json(json!({ "integrations": items })))
}

async fn show(State(app): State<Arc<App>>, Path(id): Path<String>) -> Result<axum::Json<Value>, ApiError> {
    let integration = load(&app, &id).await?;
    Ok(axum::Json(view(&app, &integration)))
}

async fn update(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody<PatchIntegration>,
) -> Result<axum::Json<Value>, ApiError> {
    let mut integration = load(&app, &id).await?;
    if let Some(expected) = patch.version
        && expected != integration.version
    {
        return Err(ApiError::conflict(format!(
            "integration {id} is at version {}, not {expected}; read it again and retry",
            integration.version
        )));
    }
    let before = integration.clone();
    let sync_changed = patch.sync.is_some();
    let changes = request::apply_patch(&mut integration, patch, clock::now_ms()).map_err(ApiError::invalid)?;
    let mut secrets = app.integration_secrets(&integration).await?;
    let old_token = secrets.sentry_auth_token.clone();
    let secrets_changed = !changes.is_empty();
    let ado_credential_changed =
        changes.azure_devops.is_some() || integration.azure_devops.auth != before.azure_devops.auth;
    changes.apply(&mut secrets);
    if ado_credential_changed {
        // Verified as on create; changes made under the new identity are the bridge's own.
        let client = azure_devops::client_for(app.http.clone(), &integration, &secrets)?;
        let identity = connect::identify(&client).await?;
        integration.azure_devops.collection_id = Some(identity.collection_id);
        integration.azure_devops.bridge_identity_id = Some(identity.bridge_identity_id);
    }
    if integration.sentry != before.sentry
        || secrets.sentry_auth_token != old_token
        || integration.sentry.installation_uuid.is_none()
    {
        sentry_check::check_sentry(&app.http, &mut integration, &secrets).await?;
    }
    if sync_changed {
        let client = azure_devops::client_for(app.http.clone(), &integration, &secrets)?;
        sync_check::check_project_states(
            &client,
            &SyncSettings::read(&integration.sync).map_err(ApiError::invalid)?,
        )
        .await?;
    }
    if secrets_changed {
        app.secrets.put(&integration.secret_ref, &secrets).await?;
    }
    app.store.update_integration(&mut integration).await?;
    Ok(axum::Json(view(&app, &integration)))
}

/// Deletes the subscriptions in Azure DevOps, then the secret and the record (a tombstone
/// stays, so later deliveries for it are answered 410 Gone).
async fn remove(State(app): State<Arc<App>>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    let integration = load(&app, &id).await?;
    match app.integration_secrets(&integration).await {
        Ok(secrets) => match azure_devops::client_for(app.http.clone(), &integration, &secrets) {
            Ok(client) => {
                let left = connect::disconnect(&client, &integration.azure_devops.subscriptions).await;
                if !left.is_empty() {
                    tracing::warn!(integration = %id, ?left, "subscriptions left in Azure DevOps; their deliveries will get 410");
                }
            }
            Err(error) => tracing::warn!(integration = %id, %error, "cannot call Azure DevOps to remove subscriptions"),
        },
        Err(error) => tracing::warn!(integration = %id, %error, "secret missing; subscriptions left in Azure DevOps"),
    }
    app.secrets.delete(&integration.secret_ref).await?;
    app.store.delete_integration(&id).await?;
    let ended = crate::worker::end_events_of_deleted(&app, &id).await?;
    tracing::info!(integration = %id, events_ended = ended, "integration deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Live health: credential check, bridge identity, subscription states.
async fn status(State(app): State<Arc<App>>, Path(id): Path<String>) -> Result<axum::Json<Value>, ApiError> {
    let integration = load(&app, &id).await?;
    let secrets = app.integration_secrets(&integration).await?;
    let client = azure_devops::client_for(app.http.clone(), &integration, &secrets)?;
    let mut report = connect::status(
        &client,
        &integration.azure_devops.subscriptions,
        &webhook_url(&app, &integration.id),
    )
    .await;
    report["id"] = json!(integration.id);
    report["bridge_identity_id"] = json!(integration.azure_devops.bridge_identity_id);
    report["collection_id"] = json!(integration.azure_devops.collection_id);
    Ok(axum::Json(report))
}
