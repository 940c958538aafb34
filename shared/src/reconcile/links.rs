//! Drift repair over an integration's active links, a chunk at a time: the work items the pass read
//! (see [`super::reads`]), one Sentry issue read (≤ 100) per chunk, the decisions of
//! [`crate::domain::drift`], and each repair queued as the event that never came.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::repairs;
use crate::App;
use crate::azure_devops::{AdoError, WorkItem};
use crate::connections::Connection;
use crate::domain::drift::{IssueNow, Repairs, Seen, WorkItemNow, decide};
use crate::domain::settings::SyncSettings;
use crate::records::{InboxEvent, Link};
use crate::sentry::SentryError;
use crate::store::{Inserted, StoreError};

/// Links decided together: one Sentry issue read.
pub const CHUNK: usize = crate::sentry::SentryClient::ISSUES_PER_CALL;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkReport {
    pub checked: u32,
    /// Azure DevOps changes queued for Sentry (work item deletions included).
    pub repaired_inbound: u32,
    /// Sentry changes queued for Azure DevOps.
    pub repaired_outbound: u32,
    /// Fields both sides moved since the last sync (Azure DevOps won).
    pub conflicts: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Calls {
    pub azure_devops: u32,
    pub sentry: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    #[error("Azure DevOps: {0}")]
    Ado(#[from] AdoError),
    #[error("Sentry: {0}")]
    Sentry(#[from] SentryError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// The work items a pass read from Azure DevOps: those it asked for (`asked`) and those that came
/// back (`items`); a link whose work item was not asked for is taken as unchanged.
pub struct ReadWorkItems {
    pub asked: HashSet<u64>,
    pub items: HashMap<u64, WorkItem>,
}

impl ReadWorkItems {
    fn seen(&self, id: u64) -> (Option<&WorkItem>, bool) {
        (self.items.get(&id), self.asked.contains(&id))
    }
}

/// Reconciles one chunk of links: reads their Sentry issues, decides with the work items already
/// read, queues the repairs.
pub async fn reconcile_chunk(
    app: &App,
    connection: &Connection,
    settings: &SyncSettings,
    links: &[Link],
    read: &ReadWorkItems,
    report: &mut LinkReport,
    calls: &mut Calls,
) -> Result<(), ChunkError> {
    let issue_ids: Vec<String> = links.iter().map(|l| l.sentry_issue_id.clone()).collect();
    let (issues, sentry_calls) = connection.sentry.issues(&issue_ids).await?;
    calls.sentry += sentry_calls;
    let issues: HashMap<String, IssueNow> = issues
        .iter()
        .filter_map(IssueNow::read)
        .map(|issue| (issue.id.clone(), issue))
        .collect();

    let now = crate::clock::now_ms();
    for link in links {
        report.checked += 1;
        if link.sync.sentry_status.is_none()
            && let Some(issue) = issues.get(&link.sentry_issue_id)
        {
            adopt_sentry_baseline(app, link, issue).await?;
        }
        let (item, asked) = read.seen(link.work_item_id);
        let current = item.map(WorkItemNow::read);
        let seen = match (&current, asked) {
            (Some(current), _) => Seen::Now(current),
            (None, true) => Seen::Missing,
            (None, false) => Seen::Unchanged,
        };
        let repairs = decide(link, seen, issues.get(&link.sentry_issue_id), settings);
        report.conflicts += repairs.conflicts;
        if !repairs.any() {
            continue;
        }
        for mut event in events(link, item, &repairs, now) {
            let inbound = event.source == crate::records::EventSource::AzureDevOps;
            if app.store.insert_event(&mut event).await? == Inserted::New {
                tracing::info!(integration = %link.integration_id, issue = %link.sentry_issue_id,
                    work_item = link.work_item_id, event = %event.event_type, "drift found; repair queued");
                if inbound {
                    report.repaired_inbound += 1;
                } else {
                    report.repaired_outbound += 1;
                }
            }
        }
    }
    Ok(())
}

/// A link that never synced anything with Sentry (made before reconciliation existed, or linked
/// to an issue already resolved or assigned) takes the issue as it is now as what was last
/// synced: a pass does not turn a difference nobody asked to sync into a write. Store only.
async fn adopt_sentry_baseline(app: &App, link: &Link, issue: &IssueNow) -> Result<(), StoreError> {
    let status = issue.status.clone();
    let assignee = match &issue.assignee {
        crate::domain::drift::SentryAssignee::User { email: Some(email), .. } => Some(email.clone()),
        _ => None,
    };
    let mut retries = crate::retry::ConflictRetries::new();
    let mut current = link.clone();
    loop {
        current.sync.sentry_status.get_or_insert_with(|| status.clone());
        if current.sync.sentry_assignee.is_none() {
            current.sync.sentry_assignee = assignee.clone();
        }
        match app.store.update_link(&mut current).await {
            Err(StoreError::Conflict) if retries.another() => {
                match app.store.get_link(&link.integration_id, &link.sentry_issue_id).await? {
                    Some(fresh) if fresh.work_item_id == link.work_item_id => current = fresh,
                    _ => return Ok(()),
                }
            }
            other => return other,
        }
    }
}

/// The events that carry out `repairs`.
fn events(link: &Link, item: Option<&WorkItem>, repairs: &Repairs, now: i64) -> Vec<InboxEvent> {
    let mut events = Vec::new();
    if repairs.work_item_deleted {
        events.push(repairs::work_item_deleted(link, now));
    }
    if repairs.inbound
        && let Some(item) = item
    {
        events.push(repairs::work_item_revision(link, item, now));
    }
    if let Some(status) = &repairs.outbound_status {
        events.push(repairs::issue_status(link, status, now));
    }
    if let Some(assignee) = &repairs.outbound_assignee {
        events.push(repairs::issue_assignee(link, assignee, now));
    }
    events
}
