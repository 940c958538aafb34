//! The per-integration sync settings (`sync` on the integration), with defaults.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{Map, Value};

/// Which parts of a direction are synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct DirectionSettings {
    pub enabled: bool,
    pub status: bool,
    pub assignee: bool,
    pub comments: bool,
}

impl Default for DirectionSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            status: true,
            assignee: true,
            comments: true,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct SyncSettings {
    /// Azure DevOps → Sentry.
    pub ado_to_sentry: DirectionSettings,
    /// Sentry → Azure DevOps.
    pub sentry_to_ado: DirectionSettings,
    /// Per ADO project: the states that count as done (overrides the Resolved/Completed categories).
    pub done_states: HashMap<String, Vec<String>>,
}

impl SyncSettings {
    /// Reads the settings; unknown keys are ignored, malformed ones fall back to defaults
    /// (validated on PATCH, so this only matters for records written by older versions).
    pub fn from_map(map: &Map<String, Value>) -> Self {
        serde_json::from_value(Value::Object(map.clone())).unwrap_or_default()
    }

    /// Checks a `sync` object a person sent; `Err` names the problem.
    pub fn validate(map: &Map<String, Value>) -> Result<(), String> {
        serde_json::from_value::<SyncSettings>(Value::Object(map.clone()))
            .map(|_| ())
            .map_err(|e| format!("`sync` is not valid: {e}"))
    }

    pub fn explicit_done_states(&self, project: &str) -> Option<&[String]> {
        self.done_states
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(project))
            .map(|(_, states)| states.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_and_overrides() {
        let defaults = SyncSettings::from_map(&Map::new());
        assert!(defaults.ado_to_sentry.enabled && defaults.ado_to_sentry.comments);
        let map = json!({"ado_to_sentry": {"comments": false}, "done_states": {"Fabrikam": ["Done", "Closed"]}});
        let settings = SyncSettings::from_map(map.as_object().unwrap());
        assert!(settings.ado_to_sentry.enabled && !settings.ado_to_sentry.comments);
        assert_eq!(settings.explicit_done_states("fabrikam").unwrap(), ["Done", "Closed"]);
        assert!(SyncSettings::validate(json!({"ado_to_sentry": {"status": "yes"}}).as_object().unwrap()).is_err());
    }
}
