//! What an Azure DevOps change means for one linked Sentry issue.

use super::ado_event::AdoDelivery;
use super::settings::DirectionSettings;
use super::status::{StatusMove, status_move};
use crate::records::Link;

/// Sentry issue statuses the bridge sets.
pub const RESOLVED: &str = "resolved";
pub const UNRESOLVED: &str = "unresolved";

/// Why a delivery changes nothing for a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// The link already applied this revision or a newer one.
    Stale { applied: u64 },
    /// The bridge made this change itself.
    Echo,
    /// The direction is switched off.
    Disabled,
}

/// Changes to make on the Sentry issue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SentryPlan {
    /// `resolved` or `unresolved`.
    pub status: Option<&'static str>,
    /// `Some(None)` unassigns; `Some(Some(email))` assigns to that person.
    pub assignee: Option<Option<String>>,
    /// Post the work item comment.
    pub comment: bool,
    /// A note to post (work item deleted / restored).
    pub note: Option<String>,
}

impl SentryPlan {
    pub fn is_empty(&self) -> bool {
        self.status.is_none() && self.assignee.is_none() && !self.comment && self.note.is_none()
    }
}

/// What the caller knows about the states of the change.
pub struct StateFacts {
    pub old_done: bool,
    pub new_done: bool,
}

/// Decides the plan for `link`. `bridge_identity` is the bridge's own ADO identity id;
/// `states` is `Some` when the delivery moved the state.
pub fn plan(
    link: &Link,
    delivery: &AdoDelivery,
    bridge_identity: Option<&str>,
    states: Option<StateFacts>,
    settings: &DirectionSettings,
) -> Result<SentryPlan, Skip> {
    if !settings.any() {
        return Err(Skip::Disabled);
    }
    if let Some(rev) = ordered_rev(delivery)
        && let Some(applied) = link.sync.last_applied_rev
        && rev <= applied
    {
        return Err(Skip::Stale { applied });
    }
    if bridge_identity.is_some() && delivery.revised_by_id.as_deref() == bridge_identity {
        return Err(Skip::Echo);
    }
    let mut plan = SentryPlan::default();
    match delivery.event_type.as_str() {
        "workitem.updated" => {
            if settings.status
                && let Some(facts) = states
            {
                let target = match status_move(facts.old_done, facts.new_done) {
                    StatusMove::Resolve => Some(RESOLVED),
                    StatusMove::Unresolve => Some(UNRESOLVED),
                    StatusMove::Nothing => None,
                };
                // A change equal to what was last synced is already there (or our own echo).
                plan.status = target.filter(|t| link.sync.sentry_status.as_deref() != Some(*t));
            }
            if settings.assignee
                && let Some(new) = assignee_move(delivery, link)
                && new.as_deref() != link.sync.sentry_assignee.as_deref()
            {
                plan.assignee = Some(new);
            }
        }
        "workitem.commented" => {
            // A comment the bridge mirrored from Sentry comes back as a workitem.commented: not again.
            let mirrored = delivery
                .comment
                .as_ref()
                .is_some_and(|c| super::attribution::is_mirrored_from(&strip_html(&c.text), "Sentry"));
            plan.comment = settings.comments && delivery.comment.is_some() && !mirrored;
        }
        "workitem.deleted" => {
            plan.note = Some(format!(
                "Azure DevOps work item #{} was deleted; this issue no longer syncs with it.",
                delivery.work_item_id
            ))
        }
        "workitem.restored" => {
            plan.note = Some(format!(
                "Azure DevOps work item #{} was restored; syncing again.",
                delivery.work_item_id
            ))
        }
        _ => {}
    }
    Ok(plan)
}

/// Whether a revision's fields carry a state or assignee that an *earlier* revision set and the
/// link never saw. The bridge's own revision is an echo of what it changed itself (its own delta);
/// one whose fields also hold an earlier, unseen change carries someone's change whose delivery
/// was lost, and is judged as theirs.
pub fn carries_unseen_change(link: &Link, delivery: &AdoDelivery) -> bool {
    let differs = |now: Option<&str>, seen: Option<&str>| match (now, seen) {
        (Some(now), Some(seen)) => !now.eq_ignore_ascii_case(seen),
        (None, None) => false,
        _ => true,
    };
    let state = delivery.state.is_none()
        && state_now(delivery).is_some_and(|now| differs(Some(&now), link.sync.ado_state.as_deref()));
    let assignee = !delivery.assignee_changed
        && assignee_now(delivery).is_some_and(|now| differs(now.as_deref(), link.sync.ado_assignee.as_deref()));
    state || assignee
}

/// The revision this delivery is ordered by, if revision order matters for it. Only field
/// changes (`workitem.updated`) are: an older one than the link applied is superseded. Comments
/// are not — each is applied once whenever it arrives (deduped by comment id) and does not move
/// the link's revision, so a comment delivered or retried late is never dropped, and never
/// makes a pending field change look stale. Deleted/restored notices carry no new revision;
/// they are ordered by arrival instead (`domain::order`).
pub fn ordered_rev(delivery: &AdoDelivery) -> Option<u64> {
    (delivery.event_type == "workitem.updated")
        .then_some(delivery.rev)
        .flatten()
}

/// The state move to judge for a field change, as (from, to) state names: from the state last
/// synced on the link (the delivery's old value when the link knows none) to the state at this
/// revision (its new value when the payload lacks the snapshot). Judging against the snapshot,
/// not only the revision's own delta, means a state change whose event is still failing is
/// applied by any newer revision — after which the retried one is stale — so it is not lost.
/// `None` when the delivery says nothing about the state or it is where it was.
pub fn state_transition(delivery: &AdoDelivery, link: &Link) -> Option<(Option<String>, String)> {
    let to = state_now(delivery)?;
    let delta = delivery.state.as_ref();
    let from = match (&link.sync.ado_state, delta) {
        (Some(synced), _) => Some(synced.clone()),
        (None, Some(delta)) => delta.old.clone(),
        (None, None) => return None,
    };
    let moved = from.as_deref().is_none_or(|from| !from.eq_ignore_ascii_case(&to));
    moved.then_some((from, to))
}

/// The assignee to set in Sentry for a field change, judged like the state: from the last
/// Azure DevOps assignee the link saw (recorded when the link was made; `None` = nobody) to
/// the assignee *at* the revision (its own change when the payload lacks the snapshot).
/// `Some(None)` unassigns. `None` when nothing moved or nothing is known.
pub fn assignee_move(delivery: &AdoDelivery, link: &Link) -> Option<Option<String>> {
    let to = assignee_now(delivery)?;
    let seen = link.sync.ado_assignee.as_deref();
    let same = match (to.as_deref(), seen) {
        (Some(to), Some(seen)) => to.eq_ignore_ascii_case(seen),
        (None, None) => true,
        _ => false,
    };
    (!same).then_some(to)
}

/// The assignee to record on the link after a field change: the revision's, when known.
pub fn assignee_now(delivery: &AdoDelivery) -> Option<Option<String>> {
    if delivery.event_type != "workitem.updated" {
        return None;
    }
    delivery.current_assignee.clone().or_else(|| {
        delivery
            .assignee_changed
            .then(|| delivery.assignee.as_ref().and_then(|a| a.new.clone()))
    })
}

/// The state to record on the link after applying (or skipping as an echo) a delivery.
pub fn state_now(delivery: &AdoDelivery) -> Option<String> {
    if delivery.event_type != "workitem.updated" {
        return None;
    }
    delivery
        .current_state
        .clone()
        .or_else(|| delivery.state.as_ref().and_then(|d| d.new.clone()))
}

/// The Sentry comment for an Azure DevOps comment: attributed, and pointing at its source,
/// which also keeps texts unique (Sentry refuses the same text from one user within an hour).
pub fn comment_text(author: &str, text: &str, work_item_url: Option<&str>, comment_id: Option<u64>) -> String {
    let body = strip_html(text);
    let source = match (work_item_url, comment_id) {
        (Some(url), Some(id)) => format!("\n\n[View in Azure DevOps]({url}#comment-{id})"),
        (Some(url), None) => format!("\n\n[View in Azure DevOps]({url})"),
        (None, Some(id)) => format!("\n\n(Azure DevOps comment {id})"),
        (None, None) => String::new(),
    };
    format!("**{author}** (Azure DevOps) wrote:\n\n{body}{source}")
}

/// Azure DevOps comments are HTML; Sentry shows Markdown. Tags are dropped, breaks kept.
pub fn strip_html(html: &str) -> String {
    let with_breaks = html
        .replace("<br>", "\n")
        .replace("<br/>", "\n")
        .replace("<br />", "\n")
        .replace("</p>", "\n")
        .replace("</div>", "\n");
    let mut out = String::with_capacity(with_breaks.len());
    let mut in_tag = false;
    for c in with_breaks.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ado_event::{AdoComment, FieldChange};
    use crate::records::{LinkOrigin, LinkSyncState};

    fn link(applied: Option<u64>, sentry_status: Option<&str>) -> Link {
        Link {
            integration_id: "i".into(),
            sentry_issue_id: "77".into(),
            sentry_short_id: None,
            sentry_url: None,
            work_item_id: 42,
            work_item_url: None,
            project: "Fabrikam".into(),
            work_item_type: "Bug".into(),
            sync: LinkSyncState {
                last_applied_rev: applied,
                sentry_status: sentry_status.map(str::to_string),
                ..Default::default()
            },
            created_by: LinkOrigin::Create,
            created_at: 1,
            updated_at: 1,
            replaced_at: None,
            version: 1,
        }
    }

    fn update(rev: u64, by: &str) -> AdoDelivery {
        AdoDelivery {
            event_id: "e".into(),
            event_type: "workitem.updated".into(),
            created_date: None,
            work_item_id: 42,
            rev: Some(rev),
            revised_by_id: Some(by.into()),
            project: Some("Fabrikam".into()),
            work_item_type: Some("Bug".into()),
            state: Some(FieldChange {
                old: Some("Active".into()),
                new: Some("Resolved".into()),
            }),
            current_state: Some("Resolved".into()),
            current_assignee: None,
            assignee: None,
            assignee_changed: false,
            comment: None,
            title: None,
        }
    }

    const ON: DirectionSettings = DirectionSettings {
        status: true,
        assignee: true,
        comments: true,
    };

    fn resolved() -> Option<StateFacts> {
        Some(StateFacts {
            old_done: false,
            new_done: true,
        })
    }

    #[test]
    fn resolves_once_and_ignores_stale_and_echoed_revisions() {
        let plan = plan(
            &link(Some(1), None),
            &update(2, "someone"),
            Some("bridge"),
            resolved(),
            &ON,
        )
        .unwrap();
        assert_eq!(plan.status, Some(RESOLVED));
        assert_eq!(
            super::plan(
                &link(Some(2), None),
                &update(2, "someone"),
                Some("bridge"),
                resolved(),
                &ON
            ),
            Err(Skip::Stale { applied: 2 })
        );
        assert_eq!(
            super::plan(
                &link(Some(1), None),
                &update(2, "bridge"),
                Some("bridge"),
                resolved(),
                &ON
            ),
            Err(Skip::Echo)
        );
        let already = super::plan(
            &link(Some(1), Some(RESOLVED)),
            &update(2, "x"),
            Some("bridge"),
            resolved(),
            &ON,
        )
        .unwrap();
        assert!(already.is_empty(), "equal to the last synced state");
        let off = DirectionSettings {
            status: false,
            assignee: false,
            comments: false,
        };
        assert_eq!(
            super::plan(&link(None, None), &update(2, "x"), None, resolved(), &off),
            Err(Skip::Disabled)
        );
        let no_status = DirectionSettings { status: false, ..ON };
        assert!(
            super::plan(&link(None, None), &update(2, "x"), None, resolved(), &no_status)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_late_comment_is_not_stale_and_does_not_order() {
        let mut comment = update(2, "someone");
        comment.event_type = "workitem.commented".into();
        comment.state = None;
        comment.comment = Some(AdoComment {
            id: Some(9),
            text: "late".into(),
            author_name: "Jamal".into(),
            author_email: None,
        });
        let plan = super::plan(&link(Some(5), None), &comment, Some("bridge"), None, &ON).unwrap();
        assert!(plan.comment, "a comment older than the applied revision still posts");
        assert_eq!(ordered_rev(&comment), None);
        assert_eq!(ordered_rev(&update(2, "x")), Some(2));
        assert_eq!(state_now(&comment), None);
    }

    #[test]
    fn the_state_move_is_judged_from_the_last_synced_state_to_the_snapshot() {
        let mut synced_active = link(Some(1), None);
        synced_active.sync.ado_state = Some("Active".into());
        // A newer revision that changed only the assignee still carries the Resolved snapshot:
        // the resolve whose own event is failing is applied through it.
        let mut assignee_only = update(3, "x");
        assignee_only.state = None;
        assert_eq!(
            state_transition(&assignee_only, &synced_active),
            Some((Some("Active".into()), "Resolved".into()))
        );
        // Already synced at the snapshot state: no move, whatever the delta says.
        let mut synced_resolved = synced_active.clone();
        synced_resolved.sync.ado_state = Some("resolved".into());
        assert_eq!(state_transition(&update(3, "x"), &synced_resolved), None);
        // Nothing known on the link: the delta decides; no delta and nothing known: no move.
        assert_eq!(
            state_transition(&update(3, "x"), &link(Some(1), None)),
            Some((Some("Active".into()), "Resolved".into()))
        );
        assert_eq!(state_transition(&assignee_only, &link(Some(1), None)), None);
        // A payload without the snapshot falls back to the delta's new value.
        let mut no_snapshot = update(3, "x");
        no_snapshot.current_state = None;
        assert_eq!(state_now(&no_snapshot).as_deref(), Some("Resolved"));
        assert_eq!(
            state_transition(&no_snapshot, &synced_active),
            Some((Some("Active".into()), "Resolved".into()))
        );
    }

    #[test]
    fn the_assignee_move_is_judged_from_the_last_seen_assignee_to_the_snapshot() {
        let mut title_only = update(4, "x");
        title_only.state = None;
        title_only.current_assignee = Some(Some("alice@x.example".into()));
        let mut seen_nobody = link(Some(3), None);
        seen_nobody.sync.ado_assignee = Some("bob@x.example".into());
        assert_eq!(
            assignee_move(&title_only, &seen_nobody),
            Some(Some("alice@x.example".into()))
        );
        let mut seen_alice = seen_nobody.clone();
        seen_alice.sync.ado_assignee = Some("Alice@X.example".into());
        assert_eq!(assignee_move(&title_only, &seen_alice), None);
        // Unassigned in the snapshot after someone was seen: unassign.
        title_only.current_assignee = Some(None);
        assert_eq!(assignee_move(&title_only, &seen_alice), Some(None));
        // Unassigned before and now: no move; assigned on a link that saw nobody: a move.
        assert_eq!(assignee_move(&title_only, &link(Some(3), None)), None);
        assert_eq!(assignee_now(&title_only), Some(None));
        title_only.current_assignee = Some(Some("alice@x.example".into()));
        assert_eq!(
            assignee_move(&title_only, &link(Some(3), None)),
            Some(Some("alice@x.example".into()))
        );
        // No snapshot and no change in the revision: nothing known, no move.
        title_only.current_assignee = None;
        assert_eq!(assignee_move(&title_only, &seen_alice), None);
    }

    #[test]
    fn assignment_and_unassignment() {
        let mut delivery = update(3, "x");
        delivery.state = None;
        delivery.assignee_changed = true;
        delivery.assignee = Some(FieldChange {
            old: None,
            new: Some("alice@x.example".into()),
        });
        assert_eq!(
            plan(&link(None, None), &delivery, None, None, &ON).unwrap().assignee,
            Some(Some("alice@x.example".into()))
        );
        delivery.assignee = Some(FieldChange {
            old: Some("alice@x.example".into()),
            new: None,
        });
        let mut assigned = link(None, None);
        assigned.sync.sentry_assignee = Some("alice@x.example".into());
        assigned.sync.ado_assignee = Some("alice@x.example".into());
        assert_eq!(
            plan(&assigned, &delivery, None, None, &ON).unwrap().assignee,
            Some(None)
        );
    }

    #[test]
    fn comments_and_notes() {
        let mut delivery = update(4, "x");
        delivery.event_type = "workitem.commented".into();
        delivery.comment = Some(AdoComment {
            id: Some(9),
            text: "<p>Hi &amp; bye</p>".into(),
            author_name: "Jamal".into(),
            author_email: None,
        });
        assert!(plan(&link(None, None), &delivery, None, None, &ON).unwrap().comment);
        delivery.event_type = "workitem.deleted".into();
        assert!(
            plan(&link(Some(9), None), &delivery, None, None, &ON)
                .unwrap()
                .note
                .unwrap()
                .contains("deleted")
        );
        assert_eq!(
            comment_text(
                "Jamal",
                "<p>Hi &amp; bye</p>",
                Some("https://x/_workitems/edit/42"),
                Some(9)
            ),
            "**Jamal** (Azure DevOps) wrote:\n\nHi & bye\n\n[View in Azure DevOps](https://x/_workitems/edit/42#comment-9)"
        );
    }
}
