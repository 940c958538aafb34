//! A `git.push` as the worker applies it: each moved branch's head is recorded on the
//! repository, and every pushed commit whose message says it fixes a Sentry issue of this
//! organization (`Fixes BACKEND-1A`) gets one comment on that issue — once per commit and issue,
//! however often the push (or another push of the same commit) is delivered. Sentry resolves the
//! issue itself when the commit reaches a release.

use crate::App;
use crate::azure_devops::AdoError;
use crate::clock;
use crate::connections::Connection;
use crate::domain::fixes::fixed_short_ids;
use crate::domain::push::{Push, PushCommit};
use crate::failure::Failure;
use crate::records::{FixComment, InboxEvent, Repository};
use crate::repositories::update_repository_with;
use crate::sentry::SentryError;
use crate::store::StoreError;
use crate::worker::Applied;

/// The comment a fixing commit leaves on the issue (the same text for the same commit, so
/// Sentry's duplicate rule catches a repeat after a crash).
pub fn fix_comment(repository: &Repository, commit: &PushCommit, message: &str, branch: Option<&str>) -> String {
    let first_line = message.lines().next().unwrap_or_default().trim();
    let short = &commit.commit_id[..commit.commit_id.len().min(8)];
    let branch = branch.map(|b| format!(" on {b}")).unwrap_or_default();
    let author = if commit.author_email.is_empty() {
        commit.author_name.clone()
    } else {
        format!("{} <{}>", commit.author_name, commit.author_email)
    };
    format!(
        "Commit {short} in {}{branch} by {author} says it fixes this issue:\n> {first_line}\n{}/commit/{}",
        repository.sentry_name, repository.url, commit.commit_id
    )
}

pub async fn apply(app: &App, event: &InboxEvent) -> Result<Applied, Failure> {
    let body: serde_json::Value = serde_json::from_str(event.payload.get())
        .map_err(|e| Failure::Permanent(format!("stored payload is not JSON: {e}")))?;
    let push: Push = serde_json::from_value(body).map_err(|e| Failure::Permanent(format!("not a kept push: {e}")))?;
    let crate::worker::Connected {
        integration,
        connection,
        ..
    } = crate::worker::connected(app, event).await?;
    let Some(repository) = app.store.get_repository(&integration.id, &push.repository_id).await? else {
        return Ok(Applied::note(format!(
            "repository {} is no longer registered; push ignored",
            push.repository_id
        )));
    };
    let mut applied = Applied::nothing();
    record_heads(app, &repository, &push).await?;

    let commits = if push.is_incomplete() {
        let (listed, _) = connection.ado.push_commits(&repository.id, push.push_id).await?;
        applied.notes.push(format!(
            "the delivery carried {} commits; the push's {} read from Azure DevOps",
            push.carried_commits,
            listed.len()
        ));
        listed
            .into_iter()
            .map(|c| PushCommit {
                commit_id: c.commit_id,
                message: c.comment,
                message_truncated: c.comment_truncated,
                author_name: c.author.name,
                author_email: c.author.email,
            })
            .filter(PushCommit::may_fix)
            .collect()
    } else {
        push.commits.clone()
    };
    let noting = Noting {
        app,
        connection: &connection,
        repository: &repository,
        event_id: &event.id,
        branch: push.branch(),
    };
    for commit in &commits {
        noting.commit(commit, &mut applied).await?;
    }
    Ok(applied)
}

/// What noting one push's commits needs.
struct Noting<'a> {
    app: &'a App,
    connection: &'a Connection,
    repository: &'a Repository,
    event_id: &'a str,
    branch: Option<String>,
}

/// A Sentry failure that must wait for a retry (the rest are noted and the push goes on).
fn must_wait(error: &SentryError) -> bool {
    error.is_transient() || matches!(error, SentryError::Auth { .. })
}

impl Noting<'_> {
    /// Notes `commit` on every issue it says it fixes. Only a failure worth retrying is returned;
    /// anything else about one commit or issue is noted and the others go on.
    async fn commit(&self, commit: &PushCommit, applied: &mut Applied) -> Result<(), Failure> {
        let message = self.full_message(commit, applied).await?;
        for short_id in fixed_short_ids(&message) {
            let issue = match self.connection.sentry.issue_of_short_id(&short_id).await {
                Ok(Some(issue)) => issue,
                Ok(None) => {
                    applied.notes.push(format!(
                        "{short_id} (commit {}) is no issue of this organization",
                        commit.commit_id
                    ));
                    continue;
                }
                Err(error) if must_wait(&error) => return Err(error.into()),
                Err(error) => {
                    applied.notes.push(format!("{short_id}: {error}"));
                    continue;
                }
            };
            self.note(commit, &message, &short_id, &issue, applied).await?;
        }
        Ok(())
    }

    /// The message, read whole when the delivery (or the list) cut it and a keyword may be past
    /// the cut; the cut one if the commit cannot be read.
    async fn full_message(&self, commit: &PushCommit, applied: &mut Applied) -> Result<String, Failure> {
        if !commit.message_truncated {
            return Ok(commit.message.clone());
        }
        match self.connection.ado.commit(&self.repository.id, &commit.commit_id).await {
            Ok(full) => Ok(full.comment),
            Err(error @ AdoError::NotFound { .. }) => {
                applied.notes.push(format!(
                    "commit {}: its whole message could not be read ({error})",
                    commit.commit_id
                ));
                Ok(commit.message.clone())
            }
            Err(error) => Err(error.into()),
        }
    }

    /// One comment on `issue` for `commit`: claimed first, so a second push of the same commit
    /// (or a second worker) does not post it again; an attempt of this event that stopped after
    /// posting is recognised by the commit id on the issue.
    async fn note(
        &self,
        commit: &PushCommit,
        message: &str,
        short_id: &str,
        issue: &str,
        applied: &mut Applied,
    ) -> Result<(), Failure> {
        let mut claim = FixComment {
            integration_id: self.repository.integration_id.clone(),
            sentry_issue_id: issue.to_string(),
            commit_id: commit.commit_id.clone(),
            claimed_by: self.event_id.to_string(),
            posted: false,
            posted_at: 0,
            version: 0,
        };
        let noted = format!(
            "Sentry issue {short_id}: commit {} noted as fixing it",
            commit.commit_id
        );
        if let Some(existing) = self.app.store.claim_fix_comment(&mut claim).await? {
            if existing.posted {
                // By an earlier run of this event (whose line said nothing), or by another push.
                if existing.claimed_by == self.event_id {
                    applied.changes.push(noted);
                } else {
                    applied.extend(Applied::unchanged(format!(
                        "commit {} is noted on {short_id} already",
                        commit.commit_id
                    )));
                }
                return Ok(());
            }
            if existing.claimed_by != self.event_id {
                applied.notes.push(format!(
                    "commit {} on {short_id}: noted by event {}",
                    commit.commit_id, existing.claimed_by
                ));
                return Ok(());
            }
            claim = existing;
            let on_issue = self.connection.sentry.comments(issue).await.map_err(Failure::from)?;
            if on_issue
                .iter()
                .any(|c| c.data["text"].as_str().is_some_and(|t| t.contains(&commit.commit_id)))
            {
                self.mark_posted(&mut claim).await?;
                applied.changes.push(noted);
                return Ok(());
            }
        }
        let text = fix_comment(self.repository, commit, message, self.branch.as_deref());
        match self.connection.sentry.add_comment(issue, &text).await {
            // Posted, or posted by an attempt that stopped before marking it.
            Ok(_) => {}
            Err(error) if error.is_duplicate_comment() => {}
            Err(error) if must_wait(&error) => return Err(error.into()),
            Err(error) => {
                applied.notes.push(format!(
                    "commit {} could not be noted on {short_id}: {error}",
                    commit.commit_id
                ));
                return Ok(());
            }
        }
        self.mark_posted(&mut claim).await?;
        applied.changes.push(noted);
        Ok(())
    }

    async fn mark_posted(&self, claim: &mut FixComment) -> Result<(), Failure> {
        claim.posted = true;
        claim.posted_at = clock::now_ms();
        Ok(self.app.store.update_fix_comment(claim).await?)
    }
}

/// Records each moved branch's head, unless a later push already moved it (a late or retried
/// delivery of an older push does not set a head back); a deleted branch is forgotten.
async fn record_heads(app: &App, repository: &Repository, push: &Push) -> Result<(), StoreError> {
    let moves = push.branch_moves();
    update_repository_with(app, repository, |current| {
        let mut changed = false;
        for (branch, head) in &moves {
            if current
                .head_pushes
                .get(branch)
                .is_some_and(|later| *later > push.push_id)
            {
                continue;
            }
            current.head_pushes.insert(branch.clone(), push.push_id);
            match head {
                Some(head) => current.heads.insert(branch.clone(), head.clone()),
                None => current.heads.remove(branch),
            };
            changed = true;
        }
        changed
    })
    .await
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_comment_names_the_commit_its_author_branch_and_link() {
        let repository: Repository = serde_json::from_value(serde_json::json!({"integration_id": "i", "id": "r",
            "name": "web", "project": "P", "url": "https://dev.azure.com/o/P/_git/web", "sentry_name": "P/web",
            "created_at": 0, "updated_at": 0}))
        .unwrap();
        let commit = PushCommit {
            commit_id: "33b55f7cb7e7e245323987634f960cf4a6e6bc74".into(),
            message: String::new(),
            message_truncated: false,
            author_name: "Jamal Hartnett".into(),
            author_email: "jamal@fabrikam.example".into(),
        };
        let text = fix_comment(
            &repository,
            &commit,
            "Guard the divisor (Fixes BACKEND-1)\n\nbody",
            Some("main"),
        );
        assert_eq!(
            text,
            "Commit 33b55f7c in P/web on main by Jamal Hartnett <jamal@fabrikam.example> says it fixes this issue:\n\
             > Guard the divisor (Fixes BACKEND-1)\n\
             https://dev.azure.com/o/P/_git/web/commit/33b55f7cb7e7e245323987634f960cf4a6e6bc74"
        );
    }
}
