//! Sentry: the REST client the bridge calls (issues, members, comments).

mod client;
pub mod signature;

pub use client::{SentryClient, SentryComment, SentryError};
