use serde::{Deserialize, Serialize};

/// An explicit override pairing a Sentry user with an Azure DevOps identity, keyed by email.
/// A pair whose two emails differ is kept twice, once under each email, so each side's email
/// finds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserMapping {
    pub integration_id: String,
    /// Lower-cased email the mapping is found by.
    pub email: String,
    /// The pair as it was asked for: the Azure DevOps identity's email…
    #[serde(default)]
    pub ado_email: Option<String>,
    /// …and the Sentry member's email.
    #[serde(default)]
    pub sentry_email: Option<String>,
    #[serde(default)]
    pub sentry_user_id: Option<String>,
    /// The Azure DevOps identity (unique name, usually an email) to assign.
    #[serde(default)]
    pub ado_identity: Option<String>,
    pub updated_at: i64,
    #[serde(default)]
    pub version: u64,
}
