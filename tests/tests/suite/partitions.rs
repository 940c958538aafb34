//! Where a burst of deliveries writes. DynamoDB caps one partition key near 1 000 writes a
//! second, and a throttled index throttles the table's writes: a partition key every tenant's
//! events write to would stop intake for all of them at once. The store here counts, for each
//! partition key of the table and of both indexes, the item writes a burst makes there.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bridge_tests::server::{Linked, start_over};
use reqwest::StatusCode;
use serde_json::json;
use shared::azure_devops::patch;
use shared::records::EventStatus;
use shared::store::{Item, Key, Query, SqliteTable, StoreError, Table, WriteOp};

const JAMAL: &str = bridge_tests::fake_ado::PERSON_IDENTITY_ID;

/// Counts item writes per partition key: the table's (`pk`) and each index's (`gsi1:…`,
/// `gsi2:…`). An index entry that moves to another key is a delete there and a put here; one
/// that stays is one write.
struct CountingTable {
    inner: SqliteTable,
    writes: Mutex<HashMap<String, u64>>,
}

impl CountingTable {
    fn count(&self, partition: String) {
        *self.writes.lock().unwrap().entry(partition).or_default() += 1;
    }

    fn count_index(&self, name: &str, old: Option<&Key>, new: Option<&Key>) {
        match (old, new) {
            (Some(old), Some(new)) if old.pk == new.pk && old.sk == new.sk => self.count(format!("{name}:{}", new.pk)),
            _ => {
                for key in [old, new].into_iter().flatten() {
                    self.count(format!("{name}:{}", key.pk));
                }
            }
        }
    }

    fn writes(&self) -> HashMap<String, u64> {
        self.writes.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl Table for CountingTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.inner.get(key).await
    }

    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        let mut before = Vec::new();
        for op in &ops {
            let key = match op {
                WriteOp::Put { item, .. } => &item.key,
                WriteOp::Delete { key, .. } => key,
            };
            before.push(self.inner.get(key).await?);
        }
        self.inner.write(ops.clone()).await?;
        for (op, old) in ops.iter().zip(before) {
            let new = match op {
                WriteOp::Put { item, .. } => Some(item),
                WriteOp::Delete { .. } => None,
            };
            let key = new.map(|i| &i.key).or(old.as_ref().map(|i| &i.key));
            if let Some(key) = key {
                self.count(key.pk.clone());
            }
            let old = old.as_ref();
            self.count_index(
                "gsi1",
                old.and_then(|i| i.gsi1.as_ref()),
                new.and_then(|i| i.gsi1.as_ref()),
            );
            self.count_index(
                "gsi2",
                old.and_then(|i| i.gsi2.as_ref()),
                new.and_then(|i| i.gsi2.as_ref()),
            );
        }
        Ok(())
    }

    async fn query(&self, query: &Query) -> Result<Vec<Item>, StoreError> {
        self.inner.query(query).await
    }
}

/// Deliveries in the burst (`BURST_DELIVERIES` to change it; the README's figures are 10 000).
fn burst_size() -> usize {
    std::env::var("BURST_DELIVERIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000)
}

/// A burst of distinct `workitem.updated` deliveries for one linked work item, through the
/// intake route and the worker: no write lands on a partition key that every tenant shares.
#[tokio::test]
async fn a_burst_of_deliveries_writes_no_partition_key_every_tenant_shares() {
    let dir = tempfile::tempdir().unwrap();
    let counting = Arc::new(CountingTable {
        inner: SqliteTable::open(&dir.path().join("bridge.sqlite3")).unwrap(),
        writes: Mutex::new(HashMap::new()),
    });
    let linked = Linked::create(start_over(counting.clone(), true).await).await;
    let (server, integration_id, work_item) = (&linked.server, &linked.integration_id, linked.work_item);
    let ops = json!([patch::replace("/fields/System.Title", "ZeroDivisionError in checkout")]);
    server.ado.edit_work_item_as(JAMAL, work_item, ops).await.unwrap();
    let delivery = server
        .ado
        .delivery_where(|d| d.event_type == "workitem.updated")
        .unwrap();
    bridge_tests::wait::settled(&server.app, integration_id).await;
    let before = counting.writes();

    let burst = burst_size();
    for n in 0..burst {
        let mut payload = delivery.payload.clone();
        payload["id"] = json!(format!("{:08x}-0000-4000-8000-{n:012x}", n));
        payload["resource"]["rev"] = json!(100 + n);
        payload["resource"]["revision"]["rev"] = json!(100 + n);
        let answer = server.ado.redeliver(&delivery, &payload).await;
        assert_eq!(answer.status(), StatusCode::ACCEPTED);
    }
    let store = &server.app.store;
    let started = std::time::Instant::now();
    while !store
        .events_by_status(integration_id, EventStatus::Pending, 1)
        .await
        .unwrap()
        .is_empty()
    {
        assert!(
            started.elapsed().as_secs() < 120,
            "the burst was not processed in two minutes"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let after = counting.writes();
    let mut burst_writes: Vec<(String, u64)> = after
        .iter()
        .map(|(key, count)| (key.clone(), count - before.get(key).copied().unwrap_or(0)))
        .filter(|(_, count)| *count > 0)
        .collect();
    burst_writes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let shared: Vec<&(String, u64)> = burst_writes
        .iter()
        .filter(|(key, _)| !key.contains(integration_id.as_str()) && !key.contains("EVT#"))
        .collect();
    eprintln!(
        "{burst} deliveries: busiest partition keys {:?}; keys no tenant owns: {shared:?}",
        &burst_writes[..burst_writes.len().min(6)]
    );
    assert!(shared.is_empty(), "partition keys every tenant writes to: {shared:?}");
}
