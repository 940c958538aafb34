//! What the admin API shows of an integration: the record, never a secret value, plus the
//! URL Azure DevOps service hooks deliver to.

use serde_json::{Value, json};

use crate::clock::rfc3339;
use crate::records::Integration;

/// Path Azure DevOps service hooks post to, below the public base URL.
pub fn webhook_path(integration_id: &str) -> String {
    format!("/hooks/azure-devops/{integration_id}")
}

pub fn integration_view(integration: &Integration, public_url: &str) -> Value {
    json!({
        "id": integration.id,
        "name": integration.name,
        "azure_devops": integration.azure_devops,
        "sentry": integration.sentry,
        "sync": integration.sync,
        "secret_ref": integration.secret_ref,
        "state": integration.state,
        "webhook_url": format!("{public_url}{}", webhook_path(&integration.id)),
        "created_at": rfc3339(integration.created_at),
        "updated_at": rfc3339(integration.updated_at),
        "version": integration.version,
    })
}
