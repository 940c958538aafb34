//! Applying an Azure DevOps change to every Sentry issue linked to the work item.

use serde_json::Value;

use super::applied::{ECHO, moved};
use super::{Applied, Context, Failure, context, store_failure, update_link_with};
use crate::App;
use crate::azure_devops::AdoError;
use crate::clock;
use crate::connections::Connection;
use crate::domain::ado_event::{AdoDelivery, parse_delivery};
use crate::domain::ado_to_sentry::{
    SentryPlan, Skip, StateFacts, assignee_now, carries_unseen_change, comment_text, ordered_rev, plan, state_now,
    state_transition,
};
use crate::domain::order::superseded;
use crate::domain::settings::SyncSettings;
use crate::domain::status::is_done;
use crate::records::{CommentLink, CommentOrigin, InboxEvent, Integration, Link};
use crate::store::StoreError;

/// What the worker can tell about a delivery's state move.
enum StateJudgement {
    /// The delivery does not move the state.
    NoMove,
    Judged(StateFacts),
    /// The state moved to has no known category (the type's states are unknown to Azure
    /// DevOps, or do not name it): why, for the event's notes. (The state moved from may be
    /// another type's, after a change of type; unknown, it counts as not done.)
    Unknown(String),
}

/// Done-ness of the old and new state, from the cached type states (or the explicit list).
async fn state_facts(
    connection: &Connection,
    settings: &SyncSettings,
    delivery: &AdoDelivery,
    link: &Link,
) -> Result<StateJudgement, Failure> {
    let Some((from, to)) = state_transition(delivery, link) else {
        return Ok(StateJudgement::NoMove);
    };
    let project = delivery.project.clone().unwrap_or_else(|| link.project.clone());
    let work_item_type = delivery
        .work_item_type
        .clone()
        .unwrap_or_else(|| link.work_item_type.clone());
    let explicit = settings.explicit_done_states(&project);
    let states = match explicit {
        Some(_) => Vec::new(),
        None => match connection
            .metadata
            .states(&connection.ado, &project, &work_item_type)
            .await
        {
            Ok(states) => states,
            Err(AdoError::NotFound { .. }) => Vec::new(),
            Err(error) => return Err(error.into()),
        },
    };
    let category = |name: &str| {
        states
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
            .map(|s| s.category.as_str())
    };
    if explicit.is_none() && category(&to).is_none() {
        return Ok(StateJudgement::Unknown(format!(
            "state `{to}` of {project} / {work_item_type} has no known category; the status was not synced"
        )));
    }
    let done = |state: Option<&str>| state.is_some_and(|name| is_done(name, category(name), explicit));
    Ok(StateJudgement::Judged(StateFacts {
        old_done: done(from.as_deref()),
        new_done: done(Some(&to)),
    }))
}

/// The Sentry user for an Azure DevOps assignee's email — the explicit mapping first, then the
/// member with that email — as (user id, the user's email in Sentry).
async fn sentry_user(
    app: &App,
    connection: &Connection,
    integration: &Integration,
    email: &str,
) -> Result<Option<(String, String)>, Failure> {
    if let Some(mapping) = app
        .store
        .get_user_mapping(&integration.id, email)
        .await
        .map_err(store_failure)?
        && let Some(user_id) = mapping.sentry_user_id
    {
        let sentry_email = mapping.sentry_email.unwrap_or_else(|| email.to_string());
        return Ok(Some((user_id, sentry_email)));
    }
    let member = connection.sentry.member_user_id(email).await.map_err(Failure::from)?;
    Ok(member.map(|user_id| (user_id, email.to_string())))
}

/// The id of a comment with exactly `text` on the linked Sentry issue, if one was posted.
async fn posted_comment(connection: &Connection, link: &Link, text: &str) -> Result<Option<String>, Failure> {
    let comments = connection
        .sentry
        .comments(&link.sentry_issue_id)
        .await
        .map_err(Failure::from)?;
    Ok(comments
        .into_iter()
        .find(|c| c.data.get("text").and_then(Value::as_str) == Some(text))
        .map(|c| c.id))
}

/// Posts the work item comment once: a comment link records it, and a retry first looks for a
/// comment it may have posted before crashing. Returns whether it was posted now (or found
/// posted by an attempt that died) rather than found mirrored already.
async fn post_comment(
    app: &App,
    connection: &Connection,
    event: &InboxEvent,
    delivery: &AdoDelivery,
    link: &Link,
) -> Result<bool, Failure> {
    let Some(comment) = &delivery.comment else {
        return Ok(false);
    };
    let integration_id = &link.integration_id;
    let recorded = match comment.id {
        Some(id) => app
            .store
            .comment_link_by_ado(integration_id, delivery.work_item_id, id)
            .await
            .map_err(store_failure)?,
        None => None,
    };
    // The pair is recorded once per Azure DevOps comment: for the first linked issue it reached.
    // Another issue linked to the same work item has no record of its own, so it looks on the
    // issue before posting (a redelivery, or a retry whose answer was lost, finds it there).
    let mirrored_elsewhere = match &recorded {
        Some(pair) if pair.sentry_issue_id == link.sentry_issue_id => return Ok(false),
        // A Sentry comment the bridge put on the work item: not carried on to other issues.
        Some(pair) if pair.origin == CommentOrigin::Sentry => return Ok(false),
        Some(_) => true,
        None => false,
    };
    let text = comment_text(
        &comment.author_name,
        &comment.text,
        link.work_item_url.as_deref(),
        comment.id,
    );
    let existing = if mirrored_elsewhere || event.may_have_run_before() {
        posted_comment(connection, link, &text).await?
    } else {
        None
    };
    if mirrored_elsewhere && existing.is_some() {
        return Ok(false);
    }
    let sentry_comment_id = match existing {
        Some(id) => id,
        None => match connection.sentry.add_comment(&link.sentry_issue_id, &text).await {
            Ok(id) => id,
            // Posted by an attempt that died before recording it (a crash leaves no attempt
            // count): find it instead of failing.
            Err(error) if error.is_duplicate_comment() => posted_comment(connection, link, &text)
                .await?
                .ok_or_else(|| Failure::Retry(format!("Sentry: {error}, but it is not listed yet")))?,
            Err(error) => return Err(Failure::from(error)),
        },
    };
    if let Some(ado_comment_id) = comment.id.filter(|_| !mirrored_elsewhere) {
        let mut pair = CommentLink {
            integration_id: integration_id.clone(),
            sentry_issue_id: link.sentry_issue_id.clone(),
            sentry_comment_id,
            work_item_id: delivery.work_item_id,
            ado_comment_id,
            origin: CommentOrigin::AzureDevOps,
            created_at: clock::now_ms(),
            deleted: false,
            version: 0,
        };
        match app.store.create_comment_link(&mut pair).await {
            Ok(()) | Err(StoreError::Conflict) => {}
            Err(error) => return Err(store_failure(error)),
        }
    }
    Ok(true)
}

/// Applies a plan to one link's Sentry issue; returns what it changed, and notes for the event
/// (unknown users, superseded changes).
async fn apply(
    app: &App,
    connection: &Connection,
    integration: &Integration,
    event: &InboxEvent,
    delivery: &AdoDelivery,
    link: &mut Link,
    plan: SentryPlan,
) -> Result<Applied, Failure> {
    let mut applied = Applied::nothing();
    let issue = link.sentry_issue_id.clone();
    let on = format!("Sentry issue {issue} (work item {})", link.work_item_id);
    // Each side's change of a field is ordered by when it was received, whichever side made it:
    // an older change arriving late (a retry) is superseded, not applied over this one.
    let at = Some(event.received_at);
    let mut plan = plan;
    if plan.status.is_some() && superseded(event.received_at, link.sync.sentry_status_at) {
        plan.status = None;
        applied.notes.push(SUPERSEDED_STATUS.to_string());
    }
    if plan.assignee.is_some() && superseded(event.received_at, link.sync.sentry_assignee_at) {
        plan.assignee = None;
        applied.notes.push(SUPERSEDED_ASSIGNEE.to_string());
    }
    if let Some(status) = plan.status {
        connection
            .sentry
            .set_status(&issue, status)
            .await
            .map_err(Failure::from)?;
        let from = link.sync.sentry_status.as_deref();
        applied.changes.push(format!("{on}: status {}", moved(from, status)));
        link.sync.sentry_status = Some(status.to_string());
        link.sync.sentry_status_at = link.sync.sentry_status_at.max(at);
    }
    if plan.assignee.is_some() {
        link.sync.sentry_assignee_at = link.sync.sentry_assignee_at.max(at);
    }
    match plan.assignee {
        Some(Some(email)) => match sentry_user(app, connection, integration, &email).await? {
            Some((user_id, sentry_email)) => {
                connection
                    .sentry
                    .assign(&issue, Some(&user_id))
                    .await
                    .map_err(Failure::from)?;
                applied.changes.push(format!("{on}: assigned to {sentry_email}"));
                // Each side's own email (they differ for a mapped person).
                link.sync.sentry_assignee = Some(sentry_email.to_lowercase());
                link.sync.ado_assignee = Some(email);
            }
            None => applied.notes.push(format!(
                "no Sentry member with email {email}; issue {issue} left as it was"
            )),
        },
        Some(None) => {
            connection.sentry.assign(&issue, None).await.map_err(Failure::from)?;
            applied.changes.push(format!("{on}: unassigned"));
            link.sync.sentry_assignee = None;
            link.sync.ado_assignee = None;
        }
        None => {}
    }
    if plan.comment {
        if post_comment(app, connection, event, delivery, link).await? {
            let id = delivery.comment.as_ref().and_then(|c| c.id).map(|id| format!(" {id}"));
            applied
                .changes
                .push(format!("{on}: Azure DevOps comment{} posted", id.unwrap_or_default()));
        } else {
            applied.extend(Applied::unchanged(MIRRORED));
        }
    }
    if let Some(note) = plan.note {
        connection
            .sentry
            .add_comment(&issue, &note)
            .await
            .map_err(Failure::from)?;
        applied.changes.push(format!(
            "{on}: noted that the work item was {}",
            recycle_bin_move(delivery)
        ));
        link.sync.work_item_deleted = delivery.event_type == "workitem.deleted";
    }
    Ok(applied)
}

/// What a delivery leaves on the link: the revision it is ordered by, and the work item's state
/// and assignee at that revision (when known).
struct Seen {
    rev: Option<u64>,
    state: Option<String>,
    assignee: Option<Option<String>>,
    /// For recycle-bin notices (which carry no new revision): when this one was received.
    recycle_bin_at: Option<i64>,
}

impl Seen {
    fn of(delivery: &AdoDelivery, event: &InboxEvent) -> Self {
        Self {
            rev: ordered_rev(delivery),
            state: state_now(delivery),
            assignee: assignee_now(delivery),
            recycle_bin_at: is_recycle_bin_notice(delivery).then_some(event.received_at),
        }
    }
}

/// `deleted` or `restored`, for a recycle-bin notice's change line.
fn recycle_bin_move(delivery: &AdoDelivery) -> &str {
    delivery
        .event_type
        .strip_prefix("workitem.")
        .unwrap_or(&delivery.event_type)
}

fn is_recycle_bin_notice(delivery: &AdoDelivery) -> bool {
    matches!(delivery.event_type.as_str(), "workitem.deleted" | "workitem.restored")
}

/// Why revision `rev` changed nothing when `applied` was applied already, for the log.
fn stale(rev: Option<u64>, applied: u64) -> String {
    match rev {
        Some(rev) if rev == applied => {
            format!("revision {rev} was applied already (the bridge's own write coming back, or a repeat)")
        }
        Some(rev) => format!("revision {rev} is older than revision {applied}, applied already"),
        None => format!("revision {applied} or a newer one was applied already"),
    }
}

/// Why a delivery whose plan is empty changed nothing, for the log.
fn nothing_to_sync(delivery: &AdoDelivery) -> &'static str {
    match delivery.event_type.as_str() {
        "workitem.commented" => "the bridge's own comment from Sentry coming back, or comment sync is switched off",
        _ => "the Sentry issue has it already, or what changed is not synced",
    }
}

/// Why a delivery changed nothing, for the log.
const MIRRORED: &str = "the comment is mirrored already (the bridge's own comment coming back, or a repeat)";
const DISABLED: &str = "syncing from Azure DevOps to Sentry is switched off";

/// Notes on an Azure DevOps change superseded by a newer change of the same Sentry field.
const SUPERSEDED_STATUS: &str = "the Sentry status changed since; this older change was not applied";
const SUPERSEDED_ASSIGNEE: &str = "the Sentry assignee changed since; this older change was not applied";

/// Records what was applied on the link: only the fields this event changed (`link` against
/// `before`, the link as read when the event started), so a save retried after a version
/// conflict keeps what the other direction saved meanwhile.
async fn record(app: &App, before: &Link, link: &Link, seen: &Seen) -> Result<(), Failure> {
    update_link_with(app, link, |next| {
        let (was, now) = (&before.sync, &link.sync);
        if now.sentry_status != was.sentry_status {
            next.sync.sentry_status = now.sentry_status.clone();
        }
        if now.sentry_assignee != was.sentry_assignee {
            next.sync.sentry_assignee = now.sentry_assignee.clone();
        }
        if now.ado_assignee != was.ado_assignee {
            next.sync.ado_assignee = now.ado_assignee.clone();
        }
        if now.work_item_deleted != was.work_item_deleted {
            next.sync.work_item_deleted = now.work_item_deleted;
        }
        next.sync.sentry_status_at = next.sync.sentry_status_at.max(now.sentry_status_at);
        next.sync.sentry_assignee_at = next.sync.sentry_assignee_at.max(now.sentry_assignee_at);
        next.sync.last_applied_rev = next.sync.last_applied_rev.max(seen.rev);
        if seen.state.is_some() {
            next.sync.ado_state = seen.state.clone();
        }
        if let Some(assignee) = &seen.assignee {
            next.sync.ado_assignee = assignee.clone();
        }
        next.sync.recycle_bin_at = next.sync.recycle_bin_at.max(seen.recycle_bin_at);
    })
    .await
}

pub async fn handle(app: &App, event: &InboxEvent) -> Result<Applied, Failure> {
    let Context {
        payload,
        integration,
        settings,
        connection,
        ..
    } = context(app, event).await?;
    let delivery = parse_delivery(&payload).map_err(Failure::Permanent)?;
    let links = app
        .store
        .links_for_work_item(&integration.id, delivery.work_item_id)
        .await
        .map_err(store_failure)?;
    let bridge = integration.azure_devops.bridge_identity_id.as_deref();
    let mut applied = Applied::nothing();
    for mut link in links {
        let before = link.clone();
        let mut seen = Seen::of(&delivery, event);
        let facts = match state_facts(&connection, &settings, &delivery, &link).await? {
            StateJudgement::NoMove => None,
            StateJudgement::Judged(facts) => Some(facts),
            StateJudgement::Unknown(note) => {
                // Not recorded as synced: a later revision is judged from the last state the
                // bridge could judge, so the move is not lost.
                applied.notes.push(note);
                seen.state = None;
                None
            }
        };
        if is_recycle_bin_notice(&delivery) && superseded(event.received_at, link.sync.recycle_bin_at) {
            applied.notes.push(format!(
                "superseded by a newer deleted/restored notice for work item {}",
                delivery.work_item_id
            ));
            continue;
        }
        // The bridge's own revision is an echo unless it also carries a change the link never
        // saw (someone's, whose delivery was lost).
        let echo_of = bridge.filter(|_| !carries_unseen_change(&link, &delivery));
        match plan(&link, &delivery, echo_of, facts, &settings.inbound()) {
            Ok(plan) if plan.is_empty() => {
                record(app, &before, &link, &seen).await?;
                applied.extend(Applied::unchanged(nothing_to_sync(&delivery)));
            }
            Ok(plan) => {
                applied.extend(apply(app, &connection, &integration, event, &delivery, &mut link, plan).await?);
                record(app, &before, &link, &seen).await?;
            }
            Err(Skip::Echo) => {
                record(app, &before, &link, &seen).await?;
                applied.extend(Applied::unchanged(ECHO));
            }
            Err(Skip::Stale { applied: newest }) => applied.extend(Applied::unchanged(stale(seen.rev, newest))),
            Err(Skip::Disabled) => applied.extend(Applied::unchanged(DISABLED)),
        }
    }
    Ok(applied)
}
