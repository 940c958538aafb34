//! A commit's changed files in Sentry's `patch_set` form, from Azure DevOps' change list.
//!
//! Sentry's own integration maps `add`/`edit`/`delete` and drops everything else (renames and
//! combined values such as `"edit, rename"`). Here `changeType` is read as the flags it is: a
//! rename is its old path deleted and its new path added, a combined value counts its strongest
//! flag, and folders are skipped.

use serde::Serialize;

use crate::azure_devops::Change;

/// One file of a commit as Sentry takes it: `A`, `M` or `D`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileChange {
    pub path: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

fn file(path: &str, kind: &'static str) -> FileChange {
    FileChange {
        path: path.to_string(),
        kind,
    }
}

/// What one change contributes: nothing for folders and flags that change no content (`lock`,
/// `property`, a rename's source entry without `delete`).
pub fn file_changes(change: &Change) -> Vec<FileChange> {
    let item = &change.item;
    if item.is_folder || item.git_object_type == "tree" || item.path.is_empty() {
        return Vec::new();
    }
    let flags: Vec<String> = change
        .change_type
        .split(',')
        .map(|flag| flag.trim().to_ascii_lowercase())
        .collect();
    let has = |flag: &str| flags.iter().any(|f| f == flag);
    let original = change
        .original_path
        .as_deref()
        .or(change.source_server_item.as_deref())
        .filter(|old| !old.is_empty() && *old != item.path);
    if has("rename")
        && let Some(old) = original
    {
        return vec![file(old, "D"), file(&item.path, "A")];
    }
    if has("delete") {
        vec![file(&item.path, "D")]
    } else if has("add") || has("undelete") || has("branch") {
        vec![file(&item.path, "A")]
    } else if has("edit") || has("rename") || has("encoding") || has("merge") || has("rollback") {
        vec![file(&item.path, "M")]
    } else {
        Vec::new()
    }
}

/// The commit's patch set: every change's files, each path and kind once, in the order given.
pub fn patch_set(changes: &[Change]) -> Vec<FileChange> {
    let mut files: Vec<FileChange> = Vec::new();
    for change in changes {
        for entry in file_changes(change) {
            if !files.contains(&entry) {
                files.push(entry);
            }
        }
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn change(value: serde_json::Value) -> Change {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn the_fixture_gives_edits_adds_renames_and_deletes_and_no_folders() {
        let path = format!(
            "{}/tests/fixtures/azure-devops/api/git.commit.changes.response.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let body: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let changes: Vec<Change> = serde_json::from_value(body["changes"].clone()).unwrap();
        let kinds: Vec<(String, &str)> = patch_set(&changes).into_iter().map(|f| (f.path, f.kind)).collect();
        assert_eq!(
            kinds,
            vec![
                ("/src/billing.py".to_string(), "M"),
                ("/tests/test_billing.py".to_string(), "A"),
                ("/src/currency.py".to_string(), "D"),
                ("/src/money.py".to_string(), "A"),
                ("/old/legacy.py".to_string(), "D"),
            ]
        );
    }

    #[test]
    fn combined_flags_count_their_strongest_and_odd_ones_nothing() {
        let blob = |kind: &str| change(json!({"item": {"gitObjectType": "blob", "path": "/a.rs"}, "changeType": kind}));
        let kind = |kind: &str| file_changes(&blob(kind)).first().map(|f| f.kind);
        assert_eq!(kind("add"), Some("A"));
        assert_eq!(kind("edit"), Some("M"));
        assert_eq!(kind("delete"), Some("D"));
        assert_eq!(kind("delete, sourceRename"), Some("D"));
        assert_eq!(kind("edit, encoding"), Some("M"));
        assert_eq!(kind("Add, Edit"), Some("A"));
        assert_eq!(
            kind("rename"),
            Some("M"),
            "a rename without its old path is an edit of the new one"
        );
        assert_eq!(kind("sourceRename"), None);
        assert_eq!(kind("lock"), None);
        assert_eq!(kind("none"), None);
    }

    #[test]
    fn a_rename_is_the_old_path_deleted_and_the_new_added_once() {
        let renamed = change(json!({"item": {"gitObjectType": "blob", "path": "/new.rs"},
            "changeType": "rename", "sourceServerItem": "/old.rs"}));
        let source =
            change(json!({"item": {"gitObjectType": "blob", "path": "/old.rs"}, "changeType": "delete, sourceRename"}));
        let kinds: Vec<(String, &str)> = patch_set(&[renamed, source])
            .into_iter()
            .map(|f| (f.path, f.kind))
            .collect();
        assert_eq!(kinds, vec![("/old.rs".into(), "D"), ("/new.rs".into(), "A")]);
    }

    #[test]
    fn folders_are_skipped() {
        let folder =
            change(json!({"item": {"gitObjectType": "tree", "path": "/src", "isFolder": true}, "changeType": "add"}));
        assert!(patch_set(&[folder]).is_empty());
    }
}
