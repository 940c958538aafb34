//! Sentry: the REST client the bridge calls (issues, members, comments).

mod client;

pub use client::{SentryClient, SentryComment, SentryError};
