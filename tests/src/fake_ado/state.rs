//! The fake organization's data: projects with Agile or Basic processes, identities,
//! work items with revisions and comments, subscriptions, repositories, commits.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

pub const ORG: &str = "fabrikam";
pub const COLLECTION_ID: &str = "c4f1a7f1-8f3e-4e63-9b2c-7d2d6f4a1c00";
pub const BRIDGE_IDENTITY_ID: &str = "00ca946b-2fe9-4f2a-ae2f-40d5c48001bc";
pub const BRIDGE_EMAIL: &str = "sentry-bridge@fabrikam.example";

#[derive(Debug, Clone)]
pub struct FakeProject {
    pub id: String,
    pub name: String,
    pub process: Process,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Process {
    Agile,
    Basic,
}

/// `(type, disabled, states as (name, category))` for a process.
pub fn process_types(process: Process) -> Vec<(&'static str, bool, Vec<(&'static str, &'static str)>)> {
    match process {
        Process::Agile => vec![
            (
                "Bug",
                false,
                vec![
                    ("New", "Proposed"),
                    ("Active", "InProgress"),
                    ("Resolved", "Resolved"),
                    ("Closed", "Completed"),
                    ("Removed", "Removed"),
                ],
            ),
            (
                "User Story",
                false,
                vec![
                    ("New", "Proposed"),
                    ("Active", "InProgress"),
                    ("Resolved", "Resolved"),
                    ("Closed", "Completed"),
                    ("Removed", "Removed"),
                ],
            ),
            (
                "Task",
                false,
                vec![
                    ("New", "Proposed"),
                    ("Active", "InProgress"),
                    ("Closed", "Completed"),
                    ("Removed", "Removed"),
                ],
            ),
            (
                "Shared Steps",
                true,
                vec![("Active", "InProgress"), ("Closed", "Completed")],
            ),
        ],
        Process::Basic => vec![
            (
                "Issue",
                false,
                vec![("To Do", "Proposed"), ("Doing", "InProgress"), ("Done", "Completed")],
            ),
            (
                "Task",
                false,
                vec![("To Do", "Proposed"), ("Doing", "InProgress"), ("Done", "Completed")],
            ),
            (
                "Epic",
                false,
                vec![("To Do", "Proposed"), ("Doing", "InProgress"), ("Done", "Completed")],
            ),
        ],
    }
}

#[derive(Debug, Clone)]
pub struct FakeIdentity {
    pub id: String,
    pub display_name: String,
    pub email: String,
}

impl FakeIdentity {
    /// `"Display Name <email>"`, the form service-hook payloads use.
    pub fn hook_form(&self) -> String {
        format!("{} <{}>", self.display_name, self.email)
    }
    /// The IdentityRef object REST answers use.
    pub fn reference(&self) -> Value {
        json!({"id": self.id, "displayName": self.display_name, "uniqueName": self.email})
    }
}

#[derive(Debug, Clone)]
pub struct FakeComment {
    pub id: u64,
    pub version: u64,
    pub text: String,
    pub format: String,
    pub author: String,
    pub deleted: bool,
}

#[derive(Debug, Clone)]
pub struct FakeWorkItem {
    pub id: u64,
    pub rev: u64,
    pub project: String,
    pub work_item_type: String,
    /// Field values; identity fields hold the identity's email.
    pub fields: Map<String, Value>,
    pub relations: Vec<Value>,
    pub comments: Vec<FakeComment>,
    pub deleted: bool,
}

#[derive(Debug, Clone)]
pub struct FakeRepository {
    pub id: String,
    pub name: String,
    pub project: String,
    /// One linear history, newest first; every branch points into it.
    pub commits: Vec<FakeCommit>,
    /// Branch name (no `refs/heads/`) → head sha.
    pub branches: BTreeMap<String, String>,
}

impl FakeRepository {
    pub fn new(id: &str, name: &str, project: &str, commits: Vec<FakeCommit>) -> Self {
        let branches = commits
            .first()
            .map(|head| BTreeMap::from([("main".to_string(), head.sha.clone())]))
            .unwrap_or_default();
        Self {
            id: id.into(),
            name: name.into(),
            project: project.into(),
            commits,
            branches,
        }
    }

    pub fn commit(&self, sha: &str) -> Option<&FakeCommit> {
        self.commits.iter().find(|c| c.sha == sha)
    }
}

#[derive(Debug, Clone)]
pub struct FakeCommit {
    pub sha: String,
    pub message: String,
    pub author_name: String,
    pub author_email: String,
    pub date: String,
    /// The change list as the API answers it (`{item, changeType, originalPath?}`).
    pub changes: Vec<Value>,
    pub push_id: Option<u64>,
}

impl FakeCommit {
    /// A commit by Jamal Hartnett adding `/src/{sha}.rs` and editing `/README.md`.
    pub fn new(sha: &str, message: &str) -> Self {
        Self {
            sha: sha.into(),
            message: message.into(),
            author_name: "Jamal Hartnett".into(),
            author_email: "jamal@fabrikam.example".into(),
            date: "2026-11-20T10:00:00Z".into(),
            changes: vec![
                json!({"item": {"gitObjectType": "tree", "path": "/src", "isFolder": true}, "changeType": "edit"}),
                json!({"item": {"gitObjectType": "blob", "path": format!("/src/{sha}.rs")}, "changeType": "add"}),
                json!({"item": {"gitObjectType": "blob", "path": "/README.md"}, "changeType": "edit"}),
            ],
            push_id: None,
        }
    }

    /// Commit `n` of a varied history: a multi-line message (cut in lists) and a folder, an add,
    /// a rename with an edit (`"edit, rename"`), a delete and an edit among its changes.
    /// [`FakeCommit::varied_patch_set`] is what Sentry should get for it.
    pub fn varied(n: usize) -> Self {
        let sha = format!("{:0>40x}", 0xbeef_0000_0000u64 + n as u64);
        Self::new(&sha, &format!("Change {n}: tidy module {n}\n\nWhy: the whole body of change {n}.")).with_changes(vec![
            json!({"item": {"gitObjectType": "tree", "path": format!("/src/mod{n}"), "isFolder": true}, "changeType": "add"}),
            json!({"item": {"gitObjectType": "blob", "path": format!("/src/mod{n}/new.rs")}, "changeType": "add"}),
            json!({"item": {"gitObjectType": "blob", "path": format!("/src/mod{n}/renamed.rs")}, "changeType": "edit, rename",
                   "originalPath": format!("/src/mod{n}/old.rs")}),
            json!({"item": {"gitObjectType": "blob", "path": format!("/docs/gone{n}.md")}, "changeType": "delete"}),
            json!({"item": {"gitObjectType": "blob", "path": "/README.md"}, "changeType": "edit"}),
        ])
    }

    /// The patch set Sentry should get for [`FakeCommit::varied`]`(n)`.
    pub fn varied_patch_set(n: usize) -> Value {
        json!([
            {"path": format!("/src/mod{n}/new.rs"), "type": "A"},
            {"path": format!("/src/mod{n}/old.rs"), "type": "D"},
            {"path": format!("/src/mod{n}/renamed.rs"), "type": "A"},
            {"path": format!("/docs/gone{n}.md"), "type": "D"},
            {"path": "/README.md", "type": "M"}
        ])
    }

    pub fn with_changes(mut self, changes: Vec<Value>) -> Self {
        self.changes = changes;
        self
    }
}

/// Everything the fake remembers.
pub struct State {
    pub base_url: String,
    pub pat: String,
    pub entra_client: (String, String),
    pub entra_token_lifetime: u64,
    pub issued_tokens: Vec<String>,
    pub projects: Vec<FakeProject>,
    pub identities: Vec<FakeIdentity>,
    pub work_items: BTreeMap<u64, FakeWorkItem>,
    pub next_work_item: u64,
    pub next_comment: u64,
    pub next_update: u64,
    pub subscriptions: BTreeMap<String, Value>,
    pub next_notification: u64,
    pub repositories: Vec<FakeRepository>,
    /// Which identity the current credential acts as (the bridge's, normally).
    pub acting_as: String,
    /// This many deliveries are lost: never posted (a subscriber that was down for good).
    pub lose_deliveries: u32,
    /// Most commits a `git.push` delivery carries (the rest only through the API).
    pub push_payload_commits: usize,
    /// `commitsbatch` reads `itemVersion` as the base and `compareVersion` as the head (the other
    /// reading of Azure DevOps' documentation).
    pub commitsbatch_item_is_base: bool,
    pub next_push: u64,
}

/// The `fabrikam-web` repository (project Fabrikam-Fiber).
pub const WEB_REPOSITORY_ID: &str = "3c4a3b2d-1a2b-4c3d-8e9f-0a1b2c3d4e5f";

pub const VALID_PAT: &str = "fake-valid-pat";
/// A second credential that acts as a person (Jamal Hartnett), for changing work items by hand
/// against `fake-services`: the bridge ignores changes made with its own credential (echoes).
pub const PERSON_PAT: &str = "fake-jamal-pat";
pub const PERSON_IDENTITY_ID: &str = "d291b0c4-a05c-4ea6-8df1-4b41d5f39eff";
pub const ENTRA_CLIENT_ID: &str = "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9";
pub const ENTRA_SECRET: &str = "fake-entra-secret";

impl State {
    pub fn new(base_url: String) -> Self {
        let project = |n: u32, name: &str, process| FakeProject {
            id: format!("be9b3917-87e6-42a4-a549-2bc06a7a87{n:02}"),
            name: name.to_string(),
            process,
        };
        let identity = |id: &str, name: &str, email: &str| FakeIdentity {
            id: id.into(),
            display_name: name.into(),
            email: email.into(),
        };
        let commits = (1..=5)
            .rev()
            .map(|n| {
                FakeCommit::new(
                    &format!("{n:0>40}"),
                    &format!("Commit number {n}\n\nLonger body of commit {n}."),
                )
            })
            .collect();
        Self {
            base_url,
            pat: VALID_PAT.into(),
            entra_client: (ENTRA_CLIENT_ID.into(), ENTRA_SECRET.into()),
            entra_token_lifetime: 3599,
            issued_tokens: Vec::new(),
            projects: vec![
                project(1, "Fabrikam-Fiber", Process::Agile),
                project(2, "Contoso Web", Process::Basic),
                project(3, "Archive", Process::Agile),
            ],
            identities: vec![
                identity(BRIDGE_IDENTITY_ID, "Sentry Bridge", BRIDGE_EMAIL),
                identity(PERSON_IDENTITY_ID, "Jamal Hartnett", "jamal@fabrikam.example"),
                identity(
                    "8f2e3a14-6c0b-4d1e-9a57-2b3c4d5e6f70",
                    "Alice Chen",
                    "alice@fabrikam.example",
                ),
            ],
            work_items: BTreeMap::new(),
            next_work_item: 1,
            next_comment: 1000,
            next_update: 1,
            subscriptions: BTreeMap::new(),
            next_notification: 1,
            repositories: vec![
                FakeRepository::new(WEB_REPOSITORY_ID, "fabrikam-web", "Fabrikam-Fiber", commits),
                FakeRepository::new(
                    "4d5b4c3e-2b3c-4d4e-9f0a-1b2c3d4e5f60",
                    "fabrikam-api",
                    "Fabrikam-Fiber",
                    vec![FakeCommit::new(&"a".repeat(40), "Initial API")],
                ),
                FakeRepository::new(
                    "5e6c5d4f-3c4d-4e5f-8a1b-2c3d4e5f6071",
                    "site",
                    "Contoso Web",
                    vec![FakeCommit::new(&"c".repeat(40), "Initial site")],
                ),
            ],
            push_payload_commits: 100,
            commitsbatch_item_is_base: false,
            acting_as: BRIDGE_IDENTITY_ID.into(),
            lose_deliveries: 0,
            next_push: 100,
        }
    }

    pub fn project(&self, name_or_id: &str) -> Option<&FakeProject> {
        self.projects
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name_or_id) || p.id == name_or_id)
    }

    pub fn identity_by_email(&self, email: &str) -> Option<&FakeIdentity> {
        self.identities.iter().find(|i| i.email.eq_ignore_ascii_case(email))
    }

    pub fn identity_by_id(&self, id: &str) -> Option<&FakeIdentity> {
        self.identities.iter().find(|i| i.id == id)
    }

    pub fn acting_identity(&self) -> FakeIdentity {
        self.identity_by_id(&self.acting_as)
            .cloned()
            .unwrap_or_else(|| self.identities[0].clone())
    }
}
