//! Applying a Sentry change to the Azure DevOps work item linked to the issue: status,
//! assignee, comments — and creating a work item when an alert rule fires.

use serde_json::Value;

use super::applied::{ECHO, moved};
use super::{Applied, Context, Failure, context, store_failure, update_link_with};
use crate::App;
use crate::azure_devops::{AdoClient, AdoError, TextFormat, WorkItem, patch};
use crate::clock;
use crate::connections::Connection;
use crate::domain::identity::email_of;
use crate::domain::order::superseded;
use crate::domain::sentry_current::{CurrentIssue, outdated};
use crate::domain::sentry_event::{Assignee, CommentAction, SentryChange, is_bridge_comment, parse_webhook};
use crate::domain::sentry_to_ado::{TargetState, already_there, comment_text, target_state};
use crate::domain::settings::SyncSettings;
use crate::records::{CommentLink, CommentOrigin, InboxEvent, Integration, Link, LinkOrigin};
use crate::retry::ConflictRetries;
use crate::secrets::IntegrationSecrets;
use crate::sentry::SentryError;
use crate::store::StoreError;
use crate::work_items::{CreateInput, create_and_link, setting};

/// How a change line names the link: `work item 42 (Sentry issue 7)`.
fn on(link: &Link) -> String {
    format!(
        "work item {} (Sentry issue {})",
        link.work_item_id, link.sentry_issue_id
    )
}

/// Why a Sentry change changed nothing, for the log.
const SWITCHED_OFF: &str = "syncing this from Sentry to Azure DevOps is switched off";
const IN_SYNC: &str = "already in sync (the bridge's own change coming back, or a repeat)";

/// The note on an event superseded by a newer change of the same field.
const SUPERSEDED: &str = "superseded by a newer Sentry change of the same field; not applied";

/// Read, decide, write with `test /rev`; a 412 (someone changed it meanwhile) reads again.
/// `decide` returns `None` when the work item is already as wanted.
async fn patch_work_item(
    ado: &AdoClient,
    id: u64,
    decide: impl Fn(&WorkItem) -> Option<Vec<Value>>,
) -> Result<Option<WorkItem>, Failure> {
    let mut retries = ConflictRetries::new();
    loop {
        let item = ado.work_item(id).await.map_err(Failure::from)?;
        let Some(ops) = decide(&item) else { return Ok(None) };
        match ado.update_work_item(id, Some(item.rev), ops).await {
            Ok(updated) => return Ok(Some(updated)),
            Err(AdoError::Conflict) if retries.another() => continue,
            Err(AdoError::Conflict) => {
                return Err(Failure::Retry(
                    "the work item kept changing (412) while it was being updated".into(),
                ));
            }
            Err(error) => return Err(Failure::from(error)),
        }
    }
}

fn record_write(link: &mut Link, item: &WorkItem) {
    link.sync.ado_state = item.field_str("System.State").map(str::to_string);
    link.sync.last_applied_rev = link.sync.last_applied_rev.max(Some(item.rev));
}

/// Reads the issue back from Sentry: why `change` is no longer what Sentry shows (a replayed or
/// out-of-date delivery), if it is not.
async fn outdated_in_sentry(connection: &Connection, change: &SentryChange) -> Result<Option<String>, Failure> {
    match connection.sentry.issue(change.issue_id()).await {
        Ok(issue) => Ok(outdated(change, &CurrentIssue::read(&issue))),
        Err(SentryError::NotFound(_)) => Ok(Some("the issue no longer exists in Sentry; not applied".into())),
        Err(error) => Err(error.into()),
    }
}

/// How a Sentry change arrived: when, and whether as a repair reconciliation queued.
#[derive(Debug, Clone, Copy)]
struct Arrival {
    received_at: i64,
    repair: bool,
}

/// A repair reconciliation queued (not a webhook): Azure DevOps wins over it, so it writes only
/// where the work item still holds what the link last synced.
fn is_repair(payload: &Value) -> bool {
    payload["actor"]["id"] == "reconciliation"
}

/// For a repair: the work item moved since the last sync (`current` is not `synced`), and
/// Azure DevOps wins.
fn ado_moved(repair: bool, current: Option<&str>, synced: Option<&str>) -> bool {
    let same = match (current, synced) {
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        (None, None) => true,
        _ => false,
    };
    repair && synced.is_some() && !same
}

const ADO_MOVED: &str = "the work item changed in Azure DevOps too; Azure DevOps wins, not written";

/// The work item's assignee email.
fn assigned_email(item: &WorkItem) -> Option<String> {
    item.fields.get("System.AssignedTo").and_then(email_of)
}

/// What [`patch_for_sentry`] did.
enum Patched {
    /// Written (`Some`: the work item after the write), or already as wanted (`None`).
    Done(Option<WorkItem>),
    /// A repair found the work item moved since the last sync: not written.
    AdoMoved,
}

/// [`patch_work_item`] for a Sentry change: a repair writes only where the field (`current`) still
/// holds what the link last synced (`synced`) — Azure DevOps wins.
async fn patch_for_sentry(
    ado: &AdoClient,
    link: &Link,
    arrival: Arrival,
    synced: Option<&str>,
    current: impl Fn(&WorkItem) -> Option<String>,
    decide: impl Fn(&WorkItem) -> Option<Vec<Value>>,
) -> Result<Patched, Failure> {
    let moved = std::sync::atomic::AtomicBool::new(false);
    let written = patch_work_item(ado, link.work_item_id, |item| {
        if ado_moved(arrival.repair, current(item).as_deref(), synced) {
            moved.store(true, std::sync::atomic::Ordering::Relaxed);
            return None;
        }
        decide(item)
    })
    .await?;
    Ok(if moved.load(std::sync::atomic::Ordering::Relaxed) {
        Patched::AdoMoved
    } else {
        Patched::Done(written)
    })
}

async fn status(
    app: &App,
    connection: &Connection,
    settings: &SyncSettings,
    link: &Link,
    change: &SentryChange,
    arrival: Arrival,
) -> Result<Applied, Failure> {
    let received_at = arrival.received_at;
    let SentryChange::Status { status, .. } = change else {
        return Ok(Applied::nothing());
    };
    let status = status.as_str();
    if superseded(received_at, link.sync.sentry_status_at) {
        return Ok(Applied::note(SUPERSEDED));
    }
    if !settings.status_outbound {
        return Ok(Applied::unchanged(SWITCHED_OFF));
    }
    if link.sync.sentry_status.as_deref() == Some(status) {
        // Nothing to write, but the change was observed: an older one retried late is superseded.
        if link.sync.sentry_status_at < Some(received_at) {
            update_link_with(app, link, |next| {
                next.sync.sentry_status_at = next.sync.sentry_status_at.max(Some(received_at));
            })
            .await?;
        }
        return Ok(Applied::unchanged(IN_SYNC));
    }
    if let Some(note) = outdated_in_sentry(connection, change).await? {
        return Ok(Applied::note(note));
    }
    let mut applied = Applied::nothing();
    let states = connection
        .metadata
        .states(&connection.ado, &link.project, &link.work_item_type)
        .await
        .map_err(Failure::from)?;
    let project = settings.project(&link.project);
    let configured = match status {
        "resolved" => project.and_then(|p| p.on_resolve.as_deref()),
        "unresolved" => project.and_then(|p| p.on_unresolve.as_deref()),
        _ => None,
    };
    let mut written = None;
    // The state the write replaced (read just before it), for the log.
    let replaced = std::sync::Mutex::new(None::<String>);
    let target = target_state(status, configured, &states);
    let has_target = target.is_some();
    if let Some(target) = target {
        if let TargetState::Fallback {
            state,
            configured: Some(wanted),
        } = &target
        {
            applied.notes.push(format!(
                "state \"{wanted}\" does not exist for {}; used \"{state}\"",
                link.work_item_type
            ));
        }
        let name = target.name().to_string();
        let patched = patch_for_sentry(
            &connection.ado,
            link,
            arrival,
            link.sync.ado_state.as_deref(),
            |item| item.field_str("System.State").map(str::to_string),
            |item| {
                let current = item.field_str("System.State").unwrap_or_default();
                *replaced.lock().unwrap_or_else(|p| p.into_inner()) = Some(current.to_string());
                (!already_there(status, current, &states))
                    .then(|| vec![patch::replace("/fields/System.State", name.clone())])
            },
        )
        .await?;
        written = match patched {
            Patched::Done(written) => written,
            Patched::AdoMoved => return Ok(Applied::note(ADO_MOVED)),
        };
    }
    let status = status.to_string();
    update_link_with(app, link, |next| {
        next.sync.sentry_status = Some(status.clone());
        next.sync.sentry_status_at = next.sync.sentry_status_at.max(Some(received_at));
        if let Some(item) = &written {
            record_write(next, item);
        }
    })
    .await?;
    match &written {
        Some(item) => {
            let to = item.field_str("System.State").unwrap_or_default();
            let from = replaced.into_inner().unwrap_or_else(|p| p.into_inner());
            applied.changes.push(format!(
                "{}: state {} (Sentry status {status})",
                on(link),
                moved(from.as_deref(), to)
            ));
        }
        None if has_target => applied.extend(Applied::unchanged(format!(
            "the work item's state already counts as {status}"
        ))),
        None => applied.extend(Applied::unchanged(format!(
            "no state of {} stands for {status}",
            link.work_item_type
        ))),
    }
    Ok(applied)
}

async fn assigned(
    app: &App,
    connection: &Connection,
    settings: &SyncSettings,
    integration: &Integration,
    link: &Link,
    change: &SentryChange,
    arrival: Arrival,
) -> Result<Applied, Failure> {
    let received_at = arrival.received_at;
    let SentryChange::Assigned { assignee, .. } = change else {
        return Ok(Applied::nothing());
    };
    if superseded(received_at, link.sync.sentry_assignee_at) {
        return Ok(Applied::note(SUPERSEDED));
    }
    if !settings.assignee_outbound {
        return Ok(Applied::unchanged(SWITCHED_OFF));
    }
    let email = match assignee {
        Some(Assignee::User { email: Some(email), .. }) => email.clone(),
        // Privacy settings hide the email in the webhook: ask the members API.
        Some(Assignee::User { id: Some(id), name, .. }) => match connection.sentry.member_email(id).await {
            Ok(Some(email)) => email,
            Ok(None) => {
                return Ok(Applied::note(format!(
                    "{name} has no visible email in Sentry; not assigned"
                )));
            }
            Err(error) if error.is_transient() || matches!(error, SentryError::Auth { .. }) => {
                return Err(error.into());
            }
            Err(error) => {
                return Ok(Applied::note(format!(
                    "could not look up {name}'s email in Sentry ({error}); not assigned"
                )));
            }
        },
        Some(Assignee::User { name, .. }) => {
            return Ok(Applied::note(format!(
                "{name} has no visible email in Sentry; not assigned"
            )));
        }
        Some(Assignee::Team { name }) => {
            return Ok(Applied::note(format!(
                "assigned to team {name}; team assignments are not synced"
            )));
        }
        // Unassigned in Sentry (only reconciliation sees this: Sentry sends no webhook for it).
        None => return unassign(app, connection, link, change, arrival).await,
    };
    if link.sync.ado_assignee.as_deref() == Some(email.as_str()) {
        return Ok(Applied::unchanged(IN_SYNC));
    }
    if let Some(note) = outdated_in_sentry(connection, change).await? {
        return Ok(Applied::note(note));
    }
    let mapped = app
        .store
        .get_user_mapping(&integration.id, &email)
        .await
        .map_err(store_failure)?
        .and_then(|m| m.ado_identity);
    let identity = match mapped {
        Some(identity) => identity,
        None => {
            if !connection
                .metadata
                .identity_exists(&connection.ado, &email)
                .await
                .map_err(Failure::from)?
            {
                return Ok(Applied::note(format!(
                    "no Azure DevOps identity with email {email}; work item left as it was"
                )));
            }
            email.clone()
        }
    };
    let patched = patch_for_sentry(
        &connection.ado,
        link,
        arrival,
        link.sync.ado_assignee.as_deref(),
        assigned_email,
        |item| {
            (assigned_email(item).as_deref() != Some(identity.to_lowercase().as_str()))
                .then(|| vec![patch::field("System.AssignedTo", identity.clone())])
        },
    )
    .await?;
    let Patched::Done(written) = patched else {
        return Ok(Applied::note(ADO_MOVED));
    };
    let ado_email = identity.to_lowercase();
    update_link_with(app, link, |next| {
        // Each side's own email (they differ for a mapped person).
        next.sync.ado_assignee = Some(ado_email.clone());
        next.sync.sentry_assignee = Some(email.clone());
        next.sync.sentry_assignee_at = next.sync.sentry_assignee_at.max(Some(received_at));
        if let Some(item) = &written {
            record_write(next, item);
        }
    })
    .await?;
    Ok(match written {
        Some(_) => Applied::change(format!("{}: assigned to {ado_email}", on(link))),
        None => Applied::unchanged(format!("the work item is assigned to {ado_email} already")),
    })
}

/// Clears the work item's assignee after the Sentry issue was unassigned.
async fn unassign(
    app: &App,
    connection: &Connection,
    link: &Link,
    change: &SentryChange,
    arrival: Arrival,
) -> Result<Applied, Failure> {
    let received_at = arrival.received_at;
    if link.sync.ado_assignee.is_none() && link.sync.sentry_assignee.is_none() {
        return Ok(Applied::unchanged("the work item is unassigned already"));
    }
    if let Some(note) = outdated_in_sentry(connection, change).await? {
        return Ok(Applied::note(note));
    }
    let patched = patch_for_sentry(
        &connection.ado,
        link,
        arrival,
        link.sync.ado_assignee.as_deref(),
        assigned_email,
        |item| {
            item.fields
                .get("System.AssignedTo")
                .is_some_and(|assignee| !assignee.is_null())
                .then(|| vec![patch::field("System.AssignedTo", "")])
        },
    )
    .await?;
    let Patched::Done(written) = patched else {
        return Ok(Applied::note(ADO_MOVED));
    };
    update_link_with(app, link, |next| {
        next.sync.ado_assignee = None;
        next.sync.sentry_assignee = None;
        next.sync.sentry_assignee_at = next.sync.sentry_assignee_at.max(Some(received_at));
        if let Some(item) = &written {
            record_write(next, item);
        }
    })
    .await?;
    Ok(match written {
        Some(_) => Applied::change(format!("{}: unassigned", on(link))),
        None => Applied::unchanged("the work item is unassigned already"),
    })
}

/// Mirrors a new Sentry comment once: a retry first looks for the comment it may have posted
/// before failing; the pair is recorded under both ids.
async fn mirror_new_comment(
    app: &App,
    connection: &Connection,
    event: &InboxEvent,
    link: &Link,
    comment_id: &str,
    body: &str,
) -> Result<Applied, Failure> {
    let ado = &connection.ado;
    let found = if event.may_have_run_before() {
        let comments = ado
            .comments(&link.project, link.work_item_id)
            .await
            .map_err(Failure::from)?;
        comments.into_iter().find(|c| c.text == body).map(|c| c.id)
    } else {
        None
    };
    let ado_comment_id = match found {
        Some(id) => id,
        None => {
            ado.add_comment(&link.project, link.work_item_id, body, TextFormat::Markdown)
                .await
                .map_err(Failure::from)?
                .id
        }
    };
    let mut pair = sentry_comment_pair(link, comment_id, ado_comment_id);
    match app.store.create_comment_link(&mut pair).await {
        Ok(()) | Err(StoreError::Conflict) => Ok(Applied::change(format!(
            "{}: Sentry comment {comment_id} posted as comment {ado_comment_id}",
            on(link)
        ))),
        Err(error) => Err(store_failure(error)),
    }
}

fn sentry_comment_pair(link: &Link, comment_id: &str, ado_comment_id: u64) -> CommentLink {
    CommentLink {
        integration_id: link.integration_id.clone(),
        sentry_issue_id: link.sentry_issue_id.clone(),
        sentry_comment_id: comment_id.to_string(),
        work_item_id: link.work_item_id,
        ado_comment_id,
        origin: CommentOrigin::Sentry,
        created_at: clock::now_ms(),
        deleted: false,
        version: 0,
    }
}

/// Leaves the marker that keeps a deleted Sentry comment from being mirrored later.
async fn remember_deleted(app: &App, link: &Link, comment_id: &str) -> Result<(), Failure> {
    let mut marker = sentry_comment_pair(link, comment_id, 0);
    match app.store.mark_comment_deleted(&mut marker).await {
        Ok(()) | Err(StoreError::Conflict) => Ok(()),
        Err(error) => Err(store_failure(error)),
    }
}

/// Comments are not ordered by time: each action is applied whenever it arrives, and the
/// result is the same in any order. An edit of a comment whose create is still failing mirrors
/// the edited text (the late create then finds the pair and stops); a delete of such a comment
/// leaves a marker so the late create is not posted.
#[allow(clippy::too_many_arguments)]
async fn comment(
    app: &App,
    connection: &Connection,
    settings: &SyncSettings,
    event: &InboxEvent,
    link: &Link,
    action: &CommentAction,
    comment_id: &str,
    text: &str,
    author: &str,
) -> Result<Applied, Failure> {
    if is_bridge_comment(text) {
        return Ok(Applied::unchanged(ECHO));
    }
    if !settings.comments_outbound {
        return Ok(Applied::unchanged(SWITCHED_OFF));
    }
    let store = &app.store;
    let existing = store
        .comment_link_by_sentry(&link.integration_id, comment_id)
        .await
        .map_err(store_failure)?;
    let body = comment_text(author, text);
    match (action, existing) {
        (_, Some(pair)) if pair.deleted => Ok(Applied::note(format!(
            "comment {comment_id} was deleted in Sentry; nothing synced"
        ))),
        (CommentAction::Created, Some(_)) => Ok(Applied::unchanged(format!(
            "Sentry comment {comment_id} is mirrored already"
        ))),
        (CommentAction::Created | CommentAction::Updated, None) => {
            mirror_new_comment(app, connection, event, link, comment_id, &body).await
        }
        (CommentAction::Updated, Some(pair)) if pair.origin == CommentOrigin::Sentry => {
            connection
                .ado
                .update_comment(
                    &link.project,
                    pair.work_item_id,
                    pair.ado_comment_id,
                    &body,
                    TextFormat::Markdown,
                )
                .await
                .map_err(Failure::from)?;
            Ok(Applied::change(format!(
                "{}: comment {} updated from Sentry comment {comment_id}",
                on(link),
                pair.ado_comment_id
            )))
        }
        (CommentAction::Updated, Some(_)) => Ok(Applied::note(format!(
            "comment {comment_id} came from Azure DevOps; its Sentry edit is not synced back"
        ))),
        (CommentAction::Deleted, Some(pair)) if pair.origin == CommentOrigin::Sentry => {
            let applied = match connection
                .ado
                .delete_comment(&link.project, pair.work_item_id, pair.ado_comment_id)
                .await
            {
                Ok(()) => Applied::change(format!(
                    "{}: comment {} deleted with Sentry comment {comment_id}",
                    on(link),
                    pair.ado_comment_id
                )),
                Err(AdoError::NotFound { .. }) => Applied::unchanged(format!(
                    "comment {} was gone from the work item already",
                    pair.ado_comment_id
                )),
                Err(error) => return Err(Failure::from(error)),
            };
            store.delete_comment_link(&pair).await.map_err(store_failure)?;
            remember_deleted(app, link, comment_id).await?;
            Ok(applied)
        }
        (CommentAction::Deleted, Some(_)) => Ok(Applied::unchanged(format!(
            "Sentry comment {comment_id} came from Azure DevOps; it stays there"
        ))),
        (CommentAction::Deleted, None) => {
            remember_deleted(app, link, comment_id).await?;
            Ok(Applied::unchanged(format!(
                "Sentry comment {comment_id} was never mirrored; remembered so it never is"
            )))
        }
    }
}

/// An alert rule fired: at most one work item per Sentry issue and integration.
async fn alert(
    app: &App,
    connection: &Connection,
    integration: &Integration,
    secrets: &IntegrationSecrets,
    change: &SentryChange,
) -> Result<Applied, Failure> {
    let SentryChange::Alert {
        issue_id,
        web_url,
        title,
        culprit,
        rule,
        settings,
    } = change
    else {
        return Ok(Applied::nothing());
    };
    if app
        .store
        .get_link(&integration.id, issue_id)
        .await
        .map_err(store_failure)?
        .is_some()
    {
        return Ok(Applied::note("the issue already has a work item"));
    }
    let project_value = setting(settings, "ado_project")
        .ok_or_else(|| Failure::Permanent("the alert action names no project".into()))?;
    let project = match project_value.split_once("::") {
        Some((id, _)) if id != integration.id => {
            return Ok(Applied::note("the alert action targets another organization"));
        }
        Some((_, project)) => project.to_string(),
        None => project_value,
    };
    let work_item_type = setting(settings, "work_item_type").unwrap_or_else(|| "Bug".into());
    let area_path = setting(settings, "area_path");
    let input = CreateInput {
        issue_id,
        sentry_url: web_url,
        project: &project,
        work_item_type: &work_item_type,
        title,
        description: culprit,
        area_path: area_path.as_deref(),
        iteration_path: None,
        tags: None,
        assignee: None,
        footer: Some(format!("Created by the Sentry alert rule \"{rule}\".")),
        origin: LinkOrigin::Alert,
    };
    let link = create_and_link(app, integration, secrets, &input).await?;
    let mut applied = Applied::change(format!("{}: created by the alert rule \"{rule}\"", on(&link)));
    if let Some(installation) = &integration.sentry.installation_uuid {
        let identifier = link.work_item_id.to_string();
        let url = link.work_item_url.clone().unwrap_or_default();
        if let Err(error) = connection
            .sentry
            .link_external_issue(installation, issue_id, &url, &link.project, &identifier)
            .await
        {
            applied.notes.push(format!(
                "work item {identifier} created, but Sentry did not show the link: {error}"
            ));
        }
    }
    Ok(applied)
}

pub async fn handle(app: &App, event: &InboxEvent) -> Result<Applied, Failure> {
    let Context {
        payload,
        integration,
        settings,
        secrets,
        connection,
    } = context(app, event).await?;
    let resource = event.event_type.split('.').next().unwrap_or_default();
    let Some(change) = parse_webhook(resource, &payload).map_err(Failure::Permanent)? else {
        return Ok(Applied::note("not a change the bridge acts on"));
    };
    if let SentryChange::Alert { .. } = change {
        return alert(app, &connection, &integration, &secrets, &change).await;
    }
    let Some(link) = app
        .store
        .get_link(&integration.id, change.issue_id())
        .await
        .map_err(store_failure)?
    else {
        return Ok(Applied::note("the issue is not linked (any more)"));
    };
    if link.sync.work_item_deleted {
        return Ok(Applied::note(format!(
            "work item {} is deleted; nothing synced",
            link.work_item_id
        )));
    }
    match &change {
        SentryChange::Status { .. } => {
            let arrival = Arrival {
                received_at: event.received_at,
                repair: is_repair(&payload),
            };
            status(app, &connection, &settings, &link, &change, arrival).await
        }
        SentryChange::Assigned { .. } => {
            assigned(
                app,
                &connection,
                &settings,
                &integration,
                &link,
                &change,
                Arrival {
                    received_at: event.received_at,
                    repair: is_repair(&payload),
                },
            )
            .await
        }
        SentryChange::Comment {
            action,
            comment_id,
            text,
            author,
            ..
        } => {
            comment(
                app,
                &connection,
                &settings,
                event,
                &link,
                action,
                comment_id,
                text,
                author,
            )
            .await
        }
        SentryChange::Alert { .. } => Ok(Applied::nothing()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repair_does_not_write_over_an_azure_devops_change_it_did_not_see() {
        assert!(ado_moved(true, Some("Jamal@x.example"), Some("alice@x.example")));
        assert!(
            ado_moved(true, None, Some("alice@x.example")),
            "unassigned in Azure DevOps meanwhile"
        );
        assert!(!ado_moved(true, Some("ALICE@x.example"), Some("alice@x.example")));
        assert!(
            !ado_moved(true, Some("Active"), None),
            "nothing synced yet: nothing to protect"
        );
        assert!(
            !ado_moved(false, Some("Jamal@x.example"), Some("alice@x.example")),
            "a webhook is a person's change now"
        );
        assert!(is_repair(&serde_json::json!({"actor": {"id": "reconciliation"}})));
        assert!(!is_repair(&serde_json::json!({"actor": {"id": "2234567"}})));
    }
}
