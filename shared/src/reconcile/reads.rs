//! Which work items a pass reads from Azure DevOps. Reading every linked work item on every pass
//! costs a call per 200 links; instead a pass reads the work items changed since the last complete
//! pass began (one org-wide WIQL query, to the second, less a margin for clock skew) and a
//! rotating slice of all links — the sweep — which finds work items deleted without a notice (a
//! query does not return those) and anything a query missed. Every link is swept at least every
//! ⌈links / [`SWEEP_LINKS`]⌉ passes. Pure.

use std::collections::HashSet;

use crate::records::Link;

/// Links swept a pass (20 batch reads).
pub const SWEEP_LINKS: usize = 4_000;
/// Taken off the last pass's start before asking what changed since (the clocks of the bridge
/// and Azure DevOps may differ).
pub const CLOCK_SKEW_MS: i64 = 10 * 60 * 1000;
/// A last complete pass older than this is no base to ask from: everything is read.
pub const INCREMENTAL_FOR_MS: i64 = 24 * 3600 * 1000;

/// The sweep over `links` (sorted by Sentry issue id): the work items of up to `size` links after
/// the issue `after`, and where the next sweep starts (`None`: at the beginning again).
pub fn sweep(links: &[Link], after: Option<&str>, size: usize) -> (HashSet<u64>, Option<String>) {
    let start = after.map_or(0, |after| {
        links.partition_point(|l| l.sentry_issue_id.as_str() <= after)
    });
    let start = if start >= links.len() { 0 } else { start };
    let slice = &links[start..(start + size).min(links.len())];
    let next = if start + size >= links.len() {
        None
    } else {
        slice.last().map(|l| l.sentry_issue_id.clone())
    };
    (slice.iter().map(|l| l.work_item_id).collect(), next)
}

/// The work items to read for `links`, each once, in link order: those `changed` (all of them
/// when nothing says what changed) and those swept.
pub fn to_read(links: &[Link], changed: Option<&HashSet<u64>>, swept: &HashSet<u64>) -> Vec<u64> {
    let mut seen = HashSet::new();
    links
        .iter()
        .map(|l| l.work_item_id)
        .filter(|id| changed.is_none_or(|c| c.contains(id)) || swept.contains(id))
        .filter(|id| seen.insert(*id))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{LinkOrigin, LinkSyncState};

    fn links(n: u64) -> Vec<Link> {
        (0..n)
            .map(|i| Link {
                integration_id: "i".into(),
                sentry_issue_id: format!("{:04}", i),
                sentry_short_id: None,
                sentry_url: None,
                work_item_id: 100 + i,
                work_item_url: None,
                project: "P".into(),
                work_item_type: "Bug".into(),
                sync: LinkSyncState::default(),
                created_by: LinkOrigin::Link,
                created_at: 0,
                updated_at: 0,
                replaced_at: None,
                version: 1,
            })
            .collect()
    }

    #[test]
    fn the_sweep_goes_round_every_link_in_slices() {
        let all = links(10);
        let (first, next) = sweep(&all, None, 4);
        assert_eq!(first, HashSet::from([100, 101, 102, 103]));
        assert_eq!(next.as_deref(), Some("0003"));
        let (second, next) = sweep(&all, next.as_deref(), 4);
        assert_eq!(second, HashSet::from([104, 105, 106, 107]));
        let (third, next) = sweep(&all, next.as_deref(), 4);
        assert_eq!(third, HashSet::from([108, 109]));
        assert_eq!(next, None, "round again");
        let (gone_past, _) = sweep(&all, Some("9999"), 4);
        assert_eq!(gone_past.len(), 4, "a cursor past the end starts again");
        assert!(sweep(&[], None, 4).0.is_empty());
    }

    #[test]
    fn read_what_changed_and_what_is_swept_each_once() {
        let mut all = links(6);
        all[5].work_item_id = 100; // two issues, one work item
        let changed = HashSet::from([104, 999]);
        let swept = HashSet::from([100, 101]);
        assert_eq!(to_read(&all, Some(&changed), &swept), vec![100, 101, 104]);
        assert_eq!(to_read(&all, None, &HashSet::new()), vec![100, 101, 102, 103, 104]);
    }
}
