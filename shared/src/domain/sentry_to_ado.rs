//! Which Azure DevOps state a Sentry status change asks for.

use crate::azure_devops::WorkItemState;

/// Where the state came from (a fallback is recorded on the event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetState {
    Configured(String),
    /// The configured state does not exist for this type (or none was configured): the type's
    /// first state in the preferred categories.
    Fallback {
        state: String,
        configured: Option<String>,
    },
}

impl TargetState {
    pub fn name(&self) -> &str {
        match self {
            TargetState::Configured(state) | TargetState::Fallback { state, .. } => state,
        }
    }
}

/// Preferred categories for a Sentry status: resolved → Resolved, then Completed; unresolved →
/// InProgress, then Proposed. `None` for statuses that change nothing (ignored).
pub fn categories_for(status: &str) -> Option<&'static [&'static str]> {
    match status {
        "resolved" => Some(&["Resolved", "Completed"]),
        "unresolved" => Some(&["InProgress", "Proposed"]),
        _ => None,
    }
}

/// The target state for `status` on a type with `states`, honouring the configured one.
pub fn target_state(status: &str, configured: Option<&str>, states: &[WorkItemState]) -> Option<TargetState> {
    let categories = categories_for(status)?;
    if let Some(name) = configured
        && let Some(state) = states.iter().find(|s| s.name.eq_ignore_ascii_case(name))
    {
        return Some(TargetState::Configured(state.name.clone()));
    }
    let fallback = categories
        .iter()
        .find_map(|category| states.iter().find(|s| s.category == *category))?;
    Some(TargetState::Fallback {
        state: fallback.name.clone(),
        configured: configured.map(str::to_string),
    })
}

/// Whether `current` already satisfies `status` (is in one of its categories), so no write is needed.
pub fn already_there(status: &str, current: &str, states: &[WorkItemState]) -> bool {
    let Some(categories) = categories_for(status) else {
        return true;
    };
    let category = states
        .iter()
        .find(|s| s.name.eq_ignore_ascii_case(current))
        .map(|s| s.category.as_str());
    category.is_some_and(|c| categories.contains(&c))
}

/// The Azure DevOps comment for a Sentry comment: attributed, Markdown.
pub fn comment_text(author: &str, text: &str) -> String {
    format!("**{author}** (Sentry) wrote:\n\n{}", text.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn states(list: &[(&str, &str)]) -> Vec<WorkItemState> {
        list.iter()
            .map(|(n, c)| WorkItemState {
                name: n.to_string(),
                color: String::new(),
                category: c.to_string(),
            })
            .collect()
    }

    #[test]
    fn configured_states_win_and_fall_back_by_category() {
        let agile = states(&[
            ("New", "Proposed"),
            ("Active", "InProgress"),
            ("Resolved", "Resolved"),
            ("Closed", "Completed"),
        ]);
        let basic = states(&[("To Do", "Proposed"), ("Doing", "InProgress"), ("Done", "Completed")]);
        assert_eq!(
            target_state("resolved", None, &agile).unwrap(),
            TargetState::Fallback {
                state: "Resolved".into(),
                configured: None
            }
        );
        assert_eq!(
            target_state("resolved", Some("closed"), &agile).unwrap(),
            TargetState::Configured("Closed".into())
        );
        assert_eq!(
            target_state("resolved", Some("Resolved"), &basic).unwrap().name(),
            "Done",
            "Basic has no Resolved state"
        );
        assert_eq!(target_state("unresolved", None, &basic).unwrap().name(), "Doing");
        assert!(target_state("ignored", None, &agile).is_none());
        assert!(already_there("resolved", "Closed", &agile));
        assert!(!already_there("resolved", "Active", &agile));
        assert!(already_there("unresolved", "New", &agile));
        assert_eq!(comment_text("Jane", " hi "), "**Jane** (Sentry) wrote:\n\nhi");
    }
}
