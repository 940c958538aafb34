//! Scheduled reconciliation, one pass per integration: the service-hook subscriptions are
//! checked and re-created ([`subscriptions`]; repositories' push subscriptions too), new Sentry
//! releases named after a commit get their commits ([`crate::repositories::watch`]), then every active link is compared on both sides
//! and each drift queued as the delivery or webhook that never came ([`links`]). A pass runs
//! until its time budget; a cursor remembers where it stopped, and the next pass goes on from
//! there. The last report is kept with the cursor and shown by the status route.

pub mod links;
pub mod reads;
pub mod repairs;
pub mod subscriptions;

use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::App;
use crate::clock;
use crate::domain::settings::SyncSettings;
use crate::records::{Cursor, Integration, IntegrationState, Link};
use crate::worker::Budget;
use links::{Calls, LinkReport};
use subscriptions::SubscriptionReport;

/// The cursor record's kind.
pub const CURSOR_KIND: &str = "reconcile";

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub subscriptions: SubscriptionReport,
    pub links: LinkReport,
    /// New Sentry releases of the registered repositories' projects.
    #[serde(default)]
    pub releases: crate::repositories::watch::ReleaseReport,
    pub calls: Calls,
    pub started_at: String,
    pub duration_ms: u64,
    /// Every link was checked (a pass that ran out of time goes on from its cursor next time).
    pub complete: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Why the subscriptions could not be checked (the links were reconciled all the same).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscriptions_error: Option<String>,
    /// Why new releases could not be given their commits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub releases_error: Option<String>,
}

/// Where reconciliation of an integration stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Position {
    /// Where a pass cut short stopped: the last Sentry issue id checked.
    #[serde(default)]
    after: Option<String>,
    /// When the last complete round began (Unix ms; a round is one pass, or a pass cut short and
    /// those that went on from it): the next asks Azure DevOps what changed since.
    #[serde(default)]
    since_ms: Option<i64>,
    /// When the round under way began (set while a pass cut short is continued).
    #[serde(default)]
    round_started_ms: Option<i64>,
    /// Where the next sweep starts ([`reads::sweep`]).
    #[serde(default)]
    sweep_after: Option<String>,
    #[serde(default)]
    last_report: Option<Report>,
}

/// Where a pass got to.
struct Reached {
    /// `None`: the end.
    after: Option<String>,
    sweep_after: Option<String>,
}

/// The last pass's report, as `GET /integrations/{id}/status` shows it.
pub async fn last_report(app: &App, integration_id: &str) -> Option<Value> {
    let cursor = app.store.get_cursor(integration_id, CURSOR_KIND).await.ok()??;
    cursor.position.get("last_report").cloned().filter(|r| !r.is_null())
}

/// How long a pass holds its integration's lease (longer than any pass may run; a pass that died
/// frees it by expiry).
const PASS_LEASE_SECS: i64 = 180;

/// One pass over `integration` within `budget`; the report is kept (and returned) whatever
/// happened. `None`: another pass of the integration is running (the scheduled one and one asked
/// for through the API, say) — two at once would make the same subscription twice.
pub async fn pass(app: &App, integration: &Integration, budget: Budget) -> Option<Report> {
    let name = format!("reconcile#{}", integration.id);
    let lease = match app.store.try_lease(&name, PASS_LEASE_SECS, clock::now_ms()).await {
        Ok(Some(lease)) => Some(lease),
        Ok(None) => return None,
        // The store will fail the pass too, and say so in its report.
        Err(_) => None,
    };
    let report = pass_holding(app, integration, budget).await;
    if let Some(lease) = lease {
        crate::lease::release(app, lease).await;
    }
    Some(report)
}

async fn pass_holding(app: &App, integration: &Integration, budget: Budget) -> Report {
    let started = Instant::now();
    let mut report = Report {
        started_at: clock::rfc3339(clock::now_ms()),
        ..Report::default()
    };
    let mut cursor = match app.store.get_cursor(&integration.id, CURSOR_KIND).await {
        Ok(cursor) => cursor,
        Err(error) => {
            report.error = Some(format!("store: {error}"));
            return report;
        }
    };
    let position: Position = cursor
        .as_ref()
        .and_then(|c| serde_json::from_value(c.position.clone()).ok())
        .unwrap_or_default();
    let began = position
        .round_started_ms
        .filter(|_| position.after.is_some())
        .unwrap_or_else(clock::now_ms);
    let outcome = run(app, integration, budget, &position, &mut report).await;
    let next = match outcome {
        Ok(reached) if reached.after.is_none() => Position {
            after: None,
            since_ms: Some(began),
            round_started_ms: None,
            sweep_after: reached.sweep_after,
            last_report: None,
        },
        Ok(reached) => Position {
            after: reached.after,
            round_started_ms: Some(began),
            ..position.clone()
        },
        Err(error) => {
            report.error = Some(error);
            position.clone()
        }
    };
    report.complete = report.error.is_none() && next.after.is_none();
    report.duration_ms = started.elapsed().as_millis() as u64;
    tracing::info!(integration = %integration.id, report = %json!(report), "reconciliation pass");
    let position = json!(Position {
        last_report: Some(report.clone()),
        ..next
    });
    let mut saved = cursor.take().unwrap_or_else(|| Cursor {
        integration_id: integration.id.clone(),
        kind: CURSOR_KIND.into(),
        position: Value::Null,
        updated_at: 0,
        version: 0,
    });
    saved.position = position;
    saved.updated_at = clock::now_ms();
    if let Err(error) = app.store.save_cursor(&mut saved).await {
        tracing::warn!(integration = %integration.id, %error, "reconciliation report not kept");
    }
    report
}

/// The pass proper; returns where it got to.
async fn run(
    app: &App,
    integration: &Integration,
    budget: Budget,
    position: &Position,
    report: &mut Report,
) -> Result<Reached, String> {
    let settings = SyncSettings::read(&integration.sync).map_err(|e| format!("sync settings: {e}"))?;
    let secrets = app
        .integration_secrets(integration)
        .await
        .map_err(|e| format!("secrets: {e}"))?;
    let connection = app
        .connections
        .get(&app.http, integration, &secrets)
        .map_err(|e| format!("Azure DevOps: {e}"))?;
    let ado_failed = |e: crate::azure_devops::AdoError| format!("Azure DevOps: {e}");

    let webhook_url = format!(
        "{}{}",
        app.config.public_url,
        crate::integrations::view::webhook_path(&integration.id)
    );
    let opened = crate::repositories::Opened {
        integration: integration.clone(),
        secrets: secrets.clone(),
        connection: connection.clone(),
    };
    check_subscriptions(app, &integration.id, &webhook_url, report).await;
    // New Sentry releases named after a commit get their commits (noted, not fatal: the links
    // are reconciled all the same).
    match crate::repositories::watch::check_releases(app, &opened, budget, &mut report.calls).await {
        Ok(releases) => report.releases = releases,
        Err(error) => report.releases_error = Some(error),
    }

    let mut links: Vec<Link> = app
        .store
        .active_links(&integration.id)
        .await
        .map_err(|e| format!("store: {e}"))?;
    links.sort_by(|a, b| a.sentry_issue_id.cmp(&b.sentry_issue_id));
    let start = position.after.as_deref().map_or(0, |after| {
        links.partition_point(|l| l.sentry_issue_id.as_str() <= after)
    });
    let stopped = |index: usize| Reached {
        after: Some(
            index
                .checked_sub(1)
                .map(|i| links[i].sentry_issue_id.clone())
                .unwrap_or_default(),
        ),
        sweep_after: position.sweep_after.clone(),
    };

    // Which work items to read: what changed since the last complete pass began, and the sweep.
    let changed = match position.since_ms {
        Some(since) if clock::now_ms() - since < reads::INCREMENTAL_FOR_MS => {
            let asked = connection.ado.changed_since(since - reads::CLOCK_SKEW_MS).await;
            report.calls.azure_devops += 1;
            match asked {
                // More changed than one query returns (cut at the limit, or refused): read everything.
                Ok(ids) if ids.len() >= crate::azure_devops::WIQL_LIMIT => None,
                Ok(ids) => Some(ids.into_iter().collect()),
                Err(crate::azure_devops::AdoError::Http { status: 400, .. }) => None,
                Err(error) => return Err(ado_failed(error)),
            }
        }
        // No base to ask from (the first pass, or none complete for a day): the sweep only.
        _ => Some(std::collections::HashSet::new()),
    };
    let (swept, sweep_after) = reads::sweep(&links, position.sweep_after.as_deref(), reads::SWEEP_LINKS);
    let ids = reads::to_read(&links[start..], changed.as_ref(), &swept);
    let mut read = links::ReadWorkItems {
        asked: ids.iter().copied().collect(),
        items: std::collections::HashMap::new(),
    };
    for batch in ids.chunks(crate::azure_devops::BATCH_LIMIT) {
        if budget.next_event(Instant::now()).is_none() {
            return Ok(stopped(start));
        }
        let items = connection
            .ado
            .work_items_batch(batch, &repairs::WORK_ITEM_FIELDS)
            .await
            .map_err(ado_failed)?;
        report.calls.azure_devops += 1;
        read.items.extend(items.into_iter().map(|item| (item.id, item)));
    }

    let mut queued = false;
    let mut index = start;
    while index < links.len() {
        if budget.next_event(Instant::now()).is_none() {
            return Ok(stopped(index));
        }
        let end = (index + links::CHUNK).min(links.len());
        let before = report.links.repaired_inbound + report.links.repaired_outbound;
        links::reconcile_chunk(
            app,
            &connection,
            &settings,
            &links[index..end],
            &read,
            &mut report.links,
            &mut report.calls,
        )
        .await
        .map_err(|e| e.to_string())?;
        queued |= report.links.repaired_inbound + report.links.repaired_outbound > before;
        index = end;
    }
    if queued {
        app.wake.notify_one();
    }
    Ok(Reached {
        after: None,
        sweep_after,
    })
}

/// The subscriptions step, holding the subscriptions lease
/// ([`crate::integrations::subscriptions_lease`]): skipped, and said in the report, while a
/// rotation or a repository registration holds it (the next pass checks them).
async fn check_subscriptions(app: &App, integration_id: &str, webhook_url: &str, report: &mut Report) {
    use crate::integrations::subscriptions_lease;
    let lease = match subscriptions_lease::try_hold(app, integration_id).await {
        Ok(Some(lease)) => lease,
        Ok(None) => {
            report.subscriptions_error = Some(
                "not checked: a rotation or a repository registration is changing them; the next pass checks them"
                    .into(),
            );
            return;
        }
        Err(error) => {
            report.subscriptions_error = Some(format!("store: {error}"));
            return;
        }
    };
    let checked = check_subscriptions_holding(app, integration_id, webhook_url, report);
    if let Err(error) = subscriptions_lease::holding(app, lease, checked).await {
        report.subscriptions_error = Some(error);
    }
}

/// Reads the integration and its webhook secret again under the lease (a rotation that finished
/// since the pass began is seen), then checks and repairs the work item and push subscriptions.
async fn check_subscriptions_holding(
    app: &App,
    integration_id: &str,
    webhook_url: &str,
    report: &mut Report,
) -> Result<(), String> {
    let integration = app
        .store
        .get_integration(integration_id)
        .await
        .map_err(|e| format!("store: {e}"))?
        .ok_or("the integration was deleted")?;
    let secrets = app
        .integration_secrets(&integration)
        .await
        .map_err(|e| format!("secrets: {e}"))?;
    let connection = app
        .connections
        .get(&app.http, &integration, &secrets)
        .map_err(|e| format!("Azure DevOps: {e}"))?;
    let opened = crate::repositories::Opened {
        integration: integration.clone(),
        secrets: secrets.clone(),
        connection: connection.clone(),
    };
    let mut recorded = integration.azure_devops.subscriptions.clone();
    match connection.ado.subscriptions().await {
        Ok(all) => {
            report.calls.azure_devops += 1;
            match subscriptions::check(
                &connection.ado,
                &all,
                &mut recorded,
                webhook_url,
                &secrets.webhook_secret,
            )
            .await
            {
                Ok((checked, calls)) => {
                    report.subscriptions = checked;
                    report.calls.azure_devops += calls;
                }
                // Noted, and the links are still reconciled (a credential that may not manage
                // service hooks must not stop drift repair).
                Err(error) => report.subscriptions_error = Some(format!("Azure DevOps: {error}")),
            }
            match crate::repositories::watch::check_push_subscriptions(app, &opened, &all, webhook_url).await {
                Ok((checked, calls)) => {
                    report.subscriptions.add(checked);
                    report.calls.azure_devops += calls;
                }
                Err(error) => report.subscriptions_error = Some(error),
            }
        }
        Err(error) => report.subscriptions_error = Some(format!("Azure DevOps: {error}")),
    }
    if recorded != integration.azure_devops.subscriptions {
        record_subscriptions(app, &integration.id, recorded)
            .await
            .map_err(|e| format!("store: {e}"))?;
    }
    Ok(())
}

/// Saves repaired subscription ids on the integration (read again: a PATCH may have moved it on).
async fn record_subscriptions(
    app: &App,
    integration_id: &str,
    subscriptions: std::collections::BTreeMap<String, String>,
) -> Result<(), crate::store::StoreError> {
    let mut retries = crate::retry::ConflictRetries::new();
    loop {
        let Some(mut current) = app.store.get_integration(integration_id).await? else {
            return Ok(());
        };
        current.azure_devops.subscriptions = subscriptions.clone();
        current.updated_at = clock::now_ms();
        match app.store.update_integration(&mut current).await {
            Err(crate::store::StoreError::Conflict) if retries.another() => continue,
            other => return other,
        }
    }
}

/// Integrations a scheduled pass covers: the active ones. A `connecting` one older than a create
/// may run is what a create that died left behind: it is removed.
pub async fn pass_all(app: &App, budget: Budget) -> Vec<(String, Report)> {
    let integrations = match app.store.list_integrations().await {
        Ok(integrations) => integrations,
        Err(error) => {
            tracing::warn!(%error, "reconciliation: integrations not listed");
            return Vec::new();
        }
    };
    let mut reports = Vec::new();
    // Each run starts with the next integration, so a large one that always runs out of time
    // does not keep the others from their passes.
    let mut integrations = integrations;
    if !integrations.is_empty() {
        let turn = (clock::now_ms() / 60_000) as usize % integrations.len();
        integrations.rotate_left(turn);
    }
    for integration in integrations {
        if integration.state == IntegrationState::Connecting {
            crate::integrations::remove_if_abandoned(app, &integration).await;
            continue;
        }
        if budget.next_event(Instant::now()).is_none() {
            break;
        }
        if let Some(report) = pass(app, &integration, budget).await {
            reports.push((integration.id, report));
        }
    }
    reports
}

/// `bridge-local`'s timer: a pass over every integration every `every` (the first one `every`
/// after start), restarted if it panics.
pub fn spawn_local(app: std::sync::Arc<App>, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
    crate::worker::keep_running("reconciliation", std::time::Duration::from_secs(1), move || {
        let app = app.clone();
        async move {
            loop {
                tokio::time::sleep(every).await;
                pass_all(&app, Budget::unlimited()).await;
            }
        }
    })
}
