//! The `integrations` function: the admin API that connects a Sentry organization to an Azure
//! DevOps organization. Routes: `POST/GET /integrations`, `GET/PATCH/DELETE /integrations/{id}`.

pub mod connect;
mod events;
pub mod request;
mod rotate;
mod sentry_check;
pub mod subscriptions_lease;
mod sync_check;
mod user_mappings;
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
use crate::records::{Integration, IntegrationState};
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
        .post("/integrations/{id}/reconcile", reconcile_now)
        .post("/integrations/{id}/rotate-webhook-secret", rotate::rotate)
        .get("/integrations/{id}/user-mappings", user_mappings::list)
        .post("/integrations/{id}/user-mappings", user_mappings::create)
        .delete("/integrations/{id}/user-mappings/{azure_devops}", user_mappings::remove)
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

    // Verify both credentials (learning the Sentry installation and the bridge's identity) and
    // check the sync settings — nothing is made before all of that passed.
    sentry_check::check_sentry(&app.http, &mut integration, &secrets).await?;
    let client = azure_devops::client_for(app.http.clone(), &integration, &secrets)?;
    sync_check::check_project_states(
        &client,
        &SyncSettings::read(&integration.sync).map_err(ApiError::invalid)?,
    )
    .await?;
    let identity = connect::identify(&client).await?;
    integration.azure_devops.collection_id = Some(identity.collection_id);
    integration.azure_devops.bridge_identity_id = Some(identity.bridge_identity_id);

    // The record first (connecting): a create that dies from here on leaves a record that says
    // what to remove, and DELETE (or the next create of the same connection) removes it.
    app.store.create_integration(&mut integration).await?;
    if let Err(error) = finish_connecting(&app, &client, &mut integration, &secrets, &webhook_url).await {
        if let Err(cleanup) = tear_down(&app, &integration).await {
            tracing::warn!(integration = %integration.id, error = %cleanup, "a failed create is left connecting; DELETE it");
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

/// The part of a create that makes things: the secret, the subscriptions, then the record is
/// `active`.
async fn finish_connecting(
    app: &App,
    client: &azure_devops::AdoClient,
    integration: &mut Integration,
    secrets: &crate::secrets::IntegrationSecrets,
    webhook_url: &str,
) -> Result<(), ApiError> {
    app.secrets.put(&integration.secret_ref, secrets).await?;
    integration.azure_devops.subscriptions = connect::subscribe(client, webhook_url, &secrets.webhook_secret).await?;
    integration.state = IntegrationState::Active;
    app.store.update_integration(integration).await?;
    Ok(())
}

/// How long a create may still be running: a `connecting` integration older than this is one
/// whose create died, and a new create of the same connection removes it.
pub const CONNECTING_GIVE_UP_MS: i64 = 5 * 60 * 1000;

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
        Some(unfinished)
            if unfinished.state == IntegrationState::Connecting
                && clock::now_ms() - unfinished.created_at > CONNECTING_GIVE_UP_MS =>
        {
            tracing::warn!(integration = %unfinished.id, "removing a create of this connection that never finished");
            tear_down(app, unfinished).await
        }
        Some(same) if same.state == IntegrationState::Connecting => Err(ApiError::conflict(format!(
            "integration {} is being connected to {} right now; wait for it, or DELETE /integrations/{} if it failed",
            same.id, same.azure_devops.organization_url, same.id
        ))),
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

/// `PATCH /integrations/{id}`. Holds the subscriptions lease: it writes the whole secret back, and
/// beside a rotation it could put back the webhook secret the rotation just replaced.
async fn update(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody<PatchIntegration>,
) -> Result<axum::Json<Value>, ApiError> {
    load(&app, &id).await?;
    let lease = subscriptions_lease::hold_for_request(&app, &id).await?;
    subscriptions_lease::holding(&app, lease, update_holding(&app, &id, patch)).await
}

async fn update_holding(app: &Arc<App>, id: &str, patch: PatchIntegration) -> Result<axum::Json<Value>, ApiError> {
    let app = app.clone();
    let mut integration = load(&app, id).await?;
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

/// `DELETE /integrations/{id}`: everything the integration made goes ([`tear_down`]). Deleting
/// again finishes a delete that stopped half way (and answers 204 once nothing is left).
async fn remove(State(app): State<Arc<App>>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    match app.store.get_integration(&id).await? {
        // Not beside a rotation, which would put back the secret this deletes.
        Some(_) => {
            let lease = subscriptions_lease::hold_for_request(&app, &id).await?;
            let torn_down = async {
                match app.store.get_integration(&id).await? {
                    Some(integration) => tear_down(&app, &integration).await,
                    None => Ok(()),
                }
            };
            subscriptions_lease::holding(&app, lease, torn_down).await?
        }
        None => match app.store.deleted_integration(&id).await? {
            Some(secret_ref) => finish_tearing_down(&app, &id, &secret_ref).await?,
            None => return Err(ApiError::not_found(format!("no integration {id}"))),
        },
    }
    tracing::info!(integration = %id, "integration deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Removes what an integration made, in an order that a second run can finish from any point:
/// its subscriptions (the recorded ones and any other delivering to its URL), then the record
/// (a tombstone naming its secret stays, so late deliveries are answered 410 Gone), then what is
/// kept under it, its owed events and its secret.
async fn tear_down(app: &App, integration: &Integration) -> Result<(), ApiError> {
    let id = &integration.id;
    match app.integration_secrets(integration).await {
        Ok(secrets) => match azure_devops::client_for(app.http.clone(), integration, &secrets) {
            Ok(client) => {
                let url = webhook_url(app, id);
                let left = connect::disconnect(&client, &integration.azure_devops.subscriptions, Some(&url)).await;
                if !left.is_empty() {
                    tracing::warn!(integration = %id, ?left, "subscriptions left in Azure DevOps; their deliveries will get 410");
                }
            }
            Err(error) => tracing::warn!(integration = %id, %error, "cannot call Azure DevOps to remove subscriptions"),
        },
        // A create that died before storing the secret made no subscription either.
        Err(error) => tracing::warn!(integration = %id, %error, "no secret; no subscriptions to remove"),
    }
    app.store.tombstone_integration(integration).await?;
    finish_tearing_down(app, id, &integration.secret_ref).await
}

/// The rest of a delete once the record is a tombstone.
async fn finish_tearing_down(app: &App, id: &str, secret_ref: &str) -> Result<(), ApiError> {
    app.store.delete_records_of(id).await?;
    let ended = crate::worker::end_events_of_deleted(app, id).await?;
    if !secret_ref.is_empty() {
        app.secrets.delete(secret_ref).await?;
    }
    tracing::info!(integration = %id, events_ended = ended, "integration removed");
    Ok(())
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
    report["last_reconcile"] = crate::reconcile::last_report(&app, &integration.id)
        .await
        .unwrap_or(Value::Null);
    Ok(axum::Json(report))
}

/// `POST /integrations/{id}/reconcile`: one reconciliation pass now; `200` with its report.
async fn reconcile_now(State(app): State<Arc<App>>, Path(id): Path<String>) -> Result<axum::Json<Value>, ApiError> {
    let integration = load(&app, &id).await?;
    if integration.state == IntegrationState::Connecting {
        return Err(ApiError::conflict(format!(
            "integration {id} is still being connected; reconcile it once it is active"
        )));
    }
    let budget = crate::worker::Budget::until(std::time::Instant::now() + ADMIN_PASS_TIME);
    let report = crate::reconcile::pass(&app, &integration, budget)
        .await
        .ok_or_else(|| {
            ApiError::conflict(format!(
                "a reconciliation pass of {id} is running; try again when it ends"
            ))
        })?;
    Ok(axum::Json(json!(report)))
}

/// How long a pass asked for through the API may run (the integrations function's timeout is
/// 30 s); one that needs longer reports `complete: false` and the next goes on from there.
pub const ADMIN_PASS_TIME: std::time::Duration = std::time::Duration::from_secs(27);

/// Removes a `connecting` integration whose create has had longer than it may run
/// ([`CONNECTING_GIVE_UP_MS`]): what a create that died left behind.
pub async fn remove_if_abandoned(app: &App, integration: &Integration) {
    let abandoned = integration.state == IntegrationState::Connecting
        && clock::now_ms() - integration.created_at > CONNECTING_GIVE_UP_MS;
    if !abandoned {
        return;
    }
    match tear_down(app, integration).await {
        Ok(()) => tracing::warn!(integration = %integration.id, "removed a create that never finished"),
        Err(error) => {
            tracing::warn!(integration = %integration.id, %error, "a create that never finished is not removed yet")
        }
    }
}
