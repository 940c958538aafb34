//! The storage primitive both backends implement: items addressed by `pk`/`sk`, conditional
//! writes, atomic multi-item writes, and range queries on the primary key or a GSI.

use async_trait::async_trait;

use super::StoreError;

/// Primary key of an item.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

/// One stored item: keys, the record kind, its version, its JSON body, index keys and TTL.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub key: Key,
    pub kind: String,
    pub version: u64,
    pub data: String,
    pub gsi1: Option<Key>,
    pub gsi2: Option<Key>,
    /// Unix seconds; an item past it is treated as absent.
    pub expires_at: Option<i64>,
}

impl Item {
    pub fn is_expired(&self, now_secs: i64) -> bool {
        self.expires_at.is_some_and(|at| at <= now_secs)
    }
}

/// The condition a write must meet, checked atomically with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// Unconditional.
    None,
    /// The item must not exist (an expired item counts as absent).
    Absent,
    /// The item must exist with exactly this version.
    Version(u64),
}

#[derive(Debug, Clone, PartialEq)]
pub enum WriteOp {
    Put { item: Item, condition: Condition },
    Delete { key: Key, condition: Condition },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Index {
    Primary,
    Gsi1,
    Gsi2,
}

/// Which sort keys a query matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkRange {
    /// Sort keys starting with the prefix.
    Prefix(String),
    /// Sort keys less than or equal to the bound.
    AtMost(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub index: Index,
    pub pk: String,
    pub sk: SkRange,
    pub limit: usize,
}

/// A single-table store. Every backend must pass `tests/tests/store_conformance.rs`.
#[async_trait]
pub trait Table: Send + Sync {
    /// Strongly consistent read of one item; expired items read as `None`.
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError>;
    /// Applies all writes atomically; any failed condition → `StoreError::Conflict`, nothing written.
    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError>;
    /// Items matching the query in ascending sort-key order, at most `limit`, expired ones skipped.
    async fn query(&self, query: &Query) -> Result<Vec<Item>, StoreError>;
}

/// The upper bound that makes an inclusive range cover every key with `prefix`.
pub(crate) fn prefix_upper_bound(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
}
