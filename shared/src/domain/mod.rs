//! Pure sync decisions: plain functions over plain data, no I/O. Handlers do the I/O around them.

pub mod ado_event;
pub mod ado_payload;
pub mod ado_to_sentry;
pub mod attribution;
pub mod drift;
pub mod fixes;
pub mod identity;
pub mod key_time;
pub mod order;
pub mod patch_set;
pub mod push;
pub mod release_version;
pub mod sentry_current;
pub mod sentry_event;
pub mod sentry_payload;
pub mod sentry_to_ado;
pub mod settings;
pub mod stacktrace;
pub mod status;
pub mod work_item;
