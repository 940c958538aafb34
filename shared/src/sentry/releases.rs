//! Releases and their commits, and short ids: what repositories need of Sentry.
//! `POST …/releases/` creates a release (an existing one answers 208 and gains the projects),
//! `PUT …/releases/{version}/ {"commits"}` replaces its commit list; a project's releases are
//! listed newest first.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::client::{SentryClient, SentryError};
use crate::domain::patch_set::FileChange;

/// A commit as Sentry's set-commits takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SentryCommit {
    pub id: String,
    pub repository: String,
    pub message: String,
    pub author_name: String,
    pub author_email: String,
    pub timestamp: String,
    pub patch_set: Vec<FileChange>,
}

/// A release as the list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseSummary {
    pub version: String,
    #[serde(default)]
    pub date_created: String,
    #[serde(default)]
    pub commit_count: u64,
}

fn decode<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, SentryError> {
    serde_json::from_str(text).map_err(|e| SentryError::Decode(e.to_string()))
}

fn path_segment(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

impl SentryClient {
    /// Creates the release if it is missing (and adds `projects` to it otherwise).
    pub async fn ensure_release(&self, version: &str, projects: &[String]) -> Result<(), SentryError> {
        let body = json!({"version": version, "projects": projects});
        self.send(Method::POST, self.url("releases/"), Some(body))
            .await
            .map(|_| ())
    }

    /// Replaces the release's commits.
    pub async fn set_release_commits(&self, version: &str, commits: &[SentryCommit]) -> Result<(), SentryError> {
        let url = self.url(&format!("releases/{}/", path_segment(version)));
        self.send(Method::PUT, url, Some(json!({"commits": commits})))
            .await
            .map(|_| ())
    }

    /// A project's newest releases (newest first), at most `per_page`.
    pub async fn project_releases(&self, project: &str, per_page: usize) -> Result<Vec<ReleaseSummary>, SentryError> {
        let url = format!(
            "{}/api/0/projects/{}/{}/releases/?per_page={per_page}",
            self.base_url,
            self.organization,
            path_segment(project)
        );
        let (_, text) = self.send(Method::GET, url, None).await?;
        decode(&text)
    }

    /// The issue id a short id (`BACKEND-1A`) names in this organization; `None` when it names none.
    pub async fn issue_of_short_id(&self, short_id: &str) -> Result<Option<String>, SentryError> {
        let url = self.url(&format!("shortids/{}/", path_segment(short_id)));
        match self.send(Method::GET, url, None).await {
            Ok((_, text)) => {
                let found: Value = decode(&text)?;
                Ok(match &found["groupId"] {
                    Value::String(id) => Some(id.clone()),
                    Value::Number(id) => Some(id.to_string()),
                    _ => None,
                })
            }
            Err(SentryError::NotFound(_)) => Ok(None),
            Err(error) => Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_one_path_segment() {
        assert_eq!(path_segment("backend@1.2.3+build 7"), "backend%401.2.3%2Bbuild%207");
        assert_eq!(path_segment("a/b"), "a%2Fb");
    }
}
