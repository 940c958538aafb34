//! Releases and their commits, and short ids: what repositories need of Sentry.
//! `POST …/releases/` creates a release (an existing one answers 208 and gains the projects),
//! `PUT …/releases/{version}/ {"commits"}` replaces its commit list; a project's releases are
//! listed newest first.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::client::{SentryClient, SentryError};
use crate::domain::patch_set::FileChange;

/// A commit as Sentry's set-commits takes it ([`SentryCommit::new`] keeps within Sentry's limits).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SentryCommit {
    pub id: String,
    pub repository: String,
    pub message: String,
    pub author_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author_email: Option<String>,
    pub timestamp: String,
    pub patch_set: Vec<FileChange>,
}

/// Sentry's `CommitSerializer` limits: an author name of at most 128 characters, an author email
/// (a valid one) of at most 75, file paths of at most 510. A commit outside them would make Sentry
/// refuse the whole list.
pub const MAX_AUTHOR_NAME: usize = 128;
pub const MAX_AUTHOR_EMAIL: usize = 75;
pub const MAX_PATH: usize = 510;

impl SentryCommit {
    pub fn new(
        id: String,
        repository: String,
        message: String,
        (author_name, author_email): (String, String),
        timestamp: String,
        patch_set: Vec<FileChange>,
    ) -> Self {
        let email = author_email.trim();
        let valid_email = email.len() <= MAX_AUTHOR_EMAIL
            && email
                .split_once('@')
                .is_some_and(|(user, host)| !user.is_empty() && host.contains('.'))
            && !email.contains(char::is_whitespace);
        Self {
            id,
            repository,
            message,
            author_name: author_name.chars().take(MAX_AUTHOR_NAME).collect(),
            author_email: valid_email.then(|| email.to_string()),
            timestamp,
            patch_set: patch_set
                .into_iter()
                .filter(|f| f.path.chars().count() <= MAX_PATH)
                .collect(),
        }
    }
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

/// How long Sentry may take to set a release's commits (hundreds of commits with their files).
pub const SET_COMMITS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

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

    /// Replaces the release's commits (a long list gets [`SET_COMMITS_TIMEOUT`] to be taken).
    pub async fn set_release_commits(&self, version: &str, commits: &[SentryCommit]) -> Result<(), SentryError> {
        let url = self.url(&format!("releases/{}/", path_segment(version)));
        let patient = self.clone().with_policy(crate::retry::RetryPolicy {
            timeout: SET_COMMITS_TIMEOUT.max(self.policy.timeout),
            ..self.policy.clone()
        });
        patient
            .send(Method::PUT, url, Some(json!({"commits": commits})))
            .await
            .map(|_| ())
    }

    /// A project's releases created after `after_ms`, newest first: pages of 100 followed (Sentry's
    /// `Link` cursor) down to the first one at or before `after_ms`, at most `max_pages`. Returns
    /// them and the calls made.
    pub async fn releases_since(
        &self,
        project: &str,
        after_ms: i64,
        max_pages: u32,
    ) -> Result<(Vec<ReleaseSummary>, u32), SentryError> {
        let mut releases = Vec::new();
        let mut cursor: Option<String> = None;
        let mut calls = 0;
        while calls < max_pages {
            let mut url = url::Url::parse(&format!(
                "{}/api/0/projects/{}/{}/releases/",
                self.base_url,
                self.organization,
                path_segment(project)
            ))
            .map_err(|e| SentryError::Decode(e.to_string()))?;
            url.query_pairs_mut().append_pair("per_page", "100");
            if let Some(cursor) = &cursor {
                url.query_pairs_mut().append_pair("cursor", cursor);
            }
            let (next, text) = self.send(Method::GET, url.to_string(), None).await?;
            calls += 1;
            let page: Vec<ReleaseSummary> = decode(&text)?;
            let reached_seen = page
                .iter()
                .any(|r| crate::clock::parse_rfc3339(&r.date_created).is_none_or(|at| at <= after_ms));
            releases.extend(page);
            match next {
                Some(next) if !reached_seen => cursor = Some(next),
                _ => break,
            }
        }
        Ok((releases, calls))
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
    fn a_commit_is_kept_within_sentrys_limits() {
        let file = |path: String| FileChange { path, kind: "M" };
        let commit = SentryCommit::new(
            "a".repeat(40),
            "P/web".into(),
            "m".into(),
            ("n".repeat(200), format!("{}@example.com", "x".repeat(80))),
            "2026-01-01T00:00:00Z".into(),
            vec![file("/ok.rs".into()), file(format!("/{}", "p".repeat(600)))],
        );
        assert_eq!(commit.author_name.chars().count(), MAX_AUTHOR_NAME);
        assert_eq!(commit.author_email, None, "too long to be taken");
        assert_eq!(commit.patch_set, vec![file("/ok.rs".into())]);
        let ok = SentryCommit::new(
            "b".into(),
            "r".into(),
            "m".into(),
            ("A".into(), "a@b.example".into()),
            "t".into(),
            vec![],
        );
        assert_eq!(ok.author_email.as_deref(), Some("a@b.example"));
        let odd = SentryCommit::new(
            "b".into(),
            "r".into(),
            "m".into(),
            ("A".into(), "build agent".into()),
            "t".into(),
            vec![],
        );
        assert_eq!(odd.author_email, None);
    }

    #[test]
    fn the_next_page_is_the_link_with_results() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            "link",
            "<https://s/api/0/x/?cursor=100:-1:1>; rel=\"previous\"; results=\"false\"; cursor=\"100:-1:1\", \
             <https://s/api/0/x/?cursor=100:1:0>; rel=\"next\"; results=\"true\"; cursor=\"100:1:0\""
                .parse()
                .unwrap(),
        );
        assert_eq!(super::super::client::next_cursor(&headers).as_deref(), Some("100:1:0"));
        headers.insert(
            "link",
            "<https://s/?cursor=0:0:1>; rel=\"previous\"; results=\"false\"; cursor=\"0:0:1\", \
             <https://s/?cursor=0:100:0>; rel=\"next\"; results=\"false\"; cursor=\"0:100:0\""
                .parse()
                .unwrap(),
        );
        assert_eq!(super::super::client::next_cursor(&headers), None);
    }

    #[test]
    fn versions_are_one_path_segment() {
        assert_eq!(path_segment("backend@1.2.3+build 7"), "backend%401.2.3%2Bbuild%207");
        assert_eq!(path_segment("a/b"), "a%2Fb");
    }
}
