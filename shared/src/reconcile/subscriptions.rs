//! Keeping the integration's service-hook subscriptions alive. Azure DevOps disables a
//! subscription after about 36 hours of failed deliveries (at once on a 410) and tells no one;
//! a person may disable or delete one. Each pass reads them all (one call) and re-creates any
//! that is missing, not `enabled`, delivering elsewhere or authenticating otherwise.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::azure_devops::{AdoClient, AdoError, HOOK_USERNAME, Subscription, WORK_ITEM_EVENTS, subscription_request};
use crate::secrets::Secret;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionReport {
    pub checked: u32,
    /// Deleted (if present) and made again.
    pub recreated: u32,
    /// A healthy one the record did not name, recorded.
    pub updated: u32,
}

/// Whether a subscription delivers `event_type` to `webhook_url` the way the bridge made it.
pub fn is_healthy(subscription: &Subscription, event_type: &str, webhook_url: &str) -> bool {
    let input = |name: &str| subscription.consumer_inputs.get(name).and_then(Value::as_str);
    subscription.status == "enabled"
        && subscription.event_type == event_type
        && input("url") == Some(webhook_url)
        && input("basicAuthUsername") == Some(HOOK_USERNAME)
}

impl SubscriptionReport {
    pub fn add(&mut self, other: SubscriptionReport) {
        self.checked += other.checked;
        self.recreated += other.recreated;
        self.updated += other.updated;
    }
}

/// Checks the subscriptions recorded in `recorded` (event type → id) against `all` (the
/// organization's, listed once per pass) and repairs them; `recorded` is updated in place.
/// Returns the report and the calls made.
pub async fn check(
    client: &AdoClient,
    all: &[Subscription],
    recorded: &mut std::collections::BTreeMap<String, String>,
    webhook_url: &str,
    webhook_secret: &Secret,
) -> Result<(SubscriptionReport, u32), AdoError> {
    let mut calls = 0;
    let mut report = SubscriptionReport::default();
    for event in WORK_ITEM_EVENTS {
        report.checked += 1;
        let named = recorded.get(event).and_then(|id| all.iter().find(|s| s.id == *id));
        if named.is_some_and(|s| is_healthy(s, event, webhook_url)) {
            continue;
        }
        if let Some(adoptable) = all.iter().find(|s| is_healthy(s, event, webhook_url)) {
            recorded.insert(event.to_string(), adoptable.id.clone());
            report.updated += 1;
            continue;
        }
        if let Some(broken) = named {
            client.delete_subscription(&broken.id).await?;
            calls += 1;
        }
        let request = subscription_request(event, webhook_url, webhook_secret.expose(), json!({}));
        let made = client.create_subscription(request).await?;
        calls += 1;
        tracing::info!(event, subscription = %made.id, "service-hook subscription re-created");
        recorded.insert(event.to_string(), made.id);
        report.recreated += 1;
    }
    Ok((report, calls))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscription(status: &str, url: &str, user: &str) -> Subscription {
        serde_json::from_value(json!({"id": "s", "url": "", "status": status, "publisherId": "tfs",
            "eventType": "workitem.updated", "resourceVersion": "1.0", "consumerId": "webHooks",
            "consumerActionId": "httpRequest", "publisherInputs": {},
            "consumerInputs": {"url": url, "basicAuthUsername": user, "basicAuthPassword": "********"}}))
        .unwrap()
    }

    #[test]
    fn only_an_enabled_subscription_to_this_url_with_this_auth_is_healthy() {
        let url = "https://bridge.example/hooks/azure-devops/1";
        assert!(is_healthy(
            &subscription("enabled", url, HOOK_USERNAME),
            "workitem.updated",
            url
        ));
        for broken in [
            subscription("disabledBySystem", url, HOOK_USERNAME),
            subscription("onProbation", url, HOOK_USERNAME),
            subscription("enabled", "https://old.example/hooks/azure-devops/1", HOOK_USERNAME),
            subscription("enabled", url, "someone-else"),
        ] {
            assert!(!is_healthy(&broken, "workitem.updated", url), "{broken:?}");
        }
        let other_event = subscription("enabled", url, HOOK_USERNAME);
        assert!(!is_healthy(&other_event, "workitem.deleted", url));
    }
}
