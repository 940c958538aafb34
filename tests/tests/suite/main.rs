//! Every cross-function test in one binary: one link instead of eight (each links the AWS SDK,
//! SQLite and both fakes), and one moto server shared by all tests, each on its own table.

mod admin_api;
mod ado_client;
mod ado_to_sentry;
mod aws_local;
mod demo;
mod partitions;
mod readme;
mod reconcile;
mod repositories;
mod secrets;
mod sentry_client;
mod sentry_to_ado;
mod store_conformance;
mod user_mappings;
mod work_items;
