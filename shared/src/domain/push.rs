//! A `git.push` delivery: what the inbox keeps of it and what the worker reads. The kept copy
//! holds the push id, the repository, the ref updates, the commits that may say they fix an issue
//! (each message cut to [`KEPT_MESSAGE_CHARS`], marked truncated so the worker reads it whole; the
//! others need nothing and are not kept, so a push of any size stays one small item), how many
//! commits the delivery carried, and how many Azure DevOps says the push has (`detailedMessage`:
//! "… pushed 3 commits to …"), so an incomplete commit list is known.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Longest commit message kept in the inbox (the worker reads a longer one from the API).
pub const KEPT_MESSAGE_CHARS: usize = 2000;
/// Most commits kept of one delivery; a push with more that may fix something is read from the API.
pub const KEPT_COMMITS: usize = 100;
/// A delivery carrying this many commits may have been cut by Azure DevOps (its limit is not
/// documented): the push's commits are read from the API.
pub const PAYLOAD_COMMITS_CUT_AT: usize = 100;
const NO_COMMIT: &str = "0000000000000000000000000000000000000000";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushCommit {
    pub commit_id: String,
    pub message: String,
    #[serde(default)]
    pub message_truncated: bool,
    #[serde(default)]
    pub author_name: String,
    #[serde(default)]
    pub author_email: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefUpdate {
    pub name: String,
    pub old_object_id: String,
    pub new_object_id: String,
}

/// What the inbox keeps of a push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Push {
    pub event_id: String,
    pub push_id: u64,
    pub repository_id: String,
    pub ref_updates: Vec<RefUpdate>,
    /// The carried commits that may fix an issue (see [`PushCommit::may_fix`]), at most [`KEPT_COMMITS`].
    pub commits: Vec<PushCommit>,
    /// How many commits the delivery carried.
    #[serde(default)]
    pub carried_commits: usize,
    /// More commits that may fix an issue were carried than kept.
    #[serde(default)]
    pub commits_dropped: bool,
    /// How many commits Azure DevOps says the push has, when it says.
    #[serde(default)]
    pub stated_commits: Option<usize>,
}

impl PushCommit {
    /// Whether the commit may name an issue it fixes: its (kept) message does, or was cut.
    pub fn may_fix(&self) -> bool {
        self.message_truncated || !super::fixes::fixed_short_ids(&self.message).is_empty()
    }
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_string()
}

/// "Jamal Hartnett pushed 3 commits to repo:main." → 3 ("pushed updates" says no number).
pub fn stated_commits(detailed_message: &Value) -> Option<usize> {
    let text = detailed_message["text"].as_str()?;
    let after = text.split(" pushed ").nth(1)?;
    let mut words = after.split_whitespace();
    let count = words.next()?.parse().ok()?;
    words.next().filter(|w| w.starts_with("commit")).map(|_| count)
}

/// Reads a delivery's body (already JSON) as a push.
pub fn parse(body: &Value) -> Result<Push, String> {
    let resource = &body["resource"];
    let event_id = match &body["id"] {
        Value::String(id) if !id.is_empty() => id.clone(),
        Value::Number(n) => n.to_string(),
        _ => return Err("git.push delivery without an event id".into()),
    };
    let push_id = resource["pushId"]
        .as_u64()
        .ok_or("git.push delivery without resource.pushId")?;
    let repository_id = text(&resource["repository"]["id"]);
    if repository_id.is_empty() {
        return Err("git.push delivery without resource.repository.id".into());
    }
    let ref_updates = resource["refUpdates"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| RefUpdate {
            name: text(&r["name"]),
            old_object_id: text(&r["oldObjectId"]),
            new_object_id: text(&r["newObjectId"]),
        })
        .collect();
    let carried: Vec<PushCommit> = resource["commits"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let full = c["comment"].as_str().unwrap_or_default();
            let cut = full.chars().count() > KEPT_MESSAGE_CHARS;
            Some(PushCommit {
                commit_id: c["commitId"].as_str().filter(|id| !id.is_empty())?.to_string(),
                message: full.chars().take(KEPT_MESSAGE_CHARS).collect(),
                message_truncated: cut || c["commentTruncated"].as_bool().unwrap_or(false),
                author_name: text(&c["author"]["name"]),
                author_email: text(&c["author"]["email"]),
            })
        })
        .collect();
    let carried_commits = carried.len();
    let mut commits: Vec<PushCommit> = carried.into_iter().filter(PushCommit::may_fix).collect();
    let commits_dropped = commits.len() > KEPT_COMMITS;
    commits.truncate(KEPT_COMMITS);
    Ok(Push {
        event_id,
        push_id,
        repository_id,
        ref_updates,
        commits,
        carried_commits,
        commits_dropped,
        stated_commits: stated_commits(&body["detailedMessage"]),
    })
}

impl Push {
    /// One inbox event per push and integration, however often it is delivered.
    pub fn dedupe_key(&self, integration_id: &str) -> String {
        format!("ado:push:{integration_id}:{}:{}", self.repository_id, self.push_id)
    }

    /// The delivery carried fewer commits than the push has (it says so, or carried as many as
    /// Azure DevOps may cut a list at), or more that may fix an issue than were kept: the push's
    /// commits are read from the API.
    pub fn is_incomplete(&self) -> bool {
        self.stated_commits.is_some_and(|stated| stated > self.carried_commits)
            || self.carried_commits >= PAYLOAD_COMMITS_CUT_AT
            || self.commits_dropped
    }

    /// Each branch the push moved: its name (no `refs/heads/`) and its new head (`None`: deleted).
    pub fn branch_moves(&self) -> Vec<(String, Option<String>)> {
        self.ref_updates
            .iter()
            .filter_map(|r| {
                let branch = r.name.strip_prefix("refs/heads/")?;
                let head =
                    (r.new_object_id != NO_COMMIT && !r.new_object_id.is_empty()).then(|| r.new_object_id.clone());
                Some((branch.to_string(), head))
            })
            .collect()
    }

    /// The branch to name in a comment: the first one the push moved forward.
    pub fn branch(&self) -> Option<String> {
        self.branch_moves()
            .into_iter()
            .find(|(_, head)| head.is_some())
            .map(|(b, _)| b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fixture() -> Value {
        let path = format!(
            "{}/tests/fixtures/azure-devops/git.push.json",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn the_fixture_reads_as_a_complete_push_to_main() {
        let push = parse(&fixture()).unwrap();
        assert_eq!(push.push_id, 14);
        assert_eq!(push.repository_id, "278d5cd2-584d-4b63-824a-2ba458937249");
        assert_eq!(push.carried_commits, 2);
        assert_eq!(
            push.commits.len(),
            1,
            "only the commit that says it fixes something is kept"
        );
        assert_eq!(push.commits[0].message, "Fix division by zero (Fixes ACME-API-1F)");
        assert_eq!(push.stated_commits, Some(2));
        assert!(!push.is_incomplete());
        assert_eq!(
            push.branch_moves(),
            vec![("main".into(), Some("33b55f7cb7e7e245323987634f960cf4a6e6bc74".into()))]
        );
        assert_eq!(
            push.dedupe_key("i1"),
            "ado:push:i1:278d5cd2-584d-4b63-824a-2ba458937249:14"
        );
    }

    #[test]
    fn a_push_that_carries_fewer_commits_than_it_says_is_incomplete() {
        let mut body = fixture();
        body["detailedMessage"]["text"] = json!("Jamal Hartnett pushed 250 commits to Fabrikam-Fiber-Git:main.");
        assert!(parse(&body).unwrap().is_incomplete());
        body["detailedMessage"] = json!({"text": "Jamal Hartnett pushed updates to Fabrikam-Fiber-Git:main."});
        assert_eq!(parse(&body).unwrap().stated_commits, None);
    }

    #[test]
    fn a_delivery_as_long_as_azure_devops_may_cut_is_read_again_and_keeps_few_commits() {
        let mut body = fixture();
        let commit = body["resource"]["commits"][1].clone();
        body["resource"]["commits"] = Value::Array(vec![commit; PAYLOAD_COMMITS_CUT_AT]);
        body["detailedMessage"] = Value::Null;
        let push = parse(&body).unwrap();
        assert!(push.is_incomplete());
        assert!(push.commits.is_empty(), "none of them fixes anything");
        let fixing = fixture()["resource"]["commits"][0].clone();
        body["resource"]["commits"] = Value::Array(vec![fixing; KEPT_COMMITS + 1]);
        let push = parse(&body).unwrap();
        assert_eq!(push.commits.len(), KEPT_COMMITS);
        assert!(push.commits_dropped && push.is_incomplete());
    }

    #[test]
    fn long_messages_are_cut_and_marked_and_deleted_branches_have_no_head() {
        let mut body = fixture();
        body["resource"]["commits"][0]["comment"] = json!("x".repeat(KEPT_MESSAGE_CHARS + 5));
        body["resource"]["refUpdates"] = json!([{"name": "refs/heads/old", "oldObjectId": "ab", "newObjectId": NO_COMMIT},
                                               {"name": "refs/tags/v1", "oldObjectId": NO_COMMIT, "newObjectId": "cd"}]);
        let push = parse(&body).unwrap();
        assert!(push.commits[0].message_truncated);
        assert_eq!(push.commits[0].message.chars().count(), KEPT_MESSAGE_CHARS);
        assert_eq!(push.branch_moves(), vec![("old".into(), None)]);
        assert_eq!(push.branch(), None);
    }

    #[test]
    fn a_push_without_its_ids_is_refused() {
        let mut body = fixture();
        body["resource"]["pushId"] = Value::Null;
        assert!(parse(&body).is_err());
    }
}
