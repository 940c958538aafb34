//! Each registered repository's `git.push` subscription: filtered on the repository, delivering
//! to the integration's webhook URL with the same Basic-auth secret as the work item
//! subscriptions. Made on registration, checked and re-made by reconciliation, given the new
//! secret by a rotation, deleted with the repository.

use serde_json::{Value, json};

use crate::azure_devops::{AdoClient, AdoError, Subscription, subscription_request};
use crate::reconcile::subscriptions::{SubscriptionReport, is_healthy};
use crate::records::Repository;
use crate::secrets::Secret;

pub const PUSH_EVENT: &str = "git.push";

/// The subscription request for `repository`'s pushes.
pub fn request(repository: &Repository, webhook_url: &str, webhook_secret: &Secret) -> Value {
    let mut inputs = json!({"repository": repository.id});
    if !repository.project_id.is_empty() {
        inputs["projectId"] = json!(repository.project_id);
    }
    let mut request = subscription_request(PUSH_EVENT, webhook_url, webhook_secret.expose(), inputs);
    // The detailed text says how many commits the push has ("… pushed 3 commits to …"): how a
    // delivery whose commit list was cut is known.
    request["consumerInputs"]["detailedMessagesToSend"] = json!("text");
    request
}

/// Whether `subscription` delivers `repository`'s pushes to `webhook_url` as the bridge made it.
pub fn is_healthy_for(subscription: &Subscription, repository: &Repository, webhook_url: &str) -> bool {
    is_healthy(subscription, PUSH_EVENT, webhook_url)
        && subscription.publisher_inputs.get("repository").and_then(Value::as_str) == Some(repository.id.as_str())
}

/// Makes the subscription; returns its id.
pub async fn subscribe(
    client: &AdoClient,
    repository: &Repository,
    webhook_url: &str,
    webhook_secret: &Secret,
) -> Result<String, AdoError> {
    let made = client
        .create_subscription(request(repository, webhook_url, webhook_secret))
        .await?;
    tracing::info!(repository = %repository.id, subscription = %made.id, "push subscription made");
    Ok(made.id)
}

/// Checks each repository's subscription against `all` (the organization's subscriptions) and
/// re-makes any that is missing, not enabled, delivering elsewhere or filtered otherwise;
/// `repositories` are updated in place. Returns the report and the calls made.
pub async fn check(
    client: &AdoClient,
    all: &[Subscription],
    repositories: &mut [Repository],
    webhook_url: &str,
    webhook_secret: &Secret,
) -> Result<(SubscriptionReport, u32), AdoError> {
    let mut report = SubscriptionReport::default();
    let mut calls = 0;
    for repository in repositories.iter_mut() {
        report.checked += 1;
        let named = repository
            .push_subscription_id
            .as_ref()
            .and_then(|id| all.iter().find(|s| s.id == *id));
        if named.is_some_and(|s| is_healthy_for(s, repository, webhook_url)) {
            continue;
        }
        if let Some(adoptable) = all.iter().find(|s| is_healthy_for(s, repository, webhook_url)) {
            repository.push_subscription_id = Some(adoptable.id.clone());
            report.updated += 1;
            continue;
        }
        if let Some(broken) = named {
            client.delete_subscription(&broken.id).await?;
            calls += 1;
        }
        repository.push_subscription_id = Some(subscribe(client, repository, webhook_url, webhook_secret).await?);
        calls += 1;
        report.recreated += 1;
    }
    Ok((report, calls))
}

/// Puts `webhook_secret` on each repository's subscription (a rotation); one that is gone is
/// made again. Returns the repositories whose subscription id changed.
pub async fn replace_all(
    client: &AdoClient,
    repositories: &mut [Repository],
    webhook_url: &str,
    webhook_secret: &Secret,
) -> Result<Vec<usize>, AdoError> {
    let mut changed = Vec::new();
    for (index, repository) in repositories.iter_mut().enumerate() {
        let request = request(repository, webhook_url, webhook_secret);
        if let Some(existing) = &repository.push_subscription_id {
            match client.replace_subscription(existing, request.clone()).await {
                Ok(_) => continue,
                Err(AdoError::NotFound { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        repository.push_subscription_id = Some(client.create_subscription(request).await?.id);
        changed.push(index);
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure_devops::HOOK_USERNAME;

    fn repository(id: &str) -> Repository {
        serde_json::from_value(json!({"integration_id": "i", "id": id, "name": "web", "project": "P",
            "project_id": "p1", "url": "", "sentry_name": "P/web", "created_at": 0, "updated_at": 0}))
        .unwrap()
    }

    #[test]
    fn the_request_filters_on_the_repository_and_its_project() {
        let request = request(
            &repository("r1"),
            "https://b/hooks/azure-devops/i",
            &Secret::new("s3cret"),
        );
        assert_eq!(request["eventType"], "git.push");
        assert_eq!(
            request["publisherInputs"],
            json!({"repository": "r1", "projectId": "p1"})
        );
        assert_eq!(request["consumerInputs"]["basicAuthPassword"], "s3cret");
        assert_eq!(request["consumerInputs"]["detailedMessagesToSend"], "text");
    }

    #[test]
    fn only_a_push_subscription_of_this_repository_is_its_own() {
        let url = "https://b/hooks/azure-devops/i";
        let subscription = |event: &str, repo: &str| -> Subscription {
            serde_json::from_value(json!({"id": "s", "status": "enabled", "eventType": event,
                "publisherInputs": {"repository": repo},
                "consumerInputs": {"url": url, "basicAuthUsername": HOOK_USERNAME}}))
            .unwrap()
        };
        assert!(is_healthy_for(&subscription("git.push", "r1"), &repository("r1"), url));
        assert!(!is_healthy_for(&subscription("git.push", "r2"), &repository("r1"), url));
        assert!(!is_healthy_for(
            &subscription("workitem.updated", "r1"),
            &repository("r1"),
            url
        ));
    }
}
