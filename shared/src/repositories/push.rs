//! A `git.push` as the worker applies it: each moved branch's head is recorded on the
//! repository, and every pushed commit whose message says it fixes a Sentry issue of this
//! organization (`Fixes BACKEND-1A`) gets one comment on that issue — once per commit and issue,
//! however often the push (or another push of the same commit) is delivered. Sentry resolves the
//! issue itself when the commit reaches a release.

use crate::App;
use crate::azure_devops::AdoClient;
use crate::clock;
use crate::domain::fixes::fixed_short_ids;
use crate::domain::push::{Push, PushCommit};
use crate::failure::Failure;
use crate::records::{FixComment, InboxEvent, Repository};
use crate::retry::ConflictRetries;
use crate::store::StoreError;

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

pub async fn apply(app: &App, event: &InboxEvent) -> Result<Vec<String>, Failure> {
    let body: serde_json::Value = serde_json::from_str(event.payload.get())
        .map_err(|e| Failure::Permanent(format!("stored payload is not JSON: {e}")))?;
    let push: Push = serde_json::from_value(body).map_err(|e| Failure::Permanent(format!("not a kept push: {e}")))?;
    let Some(integration) = app.store.get_integration(&event.integration_id).await? else {
        return Err(Failure::Permanent("the integration was deleted".into()));
    };
    let Some(repository) = app.store.get_repository(&integration.id, &push.repository_id).await? else {
        return Ok(vec![format!(
            "repository {} is no longer registered; push ignored",
            push.repository_id
        )]);
    };
    let secrets = app
        .integration_secrets(&integration)
        .await
        .map_err(|e| Failure::Outage(e.to_string()))?;
    let connection = app
        .connections
        .get(&app.http, &integration, &secrets)
        .map_err(|e| Failure::Permanent(format!("cannot build clients: {e}")))?;
    let mut notes = Vec::new();
    record_heads(app, &repository, &push).await?;

    let commits = if push.is_incomplete() {
        let (listed, _) = connection.ado.push_commits(&repository.id, push.push_id).await?;
        notes.push(format!(
            "the delivery carried {} of the push's commits; {} read from Azure DevOps",
            push.commits.len(),
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
            .collect()
    } else {
        push.commits.clone()
    };
    let branch = push.branch();
    for commit in &commits {
        let message = full_message(&connection.ado, &repository, commit).await?;
        for short_id in fixed_short_ids(&message) {
            let Some(issue) = connection.sentry.issue_of_short_id(&short_id).await? else {
                notes.push(format!(
                    "{short_id} (commit {}) is no issue of this organization",
                    commit.commit_id
                ));
                continue;
            };
            if app
                .store
                .fix_comment_posted(&integration.id, &issue, &commit.commit_id)
                .await?
            {
                continue;
            }
            let text = fix_comment(&repository, commit, &message, branch.as_deref());
            match connection.sentry.add_comment(&issue, &text).await {
                Ok(_) => {}
                // Posted by an attempt that stopped before recording it.
                Err(error) if error.is_duplicate_comment() => {}
                Err(error) => return Err(error.into()),
            }
            app.store
                .record_fix_comment(&mut FixComment {
                    integration_id: integration.id.clone(),
                    sentry_issue_id: issue.clone(),
                    commit_id: commit.commit_id.clone(),
                    posted_at: clock::now_ms(),
                    version: 0,
                })
                .await?;
            tracing::info!(integration = %integration.id, issue = %issue, commit = %commit.commit_id, "fixing commit noted on the Sentry issue");
            notes.push(format!("commit {} noted on {short_id}", commit.commit_id));
        }
    }
    Ok(notes)
}

/// The message, read whole when the delivery (or the list) cut it and a keyword may be past the cut.
async fn full_message(client: &AdoClient, repository: &Repository, commit: &PushCommit) -> Result<String, Failure> {
    if commit.message_truncated {
        Ok(client.commit(&repository.id, &commit.commit_id).await?.comment)
    } else {
        Ok(commit.message.clone())
    }
}

/// Records each moved branch's head (a deleted branch is forgotten).
async fn record_heads(app: &App, repository: &Repository, push: &Push) -> Result<(), StoreError> {
    let moves = push.branch_moves();
    if moves.is_empty() {
        return Ok(());
    }
    let mut current = repository.clone();
    let mut retries = ConflictRetries::new();
    loop {
        for (branch, head) in &moves {
            match head {
                Some(head) => current.heads.insert(branch.clone(), head.clone()),
                None => current.heads.remove(branch),
            };
        }
        current.updated_at = clock::now_ms();
        match app.store.update_repository(&mut current).await {
            Err(StoreError::Conflict) if retries.another() => {
                match app
                    .store
                    .get_repository(&repository.integration_id, &repository.id)
                    .await?
                {
                    Some(fresh) => current = fresh,
                    None => return Ok(()),
                }
            }
            other => return other,
        }
    }
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
