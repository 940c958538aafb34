//! Drift repair over an integration's active links, a chunk at a time: one Azure DevOps batch read
//! (≤ 200 work items) and Sentry issue reads (≤ 100 a call) per chunk, the decisions of
//! [`crate::domain::drift`], and each repair queued as the event that never came.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::repairs;
use crate::App;
use crate::azure_devops::{AdoError, WorkItem};
use crate::connections::Connection;
use crate::domain::drift::{IssueNow, Repairs, WorkItemNow, decide};
use crate::domain::settings::SyncSettings;
use crate::records::{InboxEvent, Link};
use crate::sentry::SentryError;
use crate::store::{Inserted, StoreError};

/// Links read together: one `workitemsbatch` call.
pub const CHUNK: usize = crate::azure_devops::BATCH_LIMIT;

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

/// Reconciles one chunk of links: reads both sides, decides, queues the repairs.
pub async fn reconcile_chunk(
    app: &App,
    connection: &Connection,
    settings: &SyncSettings,
    links: &[Link],
    report: &mut LinkReport,
    calls: &mut Calls,
) -> Result<(), ChunkError> {
    let ids: Vec<u64> = links.iter().map(|l| l.work_item_id).collect();
    let items = connection
        .ado
        .work_items_batch(&ids, &repairs::WORK_ITEM_FIELDS)
        .await?;
    calls.azure_devops += ids.len().div_ceil(CHUNK) as u32;
    let items: HashMap<u64, WorkItem> = items.into_iter().map(|item| (item.id, item)).collect();
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
        let item = items.get(&link.work_item_id);
        let repairs = decide(
            link,
            item.map(WorkItemNow::read).as_ref(),
            issues.get(&link.sentry_issue_id),
            settings,
        );
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
