//! The embedded backend: one SQLite file in WAL mode mirroring the DynamoDB table layout.
//!
//! One connection behind an async mutex, statements cached, calls run inline (each is
//! microseconds; a hand-off to the blocking pool would cost more). Writes use **group commit**:
//! a writer queues its operations and takes the connection; whoever holds it commits every
//! queued write in one transaction (each in its own savepoint, so one failed condition
//! rolls back only its own write), and answers each writer after the commit. Under concurrent
//! intake that shares the per-commit page writes among many events.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use super::table::{Condition, Index, Item, Key, Query, SkRange, Table, WriteOp, prefix_upper_bound};
use crate::clock;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS items (
    pk TEXT NOT NULL,
    sk TEXT NOT NULL,
    kind TEXT NOT NULL,
    version INTEGER NOT NULL,
    data TEXT NOT NULL,
    gsi1pk TEXT, gsi1sk TEXT,
    gsi2pk TEXT, gsi2sk TEXT,
    expires_at INTEGER,
    PRIMARY KEY (pk, sk)
);
CREATE INDEX IF NOT EXISTS items_gsi1 ON items (gsi1pk, gsi1sk);
CREATE INDEX IF NOT EXISTS items_gsi2 ON items (gsi2pk, gsi2sk);
";

/// A write waiting for the next group commit.
struct PendingWrite {
    ops: Vec<WriteOp>,
    reply: tokio::sync::oneshot::Sender<Result<(), StoreError>>,
}

#[derive(Clone)]
pub struct SqliteTable {
    connection: Arc<tokio::sync::Mutex<Connection>>,
    pending: Arc<Mutex<Vec<PendingWrite>>>,
}

fn backend(error: rusqlite::Error) -> StoreError {
    match error {
        rusqlite::Error::SqliteFailure(e, _) if e.code == rusqlite::ErrorCode::DatabaseBusy => {
            StoreError::Unavailable("database is busy".into())
        }
        other => StoreError::Backend(other.to_string()),
    }
}

impl SqliteTable {
    /// Opens (creating if needed) the database file at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::init(Connection::open(path).map_err(backend)?)
    }

    /// A private in-memory database (tests, benchmarks).
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory().map_err(backend)?)
    }

    fn init(connection: Connection) -> Result<Self, StoreError> {
        // One process owns the file: exclusive locking keeps the WAL index in memory and skips
        // the file locks of every transaction; WAL with NORMAL sync survives a killed process.
        connection
            .pragma_update(None, "locking_mode", "EXCLUSIVE")
            .map_err(backend)?;
        let mode: String = connection
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(backend)?;
        if !mode.eq_ignore_ascii_case("wal") && !mode.eq_ignore_ascii_case("memory") {
            return Err(StoreError::Backend(format!(
                "SQLite refused WAL mode (journal_mode = {mode})"
            )));
        }
        for (name, value) in [
            ("synchronous", "NORMAL"),
            ("busy_timeout", "5000"),
            ("cache_size", "-16000"),
            ("temp_store", "MEMORY"),
            // No memory-mapped I/O: mapped database pages count as resident memory and grow
            // with the file (36 MB after a 10 000-delivery burst); the page cache above is
            // bounded and the throughput is the same (measured).
            ("mmap_size", "0"),
            ("wal_autocheckpoint", "10000"),
        ] {
            connection.pragma_update(None, name, value).map_err(backend)?;
        }
        connection.execute_batch(SCHEMA).map_err(backend)?;
        connection.set_prepared_statement_cache_capacity(64);
        Ok(Self {
            connection: Arc::new(tokio::sync::Mutex::new(connection)),
            pending: Arc::new(Mutex::new(Vec::new())),
        })
    }

    async fn with_connection<T>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut guard = self.connection.lock().await;
        work(&mut guard)
    }

    fn take_pending(&self) -> Vec<PendingWrite> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }
}

const COLUMNS: &str = "pk, sk, kind, version, data, gsi1pk, gsi1sk, gsi2pk, gsi2sk, expires_at";

fn read_item(row: &rusqlite::Row<'_>) -> rusqlite::Result<Item> {
    let index = |pk: Option<String>, sk: Option<String>| pk.zip(sk).map(|(pk, sk)| Key { pk, sk });
    Ok(Item {
        key: Key {
            pk: row.get(0)?,
            sk: row.get(1)?,
        },
        kind: row.get(2)?,
        version: row.get::<_, i64>(3)? as u64,
        data: row.get(4)?,
        gsi1: index(row.get(5)?, row.get(6)?),
        gsi2: index(row.get(7)?, row.get(8)?),
        expires_at: row.get(9)?,
    })
}

/// The stored version of a live (unexpired) item, if any.
fn live_version(connection: &Connection, key: &Key, now_secs: i64) -> rusqlite::Result<Option<u64>> {
    connection
        .prepare_cached(
            "SELECT version FROM items WHERE pk = ?1 AND sk = ?2 AND (expires_at IS NULL OR expires_at > ?3)",
        )?
        .query_row(params![key.pk, key.sk, now_secs], |row| row.get::<_, i64>(0))
        .optional()
        .map(|v| v.map(|v| v as u64))
}

fn condition_holds(connection: &Connection, key: &Key, condition: Condition, now_secs: i64) -> rusqlite::Result<bool> {
    Ok(match condition {
        Condition::None => true,
        Condition::Absent => live_version(connection, key, now_secs)?.is_none(),
        Condition::Version(expected) => live_version(connection, key, now_secs)? == Some(expected),
    })
}

/// Checks each operation's condition and applies it; stops at the first failed condition.
fn apply_ops(connection: &Connection, ops: &[WriteOp], now_secs: i64) -> Result<(), StoreError> {
    for op in ops {
        let (key, condition) = match op {
            WriteOp::Put { item, condition } => (&item.key, *condition),
            WriteOp::Delete { key, condition } => (key, *condition),
        };
        if !condition_holds(connection, key, condition, now_secs).map_err(backend)? {
            return Err(StoreError::Conflict);
        }
        apply(connection, op).map_err(backend)?;
    }
    Ok(())
}

/// Applies one writer's operations inside the open transaction, all or nothing.
fn apply_group(connection: &Connection, ops: &[WriteOp], now_secs: i64) -> Result<(), StoreError> {
    let run = |sql: &str| {
        connection
            .prepare_cached(sql)
            .and_then(|mut statement| statement.execute([]))
            .map_err(backend)
    };
    run("SAVEPOINT write_group")?;
    let result = apply_ops(connection, ops, now_secs);
    if result.is_err() {
        run("ROLLBACK TO write_group")?;
    }
    run("RELEASE write_group")?;
    result
}

/// Commits a batch of writes in one transaction and answers each writer.
fn commit_group(connection: &mut Connection, mut batch: Vec<PendingWrite>, now_secs: i64) {
    if batch.len() == 1 {
        // Alone in the group: the transaction itself is the unit, no savepoint needed.
        let write = batch.remove(0);
        let result = (|| {
            let transaction = connection
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(backend)?;
            apply_ops(&transaction, &write.ops, now_secs)?;
            transaction.commit().map_err(backend)
        })();
        let _ = write.reply.send(result);
        return;
    }
    let outcome = (|| {
        let transaction = connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(backend)?;
        let results: Vec<Result<(), StoreError>> = batch
            .iter()
            .map(|write| apply_group(&transaction, &write.ops, now_secs))
            .collect();
        transaction.commit().map_err(backend)?;
        Ok::<_, StoreError>(results)
    })();
    match outcome {
        Ok(results) => {
            for (write, result) in batch.into_iter().zip(results) {
                let _ = write.reply.send(result);
            }
        }
        Err(error) => {
            for write in batch {
                let _ = write.reply.send(Err(error.clone()));
            }
        }
    }
}

fn apply(connection: &Connection, op: &WriteOp) -> rusqlite::Result<()> {
    match op {
        WriteOp::Put { item, .. } => {
            let (g1pk, g1sk) = item.gsi1.as_ref().map(|k| (k.pk.as_str(), k.sk.as_str())).unzip();
            let (g2pk, g2sk) = item.gsi2.as_ref().map(|k| (k.pk.as_str(), k.sk.as_str())).unzip();
            connection
                .prepare_cached(&format!(
                    "INSERT OR REPLACE INTO items ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
                ))?
                .execute(params![
                    item.key.pk,
                    item.key.sk,
                    item.kind,
                    item.version as i64,
                    item.data,
                    g1pk,
                    g1sk,
                    g2pk,
                    g2sk,
                    item.expires_at
                ])?;
        }
        WriteOp::Delete { key, .. } => {
            connection
                .prepare_cached("DELETE FROM items WHERE pk = ?1 AND sk = ?2")?
                .execute(params![key.pk, key.sk])?;
        }
    }
    Ok(())
}

#[async_trait]
impl Table for SqliteTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let now = clock::now_ms() / 1000;
        self.with_connection(move |connection| {
            connection
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM items WHERE pk = ?1 AND sk = ?2 AND (expires_at IS NULL OR expires_at > ?3)"
                ))
                .and_then(|mut statement| statement.query_row(params![key.pk, key.sk, now], read_item).optional())
                .map_err(backend)
        })
        .await
    }

    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(PendingWrite { ops, reply });
        {
            // Whoever gets the connection commits everything queued so far (ours included,
            // unless an earlier holder already did).
            let mut connection = self.connection.lock().await;
            let batch = self.take_pending();
            if !batch.is_empty() {
                commit_group(&mut connection, batch, clock::now_ms() / 1000);
            }
        }
        answer
            .await
            .unwrap_or_else(|_| Err(StoreError::Backend("group commit dropped a write".into())))
    }

    async fn query(&self, query: &Query) -> Result<Vec<Item>, StoreError> {
        let now = clock::now_ms() / 1000;
        self.with_connection(move |connection| {
            let (pk_column, sk_column) = match query.index {
                Index::Primary => ("pk", "sk"),
                Index::Gsi1 => ("gsi1pk", "gsi1sk"),
                Index::Gsi2 => ("gsi2pk", "gsi2sk"),
            };
            let (low, high) = match &query.sk {
                SkRange::Prefix(prefix) => (prefix.clone(), prefix_upper_bound(prefix)),
                SkRange::AtMost(bound) => (String::new(), bound.clone()),
            };
            // The limit is part of the SQL, not a parameter: SQLite re-prepares a statement whose
            // LIMIT is bound on every new binding (10x the cost of the query). Likewise the
            // indexes are full, not partial (a partial index made ?1 plan-relevant).
            let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
            let sql = format!(
                "SELECT {COLUMNS} FROM items WHERE {pk_column} = ?1 AND {sk_column} >= ?2 AND {sk_column} <= ?3 \
                 AND (expires_at IS NULL OR expires_at > ?4) ORDER BY {sk_column} LIMIT {limit}"
            );
            let mut statement = connection.prepare_cached(&sql).map_err(backend)?;
            let rows = statement
                .query_map(params![query.pk, low, high, now], read_item)
                .map_err(backend)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(backend)
        })
        .await
    }
}
