//! Process metadata changes rarely: projects, work item types, their states and categories are
//! cached with a TTL so a hot path (every inbound event) makes no metadata call.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::client::AdoClient;
use super::core::NodeKind;
use super::error::AdoError;
use super::types::{Project, TypeCategory, WorkItemState, WorkItemType};

pub const METADATA_TTL: Duration = Duration::from_secs(15 * 60);

/// A small map whose entries expire.
pub struct TtlCache<K, V> {
    ttl: Duration,
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| v.clone())
    }

    pub fn put(&self, key: K, value: V) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, (Instant::now(), value));
    }

    /// The cached value, or `load`'s result (cached on success).
    pub async fn get_or_load<F>(&self, key: K, load: F) -> Result<V, AdoError>
    where
        F: std::future::Future<Output = Result<V, AdoError>>,
    {
        if let Some(value) = self.get(&key) {
            return Ok(value);
        }
        let value = load.await?;
        self.put(key, value.clone());
        Ok(value)
    }
}

/// Cached metadata of one organization.
pub struct Metadata {
    projects: TtlCache<(), Vec<Project>>,
    types: TtlCache<String, Vec<WorkItemType>>,
    states: TtlCache<(String, String), Vec<WorkItemState>>,
    categories: TtlCache<String, Vec<TypeCategory>>,
    paths: TtlCache<(String, bool), Vec<String>>,
    identities: TtlCache<String, bool>,
}

impl Default for Metadata {
    fn default() -> Self {
        Self::with_ttl(METADATA_TTL)
    }
}

impl Metadata {
    pub fn with_ttl(ttl: Duration) -> Self {
        Self {
            projects: TtlCache::new(ttl),
            types: TtlCache::new(ttl),
            states: TtlCache::new(ttl),
            categories: TtlCache::new(ttl),
            paths: TtlCache::new(ttl),
            identities: TtlCache::new(ttl),
        }
    }

    pub async fn projects(&self, client: &AdoClient) -> Result<Vec<Project>, AdoError> {
        self.projects.get_or_load((), client.projects()).await
    }

    pub async fn work_item_types(&self, client: &AdoClient, project: &str) -> Result<Vec<WorkItemType>, AdoError> {
        self.types
            .get_or_load(project.to_string(), client.work_item_types(project))
            .await
    }

    pub async fn states(
        &self,
        client: &AdoClient,
        project: &str,
        work_item_type: &str,
    ) -> Result<Vec<WorkItemState>, AdoError> {
        let key = (project.to_string(), work_item_type.to_string());
        self.states
            .get_or_load(key, client.work_item_type_states(project, work_item_type))
            .await
    }

    /// Area (`NodeKind::Areas`) or iteration paths of a project.
    pub async fn paths(&self, client: &AdoClient, project: &str, kind: NodeKind) -> Result<Vec<String>, AdoError> {
        let key = (project.to_string(), kind == NodeKind::Areas);
        self.paths
            .get_or_load(key, client.classification_paths(project, kind))
            .await
    }

    /// Whether an identity with this email exists (cached, so repeated assignments cost no call).
    pub async fn identity_exists(&self, client: &AdoClient, email: &str) -> Result<bool, AdoError> {
        let email = email.to_lowercase();
        self.identities
            .get_or_load(email.clone(), async {
                Ok(!client.identities_by_email(&email).await?.is_empty())
            })
            .await
    }

    pub async fn categories(&self, client: &AdoClient, project: &str) -> Result<Vec<TypeCategory>, AdoError> {
        self.categories
            .get_or_load(project.to_string(), client.work_item_type_categories(project))
            .await
    }
}
