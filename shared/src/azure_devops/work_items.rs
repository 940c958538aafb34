//! Work items: create and update with JSON Patch, read one or a batch, WIQL, comments.

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::client::{AdoClient, Body};
use super::error::AdoError;
use super::types::{Comment, ValueList, WorkItem};

/// Most ids one `workitemsbatch` call takes.
pub const BATCH_LIMIT: usize = 200;
/// Most ids a WIQL query returns.
pub const WIQL_LIMIT: usize = 20_000;
const COMMENTS_VERSION: &str = "7.1-preview.4";
const MARKDOWN_COMMENTS_VERSION: &str = "7.2-preview.4";

/// JSON Patch operations.
pub mod patch {
    use serde_json::{Value, json};

    pub fn add(path: &str, value: impl Into<Value>) -> Value {
        json!({"op": "add", "path": path, "value": value.into()})
    }
    pub fn replace(path: &str, value: impl Into<Value>) -> Value {
        json!({"op": "replace", "path": path, "value": value.into()})
    }
    pub fn remove(path: &str) -> Value {
        json!({"op": "remove", "path": path})
    }
    pub fn test(path: &str, value: impl Into<Value>) -> Value {
        json!({"op": "test", "path": path, "value": value.into()})
    }
    /// `add /fields/{name}`.
    pub fn field(name: &str, value: impl Into<Value>) -> Value {
        add(&format!("/fields/{name}"), value)
    }
    /// A Hyperlink relation (e.g. to the Sentry issue).
    pub fn hyperlink(url: &str, comment: &str) -> Value {
        add(
            "/relations/-",
            json!({"rel": "Hyperlink", "url": url, "attributes": {"comment": comment}}),
        )
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WiqlResult {
    #[serde(default)]
    work_items: Vec<WiqlItem>,
}

#[derive(Deserialize)]
struct WiqlItem {
    id: u64,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct CommentPage {
    comments: Vec<Comment>,
    continuation_token: Option<String>,
}

/// Comment text format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextFormat {
    Markdown,
    Html,
}

impl AdoClient {
    /// Creates a work item of `work_item_type` in `project` from JSON Patch operations.
    pub async fn create_work_item(
        &self,
        project: &str,
        work_item_type: &str,
        ops: Vec<Value>,
    ) -> Result<WorkItem, AdoError> {
        let url = self.url(
            &[project, "_apis", "wit", "workitems", &format!("${work_item_type}")],
            &[],
        );
        self.call(Method::POST, url, Some(Body::JsonPatch(Value::Array(ops))))
            .await
    }

    /// One work item with its relations.
    pub async fn work_item(&self, id: u64) -> Result<WorkItem, AdoError> {
        let url = self.url(
            &["_apis", "wit", "workitems", &id.to_string()],
            &[("$expand", "relations")],
        );
        self.call(Method::GET, url, None).await
    }

    /// Many work items in calls of at most 200 ids; ids that are missing or unreadable are left out.
    pub async fn work_items_batch(&self, ids: &[u64], fields: &[&str]) -> Result<Vec<WorkItem>, AdoError> {
        self.batch(ids, |body| {
            if !fields.is_empty() {
                body["fields"] = json!(fields);
            }
        })
        .await
    }

    /// Like [`Self::work_items_batch`], every field and the relations of each (the two cannot be
    /// asked for together).
    pub async fn work_items_with_relations(&self, ids: &[u64]) -> Result<Vec<WorkItem>, AdoError> {
        self.batch(ids, |body| body["$expand"] = json!("relations")).await
    }

    async fn batch(&self, ids: &[u64], shape: impl Fn(&mut Value)) -> Result<Vec<WorkItem>, AdoError> {
        let mut items = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(BATCH_LIMIT) {
            let mut body = json!({"ids": chunk, "errorPolicy": "omit"});
            shape(&mut body);
            let url = self.url(&["_apis", "wit", "workitemsbatch"], &[]);
            let page: ValueList<Option<WorkItem>> = self.call(Method::POST, url, Some(Body::Json(body))).await?;
            items.extend(page.value.into_iter().flatten());
        }
        Ok(items)
    }

    /// Applies JSON Patch operations; with `expected_rev` a `test /rev` goes first, so a stale
    /// revision fails with [`AdoError::Conflict`] and nothing changes.
    pub async fn update_work_item(
        &self,
        id: u64,
        expected_rev: Option<u64>,
        ops: Vec<Value>,
    ) -> Result<WorkItem, AdoError> {
        let mut all = Vec::with_capacity(ops.len() + 1);
        if let Some(rev) = expected_rev {
            all.push(patch::test("/rev", rev));
        }
        all.extend(ops);
        let url = self.url(&["_apis", "wit", "workitems", &id.to_string()], &[]);
        self.call(Method::PATCH, url, Some(Body::JsonPatch(Value::Array(all))))
            .await
    }

    /// Ids of the organization's work items changed at or after `since_ms` (to the second: one
    /// org-wide WIQL query with `timePrecision`). Azure DevOps refuses a query that would return
    /// more than [`WIQL_LIMIT`] ids.
    pub async fn changed_since(&self, since_ms: i64) -> Result<Vec<u64>, AdoError> {
        let since = crate::clock::rfc3339(since_ms.div_euclid(1000) * 1000);
        let query = format!("SELECT [System.Id] FROM WorkItems WHERE [System.ChangedDate] >= '{since}'");
        let top = WIQL_LIMIT.to_string();
        let url = self.url(&["_apis", "wit", "wiql"], &[("timePrecision", "true"), ("$top", &top)]);
        let result: WiqlResult = self
            .call(Method::POST, url, Some(Body::Json(json!({"query": query}))))
            .await?;
        Ok(result.work_items.into_iter().map(|w| w.id).collect())
    }

    /// Runs a WIQL query in a project; returns the matching ids in the query's order.
    pub async fn wiql(&self, project: &str, query: &str, top: usize) -> Result<Vec<u64>, AdoError> {
        let top = top.to_string();
        let url = self.url(&[project, "_apis", "wit", "wiql"], &[("$top", &top)]);
        let result: WiqlResult = self
            .call(Method::POST, url, Some(Body::Json(json!({"query": query}))))
            .await?;
        Ok(result.work_items.into_iter().map(|w| w.id).collect())
    }

    fn comments_url(
        &self,
        project: &str,
        work_item_id: u64,
        comment_id: Option<u64>,
        format: Option<TextFormat>,
    ) -> url::Url {
        let id = work_item_id.to_string();
        let comment = comment_id.map(|c| c.to_string());
        let mut segments = vec![project, "_apis", "wit", "workItems", id.as_str(), "comments"];
        if let Some(comment) = comment.as_deref() {
            segments.push(comment);
        }
        match format {
            Some(TextFormat::Markdown) => self.url(
                &segments,
                &[("format", "markdown"), ("api-version", MARKDOWN_COMMENTS_VERSION)],
            ),
            _ => self.url(&segments, &[("api-version", COMMENTS_VERSION)]),
        }
    }

    /// Every comment of a work item, oldest first, following body continuation tokens.
    pub async fn comments(&self, project: &str, work_item_id: u64) -> Result<Vec<Comment>, AdoError> {
        let mut comments = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut url = self.comments_url(project, work_item_id, None, None);
            url.query_pairs_mut().append_pair("order", "asc");
            if let Some(token) = token.as_deref() {
                url.query_pairs_mut().append_pair("continuationToken", token);
            }
            let page: CommentPage = self.call(Method::GET, url, None).await?;
            comments.extend(page.comments);
            match page.continuation_token.filter(|t| !t.is_empty()) {
                Some(next) if Some(&next) != token.as_ref() => token = Some(next),
                _ => return Ok(comments),
            }
        }
    }

    pub async fn add_comment(
        &self,
        project: &str,
        work_item_id: u64,
        text: &str,
        format: TextFormat,
    ) -> Result<Comment, AdoError> {
        let url = self.comments_url(project, work_item_id, None, Some(format));
        self.call(Method::POST, url, Some(Body::Json(json!({"text": text}))))
            .await
    }

    pub async fn update_comment(
        &self,
        project: &str,
        work_item_id: u64,
        comment_id: u64,
        text: &str,
        format: TextFormat,
    ) -> Result<Comment, AdoError> {
        let url = self.comments_url(project, work_item_id, Some(comment_id), Some(format));
        self.call(Method::PATCH, url, Some(Body::Json(json!({"text": text}))))
            .await
    }

    pub async fn delete_comment(&self, project: &str, work_item_id: u64, comment_id: u64) -> Result<(), AdoError> {
        let url = self.comments_url(project, work_item_id, Some(comment_id), None);
        self.send(Method::DELETE, url, None).await.map(|_| ())
    }
}
