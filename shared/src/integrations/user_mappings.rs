//! User mappings: one person paired across the two sides, for both directions — an Azure DevOps
//! assignment to the identity assigns the Sentry member, and a Sentry assignment to the member
//! sets the identity. Needed where a person's emails differ between the two.
//!
//! `POST /integrations/{id}/user-mappings {"azure_devops", "sentry"}` → `201`,
//! `GET /integrations/{id}/user-mappings`, `DELETE /integrations/{id}/user-mappings/{azure_devops}`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::load;
use crate::App;
use crate::clock;
use crate::error::ApiError;
use crate::http::JsonBody;
use crate::records::UserMapping;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMapping {
    /// The Azure DevOps identity: its email (unique name).
    pub azure_devops: String,
    /// The Sentry member's email.
    pub sentry: String,
}

fn email(field: &str, value: &str) -> Result<String, ApiError> {
    let value = value.trim().to_lowercase();
    if value.contains('@') && value.len() <= 254 {
        Ok(value)
    } else {
        Err(ApiError::invalid(format!(
            "{field}: expected an email, got \"{value}\""
        )))
    }
}

fn view(mapping: &UserMapping) -> Value {
    json!({
        "azure_devops": mapping.ado_email.clone().or_else(|| mapping.ado_identity.clone()),
        "sentry": mapping.sentry_email.clone().unwrap_or_else(|| mapping.email.clone()),
        "sentry_user_id": mapping.sentry_user_id,
    })
}

pub async fn create(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<NewMapping>,
) -> Result<(StatusCode, axum::Json<Value>), ApiError> {
    let integration = load(&app, &id).await?;
    let ado = email("azure_devops", &body.azure_devops)?;
    let sentry = email("sentry", &body.sentry)?;
    let secrets = app.integration_secrets(&integration).await?;
    let connection = app.connections.get(&app.http, &integration, &secrets)?;
    if !connection.metadata.identity_exists(&connection.ado, &ado).await? {
        return Err(ApiError::invalid(format!(
            "azure_devops: no Azure DevOps identity with email {ado} in {}",
            integration.azure_devops.organization
        )));
    }
    let user_id = connection
        .sentry
        .member_user_id(&sentry)
        .await
        .map_err(|e| ApiError::unavailable(format!("Sentry: {e}"), 5))?
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "sentry: no member of the Sentry organization {} with email {sentry}",
                integration.sentry.organization_slug
            ))
        })?;
    let mapping = |key: &str| UserMapping {
        integration_id: id.clone(),
        email: key.to_string(),
        ado_email: Some(ado.clone()),
        sentry_email: Some(sentry.clone()),
        sentry_user_id: Some(user_id.clone()),
        ado_identity: Some(ado.clone()),
        updated_at: clock::now_ms(),
        version: 0,
    };
    // A pair replaced by this one is removed whole: the partner of either email is no longer one.
    for key in [&ado, &sentry] {
        if let Some(old) = app.store.get_user_mapping(&id, key).await? {
            for partner in [old.ado_email.as_deref(), old.sentry_email.as_deref()]
                .into_iter()
                .flatten()
            {
                if partner != ado && partner != sentry {
                    remove_if_pairs(&app, &id, partner, &old).await?;
                }
            }
        }
    }
    let mut keys = vec![ado.clone()];
    if sentry != ado {
        keys.push(sentry.clone());
    }
    for key in &keys {
        let mut record = mapping(key);
        if let Some(existing) = app.store.get_user_mapping(&id, key).await? {
            record.version = existing.version;
        }
        app.store.save_user_mapping(&mut record).await?;
    }
    tracing::info!(integration = %id, azure_devops = %ado, sentry = %sentry, "user mapping saved");
    Ok((StatusCode::CREATED, axum::Json(view(&mapping(&ado)))))
}

pub async fn list(State(app): State<Arc<App>>, Path(id): Path<String>) -> Result<axum::Json<Value>, ApiError> {
    load(&app, &id).await?;
    let mappings = app.store.list_user_mappings(&id).await?;
    // A pair kept under two emails is listed once (under its Azure DevOps email).
    let shown: Vec<Value> = mappings
        .iter()
        .filter(|m| m.ado_email.as_deref().is_none_or(|ado| ado == m.email))
        .map(view)
        .collect();
    Ok(axum::Json(json!({"user_mappings": shown})))
}

pub async fn remove(
    State(app): State<Arc<App>>,
    Path((id, azure_devops)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    load(&app, &id).await?;
    let ado = azure_devops.trim().to_lowercase();
    let mapping = app
        .store
        .get_user_mapping(&id, &ado)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no user mapping for {ado}")))?;
    if let Some(sentry) = mapping.sentry_email.as_deref().filter(|s| *s != ado) {
        remove_if_pairs(&app, &id, sentry, &mapping).await?;
    }
    app.store.delete_user_mapping(&id, &ado).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes the record under `key` if it still belongs to the pair of `mapping` (another pair may
/// have taken that email since).
async fn remove_if_pairs(app: &App, id: &str, key: &str, mapping: &UserMapping) -> Result<(), ApiError> {
    if let Some(record) = app.store.get_user_mapping(id, key).await?
        && record.ado_email == mapping.ado_email
        && record.sentry_email == mapping.sentry_email
    {
        app.store.delete_user_mapping(id, key).await?;
    }
    Ok(())
}
