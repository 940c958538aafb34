//! Persistence. One table layout (docs/architecture.md, data model: `pk`/`sk`, two overloaded GSIs, a TTL
//! attribute, a `version` for optimistic concurrency) behind the small [`Table`] trait, with two
//! backends — DynamoDB and SQLite — and one typed [`Store`] on top, so both backends share every
//! rule about keys, versions and conflicts.

mod api;
mod dynamodb;
mod keys;
mod read_cache;
mod sqlite;
mod sqlite_checkpoint;
mod table;

pub use api::{Inserted, Lease, Store};
pub use dynamodb::DynamoTable;
pub use keys::Record;
pub use sqlite::SqliteTable;
pub use table::{Condition, Index, Item, Key, Query, SkRange, Table, WriteOp};

/// What can go wrong in the store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A conditional write failed: the record exists already, or its version moved on.
    #[error("conditional write failed")]
    Conflict,
    /// The backend is throttling or unreachable; the caller may retry later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("store error: {0}")]
    Backend(String),
    /// A stored item could not be decoded.
    #[error("corrupt record: {0}")]
    Corrupt(String),
}
