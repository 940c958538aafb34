//! Order of changes that carry no revision: by the time the bridge received them.

/// Whether a change received at `received_at` is older than the newest change of the same kind
/// already applied (`applied_at`): then it is superseded and must not overwrite it. Sentry
/// sends webhooks as things happen and does not retry them, and Azure DevOps delivers its
/// recycle-bin notices promptly, so receipt order is action order; only a failed event retried
/// later arrives "late".
pub fn superseded(received_at: i64, applied_at: Option<i64>) -> bool {
    applied_at.is_some_and(|applied| received_at < applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_strictly_older_changes_are_superseded() {
        assert!(!superseded(100, None));
        assert!(superseded(99, Some(100)));
        assert!(!superseded(100, Some(100)));
        assert!(!superseded(101, Some(100)));
    }
}
