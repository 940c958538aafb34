//! The typed store: records in, records out, over any [`Table`] backend.

use std::sync::Arc;

use futures_util::future::join_all;

use super::StoreError;
use super::keys::{self, Record};
use super::table::{Condition, Index, Item, Key, Query, SkRange, Table, WriteOp};
use crate::records::{
    CodeMapping, CommentLink, CreateAttempt, Cursor, EventStatus, FixComment, InboxEvent, Integration, Link,
    Repository, UserMapping,
};

/// Whether an insert-if-absent wrote a new record or found the same key already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    New,
    Duplicate,
}

/// A lease the caller holds: its name, and the token that tells its holder apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub name: String,
    token: u64,
}

/// A random lease token (62 bits: it is stored as the item's version, an SQLite integer).
fn lease_token() -> Result<u64, StoreError> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|e| StoreError::Backend(format!("no randomness: {e}")))?;
    Ok((u64::from_le_bytes(bytes) >> 2).max(1))
}

/// At most this many integrations are candidates for one Sentry installation (each costs a
/// secret read and a signature check per request).
pub const INSTALLATION_CANDIDATES: usize = 20;

/// Upper bound for "all of them" listings (integrations, repositories, mappings per integration).
const LIST_ALL: usize = 10_000;

/// Typed access to every record (docs/architecture.md, data model). Cheap to clone.
#[derive(Clone)]
pub struct Store {
    table: Arc<dyn Table>,
}

fn to_item<R: Record>(record: &R) -> Result<Item, StoreError> {
    Ok(Item {
        key: record.key(),
        kind: R::KIND.to_string(),
        version: record.version(),
        data: serde_json::to_string(record).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        gsi1: record.gsi1(),
        gsi2: record.gsi2(),
        expires_at: record.expires_at(),
    })
}

fn from_item<R: Record>(item: Item) -> Result<R, StoreError> {
    let mut record: R = serde_json::from_str(&item.data)
        .map_err(|e| StoreError::Corrupt(format!("{} {}/{}: {e}", item.kind, item.key.pk, item.key.sk)))?;
    record.set_version(item.version);
    Ok(record)
}

fn query(index: Index, pk: impl Into<String>, sk: SkRange, limit: usize) -> Query {
    Query {
        index,
        pk: pk.into(),
        sk,
        limit,
    }
}

fn prefix(text: impl Into<String>) -> SkRange {
    SkRange::Prefix(text.into())
}

impl Store {
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { table }
    }

    async fn get<R: Record>(&self, key: &Key) -> Result<Option<R>, StoreError> {
        self.table.get(key).await?.map(from_item).transpose()
    }

    async fn find<R: Record>(&self, query: Query) -> Result<Vec<R>, StoreError> {
        self.table.query(&query).await?.into_iter().map(from_item).collect()
    }

    /// Puts `record` with `condition`, storing it as `next_version`; sets the version on success.
    async fn put<R: Record>(&self, record: &mut R, condition: Condition, next_version: u64) -> Result<(), StoreError> {
        let previous = record.version();
        record.set_version(next_version);
        let item = to_item(record);
        let result = match item {
            Ok(item) => self.table.write(vec![WriteOp::Put { item, condition }]).await,
            Err(e) => Err(e),
        };
        if result.is_err() {
            record.set_version(previous);
        }
        result
    }

    /// Writes a new record; `Conflict` if one with the same key exists.
    async fn create<R: Record>(&self, record: &mut R) -> Result<(), StoreError> {
        self.put(record, Condition::Absent, 1).await
    }

    /// Writes a changed record; `Conflict` unless the stored version is `record.version()`.
    async fn update<R: Record>(&self, record: &mut R) -> Result<(), StoreError> {
        let current = record.version();
        self.put(record, Condition::Version(current), current + 1).await
    }

    /// Creates a record with version 0, updates one read from the store otherwise.
    async fn save<R: Record>(&self, record: &mut R) -> Result<(), StoreError> {
        if record.version() == 0 {
            self.create(record).await
        } else {
            self.update(record).await
        }
    }

    async fn delete_key(&self, key: Key) -> Result<(), StoreError> {
        self.table
            .write(vec![WriteOp::Delete {
                key,
                condition: Condition::None,
            }])
            .await
    }

    // ----- integrations -----

    pub async fn create_integration(&self, integration: &mut Integration) -> Result<(), StoreError> {
        self.create(integration).await
    }

    pub async fn get_integration(&self, id: &str) -> Result<Option<Integration>, StoreError> {
        self.get(&keys::integration_key(id)).await
    }

    /// Every integration, ordered by id. Read through an index: may lag a write by a moment on AWS.
    pub async fn list_integrations(&self) -> Result<Vec<Integration>, StoreError> {
        self.find(query(Index::Gsi1, keys::INTEGRATIONS_INDEX_PK, prefix(""), LIST_ALL))
            .await
    }

    pub async fn update_integration(&self, integration: &mut Integration) -> Result<(), StoreError> {
        self.update(integration).await
    }

    /// Deletes the integration and every record kept under it, leaving a tombstone
    /// ([`Self::integration_deleted`]). `false` if it did not exist.
    pub async fn delete_integration(&self, id: &str) -> Result<bool, StoreError> {
        let Some(integration) = self.get_integration(id).await? else {
            return Ok(false);
        };
        self.tombstone_integration(&integration).await?;
        self.delete_records_of(id).await?;
        Ok(true)
    }

    /// Replaces the integration's record by a tombstone naming its secret, in one write: from
    /// here on it is deleted, and what is left of it can be found ([`Self::deleted_integration`]).
    pub async fn tombstone_integration(&self, integration: &Integration) -> Result<(), StoreError> {
        let id = &integration.id;
        let tombstone = Item {
            key: keys::tombstone_key(id),
            kind: "tombstone".into(),
            version: 1,
            data: serde_json::json!({"id": id, "secret_ref": integration.secret_ref}).to_string(),
            gsi1: None,
            gsi2: None,
            expires_at: None,
        };
        self.table
            .write(vec![
                WriteOp::Delete {
                    key: keys::integration_key(id),
                    condition: Condition::None,
                },
                WriteOp::Put {
                    item: tombstone,
                    condition: Condition::None,
                },
            ])
            .await
    }

    /// Deletes every record kept under a deleted integration (links, comment links, cursors…),
    /// the tombstone excepted.
    pub async fn delete_records_of(&self, id: &str) -> Result<(), StoreError> {
        let children = self
            .table
            .query(&query(Index::Primary, keys::integration_pk(id), prefix(""), usize::MAX))
            .await?;
        for item in children
            .into_iter()
            .filter(|item| item.key != keys::tombstone_key(id) && item.key != keys::integration_key(id))
        {
            self.delete_key(item.key).await?;
        }
        Ok(())
    }

    /// Whether an integration with this id existed and was deleted.
    pub async fn integration_deleted(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.table.get(&keys::tombstone_key(id)).await?.is_some())
    }

    /// The secret reference a deleted integration's tombstone names (`""` for tombstones written
    /// before they named it); `None` if the integration was never deleted.
    pub async fn deleted_integration(&self, id: &str) -> Result<Option<String>, StoreError> {
        let Some(item) = self.table.get(&keys::tombstone_key(id)).await? else {
            return Ok(None);
        };
        let data: serde_json::Value = serde_json::from_str(&item.data).unwrap_or_default();
        Ok(Some(data["secret_ref"].as_str().unwrap_or_default().to_string()))
    }

    /// Integrations a Sentry installation may belong to: those with that installation uuid, and
    /// those that have not learned theirs yet (the caller's signature check decides). Two keyed
    /// queries at once, at most [`INSTALLATION_CANDIDATES`] each. While no integration is
    /// indexed under the installation, records written before the index existed are looked for
    /// by listing too, and written again so they are indexed from then on.
    pub async fn integrations_for_installation(&self, installation_uuid: &str) -> Result<Vec<Integration>, StoreError> {
        let by_installation = |uuid: Option<&str>| {
            let pk = keys::installation_index_pk(uuid);
            self.find::<Integration>(query(Index::Gsi2, pk, prefix(""), INSTALLATION_CANDIDATES))
        };
        let (known, unknown) = tokio::join!(by_installation(Some(installation_uuid)), by_installation(None));
        let mut found = known?;
        if found.is_empty() {
            found = self.unindexed_integrations_for(installation_uuid).await?;
        }
        found.extend(unknown?);
        Ok(found)
    }

    async fn unindexed_integrations_for(&self, installation_uuid: &str) -> Result<Vec<Integration>, StoreError> {
        let items = self
            .table
            .query(&query(Index::Gsi1, keys::INTEGRATIONS_INDEX_PK, prefix(""), LIST_ALL))
            .await?;
        let mut found = Vec::new();
        for item in items.into_iter().filter(|item| item.gsi2.is_none()) {
            let mut integration: Integration = from_item(item)?;
            let matches = integration
                .sentry
                .installation_uuid
                .as_deref()
                .is_none_or(|uuid| uuid.eq_ignore_ascii_case(installation_uuid));
            if matches {
                // Written again with its index keys; a concurrent change wins (and indexes it).
                let mut indexed = integration.clone();
                if let Err(error) = self.update(&mut indexed).await {
                    tracing::debug!(integration = %integration.id, %error, "not re-indexed now");
                } else {
                    integration = indexed;
                }
                found.push(integration);
            }
        }
        Ok(found)
    }

    // ----- leases -----

    /// Takes a short exclusive lease, or finds it held by someone else (`None`). Expired leases
    /// are free again, so a crashed holder blocks no one for long.
    pub async fn try_lease(&self, name: &str, ttl_secs: i64, now_ms: i64) -> Result<Option<Lease>, StoreError> {
        let token = lease_token()?;
        let item = Item {
            key: keys::lease_key(name),
            kind: "lease".into(),
            version: token,
            data: "{}".into(),
            gsi1: None,
            gsi2: None,
            expires_at: Some(now_ms / 1000 + ttl_secs),
        };
        match self
            .table
            .write(vec![WriteOp::Put {
                item,
                condition: Condition::Absent,
            }])
            .await
        {
            Ok(()) => Ok(Some(Lease {
                name: name.to_string(),
                token,
            })),
            Err(StoreError::Conflict) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Releases `lease` if it is still the caller's: one that expired and was taken by someone
    /// else stays theirs.
    pub async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        let released = self
            .table
            .write(vec![WriteOp::Delete {
                key: keys::lease_key(&lease.name),
                condition: Condition::Version(lease.token),
            }])
            .await;
        match released {
            Err(StoreError::Conflict) => Ok(()),
            other => other,
        }
    }

    // ----- links -----

    /// The active link of a Sentry issue.
    pub async fn get_link(&self, integration_id: &str, sentry_issue_id: &str) -> Result<Option<Link>, StoreError> {
        self.get(&keys::link_key(integration_id, sentry_issue_id)).await
    }

    /// Every active link of an integration (reconciliation's pass over them).
    pub async fn active_links(&self, integration_id: &str) -> Result<Vec<Link>, StoreError> {
        let pk = keys::integration_pk(integration_id);
        self.find(query(Index::Primary, pk, prefix("LINK#"), LIST_ALL)).await
    }

    /// Active links to a work item (several Sentry issues may link one work item). Found through
    /// an index, which on DynamoDB may lag a write: each is read again from the table
    /// (strongly consistent), and one that moved on to another work item or was replaced is left
    /// out, so no decision is made on a stale copy.
    pub async fn links_for_work_item(&self, integration_id: &str, work_item_id: u64) -> Result<Vec<Link>, StoreError> {
        let pk = keys::work_item_index_pk(integration_id, work_item_id);
        let indexed: Vec<Link> = self.find(query(Index::Gsi1, pk, prefix("LINK#"), LIST_ALL)).await?;
        let mut current = Vec::with_capacity(indexed.len());
        for link in indexed {
            if let Some(fresh) = self.get_link(integration_id, &link.sentry_issue_id).await?
                && fresh.work_item_id == work_item_id
            {
                current.push(fresh);
            }
        }
        Ok(current)
    }

    /// Whether any active link points at the work item (no record is decoded).
    pub async fn work_item_linked(&self, integration_id: &str, work_item_id: u64) -> Result<bool, StoreError> {
        let pk = keys::work_item_index_pk(integration_id, work_item_id);
        Ok(!self
            .table
            .query(&query(Index::Gsi1, pk, prefix("LINK#"), 1))
            .await?
            .is_empty())
    }

    /// Links that a newer one replaced, oldest first.
    pub async fn link_history(&self, integration_id: &str, sentry_issue_id: &str) -> Result<Vec<Link>, StoreError> {
        let sk = prefix(keys::link_history_prefix(sentry_issue_id));
        self.find(query(
            Index::Primary,
            keys::integration_pk(integration_id),
            sk,
            LIST_ALL,
        ))
        .await
    }

    /// Makes `link` the active link of its Sentry issue. A previous active link is moved to the
    /// history in the same atomic write and returned. `Conflict` if the active link changed
    /// concurrently.
    pub async fn activate_link(&self, link: &mut Link, now_ms: i64) -> Result<Option<Link>, StoreError> {
        link.replaced_at = None;
        let previous = self.get_link(&link.integration_id, &link.sentry_issue_id).await?;
        let Some(previous) = previous else {
            self.create(link).await?;
            return Ok(None);
        };
        let mut history = previous.clone();
        history.replaced_at = Some(now_ms);
        history.version = 1;
        let mut next = link.clone();
        next.version = previous.version + 1;
        self.table
            .write(vec![
                WriteOp::Put {
                    item: to_item(&history)?,
                    condition: Condition::Absent,
                },
                WriteOp::Put {
                    item: to_item(&next)?,
                    condition: Condition::Version(previous.version),
                },
            ])
            .await?;
        link.version = next.version;
        Ok(Some(history))
    }

    pub async fn update_link(&self, link: &mut Link) -> Result<(), StoreError> {
        if link.replaced_at.is_some() {
            return Err(StoreError::Backend(
                "a replaced link is history and is not updated".into(),
            ));
        }
        self.update(link).await
    }

    // ----- comment links -----

    /// Records a comment pair under both ids atomically; `Conflict` if either id is linked already.
    pub async fn create_comment_link(&self, link: &mut CommentLink) -> Result<(), StoreError> {
        link.version = 1;
        let by_sentry = to_item(link)?;
        let by_ado = Item {
            key: keys::comment_by_ado_key(&link.integration_id, link.work_item_id, link.ado_comment_id),
            ..by_sentry.clone()
        };
        let result = self
            .table
            .write(vec![
                WriteOp::Put {
                    item: by_sentry,
                    condition: Condition::Absent,
                },
                WriteOp::Put {
                    item: by_ado,
                    condition: Condition::Absent,
                },
            ])
            .await;
        if result.is_err() {
            link.version = 0;
        }
        result
    }

    /// Records that a Sentry comment was deleted before it was mirrored (under its Sentry id
    /// only); `Conflict` if it is linked already.
    pub async fn mark_comment_deleted(&self, link: &mut CommentLink) -> Result<(), StoreError> {
        link.deleted = true;
        link.ado_comment_id = 0;
        link.version = 1;
        let result = self
            .table
            .write(vec![WriteOp::Put {
                item: to_item(link)?,
                condition: Condition::Absent,
            }])
            .await;
        if result.is_err() {
            link.version = 0;
        }
        result
    }

    pub async fn comment_link_by_sentry(
        &self,
        integration_id: &str,
        sentry_comment_id: &str,
    ) -> Result<Option<CommentLink>, StoreError> {
        self.get(&keys::comment_by_sentry_key(integration_id, sentry_comment_id))
            .await
    }

    pub async fn comment_link_by_ado(
        &self,
        integration_id: &str,
        work_item_id: u64,
        ado_comment_id: u64,
    ) -> Result<Option<CommentLink>, StoreError> {
        self.get(&keys::comment_by_ado_key(integration_id, work_item_id, ado_comment_id))
            .await
    }

    pub async fn delete_comment_link(&self, link: &CommentLink) -> Result<(), StoreError> {
        let by_ado = keys::comment_by_ado_key(&link.integration_id, link.work_item_id, link.ado_comment_id);
        self.table
            .write(vec![
                WriteOp::Delete {
                    key: link.key(),
                    condition: Condition::None,
                },
                WriteOp::Delete {
                    key: by_ado,
                    condition: Condition::None,
                },
            ])
            .await
    }

    // ----- repositories -----

    pub async fn create_repository(&self, repository: &mut Repository) -> Result<(), StoreError> {
        self.create(repository).await
    }

    pub async fn get_repository(&self, integration_id: &str, repo_id: &str) -> Result<Option<Repository>, StoreError> {
        self.get(&keys::repository_key(integration_id, repo_id)).await
    }

    pub async fn list_repositories(&self, integration_id: &str) -> Result<Vec<Repository>, StoreError> {
        let pk = keys::integration_pk(integration_id);
        self.find(query(Index::Primary, pk, prefix(keys::REPOSITORY_PREFIX), LIST_ALL))
            .await
    }

    pub async fn update_repository(&self, repository: &mut Repository) -> Result<(), StoreError> {
        self.update(repository).await
    }

    pub async fn delete_repository(&self, integration_id: &str, repo_id: &str) -> Result<(), StoreError> {
        self.delete_key(keys::repository_key(integration_id, repo_id)).await
    }

    // ----- code mappings -----

    pub async fn create_code_mapping(&self, mapping: &mut CodeMapping) -> Result<(), StoreError> {
        self.create(mapping).await
    }

    pub async fn list_code_mappings(&self, integration_id: &str) -> Result<Vec<CodeMapping>, StoreError> {
        let pk = keys::integration_pk(integration_id);
        self.find(query(Index::Primary, pk, prefix(keys::CODE_MAPPING_PREFIX), LIST_ALL))
            .await
    }

    pub async fn get_code_mapping(&self, integration_id: &str, id: &str) -> Result<Option<CodeMapping>, StoreError> {
        self.get(&keys::code_mapping_key(integration_id, id)).await
    }

    pub async fn delete_code_mapping(&self, integration_id: &str, id: &str) -> Result<(), StoreError> {
        self.delete_key(keys::code_mapping_key(integration_id, id)).await
    }

    // ----- fix comments -----

    /// Claims a fix comment (creates it); `Some(existing)` when it was claimed before.
    pub async fn claim_fix_comment(&self, comment: &mut FixComment) -> Result<Option<FixComment>, StoreError> {
        match self.create(comment).await {
            Ok(()) => Ok(None),
            Err(StoreError::Conflict) => {
                let key = keys::fix_comment_key(&comment.integration_id, &comment.sentry_issue_id, &comment.commit_id);
                self.get(&key).await?.map(Some).ok_or(StoreError::Conflict)
            }
            Err(error) => Err(error),
        }
    }

    pub async fn update_fix_comment(&self, comment: &mut FixComment) -> Result<(), StoreError> {
        self.update(comment).await
    }

    // ----- inbox events -----

    /// Dedupe and persist in one conditional write.
    pub async fn insert_event(&self, event: &mut InboxEvent) -> Result<Inserted, StoreError> {
        match self.create(event).await {
            Ok(()) => Ok(Inserted::New),
            Err(StoreError::Conflict) => Ok(Inserted::Duplicate),
            Err(e) => Err(e),
        }
    }

    pub async fn get_event(&self, id: &str) -> Result<Option<InboxEvent>, StoreError> {
        self.get(&keys::event_key(id)).await
    }

    pub async fn update_event(&self, event: &mut InboxEvent) -> Result<(), StoreError> {
        self.update(event).await
    }

    /// Failed events whose retry is due at or before `now_ms`, soonest first: every shard of the
    /// due index read at once.
    pub async fn due_events(&self, now_ms: i64, limit: usize) -> Result<Vec<InboxEvent>, StoreError> {
        let bound = SkRange::AtMost(keys::time_ordered(now_ms, "\u{10FFFF}"));
        let shards: Vec<Query> = (0..keys::DUE_SHARDS)
            .map(keys::due_index_pk)
            .chain([keys::LEGACY_DUE_INDEX_PK.to_string()])
            .map(|pk| query(Index::Gsi1, pk, bound.clone(), limit))
            .collect();
        let shards = shards.iter().map(|shard| self.table.query(shard));
        let mut items = Vec::new();
        for shard in join_all(shards).await {
            items.extend(shard?);
        }
        items.sort_by(|a, b| a.gsi1.as_ref().map(|k| &k.sk).cmp(&b.gsi1.as_ref().map(|k| &k.sk)));
        items.into_iter().take(limit).map(from_item).collect()
    }

    /// An integration's pending events received at or before `received_before_ms`, oldest first:
    /// the ones no worker finished (the stream missed them, their worker died, or they were
    /// queued again by hand).
    pub async fn pending_events(
        &self,
        integration_id: &str,
        received_before_ms: i64,
        limit: usize,
    ) -> Result<Vec<InboxEvent>, StoreError> {
        let pk = keys::events_by_status_pk(integration_id, EventStatus::Pending.as_str());
        let bound = SkRange::AtMost(keys::time_ordered(received_before_ms, "\u{10FFFF}"));
        self.find(query(Index::Gsi2, pk, bound, limit)).await
    }

    /// An integration's events in one status, oldest first.
    pub async fn events_by_status(
        &self,
        integration_id: &str,
        status: EventStatus,
        limit: usize,
    ) -> Result<Vec<InboxEvent>, StoreError> {
        let pk = keys::events_by_status_pk(integration_id, status.as_str());
        self.find(query(Index::Gsi2, pk, prefix(""), limit)).await
    }

    // ----- user mappings -----

    /// Creates (version 0) or updates (the version read) a mapping; the email is lower-cased.
    pub async fn save_user_mapping(&self, mapping: &mut UserMapping) -> Result<(), StoreError> {
        mapping.email = mapping.email.to_lowercase();
        self.save(mapping).await
    }

    pub async fn get_user_mapping(&self, integration_id: &str, email: &str) -> Result<Option<UserMapping>, StoreError> {
        self.get(&keys::user_mapping_key(integration_id, email)).await
    }

    pub async fn list_user_mappings(&self, integration_id: &str) -> Result<Vec<UserMapping>, StoreError> {
        let pk = keys::integration_pk(integration_id);
        self.find(query(Index::Primary, pk, prefix(keys::USER_MAPPING_PREFIX), LIST_ALL))
            .await
    }

    pub async fn delete_user_mapping(&self, integration_id: &str, email: &str) -> Result<(), StoreError> {
        self.delete_key(keys::user_mapping_key(integration_id, email)).await
    }

    // ----- work-item creates under way -----

    /// Records that a create has started; when an earlier one was never finished, answers that
    /// one instead (kept as it was: its start is what its work item is looked for by).
    pub async fn begin_create(&self, attempt: &mut CreateAttempt) -> Result<Option<CreateAttempt>, StoreError> {
        match self.create(attempt).await {
            Ok(()) => Ok(None),
            Err(StoreError::Conflict) => {
                let key = keys::create_attempt_key(&attempt.integration_id, &attempt.sentry_issue_id);
                match self.get(&key).await? {
                    Some(earlier) => Ok(Some(earlier)),
                    // Finished (or expired) between the two calls: this one starts afresh.
                    None => self.create(attempt).await.map(|()| None),
                }
            }
            Err(error) => Err(error),
        }
    }

    /// The create is over: its link is recorded, or nothing was made.
    pub async fn end_create(&self, integration_id: &str, sentry_issue_id: &str) -> Result<(), StoreError> {
        self.delete_key(keys::create_attempt_key(integration_id, sentry_issue_id))
            .await
    }

    // ----- cursors -----

    pub async fn get_cursor(&self, integration_id: &str, kind: &str) -> Result<Option<Cursor>, StoreError> {
        self.get(&keys::cursor_key(integration_id, kind)).await
    }

    /// Creates (version 0) or advances (the version read) a cursor.
    pub async fn save_cursor(&self, cursor: &mut Cursor) -> Result<(), StoreError> {
        self.save(cursor).await
    }
}
