//! Connecting an Azure DevOps organization: verify the credential (connectionData), learn the
//! bridge's identity and the collection id, and subscribe the webhook URL to the work item
//! events — all or nothing. Disconnecting removes the subscriptions again.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use url::Url;

use super::validate::is_loopback;
use crate::azure_devops::{AdoClient, AdoError, WORK_ITEM_EVENTS, subscription_request};
use crate::error::ApiError;
use crate::secrets::Secret;

/// Azure DevOps delivers Basic-authenticated hooks only to https URLs; a real organization
/// cannot reach a plain-http (or loopback) bridge. Checked before anything is created.
pub fn check_webhook_url(organization_url: &str, webhook_url: &str) -> Result<(), String> {
    let organization = Url::parse(organization_url).map_err(|e| e.to_string())?;
    let webhook = Url::parse(webhook_url).map_err(|e| format!("webhook URL {webhook_url}: {e}"))?;
    if is_loopback(&organization) {
        return Ok(());
    }
    if webhook.scheme() != "https" || is_loopback(&webhook) {
        return Err(format!(
            "Azure DevOps must reach the bridge over https, but the webhook URL would be {webhook_url}. \
             Set BRIDGE_PUBLIC_URL to the bridge's public https URL (a tunnel or reverse proxy when running locally)."
        ));
    }
    Ok(())
}

/// Creates one subscription per work item event. On any failure the subscriptions created so
/// far are deleted again and the error is returned.
pub async fn subscribe(
    client: &AdoClient,
    webhook_url: &str,
    webhook_secret: &Secret,
) -> Result<BTreeMap<String, String>, ApiError> {
    let mut subscriptions = BTreeMap::new();
    for event in WORK_ITEM_EVENTS {
        let request = subscription_request(event, webhook_url, webhook_secret.expose(), json!({}));
        match client.create_subscription(request).await {
            Ok(subscription) => {
                subscriptions.insert(event.to_string(), subscription.id);
            }
            Err(error) => {
                disconnect(client, &subscriptions, None).await;
                return Err(error.into());
            }
        }
    }
    Ok(subscriptions)
}

/// Who the credential is in the organization (`connectionData`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub collection_id: String,
    /// Changes made under it are the bridge's own (echo suppression).
    pub bridge_identity_id: String,
}

/// Verifies the credential (`connectionData`): the identity it authenticates as, and the
/// organization's collection. Anonymous access counts as a refused credential.
pub async fn identify(client: &AdoClient) -> Result<Identity, ApiError> {
    let me = client.connection_data().await?;
    if me.authenticated_user.id.is_empty() {
        return Err(ApiError::from(AdoError::Auth {
            status: 200,
            message: "connectionData named no authenticated user (anonymous access)".into(),
        }));
    }
    Ok(Identity {
        collection_id: me.instance_id,
        bridge_identity_id: me.authenticated_user.id,
    })
}

/// Deletes the subscriptions — the recorded ones and, given the integration's webhook URL, any
/// other that delivers there (made by a create that died before recording it). Failures are
/// logged, not returned (a delivery to a deleted integration answers 410, which makes Azure
/// DevOps disable the subscription by itself). Returns the ids that could not be deleted.
pub async fn disconnect(
    client: &AdoClient,
    subscriptions: &BTreeMap<String, String>,
    webhook_url: Option<&str>,
) -> Vec<String> {
    let mut ids: Vec<String> = subscriptions.values().cloned().collect();
    if let Some(url) = webhook_url {
        match client.subscriptions().await {
            Ok(all) => ids.extend(
                all.into_iter()
                    .filter(|s| s.consumer_inputs.get("url").and_then(Value::as_str) == Some(url))
                    .map(|s| s.id)
                    .filter(|id| !subscriptions.values().any(|recorded| recorded == id)),
            ),
            Err(error) => tracing::warn!(%error, "could not list the subscriptions; deleting the recorded ones"),
        }
    }
    let mut left = Vec::new();
    for id in ids {
        if let Err(error) = client.delete_subscription(&id).await {
            tracing::warn!(subscription = %id, %error, "could not delete an Azure DevOps subscription");
            left.push(id);
        }
    }
    left
}

/// Live state: credential check, bridge identity, each subscription's status.
pub async fn status(client: &AdoClient, subscriptions: &BTreeMap<String, String>, webhook_url: &str) -> Value {
    let credential = match client.connection_data().await {
        Ok(me) => json!({"ok": true, "identity_id": me.authenticated_user.id,
                         "display_name": me.authenticated_user.provider_display_name, "collection_id": me.instance_id}),
        Err(error) => json!({"ok": false, "error": error.to_string()}),
    };
    let mut reports = Vec::new();
    for event in WORK_ITEM_EVENTS {
        let report = match subscriptions.get(event) {
            None => json!({"event_type": event, "id": null, "status": "missing"}),
            Some(id) => match client.subscription(id).await {
                Ok(subscription) => json!({
                    "event_type": event, "id": id, "status": subscription.status,
                    "url_matches": subscription.consumer_inputs.get("url").and_then(Value::as_str) == Some(webhook_url),
                    "resource_version": subscription.resource_version,
                }),
                Err(AdoError::NotFound { .. }) => json!({"event_type": event, "id": id, "status": "missing"}),
                Err(error) => json!({"event_type": event, "id": id, "status": "unknown", "error": error.to_string()}),
            },
        };
        reports.push(report);
    }
    let healthy = credential["ok"] == true
        && reports
            .iter()
            .all(|r| r["status"] == "enabled" && r["url_matches"] == true);
    json!({"healthy": healthy, "credential": credential, "subscriptions": reports})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_organizations_need_an_https_webhook_url() {
        assert!(
            check_webhook_url(
                "https://dev.azure.com/contoso",
                "https://bridge.example.com/hooks/azure-devops/1"
            )
            .is_ok()
        );
        let error = check_webhook_url(
            "https://dev.azure.com/contoso",
            "http://127.0.0.1:8080/hooks/azure-devops/1",
        )
        .unwrap_err();
        assert!(error.contains("BRIDGE_PUBLIC_URL"), "{error}");
        assert!(check_webhook_url("https://dev.azure.com/contoso", "http://bridge.example.com/h").is_err());
        assert!(
            check_webhook_url(
                "http://127.0.0.1:9000/fake",
                "http://127.0.0.1:8080/hooks/azure-devops/1"
            )
            .is_ok()
        );
    }
}
