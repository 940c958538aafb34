//! Identities and Git: user lookup by email, repositories, commits, commit ranges, changes.

use reqwest::Method;
use serde_json::json;

use super::client::{AdoClient, Body};
use super::error::AdoError;
use super::types::{Change, CommitRef, Identity, Repository, ValueList};

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Changes {
    changes: Vec<Change>,
}

impl AdoClient {
    /// Identities whose mail or account matches `email` (on the identity host).
    pub async fn identities_by_email(&self, email: &str) -> Result<Vec<Identity>, AdoError> {
        let url = self.identity_endpoint(
            &["_apis", "identities"],
            &[
                ("searchFilter", "General"),
                ("filterValue", email),
                ("queryMembership", "None"),
            ],
        );
        Ok(self.call::<ValueList<Identity>>(Method::GET, url, None).await?.value)
    }

    /// Every repository of the organization (every project's), continuation tokens followed.
    pub async fn repositories(&self) -> Result<Vec<Repository>, AdoError> {
        let mut all = Vec::new();
        let mut continuation: Option<String> = None;
        loop {
            let mut query = Vec::new();
            if let Some(token) = &continuation {
                query.push(("continuationToken", token.as_str()));
            }
            let url = self.url(&["_apis", "git", "repositories"], &query);
            let reply = self.send(Method::GET, url, None).await?;
            all.extend(reply.json::<ValueList<Repository>>()?.value);
            match reply.continuation {
                Some(next) if Some(&next) != continuation.as_ref() => continuation = Some(next),
                _ => return Ok(all),
            }
        }
    }

    pub async fn repository(&self, repository_id: &str) -> Result<Repository, AdoError> {
        let url = self.url(&["_apis", "git", "repositories", repository_id], &[]);
        self.call(Method::GET, url, None).await
    }

    /// Commits reachable from `version` (newest first), at most `top`.
    pub async fn commits_from(
        &self,
        repository_id: &str,
        version: GitVersion<'_>,
        top: usize,
    ) -> Result<Vec<CommitRef>, AdoError> {
        let top = top.to_string();
        let (version, version_type) = version.parts();
        let url = self.url(
            &["_apis", "git", "repositories", repository_id, "commits"],
            &[
                ("searchCriteria.itemVersion.version", version),
                ("searchCriteria.itemVersion.versionType", version_type),
                ("searchCriteria.$top", &top),
            ],
        );
        Ok(self.call::<ValueList<CommitRef>>(Method::GET, url, None).await?.value)
    }

    /// The commits of one push (`GET …/commits?pushId=`), every page. Returns them and the calls made.
    pub async fn push_commits(&self, repository_id: &str, push_id: u64) -> Result<(Vec<CommitRef>, u32), AdoError> {
        let push_id = push_id.to_string();
        let top = PAGE.to_string();
        every_page(|skip| {
            let skip = skip.to_string();
            let url = self.url(
                &["_apis", "git", "repositories", repository_id, "commits"],
                &[("pushId", push_id.as_str()), ("top", &top), ("skip", &skip)],
            );
            async move { Ok(self.call::<ValueList<CommitRef>>(Method::GET, url, None).await?.value) }
        })
        .await
    }

    /// One commit with its full message.
    pub async fn commit(&self, repository_id: &str, commit_id: &str) -> Result<CommitRef, AdoError> {
        let url = self.url(
            &["_apis", "git", "repositories", repository_id, "commits", commit_id],
            &[],
        );
        self.call(Method::GET, url, None).await
    }

    /// Commits reachable from `head` but not from `base` (`commitsbatch`), newest first, every
    /// page. Returns them and the calls made.
    pub async fn commit_range(
        &self,
        repository_id: &str,
        base: &str,
        head: &str,
    ) -> Result<(Vec<CommitRef>, u32), AdoError> {
        let top = PAGE.to_string();
        let body = json!({
            "itemVersion": {"versionType": "commit", "version": head},
            "compareVersion": {"versionType": "commit", "version": base}
        });
        every_page(|skip| {
            let skip = skip.to_string();
            let url = self.url(
                &["_apis", "git", "repositories", repository_id, "commitsbatch"],
                &[("$top", &top), ("$skip", &skip)],
            );
            let body = Body::Json(body.clone());
            async move {
                Ok(self
                    .call::<ValueList<CommitRef>>(Method::POST, url, Some(body))
                    .await?
                    .value)
            }
        })
        .await
    }

    /// Files a commit changed, every page. Returns them and the calls made.
    pub async fn commit_changes(&self, repository_id: &str, commit_id: &str) -> Result<(Vec<Change>, u32), AdoError> {
        let top = PAGE.to_string();
        every_page(|skip| {
            let skip = skip.to_string();
            let url = self.url(
                &[
                    "_apis",
                    "git",
                    "repositories",
                    repository_id,
                    "commits",
                    commit_id,
                    "changes",
                ],
                &[("top", &top), ("skip", &skip)],
            );
            async move { Ok(self.call::<Changes>(Method::GET, url, None).await?.changes) }
        })
        .await
    }
}

/// Every page of a list read [`PAGE`] items at a time (`page_at(items read so far)`), until a page
/// comes back short. Returns the items and the calls made.
async fn every_page<T, F, Fut>(mut page_at: F) -> Result<(Vec<T>, u32), AdoError>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<T>, AdoError>>,
{
    let mut all = Vec::new();
    let mut calls = 0;
    loop {
        let page = page_at(all.len()).await?;
        calls += 1;
        let full = page.len() >= PAGE;
        all.extend(page);
        if !full {
            return Ok((all, calls));
        }
    }
}

/// Items per page of the paged git lists.
pub const PAGE: usize = 1000;

/// A branch or a commit, as the git API names a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GitVersion<'a> {
    Branch(&'a str),
    Commit(&'a str),
}

impl GitVersion<'_> {
    fn parts(&self) -> (&str, &'static str) {
        match self {
            GitVersion::Branch(name) => (name.trim_start_matches("refs/heads/"), "branch"),
            GitVersion::Commit(sha) => (sha, "commit"),
        }
    }
}
