//! The `sync-worker` Lambda's two triggers: DynamoDB stream batches of inbox inserts, and the
//! one-minute schedule that retries due failures. Event-level failures are recorded on the
//! event itself; only a record the worker could not even read is reported as a batch item
//! failure (so the shard is never blocked by one bad event).

use serde_json::{Value, json};

use super::{Budget, process_within, run_due};
use crate::App;

/// How many due events one scheduled run processes at most.
pub const SCHEDULED_BATCH: usize = 200;

/// The inbox event id and sequence number of each stream record that wrote a new inbox event:
/// an insert, or an insert over an expired event of the same key (a `MODIFY` to version 1).
pub fn inserted_events(batch: &Value) -> Vec<(String, String)> {
    let records = batch["Records"].as_array().cloned().unwrap_or_default();
    records
        .iter()
        .filter(|r| r["eventName"] == "INSERT" || r["dynamodb"]["NewImage"]["version"]["N"] == "1")
        .filter_map(|r| {
            let image = &r["dynamodb"];
            let id = image["Keys"]["pk"]["S"].as_str()?.strip_prefix("EVT#")?.to_string();
            let sequence = image["SequenceNumber"].as_str().unwrap_or_default().to_string();
            Some((id, sequence))
        })
        .collect()
}

/// Handles one invocation within `budget` (the invocation's deadline): a stream batch
/// (`Records`) or anything else (the schedule). Stream records left when the time runs out are
/// reported as batch item failures, so Lambda hands them over again.
pub async fn handle_invocation(app: &App, payload: Value, budget: Budget) -> Value {
    if payload.get("Records").is_none() {
        return match run_due(app, SCHEDULED_BATCH, budget, app.config.stream_grace_ms).await {
            Ok(processed) => json!({"processed": processed}),
            Err(error) => {
                tracing::error!(%error, "scheduled run could not read the inbox");
                json!({"processed": 0, "error": error.to_string()})
            }
        };
    }
    let mut failures = Vec::new();
    for (id, sequence) in inserted_events(&payload) {
        if budget.next_event(std::time::Instant::now()).is_none() {
            failures.push(json!({"itemIdentifier": sequence}));
            continue;
        }
        let outcome = match app.store.get_event(&id).await {
            Ok(Some(event)) => process_within(app, event, budget).await.map(|_| ()),
            Ok(None) => Ok(()),
            Err(error) => Err(error),
        };
        if let Err(error) = outcome {
            tracing::error!(event = %id, %error, "stream record not processed; reported for retry");
            failures.push(json!({"itemIdentifier": sequence}));
        }
    }
    json!({"batchItemFailures": failures})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_inserted_inbox_events_from_a_stream_batch() {
        let batch = json!({"Records": [
            {"eventName": "INSERT", "dynamodb": {"Keys": {"pk": {"S": "EVT#ado:n1:42:3"}, "sk": {"S": "EVENT"}}, "SequenceNumber": "111"}},
            {"eventName": "MODIFY", "dynamodb": {"Keys": {"pk": {"S": "EVT#ado:n1:42:3"}}, "NewImage": {"version": {"N": "2"}}, "SequenceNumber": "112"}},
            {"eventName": "MODIFY", "dynamodb": {"Keys": {"pk": {"S": "EVT#ado:n2:42:4"}}, "NewImage": {"version": {"N": "1"}}, "SequenceNumber": "113"}},
            {"eventName": "INSERT", "dynamodb": {"Keys": {"pk": {"S": "INT#abc"}}, "SequenceNumber": "114"}}
        ]});
        assert_eq!(
            inserted_events(&batch),
            vec![
                ("ado:n1:42:3".to_string(), "111".to_string()),
                ("ado:n2:42:4".to_string(), "113".to_string())
            ]
        );
        assert!(inserted_events(&json!({})).is_empty());
    }
}
