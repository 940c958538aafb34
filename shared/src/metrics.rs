//! Metrics in CloudWatch's embedded metric format: on Lambda, one JSON line on stdout per
//! occurrence, which CloudWatch Logs turns into metrics of the namespace [`NAMESPACE`] — no agent,
//! no API call, nothing extra deployed. Metrics carry no dimension, so the bridge has seven custom
//! metrics however many integrations it serves (inside CloudWatch's free ten). Off Lambda
//! (`bridge-local`) nothing is written: the logs say the same.

use serde_json::{Map, Value, json};

pub const NAMESPACE: &str = "SentryAdoBridge";

/// An inbox event accepted by intake (Azure DevOps or Sentry).
pub const EVENTS_RECEIVED: &str = "EventsReceived";
/// An event applied to the other side (`done`).
pub const EVENTS_APPLIED: &str = "EventsApplied";
/// An attempt that failed and will be retried.
pub const EVENTS_FAILED: &str = "EventsFailed";
/// An event that ended `dead` (visible in the admin API; wants a person).
pub const EVENTS_DEAD: &str = "EventsDead";
/// From an event's arrival to its being applied, in milliseconds.
pub const SYNC_LATENCY: &str = "SyncLatency";
/// A scheduled reconciliation run in which every integration's pass completed.
pub const RECONCILE_COMPLETED: &str = "ReconcileCompleted";
/// A scheduled run in which some pass did not complete (cut short or failed).
pub const RECONCILE_INCOMPLETE: &str = "ReconcileIncomplete";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// The EMF line for `values` at `now_ms`.
pub fn line(values: &[(&str, f64, Unit)], now_ms: i64) -> String {
    let metrics: Vec<Value> = values
        .iter()
        .map(|(name, _, unit)| json!({"Name": name, "Unit": unit.name()}))
        .collect();
    let mut record = Map::new();
    record.insert(
        "_aws".into(),
        json!({"Timestamp": now_ms, "CloudWatchMetrics": [{"Namespace": NAMESPACE, "Dimensions": [[]], "Metrics": metrics}]}),
    );
    for (name, value, _) in values {
        record.insert((*name).to_string(), json!(value));
    }
    Value::Object(record).to_string()
}

/// Whether this process runs as a Lambda function (metrics are written only there).
fn on_lambda() -> bool {
    std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some()
}

/// Writes `values` as one EMF line (on Lambda).
pub fn emit(values: &[(&str, f64, Unit)]) {
    if on_lambda() && !values.is_empty() {
        println!("{}", line(values, crate::clock::now_ms()));
    }
}

/// Counts one occurrence of `name`.
pub fn count(name: &str) {
    emit(&[(name, 1.0, Unit::Count)]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_an_emf_record_without_dimensions() {
        let line = line(
            &[
                (EVENTS_APPLIED, 1.0, Unit::Count),
                (SYNC_LATENCY, 840.0, Unit::Milliseconds),
            ],
            1_700_000_000_000,
        );
        let record: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(record["_aws"]["Timestamp"], 1_700_000_000_000i64);
        let directive = &record["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(directive["Dimensions"], json!([[]]));
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "EventsApplied", "Unit": "Count"}, {"Name": "SyncLatency", "Unit": "Milliseconds"}])
        );
        assert_eq!(
            (record["EventsApplied"].as_f64(), record["SyncLatency"].as_f64()),
            (Some(1.0), Some(840.0))
        );
        assert!(!line.contains('\n'));
    }
}
