//! The embedded backend: one SQLite file in WAL mode mirroring the DynamoDB table layout.
//!
//! One connection behind an async mutex, statements cached, calls run inline (each is
//! microseconds; a hand-off to the blocking pool would cost more). Writes use **group commit**:
//! a writer queues its operations and waits for its answer; one committer task (started by the
//! first write to find none at work) commits everything queued in one transaction (a write of
//! several operations in its own savepoint, so one failed condition rolls back only its own
//! write; a single operation checks before it changes anything), answers each
//! writer after the commit, and carries on while writes keep arriving. Under concurrent intake
//! that shares the per-commit page writes among many events, and writers never queue for the
//! connection. Reads are answered from a [`ReadCache`] when they can be: this process owns the
//! file (a lock on `{file}.lock`), so every write passes through the commit that keeps it true.
//! WAL checkpoints run on a thread and connection of their own ([`Checkpointer`]).

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use super::read_cache::ReadCache;
use super::sqlite_checkpoint::Checkpointer;
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

/// Writes waiting for a commit, and whether a committer is at work on them.
#[derive(Default)]
struct WriteQueue {
    pending: Vec<PendingWrite>,
    committing: bool,
}

/// The committer task's role. Were the task to stop early (a panic, the runtime shutting
/// down), the role is given up on the way out, so the next write starts a new committer and
/// nothing queued waits forever; the writers of the batch in hand get an error.
struct CommitterRole<'a>(&'a SqliteTable);

impl Drop for CommitterRole<'_> {
    fn drop(&mut self) {
        self.0.queue().committing = false;
    }
}

#[derive(Clone)]
pub struct SqliteTable {
    connection: Arc<tokio::sync::Mutex<Connection>>,
    queue: Arc<Mutex<WriteQueue>>,
    cache: Arc<Mutex<ReadCache>>,
    /// What a file database has beside its connection (an in-memory one has neither).
    file: Option<Arc<FileOwnership>>,
}

/// A database file's lock and checkpoint thread, for as long as the table is open.
struct FileOwnership {
    /// The lock on `{file}.lock`: the read cache is coherent only while one process writes the
    /// file.
    _lock: std::fs::File,
    checkpointer: Checkpointer,
}

/// How long `open` waits for the lock: a table of this process that was just dropped may still
/// be ending its committer task, which holds it a moment longer.
const OWNER_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Takes `{path}.lock` for this process; another process (or table) holding it past
/// [`OWNER_WAIT`] is an error.
fn own(path: &Path) -> Result<std::fs::File, StoreError> {
    let lock_path = format!("{}.lock", path.display());
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| StoreError::Backend(format!("{lock_path}: {e}")))?;
    let started = std::time::Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < OWNER_WAIT => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Backend(format!(
                    "{} is in use by another bridge process",
                    path.display()
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(StoreError::Backend(format!("{lock_path}: {e}"))),
        }
    }
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
        let lock = own(path)?;
        let table = Self::init(Connection::open(path).map_err(backend)?)?;
        let checkpointer = Checkpointer::start(path).map_err(StoreError::Backend)?;
        Ok(Self {
            file: Some(Arc::new(FileOwnership {
                _lock: lock,
                checkpointer,
            })),
            ..table
        })
    }

    /// A private in-memory database (tests, benchmarks).
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory().map_err(backend)?)
    }

    fn init(connection: Connection) -> Result<Self, StoreError> {
        // WAL with NORMAL sync survives a killed process. Normal (not exclusive) locking, so the
        // checkpoint thread's connection can work beside this one.
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
            // 4 MB of pages: every commit scans the cache's hash table once (SQLite drops pages
            // past the end), so a larger cache costs each commit (16 MB: 1.9 % of intake CPU).
            ("cache_size", "-4000"),
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
            queue: Arc::new(Mutex::new(WriteQueue::default())),
            cache: Arc::new(Mutex::new(ReadCache::default())),
            file: None,
        })
    }

    async fn with_connection<T>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut guard = self.connection.lock().await;
        work(&mut guard)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, ReadCache> {
        lock(&self.cache)
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, WriteQueue> {
        lock(&self.queue)
    }

    /// Queues a write; true when the caller must commit (no committer is at work).
    fn enqueue(&self, write: PendingWrite) -> bool {
        let mut queue = self.queue();
        queue.pending.push(write);
        !std::mem::replace(&mut queue.committing, true)
    }

    /// True when writes are queued (the committer keeps its role for them); false gives the
    /// role up.
    fn more_queued(&self) -> bool {
        let mut queue = self.queue();
        if queue.pending.is_empty() {
            queue.committing = false;
        }
        queue.committing
    }

    /// The committer, a task of its own (a writer's request can be dropped mid-way; this
    /// cannot): commits everything queued, batch by batch, until the queue is empty. Before each
    /// commit it lets ready tasks add their writes (a commit's cost is mostly per commit — a
    /// WAL frame per page it touches — so bigger batches cost less per write: 14 % fewer
    /// page writes per delivery under the intake bench), and it yields after each.
    async fn commit_queued(self) {
        let role = CommitterRole(&self);
        while self.more_queued() {
            self.gather().await;
            self.commit_batch().await;
            tokio::task::yield_now().await;
        }
        // `more_queued` gave the role up, and a new committer may hold it already.
        std::mem::forget(role);
    }

    /// Lets the tasks that are ready run first while they keep adding writes, so they share
    /// this commit rather than each paying for one of their own.
    async fn gather(&self) {
        let mut queued = self.queue().pending.len();
        for _ in 0..16 {
            tokio::task::yield_now().await;
            let now = self.queue().pending.len();
            if now == queued {
                break;
            }
            queued = now;
        }
    }

    /// Commits everything queued now in one transaction.
    async fn commit_batch(&self) {
        let mut connection = self.connection.lock().await;
        let batch = std::mem::take(&mut self.queue().pending);
        commit_group(&mut connection, batch, &self.cache, clock::now_ms() / 1000);
        if let Some(file) = &self.file {
            file.checkpointer.nudge();
        }
    }
}

/// The item columns, as a literal (statements are built with `concat!`).
macro_rules! columns {
    () => {
        "pk, sk, kind, version, data, gsi1pk, gsi1sk, gsi2pk, gsi2sk, expires_at"
    };
}
const COLUMNS: &str = columns!();

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

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What a write replaces: the stored row's version and expiry (for its condition) and its index
/// partitions (for the read cache).
struct Previous {
    version: u64,
    expires_at: Option<i64>,
    partitions: Vec<(Index, String)>,
}

fn previous_row(connection: &Connection, key: &Key) -> rusqlite::Result<Option<Previous>> {
    connection
        .prepare_cached("SELECT version, expires_at, gsi1pk, gsi2pk FROM items WHERE pk = ?1 AND sk = ?2")?
        .query_row(params![key.pk, key.sk], |row| {
            let gsi1: Option<String> = row.get(2)?;
            let gsi2: Option<String> = row.get(3)?;
            Ok(Previous {
                version: row.get::<_, i64>(0)? as u64,
                expires_at: row.get(1)?,
                partitions: [(Index::Gsi1, gsi1), (Index::Gsi2, gsi2)]
                    .into_iter()
                    .filter_map(|(index, pk)| pk.map(|pk| (index, pk)))
                    .collect(),
            })
        })
        .optional()
}

fn condition_holds(previous: Option<&Previous>, condition: Condition, now_secs: i64) -> bool {
    let live_version = previous
        .filter(|row| row.expires_at.is_none_or(|at| at > now_secs))
        .map(|row| row.version);
    match condition {
        Condition::None => true,
        Condition::Absent => live_version.is_none(),
        Condition::Version(expected) => live_version == Some(expected),
    }
}

/// A key a batch wrote, with the index partitions its item left or joined.
type Written = (Key, Vec<(Index, String)>);

/// Checks each operation's condition and applies it; stops at the first failed condition.
fn apply_ops(
    connection: &Connection,
    ops: &[WriteOp],
    now_secs: i64,
    written: &mut Vec<Written>,
) -> Result<(), StoreError> {
    for op in ops {
        let (key, condition) = match op {
            WriteOp::Put { item, condition } => (&item.key, *condition),
            WriteOp::Delete { key, condition } => (key, *condition),
        };
        if let WriteOp::Put { item, .. } = op
            && condition == Condition::Absent
            && put(connection, item, OnConflict::Skip).map_err(backend)?
        {
            // A new key (every new inbox event): one statement, no read first.
            written.push((key.clone(), joined_partitions(item).collect()));
            continue;
        }
        let previous = previous_row(connection, key).map_err(backend)?;
        if !condition_holds(previous.as_ref(), condition, now_secs) {
            return Err(StoreError::Conflict);
        }
        let mut partitions = previous.map(|row| row.partitions).unwrap_or_default();
        if let WriteOp::Put { item, .. } = op {
            partitions.extend(joined_partitions(item));
        }
        written.push((key.clone(), partitions));
        apply(connection, op).map_err(backend)?;
    }
    Ok(())
}

/// The index partitions an item joins.
fn joined_partitions(item: &Item) -> impl Iterator<Item = (Index, String)> + '_ {
    [(Index::Gsi1, &item.gsi1), (Index::Gsi2, &item.gsi2)]
        .into_iter()
        .filter_map(|(index, key)| Some((index, key.as_ref()?.pk.clone())))
}

/// Applies one writer's operations inside the open transaction, all or nothing.
fn apply_group(
    connection: &Connection,
    ops: &[WriteOp],
    now_secs: i64,
    written: &mut Vec<Written>,
) -> Result<(), StoreError> {
    if let [_] = ops {
        // One operation checks its condition before it changes anything: nothing to undo.
        return apply_ops(connection, ops, now_secs, written);
    }
    let run = |sql: &str| {
        connection
            .prepare_cached(sql)
            .and_then(|mut statement| statement.execute([]))
            .map_err(backend)
    };
    run("SAVEPOINT write_group")?;
    let result = apply_ops(connection, ops, now_secs, written);
    if result.is_err() {
        run("ROLLBACK TO write_group")?;
    }
    run("RELEASE write_group")?;
    result
}

/// Commits a batch of writes in one transaction and answers each writer. Before the commit,
/// the read cache forgets everything the batch may change (a write rolled back by its failed
/// condition only costs a cache miss).
fn commit_group(connection: &mut Connection, batch: Vec<PendingWrite>, cache: &Mutex<ReadCache>, now_secs: i64) {
    let mut written = Vec::new();
    let outcome = (|| {
        let transaction = connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(backend)?;
        let results: Vec<Result<(), StoreError>> = batch
            .iter()
            .map(|write| apply_group(&transaction, &write.ops, now_secs, &mut written))
            .collect();
        let mut cache = lock(cache);
        for (key, partitions) in &written {
            cache.forget_write(key, partitions.iter().map(|(index, pk)| (*index, pk.as_str())));
        }
        drop(cache);
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

/// What a put does to a stored row with its key.
#[derive(Clone, Copy)]
enum OnConflict {
    Replace,
    /// Leaves the stored row; the put reports that it wrote nothing.
    Skip,
}

/// Writes `item`; false when [`OnConflict::Skip`] met a stored row.
fn put(connection: &Connection, item: &Item, on_conflict: OnConflict) -> rusqlite::Result<bool> {
    let sql = match on_conflict {
        OnConflict::Replace => concat!(
            "INSERT OR REPLACE INTO items (",
            columns!(),
            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
        ),
        OnConflict::Skip => concat!(
            "INSERT INTO items (",
            columns!(),
            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT DO NOTHING"
        ),
    };
    let (g1pk, g1sk) = item.gsi1.as_ref().map(|k| (k.pk.as_str(), k.sk.as_str())).unzip();
    let (g2pk, g2sk) = item.gsi2.as_ref().map(|k| (k.pk.as_str(), k.sk.as_str())).unzip();
    let changed = connection.prepare_cached(sql)?.execute(params![
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
    Ok(changed > 0)
}

fn apply(connection: &Connection, op: &WriteOp) -> rusqlite::Result<()> {
    match op {
        WriteOp::Put { item, .. } => {
            put(connection, item, OnConflict::Replace)?;
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
        if let Some(item) = self.cache().item(key, now) {
            return Ok(Some(item));
        }
        self.with_connection(move |connection| {
            let item = connection
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM items WHERE pk = ?1 AND sk = ?2 AND (expires_at IS NULL OR expires_at > ?3)"
                ))
                .and_then(|mut statement| statement.query_row(params![key.pk, key.sk, now], read_item).optional())
                .map_err(backend)?;
            if let Some(item) = &item {
                self.cache().remember_item(item);
            }
            Ok(item)
        })
        .await
    }

    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        if self.enqueue(PendingWrite { ops, reply }) {
            tokio::spawn(self.clone().commit_queued());
        }
        answer
            .await
            .unwrap_or_else(|_| Err(StoreError::Backend("group commit dropped a write".into())))
    }

    async fn query(&self, query: &Query) -> Result<Vec<Item>, StoreError> {
        let now = clock::now_ms() / 1000;
        if let Some(items) = self.cache().query(query, now) {
            return Ok(items);
        }
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
            let items = rows.collect::<Result<Vec<_>, _>>().map_err(backend)?;
            self.cache().remember_query(query, &items);
            Ok(items)
        })
        .await
    }
}
