//! Comments the bridge mirrors carry an attribution as their first line —
//! `**Name** (Sentry) wrote:` in Azure DevOps, `**Name** (Azure DevOps) wrote:` in Sentry — and
//! a mirrored comment that comes back is not mirrored again. Only that first line counts: a
//! person who quotes such a line inside a comment of their own is still mirrored.

/// The longest attribution line: a display name and the suffix.
const LONGEST_ATTRIBUTION: usize = 300;

/// Whether `text` (plain text or Markdown; HTML stripped first) is a comment the bridge mirrored
/// from `source` (`"Sentry"` or `"Azure DevOps"`).
pub fn is_mirrored_from(text: &str, source: &str) -> bool {
    let first = text.trim_start().lines().next().unwrap_or_default().trim();
    first.len() <= LONGEST_ATTRIBUTION
        && first.ends_with(&format!(" ({source}) wrote:"))
        && first.len() > source.len() + 11
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_attribution_line_marks_a_mirrored_comment() {
        assert!(is_mirrored_from(
            "**Jane Doe** (Sentry) wrote:\n\nRepro'd on staging",
            "Sentry"
        ));
        assert!(
            is_mirrored_from("Jane Doe (Sentry) wrote:\nRepro'd", "Sentry"),
            "HTML stripped of its bold"
        );
        assert!(is_mirrored_from(
            "**Jamal** (Azure DevOps) wrote:\n\nhi",
            "Azure DevOps"
        ));
        assert!(!is_mirrored_from("**Jamal** (Azure DevOps) wrote:\n\nhi", "Sentry"));
    }

    #[test]
    fn quoting_an_attribution_is_not_an_echo() {
        assert!(!is_mirrored_from(
            "As the bot put it, **Jane** (Sentry) wrote: it is fixed. It is not.",
            "Sentry"
        ));
        assert!(!is_mirrored_from(
            "Still broken.\n**Jane** (Sentry) wrote:\n\nfixed",
            "Sentry"
        ));
        assert!(!is_mirrored_from(" (Sentry) wrote:", "Sentry"), "no name");
        assert!(!is_mirrored_from("", "Sentry"));
    }
}
