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

    /// Every repository of the organization.
    pub async fn repositories(&self) -> Result<Vec<Repository>, AdoError> {
        let url = self.url(&["_apis", "git", "repositories"], &[]);
        Ok(self.call::<ValueList<Repository>>(Method::GET, url, None).await?.value)
    }

    pub async fn repository(&self, repository_id: &str) -> Result<Repository, AdoError> {
        let url = self.url(&["_apis", "git", "repositories", repository_id], &[]);
        self.call(Method::GET, url, None).await
    }

    /// Recent commits of a repository (newest first), at most `top`.
    pub async fn commits(&self, repository_id: &str, top: usize) -> Result<Vec<CommitRef>, AdoError> {
        let top = top.to_string();
        let url = self.url(
            &["_apis", "git", "repositories", repository_id, "commits"],
            &[("searchCriteria.$top", &top)],
        );
        Ok(self.call::<ValueList<CommitRef>>(Method::GET, url, None).await?.value)
    }

    /// One commit with its full message.
    pub async fn commit(&self, repository_id: &str, commit_id: &str) -> Result<CommitRef, AdoError> {
        let url = self.url(
            &["_apis", "git", "repositories", repository_id, "commits", commit_id],
            &[],
        );
        self.call(Method::GET, url, None).await
    }

    /// Commits reachable from `head` but not from `base` (`commitsbatch`), newest first.
    pub async fn commit_range(
        &self,
        repository_id: &str,
        base: &str,
        head: &str,
        top: usize,
    ) -> Result<Vec<CommitRef>, AdoError> {
        let top = top.to_string();
        let url = self.url(
            &["_apis", "git", "repositories", repository_id, "commitsbatch"],
            &[("$top", &top)],
        );
        let body = json!({
            "itemVersion": {"versionType": "commit", "version": head},
            "compareVersion": {"versionType": "commit", "version": base}
        });
        Ok(self
            .call::<ValueList<CommitRef>>(Method::POST, url, Some(Body::Json(body)))
            .await?
            .value)
    }

    /// Files a commit changed.
    pub async fn commit_changes(&self, repository_id: &str, commit_id: &str) -> Result<Vec<Change>, AdoError> {
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
            &[],
        );
        Ok(self.call::<Changes>(Method::GET, url, None).await?.changes)
    }
}
