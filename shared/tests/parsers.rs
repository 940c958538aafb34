//! The readers of what arrives from outside, under hostile input: arbitrary bytes and mutated
//! real payloads never panic, never keep more than they were given, and a payload they accept
//! reads the same once kept.

use proptest::prelude::*;
use serde_json::Value;
use shared::domain::{ado_event, ado_payload, sentry_event, sentry_payload};

fn fixture(dir: &str, name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/fixtures/{dir}/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn ado_fixtures() -> Vec<Vec<u8>> {
    [
        "workitem.commented.json",
        "workitem.updated.state_and_assignee.json",
        "workitem.updated.resolved_unassigned.json",
        "workitem.deleted.json",
        "workitem.restored.json",
    ]
    .iter()
    .map(|name| fixture("azure-devops", name))
    .collect()
}

fn sentry_fixtures() -> Vec<Vec<u8>> {
    [
        "webhook_issue_resolved.json",
        "webhook_issue_assigned.json",
        "webhook_comment_created.json",
        "webhook_comment_deleted.json",
    ]
    .iter()
    .map(|name| fixture("sentry-platform", name))
    .collect()
}

/// A real payload with some bytes changed, cut, or added.
fn mutated(originals: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let count = originals.len();
    (
        0..count,
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8),
    )
        .prop_map(move |(which, edits)| {
            let mut bytes = originals[which].clone();
            for (at, byte, kind) in edits {
                if bytes.is_empty() {
                    break;
                }
                let i = at.index(bytes.len());
                match kind {
                    0 => bytes[i] = byte,
                    1 => bytes.truncate(i),
                    _ => bytes.insert(i, byte),
                }
            }
            bytes
        })
}

/// Everything the Azure DevOps intake and worker do with a body.
fn read_ado(body: &[u8]) {
    if let Ok(kept) = ado_payload::keep(body) {
        let text = kept.json.get();
        assert!(text.len() <= body.len(), "kept more than was given");
        let stored: Value = serde_json::from_str(text).expect("the kept copy is JSON");
        let again = ado_payload::keep(text.as_bytes()).expect("the kept copy keeps");
        assert_eq!(again.json.get(), text, "keeping is stable");
        if let Ok(original) = serde_json::from_slice::<Value>(body) {
            assert_eq!(
                ado_event::parse_delivery(&stored).ok(),
                ado_event::parse_delivery(&original).ok(),
                "the kept copy reads as the delivery does"
            );
        }
    }
}

/// Everything the Sentry intake and worker do with a body.
fn read_sentry(body: &[u8]) {
    if let Ok(kept) = sentry_payload::keep(body) {
        let text = kept.get();
        assert!(text.len() <= body.len() + 64, "kept more than was given (+ a cut note)");
        let stored: Value = serde_json::from_str(text).expect("the kept copy is JSON");
        for resource in ["issue", "comment", "event_alert", "installation", ""] {
            let _ = sentry_event::parse_webhook(resource, &stored);
        }
    }
    let _ = shared::sentry::signature::verify("secret", body, &String::from_utf8_lossy(body));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_either_reader(body in prop::collection::vec(any::<u8>(), 0..2048)) {
        read_ado(&body);
        read_sentry(&body);
    }

    #[test]
    fn mutated_azure_devops_deliveries_never_panic(body in mutated(ado_fixtures())) {
        read_ado(&body);
    }

    #[test]
    fn mutated_sentry_webhooks_never_panic(body in mutated(sentry_fixtures())) {
        read_sentry(&body);
    }

    #[test]
    fn any_basic_authorization_header_reads_safely(value in "\\PC{0,200}") {
        let mut headers = axum::http::HeaderMap::new();
        if let Ok(header) = axum::http::HeaderValue::from_str(&format!("Basic {value}")) {
            headers.insert(axum::http::header::AUTHORIZATION, header);
        }
        let _ = shared::intake::basic_password(&headers);
    }
}

#[test]
fn every_real_payload_reads_the_same_once_kept() {
    for body in ado_fixtures() {
        read_ado(&body);
    }
    for body in sentry_fixtures() {
        read_sentry(&body);
    }
}
