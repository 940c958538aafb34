//! Azure DevOps response shapes the bridge reads. Tolerant: unknown fields are ignored and
//! missing ones default, because ADO adds and omits fields between versions and services.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConnectionData {
    pub authenticated_user: IdentityRef,
    /// The organization's (collection's) host id.
    pub instance_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct IdentityRef {
    pub id: String,
    pub display_name: String,
    pub provider_display_name: String,
    pub unique_name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub state: String,
    pub url: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WorkItemType {
    pub name: String,
    pub reference_name: String,
    pub description: String,
    pub is_disabled: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WorkItemState {
    pub name: String,
    pub color: String,
    /// Proposed, InProgress, Resolved, Completed or Removed.
    pub category: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TypeCategory {
    pub name: String,
    pub reference_name: String,
    pub default_work_item_type: Option<NameRef>,
    pub work_item_types: Vec<NameRef>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NameRef {
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClassificationNode {
    pub name: String,
    /// `\Project\Area\Sub` (with a structure-type segment on some versions).
    pub path: String,
    pub has_children: bool,
    pub children: Vec<ClassificationNode>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WorkItem {
    pub id: u64,
    pub rev: u64,
    pub fields: Map<String, Value>,
    pub relations: Vec<Relation>,
    pub url: String,
    #[serde(rename = "_links")]
    pub links: Value,
}

impl WorkItem {
    pub fn field_str(&self, name: &str) -> Option<&str> {
        self.fields.get(name).and_then(Value::as_str)
    }
    /// The web page of the work item (`_links.html.href`).
    pub fn web_url(&self) -> Option<&str> {
        self.links.get("html")?.get("href")?.as_str()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Relation {
    pub rel: String,
    pub url: String,
    pub attributes: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Comment {
    pub id: u64,
    pub work_item_id: u64,
    pub version: u64,
    pub text: String,
    pub format: String,
    pub created_by: IdentityRef,
    pub created_date: String,
    pub is_deleted: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Identity {
    pub id: String,
    pub provider_display_name: String,
    pub is_active: bool,
    pub properties: Value,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Repository {
    pub id: String,
    pub name: String,
    pub url: String,
    pub project: Project,
    pub default_branch: String,
    pub remote_url: String,
    pub web_url: String,
    pub is_disabled: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GitUserDate {
    pub name: String,
    pub email: String,
    pub date: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CommitRef {
    pub commit_id: String,
    pub author: GitUserDate,
    pub committer: GitUserDate,
    pub comment: String,
    pub comment_truncated: bool,
    pub url: String,
    pub remote_url: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Change {
    pub item: ChangeItem,
    /// `add`, `edit`, `delete`, `rename`, or combinations such as `"edit, rename"`.
    pub change_type: String,
    /// A rename's old path (`originalPath`, or `sourceServerItem` on older answers).
    pub original_path: Option<String>,
    pub source_server_item: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ChangeItem {
    pub path: String,
    pub git_object_type: String,
    pub is_folder: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Subscription {
    pub id: String,
    pub url: String,
    /// enabled, onProbation, disabledByUser, disabledBySystem, disabledByInactiveIdentity.
    pub status: String,
    pub publisher_id: String,
    pub event_type: String,
    pub resource_version: String,
    pub consumer_id: String,
    pub consumer_action_id: String,
    pub publisher_inputs: Map<String, Value>,
    pub consumer_inputs: Map<String, Value>,
}

/// `{"count": n, "value": [...]}`, the usual list envelope.
#[derive(Debug, Clone, Deserialize)]
pub struct ValueList<T> {
    #[serde(default = "Vec::new")]
    pub value: Vec<T>,
}
