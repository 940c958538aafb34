//! Sentry: the REST client the bridge calls (issues, members, comments, releases).

mod client;
mod releases;
pub mod signature;

pub use client::{SentryClient, SentryComment, SentryError};
pub use releases::{ReleaseSummary, SentryCommit};
