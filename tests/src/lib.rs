//! Test support shared by every integration test: the moto launcher (real DynamoDB and
//! Secrets Manager APIs on loopback), app builders for both deployment shapes, and an HTTP
//! harness that serves a router on a free loopback port.

pub mod aws_local;
pub mod demo;
pub mod fake_ado;
pub mod fake_sentry;
pub mod moto;
pub mod readme;
pub mod release;
pub mod sentry_app;
pub mod server;
pub mod wait;
