//! `POST /integrations/{id}/rotate-webhook-secret`: a new webhook secret for the Basic
//! authentication of the service hooks. The secret store is written first (the new secret and,
//! until `previous_valid_until`, the previous one are both accepted from then on), then the
//! record's version moves on (warm processes read the secrets again), then every subscription is
//! replaced to carry the new secret (the repositories' push subscriptions too). A rotation stopped half way (Azure DevOps down, say) is on
//! record as unfinished: the next rotation puts the same new secret on every subscription instead
//! of making another (which would end the old one's grace for subscriptions still using it).
//! It holds the subscriptions lease throughout ([`super::subscriptions_lease`]).

use std::sync::Arc;

use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::{WEBHOOK_SECRET_BYTES, load, subscriptions_lease, webhook_url};
use crate::App;
use crate::azure_devops::{self, AdoError, WORK_ITEM_EVENTS, subscription_request};
use crate::clock;
use crate::error::ApiError;
use crate::secrets::{Secret, SecretStore};

pub async fn rotate(State(app): State<Arc<App>>, Path(id): Path<String>) -> Result<axum::Json<Value>, ApiError> {
    load(&app, &id).await?;
    let lease = subscriptions_lease::hold_for_request(&app, &id).await?;
    subscriptions_lease::holding(&app, lease, rotate_holding(&app, &id)).await
}

async fn rotate_holding(app: &App, id: &str) -> Result<axum::Json<Value>, ApiError> {
    let mut integration = load(app, id).await?;
    let mut secrets = app.integration_secrets(&integration).await?;
    let now = clock::now_ms();
    if !integration.azure_devops.rotation_unfinished {
        let fresh = Secret::generate(WEBHOOK_SECRET_BYTES)?;
        secrets.previous_webhook_secret = Some(std::mem::replace(&mut secrets.webhook_secret, fresh));
        secrets.previous_webhook_secret_expires_at = Some(now + app.config.secret_grace_secs * 1000);
        app.secrets.put(&integration.secret_ref, &secrets).await?;
        integration.azure_devops.rotation_unfinished = true;
    }
    // A new record version either way: warm processes read the secrets again.
    integration.updated_at = now;
    app.store.update_integration(&mut integration).await?;

    let client = azure_devops::client_for(app.http.clone(), &integration, &secrets)?;
    let url = webhook_url(app, id);
    let mut subscriptions = integration.azure_devops.subscriptions.clone();
    for event in WORK_ITEM_EVENTS {
        let request = subscription_request(event, &url, secrets.webhook_secret.expose(), json!({}));
        if let Some(existing) = subscriptions.get(event) {
            match client.replace_subscription(existing, request.clone()).await {
                Ok(_) => continue,
                Err(AdoError::NotFound { .. }) => {}
                Err(error) => return Err(error.into()),
            }
        }
        let made = client.create_subscription(request).await?;
        subscriptions.insert(event.to_string(), made.id);
    }
    // The repositories' push subscriptions carry the same secret.
    let mut repositories = app.store.list_repositories(id).await?;
    let before = repositories.clone();
    crate::repositories::push_subscriptions::replace_all(&client, &mut repositories, &url, &secrets.webhook_secret)
        .await?;
    for (repository, old) in repositories.iter().zip(&before) {
        let made = repository.push_subscription_id.clone();
        crate::repositories::update_repository_with(app, old, |r| {
            let remade = made != old.push_subscription_id;
            if remade {
                r.push_subscription_id = made.clone();
            }
            remade
        })
        .await?;
    }
    integration.azure_devops.subscriptions = subscriptions;
    integration.azure_devops.rotation_unfinished = false;
    app.store.update_integration(&mut integration).await?;
    let valid_until = secrets.previous_webhook_secret_expires_at.unwrap_or(now);
    tracing::info!(integration = %id, previous_valid_until = %clock::rfc3339(valid_until), "webhook secret rotated");
    Ok(axum::Json(json!({"previous_valid_until": clock::rfc3339(valid_until)})))
}
