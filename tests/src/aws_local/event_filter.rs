//! Lambda event filtering, the part the template uses: a pattern is a JSON object whose leaves
//! are arrays of allowed values; a record matches when, for every key of the pattern, its value
//! matches (objects recursively, arrays by equality with one of the listed values). Content
//! filters (`prefix`, `exists`, `numeric`, …) are refused when the pattern is read, so a template
//! that starts using one fails loudly here instead of filtering differently than AWS.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct EventFilter {
    pattern: Value,
}

impl EventFilter {
    pub fn parse(pattern: &str) -> Result<Self, String> {
        let pattern: Value = serde_json::from_str(pattern).map_err(|e| format!("filter pattern is not JSON: {e}"))?;
        check(&pattern)?;
        Ok(Self { pattern })
    }

    pub fn matches(&self, record: &Value) -> bool {
        matches(&self.pattern, record)
    }
}

fn check(pattern: &Value) -> Result<(), String> {
    match pattern {
        Value::Object(fields) => fields.values().try_for_each(check),
        Value::Array(values) => match values.iter().find(|v| v.is_object() || v.is_array()) {
            Some(operator) => Err(format!("content filter {operator} is not supported by aws-local")),
            None => Ok(()),
        },
        other => Err(format!("a filter leaf must be an array of values, found {other}")),
    }
}

fn matches(pattern: &Value, value: &Value) -> bool {
    match pattern {
        Value::Object(fields) => fields
            .iter()
            .all(|(name, wanted)| value.get(name).is_some_and(|found| matches(wanted, found))),
        Value::Array(allowed) => allowed.contains(value),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const INBOX: &str = r#"{"eventName": ["INSERT"], "dynamodb": {"NewImage": {"kind": {"S": ["event"]}}}}"#;

    fn record(event_name: &str, kind: &str) -> Value {
        json!({"eventName": event_name, "dynamodb": {"Keys": {"pk": {"S": "EVT#1"}}, "NewImage": {"kind": {"S": kind}}}})
    }

    #[test]
    fn only_inserted_inbox_events_pass_the_templates_filter() {
        let filter = EventFilter::parse(INBOX).unwrap();
        assert!(filter.matches(&record("INSERT", "event")));
        assert!(
            !filter.matches(&record("MODIFY", "event")),
            "a claim or a settle is a MODIFY"
        );
        assert!(!filter.matches(&record("INSERT", "link")));
        assert!(
            !filter.matches(&json!({"eventName": "REMOVE", "dynamodb": {"Keys": {}}})),
            "no NewImage"
        );
    }

    #[test]
    fn content_filters_are_refused_rather_than_misread() {
        assert!(EventFilter::parse(r#"{"eventName": [{"prefix": "INS"}]}"#).is_err());
        assert!(EventFilter::parse(r#"{"eventName": "INSERT"}"#).is_err());
        assert!(EventFilter::parse("nope").is_err());
    }
}
