//! The records the bridge keeps (docs/architecture.md, data model). Plain data: how each is keyed and stored is
//! the `store` module's business.

mod code_mapping;
mod comment_link;
mod create_attempt;
mod cursor;
mod fix_comment;
mod inbox;
mod integration;
mod link;
mod payload;
mod repository;
mod user_mapping;

pub use code_mapping::CodeMapping;
pub use comment_link::{CommentLink, CommentOrigin};
pub use create_attempt::CreateAttempt;
pub use cursor::Cursor;
pub use fix_comment::FixComment;
pub use inbox::{EventSource, EventStatus, InboxEvent};
pub use integration::{AdoAuthKind, AzureDevOpsSettings, Integration, IntegrationState, SentrySettings};
pub use link::{Link, LinkOrigin, LinkSyncState};
pub use payload::Payload;
pub use repository::{ReleaseRange, Repository};
pub use user_mapping::UserMapping;
