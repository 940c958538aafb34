//! The embedded backend: one SQLite file in WAL mode mirroring the DynamoDB table layout.
//! One connection behind a mutex; calls run on the blocking pool so async workers never stall.

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
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_gsi1 ON items (gsi1pk, gsi1sk) WHERE gsi1pk IS NOT NULL;
CREATE INDEX IF NOT EXISTS items_gsi2 ON items (gsi2pk, gsi2sk) WHERE gsi2pk IS NOT NULL;
";

#[derive(Clone)]
pub struct SqliteTable {
    connection: Arc<Mutex<Connection>>,
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
        connection
            .execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;")
            .map_err(backend)?;
        connection.execute_batch(SCHEMA).map_err(backend)?;
        Ok(Self {
            connection: Arc::new(Mutex::new(connection)),
        })
    }

    async fn with_connection<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let connection = self.connection.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = connection.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            work(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))?
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
        .query_row(
            "SELECT version FROM items WHERE pk = ?1 AND sk = ?2 AND (expires_at IS NULL OR expires_at > ?3)",
            params![key.pk, key.sk, now_secs],
            |row| row.get::<_, i64>(0),
        )
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

fn apply(connection: &Connection, op: &WriteOp) -> rusqlite::Result<()> {
    match op {
        WriteOp::Put { item, .. } => {
            let (g1pk, g1sk) = item.gsi1.as_ref().map(|k| (k.pk.as_str(), k.sk.as_str())).unzip();
            let (g2pk, g2sk) = item.gsi2.as_ref().map(|k| (k.pk.as_str(), k.sk.as_str())).unzip();
            connection.execute(
                &format!("INSERT OR REPLACE INTO items ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
                params![
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
                ],
            )?;
        }
        WriteOp::Delete { key, .. } => {
            connection.execute("DELETE FROM items WHERE pk = ?1 AND sk = ?2", params![key.pk, key.sk])?;
        }
    }
    Ok(())
}

#[async_trait]
impl Table for SqliteTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let key = key.clone();
        let now = clock::now_ms() / 1000;
        self.with_connection(move |connection| {
            connection
                .query_row(
                    &format!(
                        "SELECT {COLUMNS} FROM items WHERE pk = ?1 AND sk = ?2 AND (expires_at IS NULL OR expires_at > ?3)"
                    ),
                    params![key.pk, key.sk, now],
                    read_item,
                )
                .optional()
                .map_err(backend)
        })
        .await
    }

    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        let now = clock::now_ms() / 1000;
        self.with_connection(move |connection| {
            let transaction = connection.transaction().map_err(backend)?;
            for op in &ops {
                let (key, condition) = match op {
                    WriteOp::Put { item, condition } => (&item.key, *condition),
                    WriteOp::Delete { key, condition } => (key, *condition),
                };
                if !condition_holds(&transaction, key, condition, now).map_err(backend)? {
                    return Err(StoreError::Conflict);
                }
                apply(&transaction, op).map_err(backend)?;
            }
            transaction.commit().map_err(backend)
        })
        .await
    }

    async fn query(&self, query: &Query) -> Result<Vec<Item>, StoreError> {
        let query = query.clone();
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
            let sql = format!(
                "SELECT {COLUMNS} FROM items WHERE {pk_column} = ?1 AND {sk_column} >= ?2 AND {sk_column} <= ?3 \
                 AND (expires_at IS NULL OR expires_at > ?4) ORDER BY {sk_column} LIMIT ?5"
            );
            let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
            let mut statement = connection.prepare_cached(&sql).map_err(backend)?;
            let rows = statement
                .query_map(params![query.pk, low, high, now, limit], read_item)
                .map_err(backend)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(backend)
        })
        .await
    }
}
