//! A repository's commits in Sentry's form: the range a release gets, each commit with its full
//! message (a message the list cut short is read again) and its files. No cap: every commit of
//! the range gets its files; change lists are read a few commits at a time
//! ([`DETAIL_CONCURRENCY`]), so the calls made are about one per commit (plus one per truncated
//! message and per thousand commits of the range).

use futures_util::{StreamExt, TryStreamExt, stream};

use crate::azure_devops::{AdoClient, AdoError, CommitRef, GitVersion};
use crate::domain::patch_set::patch_set;
use crate::domain::release_version::names_commit;
use crate::records::Repository;
use crate::sentry::SentryCommit;

/// Commits whose details are read at once.
pub const DETAIL_CONCURRENCY: usize = 8;
/// What the first release of a repository gets: the newest commits up to its head.
pub const FIRST_RELEASE_COMMITS: usize = 20;
/// How far back a short commit id is looked for (newest commits of the default branch).
pub const SHORT_ID_SEARCH: usize = 1000;

/// Whether an error means "no such commit or branch" (Azure DevOps answers 404, or 400 for a
/// version descriptor it cannot read).
fn is_unknown_version(error: &AdoError) -> bool {
    matches!(error, AdoError::NotFound { .. } | AdoError::Http { status: 400, .. })
}

fn is_full_sha(text: &str) -> bool {
    text.len() == 40 && text.chars().all(|c| c.is_ascii_hexdigit())
}

/// The commit `given` names in `repository`: a full sha, a branch, or a short sha (7–39 hex, looked
/// for among the default branch's newest [`SHORT_ID_SEARCH`] commits). `None`: none. Returns the
/// sha and the calls made.
pub async fn resolve(
    client: &AdoClient,
    repository: &Repository,
    given: &str,
) -> Result<(Option<String>, u32), AdoError> {
    let given = given.trim();
    if is_full_sha(given) {
        return match client.commit(&repository.id, given).await {
            Ok(commit) => Ok((Some(commit.commit_id), 1)),
            Err(error) if is_unknown_version(&error) => Ok((None, 1)),
            Err(error) => Err(error),
        };
    }
    let mut calls = 1;
    match client.commits_from(&repository.id, GitVersion::Branch(given), 1).await {
        Ok(head) if !head.is_empty() => return Ok((Some(head[0].commit_id.clone()), calls)),
        Ok(_) => {}
        Err(error) if is_unknown_version(&error) => {}
        Err(error) => return Err(error),
    }
    let short = given.to_ascii_lowercase();
    if short.len() < 7 || !short.chars().all(|c| c.is_ascii_hexdigit()) {
        return Ok((None, calls));
    }
    let branch = if repository.default_branch.is_empty() {
        "main"
    } else {
        &repository.default_branch
    };
    calls += 1;
    let recent = match client
        .commits_from(&repository.id, GitVersion::Branch(branch), SHORT_ID_SEARCH)
        .await
    {
        Ok(recent) => recent,
        Err(error) if is_unknown_version(&error) => Vec::new(),
        Err(error) => return Err(error),
    };
    let found = recent.into_iter().find(|c| names_commit(&short, &c.commit_id));
    Ok((found.map(|c| c.commit_id), calls))
}

/// The commits of `base..head` (`base` `None`: the newest [`FIRST_RELEASE_COMMITS`] up to
/// `head`), newest first, as listed. Returns them and the calls made.
pub async fn range(
    client: &AdoClient,
    repository: &Repository,
    base: Option<&str>,
    head: &str,
) -> Result<(Vec<CommitRef>, u32), AdoError> {
    match base {
        Some(base) if base.eq_ignore_ascii_case(head) => Ok((Vec::new(), 0)),
        Some(base) => {
            // Which of `itemVersion` and `compareVersion` is the head is not settled (Azure
            // DevOps' own example and Sentry's integration disagree): the range is the answer that
            // holds the head, asked the other way round only if the first does not.
            let (listed, calls) = client.commit_range(&repository.id, base, head).await?;
            if holds(&listed, head) {
                return Ok((listed, calls));
            }
            let (reversed, more) = client.commit_range(&repository.id, head, base).await?;
            Ok((if holds(&reversed, head) { reversed } else { listed }, calls + more))
        }
        None => {
            let listed = client
                .commits_from(&repository.id, GitVersion::Commit(head), FIRST_RELEASE_COMMITS)
                .await?;
            Ok((listed, 1))
        }
    }
}

fn holds(listed: &[CommitRef], sha: &str) -> bool {
    listed.iter().any(|c| c.commit_id.eq_ignore_ascii_case(sha))
}

/// The full message of a listed commit (read again when the list cut it short).
pub async fn full_message(
    client: &AdoClient,
    repository_id: &str,
    commit: &CommitRef,
) -> Result<(String, u32), AdoError> {
    if commit.comment_truncated {
        Ok((client.commit(repository_id, &commit.commit_id).await?.comment, 1))
    } else {
        Ok((commit.comment.clone(), 0))
    }
}

async fn detail(
    client: &AdoClient,
    repository: &Repository,
    commit: CommitRef,
) -> Result<(SentryCommit, u32), AdoError> {
    let (message, message_calls) = full_message(client, &repository.id, &commit).await?;
    let (changes, change_calls) = client.commit_changes(&repository.id, &commit.commit_id).await?;
    let sentry = SentryCommit::new(
        commit.commit_id,
        repository.sentry_name.clone(),
        message,
        (commit.author.name, commit.author.email),
        commit.author.date,
        patch_set(&changes),
    );
    Ok((sentry, message_calls + change_calls))
}

/// Each listed commit with its full message and files, in the order given. Returns them and the
/// calls made.
pub async fn in_sentry_form(
    client: &AdoClient,
    repository: &Repository,
    listed: Vec<CommitRef>,
) -> Result<(Vec<SentryCommit>, u32), AdoError> {
    let read: Vec<(SentryCommit, u32)> = stream::iter(listed)
        .map(|commit| detail(client, repository, commit))
        .buffered(DETAIL_CONCURRENCY)
        .try_collect()
        .await?;
    let calls = read.iter().map(|(_, calls)| calls).sum();
    Ok((read.into_iter().map(|(commit, _)| commit).collect(), calls))
}
