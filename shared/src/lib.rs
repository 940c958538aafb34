//! The bridge's library: every function binary is a thin shell around what lives here.
//!
//! One concern per module: `records` (the data model), `store` (persistence, two backends),
//! `secrets` (credentials, two backends), `http` (routing helpers, auth, JSON errors),
//! `integrations` (the admin API), `app` (wiring), `config` (environment), `local` (the
//! embedded single-machine mode).

pub mod app;
pub mod azure_devops;
pub mod clock;
pub mod config;
pub mod connections;
pub mod domain;
pub mod error;
pub mod failure;
pub mod files;
pub mod functions;
pub mod http;
pub mod intake;
pub mod integrations;
pub mod lease;
pub mod local;
pub mod logging;
pub mod metrics;
pub mod reconcile;
pub mod records;
pub mod repositories;
pub mod retry;
pub mod secrets;
pub mod sentry;
pub mod store;
pub mod work_items;
pub mod worker;

pub use app::App;
pub use axum;
pub use error::ApiError;
