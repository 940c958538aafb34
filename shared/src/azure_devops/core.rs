//! Organization and process metadata: who the bridge is, projects, work item types, states,
//! categories, area and iteration paths.

use reqwest::Method;

use super::client::AdoClient;
use super::error::AdoError;
use super::types::{ClassificationNode, ConnectionData, Project, TypeCategory, ValueList, WorkItemState, WorkItemType};

/// Which classification tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    Areas,
    Iterations,
}

/// `\Project\Area\Sub` or `\Project\Area\Area\Sub` → `Project\Sub` paths as work item fields use them.
pub fn flatten_paths(root: &ClassificationNode, project: &str) -> Vec<String> {
    fn walk(node: &ClassificationNode, prefix: &str, out: &mut Vec<String>) {
        let path = if prefix.is_empty() {
            node.name.clone()
        } else {
            format!("{prefix}\\{}", node.name)
        };
        out.push(path.clone());
        for child in &node.children {
            walk(child, &path, out);
        }
    }
    let mut out = vec![project.to_string()];
    for child in &root.children {
        walk(child, project, &mut out);
    }
    out
}

impl AdoClient {
    /// The authenticated identity (the bridge's own, for echo suppression) and the collection id.
    /// Also the cheapest credential check.
    pub async fn connection_data(&self) -> Result<ConnectionData, AdoError> {
        let url = self.url(
            &["_apis", "connectionData"],
            &[("connectOptions", "none"), ("api-version", "7.1-preview")],
        );
        self.call(Method::GET, url, None).await
    }

    /// Every well-formed project, following `x-ms-continuationtoken` pages.
    pub async fn projects(&self) -> Result<Vec<Project>, AdoError> {
        let mut projects = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![("stateFilter", "wellFormed"), ("$top", "100")];
            if let Some(token) = token.as_deref() {
                query.push(("continuationToken", token));
            }
            let url = self.url(&["_apis", "projects"], &query);
            let reply = self.send(Method::GET, url, None).await?;
            projects.extend(reply.json::<ValueList<Project>>()?.value);
            match reply.continuation {
                Some(next) if Some(&next) != token.as_ref() => token = Some(next),
                _ => return Ok(projects),
            }
        }
    }

    pub async fn work_item_types(&self, project: &str) -> Result<Vec<WorkItemType>, AdoError> {
        let url = self.url(&[project, "_apis", "wit", "workitemtypes"], &[]);
        Ok(self
            .call::<ValueList<WorkItemType>>(Method::GET, url, None)
            .await?
            .value)
    }

    pub async fn work_item_type_states(
        &self,
        project: &str,
        work_item_type: &str,
    ) -> Result<Vec<WorkItemState>, AdoError> {
        let url = self.url(
            &[project, "_apis", "wit", "workitemtypes", work_item_type, "states"],
            &[],
        );
        Ok(self
            .call::<ValueList<WorkItemState>>(Method::GET, url, None)
            .await?
            .value)
    }

    pub async fn work_item_type_categories(&self, project: &str) -> Result<Vec<TypeCategory>, AdoError> {
        let url = self.url(&[project, "_apis", "wit", "workitemtypecategories"], &[]);
        Ok(self
            .call::<ValueList<TypeCategory>>(Method::GET, url, None)
            .await?
            .value)
    }

    /// Area or iteration paths of a project, as `Project\A\B` strings, the project root first.
    pub async fn classification_paths(&self, project: &str, kind: NodeKind) -> Result<Vec<String>, AdoError> {
        let group = match kind {
            NodeKind::Areas => "areas",
            NodeKind::Iterations => "iterations",
        };
        let url = self.url(
            &[project, "_apis", "wit", "classificationnodes", group],
            &[("$depth", "10")],
        );
        let root: ClassificationNode = self.call(Method::GET, url, None).await?;
        Ok(flatten_paths(&root, project))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_flattened_depth_first() {
        let root: ClassificationNode = serde_json::from_value(serde_json::json!({
            "name": "Fabrikam", "path": "\\Fabrikam\\Area", "hasChildren": true,
            "children": [
                {"name": "Web", "hasChildren": true, "children": [{"name": "Checkout"}]},
                {"name": "Mobile"}
            ]
        }))
        .unwrap();
        assert_eq!(
            flatten_paths(&root, "Fabrikam"),
            vec![
                "Fabrikam",
                "Fabrikam\\Web",
                "Fabrikam\\Web\\Checkout",
                "Fabrikam\\Mobile"
            ]
        );
    }
}
