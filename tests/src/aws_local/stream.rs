//! The event source mapping from the table's stream to `sync-worker`, as Lambda runs it for the
//! template's `InboxInserts` event: records read in order per shard from the trigger's starting
//! position (`TRIM_HORIZON` on a new table, `LATEST` over one an earlier run left), the
//! filter applied, batches of up to `BatchSize` gathered for up to `MaximumBatchingWindow`, one
//! batch in flight per shard, and on failure:
//! - a `batchItemFailures` answer: the batch is retried from its lowest failed sequence number
//!   (the records before it are done); an identifier that is not in the batch fails all of it;
//! - a function error or timeout: the batch is split in two (`BisectBatchOnFunctionError`) and
//!   retried;
//! - a record that failed `MaximumRetryAttempts` retries is discarded (the template sets no
//!   on-failure destination), counted and logged.
//!
//! The stream is read with DynamoDB Streams' JSON API directly (four calls), because its
//! answer *is* the record format Lambda hands the function; the SDK's typed records would have
//! to be turned back into that JSON.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::watch;

use super::event_filter::EventFilter;
use super::lambda::LambdaFunction;
use super::topology::StreamTrigger;

/// How often an idle shard is polled (Lambda polls a stream shard four times a second).
const POLL_EVERY: Duration = Duration::from_millis(250);

/// What the mapping did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Records read from the stream (before the filter).
    pub read: u64,
    /// Records the filter let through.
    pub matched: u64,
    pub invocations: u64,
    /// Invocations that have answered (or failed).
    pub answered: u64,
    /// Invocations that failed as a whole (error or timeout) or reported failed items.
    pub failed_invocations: u64,
    /// Records retried after a failure.
    pub retried: u64,
    /// Records dropped after `MaximumRetryAttempts`.
    pub discarded: u64,
}

/// A small client for the DynamoDB and DynamoDB Streams JSON APIs (on moto: no signature check,
/// but the credential scope in `Authorization` tells moto which service is meant).
#[derive(Clone)]
pub struct StreamsApi {
    endpoint: String,
    http: reqwest::Client,
}

impl StreamsApi {
    pub fn new(endpoint: &str) -> Self {
        Self {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
        }
    }

    async fn call(&self, target: &str, body: Value) -> Result<Value, String> {
        let response = self
            .http
            .post(format!("{}/", self.endpoint))
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", target)
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=aws-local/20260101/us-east-1/dynamodb/aws4_request, \
                 SignedHeaders=host, Signature=0",
            )
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("{target}: {e}"))?;
        let status = response.status();
        let answer: Value = response.json().await.map_err(|e| format!("{target}: {e}"))?;
        if !status.is_success() {
            return Err(format!("{target}: {status} {answer}"));
        }
        Ok(answer)
    }

    /// The table's stream ARN.
    pub async fn stream_arn(&self, table: &str) -> Result<String, String> {
        let answer = self
            .call("DynamoDB_20120810.DescribeTable", json!({"TableName": table}))
            .await?;
        answer["Table"]["LatestStreamArn"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("table {table} has no stream"))
    }

    async fn shards(&self, stream_arn: &str) -> Result<Vec<String>, String> {
        let answer = self
            .call(
                "DynamoDBStreams_20120810.DescribeStream",
                json!({"StreamArn": stream_arn}),
            )
            .await?;
        Ok(answer["StreamDescription"]["Shards"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["ShardId"].as_str().map(str::to_string))
            .collect())
    }

    async fn iterator(&self, stream_arn: &str, shard: &str, position: &str) -> Result<String, String> {
        let answer = self
            .call(
                "DynamoDBStreams_20120810.GetShardIterator",
                json!({"StreamArn": stream_arn, "ShardId": shard, "ShardIteratorType": position}),
            )
            .await?;
        answer["ShardIterator"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| "no shard iterator".to_string())
    }

    /// Records after `iterator`, and the iterator to read on from.
    async fn records(&self, iterator: &str) -> Result<(Vec<Value>, Option<String>), String> {
        let answer = self
            .call(
                "DynamoDBStreams_20120810.GetRecords",
                json!({"ShardIterator": iterator, "Limit": 1000}),
            )
            .await?;
        let records = answer["Records"].as_array().cloned().unwrap_or_default();
        Ok((records, answer["NextShardIterator"].as_str().map(str::to_string)))
    }
}

struct Pending {
    record: Value,
    retries: u32,
}

/// The mapping for one table's stream; [`Self::run`] polls until shutdown.
pub struct StreamMapping {
    pub trigger: StreamTrigger,
    filter: EventFilter,
    api: StreamsApi,
    table: String,
    worker: Arc<LambdaFunction>,
    stats: Mutex<StreamStats>,
    log: Box<dyn Fn(&str) + Send + Sync>,
}

impl StreamMapping {
    pub fn new(
        trigger: StreamTrigger,
        api: StreamsApi,
        table: &str,
        worker: Arc<LambdaFunction>,
        log: Box<dyn Fn(&str) + Send + Sync>,
    ) -> Result<Arc<Self>, String> {
        Ok(Arc::new(Self {
            filter: EventFilter::parse(trigger.filter)?,
            trigger,
            api,
            table: table.to_string(),
            worker,
            stats: Mutex::new(StreamStats::default()),
            log,
        }))
    }

    pub fn stats(&self) -> StreamStats {
        *self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn count(&self, change: impl FnOnce(&mut StreamStats)) {
        change(&mut self.stats.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// Reads every shard of the table's stream until `shutdown`.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let shards = async {
            let arn = self.api.stream_arn(&self.table).await?;
            let shards = self.api.shards(&arn).await?;
            Ok::<_, String>((arn, shards))
        };
        let (arn, shards) = match shards.await {
            Ok(found) => found,
            Err(error) => {
                (self.log)(&format!("stream mapping not started: {error}"));
                return;
            }
        };
        let mut readers = tokio::task::JoinSet::new();
        for shard in shards {
            readers.spawn(self.clone().read_shard(arn.clone(), shard));
        }
        super::lambda::raised(&mut shutdown).await;
        readers.abort_all();
    }

    async fn read_shard(self: Arc<Self>, arn: String, shard: String) {
        let mut iterator = loop {
            match self.api.iterator(&arn, &shard, self.trigger.starting_position).await {
                Ok(iterator) => break iterator,
                Err(error) => {
                    (self.log)(&format!("shard {shard}: {error}"));
                    tokio::time::sleep(POLL_EVERY * 4).await;
                }
            }
        };
        let mut backlog: VecDeque<Pending> = VecDeque::new();
        let mut first_seen: Option<Instant> = None;
        let mut batch_limit = self.trigger.batch_size;
        loop {
            if backlog.len() < self.trigger.batch_size {
                match self.api.records(&iterator).await {
                    Ok((records, next)) => {
                        self.count(|s| s.read += records.len() as u64);
                        for record in records.into_iter().filter(|r| self.filter.matches(r)) {
                            self.count(|s| s.matched += 1);
                            first_seen.get_or_insert_with(Instant::now);
                            backlog.push_back(Pending { record, retries: 0 });
                        }
                        if let Some(next) = next {
                            iterator = next;
                        }
                    }
                    Err(error) => (self.log)(&format!("shard {shard}: {error}")),
                }
            }
            let retrying = backlog.front().is_some_and(|p| p.retries > 0);
            let window_over = first_seen.is_some_and(|at| at.elapsed() >= self.trigger.batching_window);
            if backlog.is_empty() || !(retrying || window_over || backlog.len() >= self.trigger.batch_size) {
                let pause = POLL_EVERY
                    .min(self.trigger.batching_window)
                    .max(Duration::from_millis(20));
                tokio::time::sleep(pause).await;
                continue;
            }
            let size = backlog.len().min(batch_limit);
            let batch: Vec<&Value> = backlog.iter().take(size).map(|p| &p.record).collect();
            let payload = json!({"Records": batch
                .iter()
                .map(|r| { let mut r = (*r).clone(); r["eventSourceARN"] = json!(arn); r })
                .collect::<Vec<_>>()});
            self.count(|s| s.invocations += 1);
            let outcome = self.worker.invoke(&payload).await;
            self.count(|s| s.answered += 1);
            let done = match &outcome {
                Ok(answer) => match item_failures(answer, backlog.iter().take(size).map(|p| &p.record)) {
                    ItemFailures::None => size,
                    ItemFailures::RetryFrom(index) => index,
                    ItemFailures::All => 0,
                },
                Err(error) => {
                    (self.log)(&format!("sync-worker failed a batch of {size}: {error}"));
                    0
                }
            };
            backlog.drain(..done);
            if done == size {
                batch_limit = self.trigger.batch_size;
            } else {
                self.count(|s| s.failed_invocations += 1);
                let failed = size - done;
                if outcome.is_err() && self.trigger.bisect_on_error && failed > 1 {
                    batch_limit = failed.div_ceil(2);
                }
                let mut discarded = 0;
                for pending in backlog.iter_mut().take(failed) {
                    pending.retries += 1;
                }
                while backlog
                    .front()
                    .is_some_and(|p| p.retries > self.trigger.maximum_retry_attempts)
                {
                    backlog.pop_front();
                    discarded += 1;
                }
                self.count(|s| {
                    s.retried += failed as u64;
                    s.discarded += discarded;
                });
                if discarded > 0 {
                    (self.log)(&format!(
                        "{discarded} stream record(s) discarded after {} retries",
                        self.trigger.maximum_retry_attempts
                    ));
                }
                let retries = backlog.front().map(|p| p.retries).unwrap_or(1);
                tokio::time::sleep(retry_delay(retries)).await;
            }
            if backlog.is_empty() {
                first_seen = None;
            }
        }
    }
}

/// Pause before retrying a failed batch: 250 ms, doubling, at most 8 s.
fn retry_delay(retries: u32) -> Duration {
    Duration::from_millis(250u64 << retries.saturating_sub(1).min(5))
}

/// What a `batchItemFailures` answer says about the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemFailures {
    None,
    /// The records from this index on are retried (the lowest failed one).
    RetryFrom(usize),
    /// The answer names a record that is not in the batch: the whole batch failed.
    All,
}

/// Reads a `batchItemFailures` answer against the batch.
pub fn item_failures<'a>(answer: &Value, batch: impl Iterator<Item = &'a Value>) -> ItemFailures {
    let failures = answer["batchItemFailures"].as_array().cloned().unwrap_or_default();
    if failures.is_empty() {
        return ItemFailures::None;
    }
    let sequences: Vec<&str> = batch
        .map(|r| r["dynamodb"]["SequenceNumber"].as_str().unwrap_or_default())
        .collect();
    let mut lowest: Option<usize> = None;
    for failure in &failures {
        let Some(identifier) = failure["itemIdentifier"].as_str().filter(|s| !s.is_empty()) else {
            return ItemFailures::All;
        };
        let Some(index) = sequences.iter().position(|s| *s == identifier) else {
            return ItemFailures::All;
        };
        lowest = Some(lowest.map_or(index, |l: usize| l.min(index)));
    }
    lowest.map_or(ItemFailures::None, ItemFailures::RetryFrom)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(sequence: &str) -> Value {
        json!({"eventName": "INSERT", "dynamodb": {"SequenceNumber": sequence}})
    }

    #[test]
    fn item_failures_retry_from_the_lowest_failed_record() {
        let batch = [record("11"), record("12"), record("13")];
        assert_eq!(
            item_failures(&json!({"batchItemFailures": []}), batch.iter()),
            ItemFailures::None
        );
        assert_eq!(item_failures(&json!({}), batch.iter()), ItemFailures::None);
        assert_eq!(
            item_failures(
                &json!({"batchItemFailures": [{"itemIdentifier": "13"}, {"itemIdentifier": "12"}]}),
                batch.iter()
            ),
            ItemFailures::RetryFrom(1)
        );
        assert_eq!(
            item_failures(&json!({"batchItemFailures": [{"itemIdentifier": "99"}]}), batch.iter()),
            ItemFailures::All,
            "an identifier outside the batch fails all of it"
        );
        assert_eq!(
            item_failures(&json!({"batchItemFailures": [{"itemIdentifier": ""}]}), batch.iter()),
            ItemFailures::All
        );
    }

    #[test]
    fn retries_back_off_to_a_cap() {
        assert_eq!(retry_delay(1), Duration::from_millis(250));
        assert_eq!(retry_delay(2), Duration::from_millis(500));
        assert_eq!(retry_delay(30), Duration::from_millis(8000));
    }
}
