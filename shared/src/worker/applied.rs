//! What applying one event did: the changes it made on the other side (said in the "event
//! applied" log line) and notes on what it left alone and why (kept on the event, shown by the
//! admin API).

/// The outcome of an event that was applied.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Applied {
    /// Each write made, e.g. `work item 42: state Active → Resolved`.
    pub changes: Vec<String>,
    /// What was not done and why, e.g. `no Sentry member with email x@y; issue 7 left as it was`.
    pub notes: Vec<String>,
    /// Why nothing changed, when that is worth saying in the log but not keeping on the event
    /// (the bridge's own change coming back, an older revision).
    pub unchanged: Option<String>,
}

impl Applied {
    /// Nothing to do.
    pub fn nothing() -> Self {
        Self::default()
    }

    /// One change made.
    pub fn change(change: impl Into<String>) -> Self {
        Self {
            changes: vec![change.into()],
            ..Self::default()
        }
    }

    /// Nothing done, for a reason worth keeping on the event.
    pub fn note(note: impl Into<String>) -> Self {
        Self {
            notes: vec![note.into()],
            ..Self::default()
        }
    }

    /// Nothing to do, for a reason only the log says.
    pub fn unchanged(why: impl Into<String>) -> Self {
        Self {
            unchanged: Some(why.into()),
            ..Self::default()
        }
    }

    /// Adds what another part of the same event did.
    pub fn extend(&mut self, other: Applied) {
        self.changes.extend(other.changes);
        self.notes.extend(other.notes);
        self.unchanged = self.unchanged.take().or(other.unchanged);
    }

    /// The changes for the log: `nothing changed` (and why, when known) when there were none.
    pub fn describe_changes(&self) -> String {
        match (self.changes.is_empty(), &self.unchanged) {
            (false, _) => self.changes.join("; "),
            (true, Some(why)) => format!("nothing changed: {why}"),
            (true, None) => "nothing changed".to_string(),
        }
    }

    /// The notes as kept on the event (`None` when there are none).
    pub fn kept_notes(&self) -> Option<String> {
        (!self.notes.is_empty()).then(|| self.notes.join("; "))
    }
}

/// Why an Azure DevOps revision the bridge wrote itself changes nothing.
pub const ECHO: &str = "the bridge's own change coming back";

/// How a field moved, for a change line: `Active → Resolved`, or `→ Resolved` when the old
/// value is unknown.
pub fn moved(from: Option<&str>, to: &str) -> String {
    match from {
        Some(from) if !from.is_empty() => format!("{from} → {to}"),
        _ => format!("→ {to}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_and_notes_are_kept_apart() {
        let mut applied = Applied::change("work item 42: state Active → Resolved");
        applied.extend(Applied::note(
            "assigned to team Backend; team assignments are not synced",
        ));
        assert_eq!(applied.describe_changes(), "work item 42: state Active → Resolved");
        assert_eq!(
            applied.kept_notes().as_deref(),
            Some("assigned to team Backend; team assignments are not synced")
        );
        assert_eq!(Applied::nothing().describe_changes(), "nothing changed");
        let mut echo = Applied::unchanged(ECHO);
        assert_eq!(echo.describe_changes(), format!("nothing changed: {ECHO}"));
        assert_eq!(echo.kept_notes(), None, "the reason is for the log only");
        echo.extend(Applied::change("x"));
        assert_eq!(echo.describe_changes(), "x", "a change made says what it did");
        assert_eq!(Applied::change("x").kept_notes(), None, "a change is no note");
    }

    #[test]
    fn a_move_names_the_old_value_when_known() {
        assert_eq!(moved(Some("Active"), "Resolved"), "Active → Resolved");
        assert_eq!(moved(None, "Resolved"), "→ Resolved");
        assert_eq!(moved(Some(""), "Resolved"), "→ Resolved");
    }
}
