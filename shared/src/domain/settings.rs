//! The per-integration sync settings (`sync` on the integration), with defaults. "Inbound" is
//! Azure DevOps → Sentry, "outbound" Sentry → Azure DevOps (Sentry's own words for them).

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{Map, Value};

fn yes() -> bool {
    true
}

/// Per Azure DevOps project: target states for Sentry status changes and the "done" states.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectSync {
    #[serde(default)]
    pub on_resolve: Option<String>,
    #[serde(default)]
    pub on_unresolve: Option<String>,
    /// States that count as done (instead of the Resolved/Completed categories).
    #[serde(default)]
    pub done_states: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncSettings {
    #[serde(default = "yes")]
    pub status_inbound: bool,
    #[serde(default = "yes")]
    pub assignee_inbound: bool,
    #[serde(default = "yes")]
    pub comments_inbound: bool,
    #[serde(default = "yes")]
    pub status_outbound: bool,
    #[serde(default = "yes")]
    pub assignee_outbound: bool,
    #[serde(default = "yes")]
    pub comments_outbound: bool,
    /// By Azure DevOps project name or id.
    #[serde(default)]
    pub projects: HashMap<String, ProjectSync>,
}

impl Default for SyncSettings {
    /// Everything synced both ways, no project settings (what an empty `sync` means).
    fn default() -> Self {
        Self {
            status_inbound: true,
            assignee_inbound: true,
            comments_inbound: true,
            status_outbound: true,
            assignee_outbound: true,
            comments_outbound: true,
            projects: HashMap::new(),
        }
    }
}

/// Which kinds of change one direction syncs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirectionSettings {
    pub status: bool,
    pub assignee: bool,
    pub comments: bool,
}

impl DirectionSettings {
    pub fn any(&self) -> bool {
        self.status || self.assignee || self.comments
    }
}

impl SyncSettings {
    /// Reads the settings; a record that no longer parses falls back to defaults (settings are
    /// validated when saved, so this only matters for records written by older versions).
    /// The stored settings. Unreadable ones (written by another version, or by hand) are an
    /// error — never read as "everything on", which would sync what a person turned off.
    pub fn read(map: &Map<String, Value>) -> Result<Self, String> {
        serde_json::from_value(Value::Object(map.clone())).map_err(|e| format!("`sync` is not valid: {e}"))
    }

    /// Checks a `sync` object a person sent; `Err` names the problem.
    pub fn validate(map: &Map<String, Value>) -> Result<(), String> {
        Self::read(map).map(|_| ())
    }

    pub fn inbound(&self) -> DirectionSettings {
        DirectionSettings {
            status: self.status_inbound,
            assignee: self.assignee_inbound,
            comments: self.comments_inbound,
        }
    }

    pub fn outbound(&self) -> DirectionSettings {
        DirectionSettings {
            status: self.status_outbound,
            assignee: self.assignee_outbound,
            comments: self.comments_outbound,
        }
    }

    /// The settings of an Azure DevOps project, by name or id (case-insensitive).
    pub fn project(&self, name_or_id: &str) -> Option<&ProjectSync> {
        self.projects
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name_or_id))
            .map(|(_, p)| p)
    }

    pub fn explicit_done_states(&self, project: &str) -> Option<&[String]> {
        self.project(project).and_then(|p| p.done_states.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_and_overrides() {
        let defaults = SyncSettings::default();
        assert!(defaults.inbound().any() && defaults.outbound().comments);
        let map = json!({"comments_inbound": false, "projects": {"Fabrikam": {"done_states": ["Done", "Closed"], "on_resolve": "Resolved"}}});
        let settings = SyncSettings::read(map.as_object().unwrap()).unwrap();
        assert!(settings.inbound().status && !settings.inbound().comments);
        assert_eq!(settings.explicit_done_states("fabrikam").unwrap(), ["Done", "Closed"]);
        assert_eq!(
            settings.project("FABRIKAM").unwrap().on_resolve.as_deref(),
            Some("Resolved")
        );
        assert!(SyncSettings::validate(json!({"status_inbound": "yes"}).as_object().unwrap()).is_err());
        let typo = SyncSettings::validate(json!({"status_inbund": false}).as_object().unwrap()).unwrap_err();
        assert!(typo.contains("status_inbund"), "{typo}");
    }
}
