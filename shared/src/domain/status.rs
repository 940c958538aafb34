//! Whether a work item state is "done", and what a state move means for the Sentry issue.

/// State categories that count as done by default.
pub const DONE_CATEGORIES: [&str; 2] = ["Resolved", "Completed"];

/// `state` is done if it is in the explicit list (when the project has one), else if its
/// category is Resolved or Completed. Unknown states are not done.
pub fn is_done(state: &str, category: Option<&str>, explicit: Option<&[String]>) -> bool {
    match explicit {
        Some(states) => states.iter().any(|s| s.eq_ignore_ascii_case(state)),
        None => category.is_some_and(|c| DONE_CATEGORIES.contains(&c)),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusMove {
    Resolve,
    Unresolve,
    Nothing,
}

/// not-done → done resolves; done → not-done unresolves; anything else does nothing.
pub fn status_move(old_done: bool, new_done: bool) -> StatusMove {
    match (old_done, new_done) {
        (false, true) => StatusMove::Resolve,
        (true, false) => StatusMove::Unresolve,
        _ => StatusMove::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_truth_table() {
        assert_eq!(status_move(false, true), StatusMove::Resolve);
        assert_eq!(status_move(true, false), StatusMove::Unresolve);
        assert_eq!(status_move(true, true), StatusMove::Nothing);
        assert_eq!(status_move(false, false), StatusMove::Nothing);
    }

    #[test]
    fn done_by_category_or_explicit_list() {
        assert!(is_done("Resolved", Some("Resolved"), None));
        assert!(is_done("Closed", Some("Completed"), None));
        assert!(!is_done("Active", Some("InProgress"), None));
        assert!(!is_done("Removed", Some("Removed"), None));
        assert!(!is_done("Mystery", None, None));
        let explicit = vec!["Ready for QA".to_string()];
        assert!(is_done("ready for qa", Some("InProgress"), Some(&explicit)));
        assert!(
            !is_done("Closed", Some("Completed"), Some(&explicit)),
            "the explicit list wins"
        );
    }
}
