//! Checking per-project sync settings against Azure DevOps when they are saved: every state
//! named in `on_resolve`, `on_unresolve` or `done_states` must exist for some work item type of
//! the project (the worker falls back per type, and records it, when one type lacks it).

use std::collections::BTreeSet;

use crate::azure_devops::AdoClient;
use crate::domain::settings::SyncSettings;
use crate::error::ApiError;

pub async fn check_project_states(client: &AdoClient, settings: &SyncSettings) -> Result<(), ApiError> {
    for (project, sync) in &settings.projects {
        let mut wanted: Vec<&str> = Vec::new();
        wanted.extend(sync.on_resolve.as_deref());
        wanted.extend(sync.on_unresolve.as_deref());
        wanted.extend(sync.done_states.iter().flatten().map(String::as_str));
        if wanted.is_empty() {
            continue;
        }
        let types = match client.work_item_types(project).await {
            Ok(types) => types,
            Err(crate::azure_devops::AdoError::NotFound { .. }) => {
                return Err(ApiError::invalid(format!(
                    "`sync.projects`: Azure DevOps has no project \"{project}\""
                )));
            }
            Err(error) => return Err(error.into()),
        };
        let mut allowed = BTreeSet::new();
        for work_item_type in types.iter().filter(|t| !t.is_disabled) {
            for state in client.work_item_type_states(project, &work_item_type.name).await? {
                allowed.insert(state.name);
            }
        }
        if let Some(missing) = wanted
            .iter()
            .find(|w| !allowed.iter().any(|a| a.eq_ignore_ascii_case(w)))
        {
            let list: Vec<&str> = allowed.iter().map(String::as_str).collect();
            return Err(ApiError::invalid(format!(
                "`sync.projects.{project}`: state \"{missing}\" does not exist in {project}; allowed states: {}",
                list.join(", ")
            )));
        }
    }
    Ok(())
}
