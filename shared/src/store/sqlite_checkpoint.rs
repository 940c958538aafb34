//! WAL checkpoints of the embedded store on a thread and connection of their own.
//!
//! A checkpoint copies the WAL's pages into the database file and fsyncs both: run by the
//! committer (SQLite's automatic checkpoint), every writer waited for the fsync, and the
//! intake's cores sat idle meanwhile. This thread copies and syncs while writes go on; the
//! committer's automatic checkpoint stays as the bound on the WAL's size, and when it comes it
//! finds little left to copy (it still syncs: the intake bench sees it a few times a run).

use std::path::Path;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::time::Duration;

use rusqlite::Connection;

/// How long the thread lets commits gather before a checkpoint, so a busy moment costs a few
/// checkpoints a second rather than one per commit.
const GATHER: Duration = Duration::from_millis(100);

/// Asks the checkpoint thread for a checkpoint; the thread ends with the last handle.
pub(super) struct Checkpointer {
    wake: SyncSender<()>,
}

impl Checkpointer {
    pub(super) fn start(path: &Path) -> Result<Self, String> {
        let connection = Connection::open(path).map_err(|e| e.to_string())?;
        let (wake, asked) = sync_channel::<()>(1);
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                while asked.recv().is_ok() {
                    std::thread::sleep(GATHER);
                    while asked.try_recv().is_ok() {}
                    // PASSIVE: copies what no reader needs, never waits for the writer. A
                    // failure (a busy moment) is retried at the next commit's request.
                    let _ = connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                }
            })
            .map_err(|e| format!("cannot start the checkpoint thread: {e}"))?;
        Ok(Self { wake })
    }

    /// After a commit: a checkpoint soon, unless one is already asked for.
    pub(super) fn nudge(&self) {
        let _ = self.wake.try_send(());
    }
}
