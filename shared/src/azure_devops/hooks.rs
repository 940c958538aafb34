//! Service-hook subscriptions (org-scoped, `webHooks`/`httpRequest`, resourceVersion pinned to 1.0).

use reqwest::Method;
use serde_json::{Value, json};

use super::client::{AdoClient, Body};
use super::error::AdoError;
use super::types::{Subscription, ValueList};

/// The work item events every integration subscribes to.
pub const WORK_ITEM_EVENTS: [&str; 4] = [
    "workitem.updated",
    "workitem.commented",
    "workitem.deleted",
    "workitem.restored",
];
/// Basic-auth user name the bridge's hooks send (the password is the webhook secret).
pub const HOOK_USERNAME: &str = "azure-devops";

/// The body that subscribes `url` to `event_type`, authenticating with Basic `password`.
/// `publisher_inputs` narrows it (e.g. `projectId`, `repository`); empty means organization-wide.
pub fn subscription_request(event_type: &str, url: &str, password: &str, publisher_inputs: Value) -> Value {
    json!({
        "publisherId": "tfs",
        "eventType": event_type,
        "resourceVersion": "1.0",
        "consumerId": "webHooks",
        "consumerActionId": "httpRequest",
        "publisherInputs": publisher_inputs,
        "consumerInputs": {
            "url": url,
            "basicAuthUsername": HOOK_USERNAME,
            "basicAuthPassword": password,
            "resourceDetailsToSend": "all",
            "messagesToSend": "none",
            "detailedMessagesToSend": "none"
        }
    })
}

impl AdoClient {
    pub async fn create_subscription(&self, request: Value) -> Result<Subscription, AdoError> {
        let url = self.url(&["_apis", "hooks", "subscriptions"], &[]);
        self.call(Method::POST, url, Some(Body::Json(request))).await
    }

    pub async fn subscription(&self, id: &str) -> Result<Subscription, AdoError> {
        let url = self.url(&["_apis", "hooks", "subscriptions", id], &[]);
        self.call(Method::GET, url, None).await
    }

    pub async fn subscriptions(&self) -> Result<Vec<Subscription>, AdoError> {
        let url = self.url(&["_apis", "hooks", "subscriptions"], &[]);
        Ok(self
            .call::<ValueList<Subscription>>(Method::GET, url, None)
            .await?
            .value)
    }

    /// Replaces a subscription (`PUT`): the same id with new inputs — a new webhook secret, say.
    /// (It does not revive one Azure DevOps disabled: that one is deleted and made again.)
    pub async fn replace_subscription(&self, id: &str, mut request: Value) -> Result<Subscription, AdoError> {
        request["id"] = json!(id);
        let url = self.url(&["_apis", "hooks", "subscriptions", id], &[]);
        self.call(Method::PUT, url, Some(Body::Json(request))).await
    }

    /// Deletes a subscription; one that is already gone counts as deleted.
    pub async fn delete_subscription(&self, id: &str) -> Result<(), AdoError> {
        let url = self.url(&["_apis", "hooks", "subscriptions", id], &[]);
        match self.send(Method::DELETE, url, None).await {
            Ok(_) | Err(AdoError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
