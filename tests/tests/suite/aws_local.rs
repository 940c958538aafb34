//! The AWS form end to end: `aws-local` runs the real Lambda binaries under a local Runtime API,
//! with moto's DynamoDB and Secrets Manager, the table's stream and the schedule feeding
//! `sync-worker`, behind one front that routes like the stack. Every request here goes through
//! that front to a function process; the test only observes the table.

use std::time::Duration;

use bridge_tests::aws_local::aws_calls::sequential_round_trips;
use bridge_tests::aws_local::topology;
use bridge_tests::fake_ado::{Fault, FaultKind};
use bridge_tests::sentry_app::{fixture, post_webhook};
use bridge_tests::server::{
    ADMIN_TOKEN, AWS_LOCAL_SCHEDULE, AwsLocalSettings, Backend, start_aws_local_with, start_with,
};
use bridge_tests::wait::eventually;
use reqwest::Method;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::azure_devops::patch;
use shared::clock;
use shared::records::EventStatus;
use shared::secrets::SecretStore;

const CLIENT_SECRET: &str = "sentry-client-secret-value";
const ISSUE: &str = "6543210987";

use bridge_tests::server::Linked as Setup;

fn now() -> i64 {
    clock::now_ms() / 1000
}

/// `aws-local`, an integration connected through the front, and a work item created from Sentry
/// issue 6543210987 through the signed issue-link route.
async fn setup() -> Setup {
    setup_with(AWS_LOCAL_SCHEDULE).await
}

/// [`setup`] with the schedule invoking `sync-worker` every `schedule_every`.
async fn setup_with(schedule_every: Duration) -> Setup {
    setup_on(AwsLocalSettings {
        schedule_every,
        ..AwsLocalSettings::default()
    })
    .await
}

/// [`setup`] on an `aws-local` with `settings`.
async fn setup_on(settings: AwsLocalSettings) -> Setup {
    Setup::create(start_aws_local_with(settings).await).await
}

async fn webhook(setup: &Setup, resource: &str, body: &Value) -> (StatusCode, Value) {
    let url = setup.server.url("/hooks/sentry");
    let body = serde_json::to_string(body).unwrap();
    bridge_tests::sentry_app::happened_in(&setup.server.sentry, resource, &body);
    post_webhook(&setup.server.client, &url, resource, &body, CLIENT_SECRET, now()).await
}

#[tokio::test]
async fn connect_link_and_an_ado_change_resolve_the_sentry_issue() {
    let setup = setup().await;
    let server = &setup.server;
    let hook_url = server.url(&format!("/hooks/azure-devops/{}", setup.integration_id));
    let subscriptions = server.ado.subscriptions();
    assert_eq!(subscriptions.len(), 4, "the integrations function subscribed");
    assert!(
        subscriptions
            .iter()
            .all(|s| s["consumerInputs"]["url"] == hook_url.as_str())
    );
    let link = server.stored_link(&setup.integration_id, ISSUE).await;
    assert_eq!(link.work_item_id, setup.work_item);

    let ops = json!([patch::replace("/fields/System.State", "Resolved")]);
    setup.edit_as_person(ops).await;
    eventually("the Sentry issue resolved by sync-worker", || {
        server.sentry.issue(ISSUE).status == "resolved"
    })
    .await;
    let stack = server.stack.as_ref().unwrap();
    assert!(stack.stream_stats().invocations >= 1, "{:?}", stack.stream_stats());
    // Metrics in the functions' logs (CloudWatch's embedded metric format).
    eventually("the applied event counted", || {
        !stack
            .metric_values("sync-worker", shared::metrics::EVENTS_APPLIED)
            .is_empty()
    })
    .await;
    assert!(
        !stack
            .metric_values("webhook-intake", shared::metrics::EVENTS_RECEIVED)
            .is_empty()
    );
    let latency = stack.metric_values("sync-worker", shared::metrics::SYNC_LATENCY);
    assert!(latency.iter().all(|ms| *ms >= 0.0 && *ms < 60_000.0), "{latency:?}");
    // The log line a person follows, in JSON as on Lambda: what the sync changed, and where.
    let log = stack.function_log("sync-worker");
    let applied: Vec<Value> = log
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|record| record["fields"]["message"] == "event applied")
        .collect();
    let wanted = format!(
        "Sentry issue {ISSUE} (work item {}): status unresolved → resolved",
        setup.work_item
    );
    assert!(
        applied
            .iter()
            .any(|record| record["fields"]["changed"] == wanted.as_str()
                && record["fields"]["direction"] == "azure_devops_to_sentry"),
        "no JSON `event applied` line saying {wanted:?} in:\n{log}"
    );
    // (`reconcile` runs on its own schedule and `repositories` serves only its routes: their own
    // tests below.)
    for spec in topology::FUNCTIONS
        .iter()
        .filter(|f| ![topology::RECONCILE.name, topology::REPOSITORIES.name].contains(&f.name))
    {
        assert!(
            stack.function_stats(spec.name).cold_starts >= 1,
            "{} never ran",
            spec.name
        );
    }

    // Azure DevOps redelivers the same notification: answered as a duplicate, applied once.
    let delivery = server
        .ado
        .delivery_where(|d| d.event_type == "workitem.updated")
        .unwrap();
    let again = server.ado.redeliver(&delivery, &delivery.payload).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(again.json::<Value>().await.unwrap()["status"], "duplicate");
    let wrong = server
        .client
        .post(&hook_url)
        .basic_auth("azure-devops", Some("not-the-secret"))
        .json(&delivery.payload)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.json::<Value>().await.unwrap()["error"]["code"], "unauthorized");
    bridge_tests::wait::settled(&server.app, &setup.integration_id).await;
    assert_eq!(
        setup.events(EventStatus::Done).await.len(),
        1,
        "one event, applied once"
    );
    let resolves = server
        .sentry
        .writes()
        .iter()
        .filter(|c| c.path.ends_with(&format!("/issues/{ISSUE}/")) && c.body.contains("resolved"))
        .count();
    assert_eq!(resolves, 1);
}

#[tokio::test]
async fn a_sentry_comment_becomes_one_ado_comment() {
    let setup = setup().await;
    let created = fixture("webhook_comment_created.json");
    let (status, answer) = webhook(&setup, "comment", &created).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    eventually("the comment in Azure DevOps", || !setup.ado_comments().is_empty()).await;
    bridge_tests::wait::settled(&setup.server.app, &setup.integration_id).await;
    // The schedule runs every two seconds here: give it a run or two to find anything to redo.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let mirrored = setup.ado_comments();
    assert_eq!(mirrored.len(), 1, "{mirrored:?}");
    assert_eq!(
        mirrored[0].text,
        "**Jane Doe** (Sentry) wrote:\n\nRepro'd on staging, see **ADO #4321**"
    );
    // The mirrored comment came back as workitem.commented: not echoed into Sentry.
    assert!(setup.server.sentry.issue(ISSUE).comments.is_empty());
}

#[tokio::test]
async fn an_alert_rule_firing_three_times_creates_one_work_item() {
    crate::sentry_to_ado::alert_rule_fires_three_times(&setup().await).await;
}

/// On AWS the stream and the one-minute schedule both feed `sync-worker`, in processes of their
/// own. Each comment must reach Azure DevOps once even when both find its event: here the
/// schedule runs every 300 ms and takes pending events at once (no grace for the stream), so it
/// usually claims an event before the stream's batching window ends, and Azure DevOps takes
/// 1.5 s to answer a comment post (so the two runs overlap).
#[tokio::test]
async fn the_stream_and_the_schedule_never_apply_one_event_twice() {
    const COMMENTS: usize = 6;
    let setup = setup_on(AwsLocalSettings {
        schedule_every: Duration::from_millis(300),
        environment: vec![("BRIDGE_STREAM_GRACE_SECS".into(), "0".into())],
        ..AwsLocalSettings::default()
    })
    .await;
    setup.server.ado.inject(Fault {
        path_contains: "/comments".into(),
        method: Some(reqwest::Method::POST),
        kind: FaultKind::Slow(Duration::from_millis(1_500)),
        times: 1_000,
        after: 0,
    });
    for n in 0..COMMENTS {
        let (status, answer) = webhook(&setup, "comment", &numbered_comment(n)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    }
    eventually("every comment in Azure DevOps", || {
        setup.ado_comments().len() >= COMMENTS
    })
    .await;
    bridge_tests::wait::settled(&setup.server.app, &setup.integration_id).await;
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    let posted = setup.ado_comments();
    let mut texts: Vec<&str> = posted.iter().map(|c| c.text.as_str()).collect();
    texts.sort();
    texts.dedup();
    let applied_twice = posted.len() - texts.len();
    let stack = setup.server.stack.as_ref().unwrap();
    eprintln!(
        "stream/schedule race: {COMMENTS} comments, {} posted, {applied_twice} applied twice; {} scheduled runs, stream {:?}",
        posted.len(),
        stack.schedule_runs(),
        stack.stream_stats()
    );
    assert_eq!(applied_twice, 0, "{posted:#?}");
}

/// A stream batch that fails as a whole (here: the worker's process dies, as at a timeout) is
/// retried by Lambda with every record in it — also those whose events were already settled
/// `failed` with a backoff. Those must wait for their due time, not be tried again at once (in
/// a brownout that burned every attempt in minutes).
#[tokio::test]
async fn a_retried_stream_batch_leaves_failed_events_to_their_backoff() {
    let setup = setup_with(Duration::from_secs(600)).await;
    let server = &setup.server;
    server.ado.inject(Fault {
        path_contains: "/comments".into(),
        method: Some(reqwest::Method::POST),
        kind: FaultKind::Unavailable,
        times: 1_000,
        after: 0,
    });
    server.ado.inject(Fault {
        path_contains: format!("/wit/workitems/{}", setup.work_item),
        method: Some(reqwest::Method::PATCH),
        kind: FaultKind::Slow(Duration::from_secs(30)),
        times: 1,
        after: 0,
    });
    // One batch: a comment (Azure DevOps refuses it: failed, backing off), then a resolve (Azure
    // DevOps hangs on it, and the worker dies meanwhile).
    let (status, _) = webhook(&setup, "comment", &fixture("webhook_comment_created.json")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, _) = webhook(&setup, "issue", &fixture("webhook_issue_resolved.json")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let store = &server.app.store;
    let mut failed = Vec::new();
    for _ in 0..200 {
        failed = setup.events(EventStatus::Failed).await;
        let held = setup.events(EventStatus::Pending).await.iter().any(|e| e.claims == 1);
        if failed.len() == 1 && held {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(failed.len(), 1, "the comment failed and the resolve is being applied");
    let before = failed.remove(0);
    assert_eq!(before.attempts, 1);

    let stack = server.stack.as_ref().unwrap();
    stack.function(topology::SYNC_WORKER.name).kill_instances();
    eventually("Lambda retried the failed batch", || {
        let stats = stack.stream_stats();
        stats.failed_invocations >= 1 && stats.invocations >= 2
    })
    .await;
    eventually("the retry ended", || {
        stack.function(topology::SYNC_WORKER.name).instances() <= 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = store.get_event(&before.id).await.unwrap().unwrap();
    assert_eq!(
        (after.status, after.attempts, after.next_attempt_at),
        (EventStatus::Failed, 1, before.next_attempt_at),
        "the retried batch left the failed event to its backoff"
    );
}

/// An event that outlasts its invocation is given up before Lambda kills the worker (`failed`,
/// the attempt counted), and the records of the batch it had no time for are handed back to
/// Lambda as item failures, which runs them in the next invocation. Here `sync-worker` has 15 s
/// and Azure DevOps hangs on the first event's call; a killed claim used to count nothing, and
/// the event was claimed again after every lease, forever.
#[tokio::test]
async fn an_event_that_outlasts_the_invocation_is_failed_in_time_and_the_rest_handed_back() {
    let setup = setup_on(AwsLocalSettings {
        schedule_every: Duration::from_secs(600),
        timeouts: vec![(topology::SYNC_WORKER.name, Duration::from_secs(15))],
        ..AwsLocalSettings::default()
    })
    .await;
    let server = &setup.server;
    // Reading the work item hangs: each try times out after 10 s and a read is tried four
    // times, longer than the invocation.
    server.ado.inject(Fault {
        path_contains: format!("/_apis/wit/workitems/{}", setup.work_item),
        method: Some(reqwest::Method::GET),
        kind: FaultKind::Slow(Duration::from_secs(60)),
        times: 10,
        after: 0,
    });
    let (status, hanging) = webhook(&setup, "issue", &fixture("webhook_issue_resolved.json")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, comment) = webhook(&setup, "comment", &fixture("webhook_comment_created.json")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let app = &server.app;
    let comment_id = comment["event_ids"][0].as_str().unwrap();
    let commented = bridge_tests::wait::ended_within(app, comment_id, Duration::from_secs(40)).await;
    assert_eq!(commented.status, EventStatus::Done);
    let hanging = app
        .store
        .get_event(hanging["event_ids"][0].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (hanging.status, hanging.attempts),
        (EventStatus::Failed, 1),
        "{hanging:?}"
    );
    let error = hanging.last_error.as_deref().unwrap_or_default();
    assert!(error.contains("not finished within"), "{hanging:?}");
    let stack = server.stack.as_ref().unwrap();
    let worker = stack.function_stats(topology::SYNC_WORKER.name);
    assert_eq!(
        worker.timeouts, 0,
        "no invocation ran into Lambda's timeout: {worker:?}"
    );
    assert!(
        stack.stream_stats().failed_invocations >= 1,
        "the resolve was handed back: {:?}",
        stack.stream_stats()
    );
}

/// A Sentry webhook that lands on a cold `work-items` process must be answered inside Sentry's
/// 1 s (an internal integration's webhook is never sent again): it waits for at most three AWS
/// round trips one after another — the integration by installation, its secret and link at once,
/// the write.
#[tokio::test]
async fn a_cold_work_items_process_answers_a_sentry_webhook_after_three_round_trips() {
    let setup = setup_with(Duration::from_secs(600)).await;
    let stack = setup.server.stack.as_ref().unwrap();
    let work_items = stack.function(topology::WORK_ITEMS.name);
    work_items.kill_instances();
    eventually("work-items is cold", || work_items.instances() == 0).await;
    let cold_starts = work_items.stats().cold_starts;
    // 50 ms a call (AWS within a region answers in a few): calls made at once overlap even on a
    // busy machine, so the count below is of trips, not of scheduling luck.
    stack.aws_calls[topology::WORK_ITEMS.name].set_latency(Duration::from_millis(50));
    let since = std::time::Instant::now();
    let (status, answer) = webhook(&setup, "comment", &numbered_comment(1)).await;
    let elapsed = since.elapsed();
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(
        work_items.stats().cold_starts,
        cold_starts + 1,
        "a cold start served it"
    );
    let calls = stack.aws_calls[topology::WORK_ITEMS.name].since(since);
    let trips = sequential_round_trips(&calls);
    let operations: Vec<&str> = calls.iter().map(|c| c.operation.as_str()).collect();
    eprintln!(
        "cold work-items, signed Sentry webhook -> 202: {:.1} ms, {} AWS calls in {trips} sequential round trips: {operations:?}",
        elapsed.as_secs_f64() * 1e3,
        calls.len()
    );
    assert!(trips <= 3, "{trips} round trips one after another: {operations:?}");
}

/// A webhook whose key is that of an expired event (past its TTL, not yet deleted by DynamoDB)
/// replaces it, and the new event reaches the worker through the stream at once. On DynamoDB
/// that write is a `MODIFY` (the template's filter lets a new first version through; see the
/// filter's unit test); moto, which hides expired items, reports it as an `INSERT`.
#[tokio::test]
async fn a_new_event_over_an_expired_one_reaches_the_worker_through_the_stream() {
    let setup = setup_with(Duration::from_secs(600)).await;
    let body = serde_json::to_string(&numbered_comment(7)).unwrap();
    let timestamp = now();
    let key = shared::domain::sentry_event::dedupe_key(&setup.integration_id, body.as_bytes(), &timestamp.to_string());
    let payload = shared::records::Payload::to_json(&json!({})).unwrap();
    let source = shared::records::EventSource::Sentry;
    let mut expired = shared::records::InboxEvent::pending(
        key.clone(),
        &setup.integration_id,
        source,
        "comment.created",
        payload,
        1_000,
    );
    expired.status = EventStatus::Done;
    expired.expires_at = Some(timestamp - 60);
    setup.server.app.store.insert_event(&mut expired).await.unwrap();
    // The stream hands that insert over first (the worker finds it done): only the replacement
    // is new after it.
    let stack = setup.server.stack.as_ref().unwrap();
    let before = stack.stream_stats().invocations;
    eventually("the expired event's insert went by", || {
        stack.stream_stats().invocations > before
    })
    .await;

    let url = setup.server.url("/hooks/sentry");
    let (status, answer) = post_webhook(&setup.server.client, &url, "comment", &body, CLIENT_SECRET, timestamp).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["event_ids"][0], key.as_str());
    let event = bridge_tests::wait::ended(&setup.server.app, &key).await;
    assert_eq!(
        (event.status, event.version > 1),
        (EventStatus::Done, true),
        "{event:?}"
    );
    assert_eq!(setup.ado_comments().len(), 1);
}

/// A Sentry comment numbered `n` (its own id and text).
fn numbered_comment(n: usize) -> Value {
    let mut comment = fixture("webhook_comment_created.json");
    comment["data"]["comment_id"] = json!(990_000 + n);
    comment["data"]["comment"] = json!(format!("comment number {n}"));
    comment
}

/// Sends Sentry comment `n` and waits until Azure DevOps has `expected` comments and the event
/// is done; returns that event.
async fn mirror_comment(setup: &Setup, n: usize, expected: usize) -> shared::records::InboxEvent {
    let (status, answer) = webhook(setup, "comment", &numbered_comment(n)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let id = answer["event_ids"][0].as_str().unwrap().to_string();
    let event = bridge_tests::wait::ended(&setup.server.app, &id).await;
    assert_eq!(setup.ado_comments().len(), expected, "{event:?}");
    event
}

/// A credential changed while a worker process is warm (its clients and secrets cached) is used
/// on that process's next event: changed through the admin API (another process on AWS), and
/// changed behind the bridge's back in the secret store (the warm client is refused once, then
/// read again).
#[tokio::test]
async fn a_changed_credential_reaches_a_warm_worker_on_its_next_event() {
    let setup = setup_with(Duration::from_secs(600)).await;
    let server = &setup.server;
    let first = mirror_comment(&setup, 1, 1).await;
    assert_eq!(first.attempts, 0);

    server.ado.state(|s| s.pat = "rotated-pat-2".into());
    let patched = server
        .client
        .patch(server.url(&format!("/integrations/{}", setup.integration_id)))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"azure_devops": {"auth": {"type": "pat", "token": "rotated-pat-2"}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), StatusCode::OK, "{}", patched.text().await.unwrap());
    let calls_before = server.ado.requests().len();
    let second = mirror_comment(&setup, 2, 2).await;
    assert_eq!((second.status, second.attempts), (EventStatus::Done, 0), "{second:?}");
    let old_pat = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!(":{}", bridge_tests::fake_ado::VALID_PAT)
        )
    );
    let stale = server.ado.requests()[calls_before..]
        .iter()
        .filter(|r| r.headers.get("authorization").is_some_and(|v| v == old_pat.as_str()))
        .count();
    assert_eq!(
        stale, 0,
        "the warm worker read the new PAT at once, never trying the old one"
    );

    let (integration, mut secrets) = server.integration_and_secrets(&setup.integration_id).await;
    secrets.azure_devops = shared::secrets::AdoCredential::Pat {
        token: shared::secrets::Secret::new("rotated-pat-3"),
    };
    server.app.secrets.put(&integration.secret_ref, &secrets).await.unwrap();
    server.ado.state(|s| s.pat = "rotated-pat-3".into());
    let third = mirror_comment(&setup, 3, 3).await;
    assert_eq!((third.status, third.attempts), (EventStatus::Done, 0), "{third:?}");
    let stack = server.stack.as_ref().unwrap();
    assert_eq!(
        stack.function_stats(topology::SYNC_WORKER.name).cold_starts,
        1,
        "one warm worker process did all three"
    );
}

/// Every route `bridge-local` serves reaches, through the front, a function that serves it: a
/// route can never exist locally and be missing on AWS.
#[tokio::test]
async fn every_route_of_bridge_local_is_served_through_the_front() {
    let server = start_with(Backend::AwsLocal, true).await;
    let local = shared::local::routes(server.app.clone());
    assert!(local.listed().len() >= 13, "{:?}", local.listed());
    for route in local.listed() {
        let path = route.path.replace(['{', '}'], "");
        let entry = topology::entry(&route.method, &path)
            .unwrap_or_else(|| panic!("{} {} reaches no function", route.method, route.path));
        let function = entry.function();
        assert!(
            function.routes(server.app.clone()).listed().contains(route),
            "{} {} reaches {}, which does not serve it",
            route.method,
            route.path,
            function.name()
        );
        let response = server
            .client
            .request(route.method.clone(), server.url(&path))
            .bearer_auth(ADMIN_TOKEN)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        assert!(
            !(status == StatusCode::NOT_FOUND && answer["error"]["message"] == "no such route"),
            "{} {} is not served through the front: {status} {answer}",
            route.method,
            route.path
        );
        assert!(
            status.as_u16() < 500,
            "{} {}: {status} {answer}",
            route.method,
            route.path
        );
    }
    let unknown = server.client.get(server.url("/nope")).send().await.unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

/// `template.yaml` as CloudFormation reads it (cfn-lint's decoder: the intrinsic-function tags
/// become `{"Ref": …}` objects).
fn template() -> Value {
    let path = format!("{}/../template.yaml", env!("CARGO_MANIFEST_DIR"));
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            "import json, sys\nfrom cfnlint.decode import decode\ntemplate, errors = decode(sys.argv[1])\n\
             assert not errors, errors\nprint(json.dumps(template, default=str))",
            &path,
        ])
        .output()
        .expect("python3 with cfn-lint (infra/test.sh installs it)");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn seconds(value: &Value) -> Duration {
    Duration::from_secs(value.as_u64().expect("a number of seconds"))
}

/// What `aws-local` runs is what the template deploys: every function (and no other), its
/// binary, timeout, memory and public-URL variables, the worker's stream trigger and schedule, the
/// HTTP API's route, the function URLs' auth, and the table's keys, indexes, stream and TTL.
#[tokio::test]
async fn template_matches_the_topology_aws_local_runs() {
    let template = template();
    let resources = template["Resources"].as_object().unwrap();
    let globals = &template["Globals"]["Function"];
    let deployed: Vec<&str> = resources
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .map(|(id, _)| id.as_str())
        .collect();
    let mut run: Vec<&str> = topology::FUNCTIONS.iter().map(|f| f.logical_id).collect();
    run.sort();
    assert_eq!(
        deployed, run,
        "every deployed function runs in aws-local, and only those"
    );
    for spec in topology::FUNCTIONS {
        let function = &resources[spec.logical_id];
        let property = |name: &str| {
            let own = &function["Properties"][name];
            if own.is_null() {
                globals[name].clone()
            } else {
                own.clone()
            }
        };
        assert_eq!(function["Metadata"]["BuildProperties"]["Binary"], spec.name);
        assert_eq!(seconds(&property("Timeout")), spec.timeout, "{} timeout", spec.name);
        assert_eq!(
            property("MemorySize").as_u64(),
            Some(u64::from(spec.memory_mb)),
            "{} memory",
            spec.name
        );
        let variables = &function["Properties"]["Environment"]["Variables"];
        for name in ["BRIDGE_PUBLIC_URL", "BRIDGE_SENTRY_URL"] {
            assert_eq!(
                !variables[name].is_null(),
                spec.public_urls.contains(&name),
                "{} {name}",
                spec.name
            );
        }
    }

    let worker = &resources[topology::SYNC_WORKER.logical_id]["Properties"]["Events"];
    let stream = &worker["InboxInserts"]["Properties"];
    let trigger = topology::INBOX_INSERTS;
    assert_eq!(worker["InboxInserts"]["Type"], "DynamoDB");
    assert_eq!(stream["BatchSize"].as_u64(), Some(trigger.batch_size as u64));
    assert_eq!(
        seconds(&stream["MaximumBatchingWindowInSeconds"]),
        trigger.batching_window
    );
    assert_eq!(stream["BisectBatchOnFunctionError"], trigger.bisect_on_error);
    assert_eq!(
        stream["MaximumRetryAttempts"].as_u64(),
        Some(u64::from(trigger.maximum_retry_attempts))
    );
    assert_eq!(stream["StartingPosition"], trigger.starting_position);
    assert_eq!(
        stream["FunctionResponseTypes"] == json!(["ReportBatchItemFailures"]),
        trigger.report_batch_item_failures
    );
    assert_eq!(
        stream["FilterCriteria"]["Filters"],
        json!([{"Pattern": trigger.filter}])
    );
    assert_eq!(worker["RetryDue"]["Type"], "Schedule");
    assert_eq!(
        worker["RetryDue"]["Properties"]["Schedule"],
        format!("rate({} minute)", topology::RETRY_DUE_EVERY.as_secs() / 60)
    );
    let reconcile = &resources[topology::RECONCILE.logical_id]["Properties"]["Events"]["Reconcile"];
    assert_eq!(reconcile["Type"], "Schedule");
    assert_eq!(reconcile["Properties"]["Schedule"], json!({"Ref": "ReconcileSchedule"}));
    assert_eq!(
        template["Parameters"]["ReconcileSchedule"]["Default"],
        format!("rate({} minutes)", topology::RECONCILE_EVERY.as_secs() / 60)
    );

    let intake = &resources[topology::WEBHOOK_INTAKE.logical_id]["Properties"]["Events"]["AzureDevOpsHook"];
    assert_eq!(intake["Type"], "HttpApi");
    assert_eq!(
        format!(
            "{} {}",
            intake["Properties"]["Method"].as_str().unwrap(),
            intake["Properties"]["Path"].as_str().unwrap()
        ),
        topology::ADO_HOOK_ROUTE
    );
    let auth = |spec: topology::FunctionSpec| {
        resources[spec.logical_id]["Properties"]["FunctionUrlConfig"]["AuthType"].clone()
    };
    assert_eq!(
        auth(topology::WORK_ITEMS),
        "NONE",
        "Sentry calls it; every request is signed"
    );
    // The admin API: the routes aws-local takes to each function, and only those; the admin
    // functions read the token from the stack's AdminToken secret, and only they may.
    let mut declared: Vec<(String, String)> = Vec::new();
    for spec in topology::FUNCTIONS {
        let events = resources[spec.logical_id]["Properties"]["Events"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for event in events.values() {
            if event["Type"] == "HttpApi" && event["Properties"]["ApiId"] == json!({"Ref": "AdminHttpApi"}) {
                let key = format!(
                    "{} {}",
                    event["Properties"]["Method"].as_str().unwrap(),
                    event["Properties"]["Path"].as_str().unwrap()
                );
                declared.push((spec.name.to_string(), key));
            }
        }
        let variables = &resources[spec.logical_id]["Properties"]["Environment"]["Variables"];
        assert_eq!(
            variables[shared::app::ADMIN_TOKEN_SECRET_ENV] == json!({"Ref": "AdminToken"}),
            spec.admin,
            "{} and the admin token",
            spec.name
        );
        assert!(resources[spec.logical_id]["Properties"]["FunctionUrlConfig"]["AuthType"] != "AWS_IAM");
    }
    declared.sort();
    let mut expected: Vec<(String, String)> = topology::ADMIN_ROUTES
        .iter()
        .map(|(function, key)| (function.name().to_string(), key.to_string()))
        .collect();
    expected.sort();
    assert_eq!(declared, expected);
    // Every function's log group is the stack's, with the retention parameter; secrets are the
    // stack's own by default; the public hook route is throttled.
    for spec in topology::FUNCTIONS {
        let group = resources
            .values()
            .find(|r| {
                r["Type"] == "AWS::Logs::LogGroup"
                    && r["Properties"]["LogGroupName"].to_string().contains(spec.logical_id)
            })
            .unwrap_or_else(|| panic!("{} has no log group", spec.name));
        assert_eq!(
            group["Properties"]["RetentionInDays"],
            json!({"Ref": "LogRetentionDays"})
        );
        assert_eq!(group["DeletionPolicy"], "Delete");
    }
    assert_eq!(template["Parameters"]["SecretPrefix"]["Default"], "");
    assert!(
        globals["Environment"]["Variables"]["SECRET_PREFIX"]
            .to_string()
            .contains("AWS::StackName")
    );
    // The public function URL (Sentry's) can be capped: a reserved concurrency from a parameter.
    assert!(
        resources[topology::WORK_ITEMS.logical_id]["Properties"]["ReservedConcurrentExecutions"]
            .to_string()
            .contains("SentryRouteConcurrency")
    );
    let throttle = &resources["BridgeHttpApi"]["Properties"]["DefaultRouteSettings"];
    assert!(!throttle["ThrottlingRateLimit"].is_null() && !throttle["ThrottlingBurstLimit"].is_null());
    // Operators hear about failures: every function's errors, the stream's age, dead events and a
    // reconciliation that stops completing, each to the alarm topic; the metrics are the ones the
    // functions write.
    let alarms: Vec<&Value> = resources
        .values()
        .filter(|r| r["Type"] == "AWS::CloudWatch::Alarm")
        .collect();
    for spec in topology::FUNCTIONS {
        assert!(
            alarms.iter().any(|a| a["Properties"]["MetricName"] == "Errors"
                && a["Properties"]["Dimensions"][0]["Value"] == json!({"Ref": spec.logical_id})),
            "{} has no error alarm",
            spec.name
        );
    }
    for (namespace, metric) in [
        ("AWS/Lambda", "IteratorAge"),
        (shared::metrics::NAMESPACE, shared::metrics::EVENTS_DEAD),
        (shared::metrics::NAMESPACE, shared::metrics::RECONCILE_COMPLETED),
    ] {
        assert!(
            alarms
                .iter()
                .any(|a| a["Properties"]["Namespace"] == namespace && a["Properties"]["MetricName"] == metric),
            "no alarm on {metric}"
        );
    }
    assert!(
        alarms
            .iter()
            .all(|a| a["Properties"]["AlarmActions"] == json!([{"Ref": "AlarmTopic"}]))
    );
    // The store reads items (GetItem, Query) and writes whole items or deletes them (PutItem,
    // DeleteItem, alone or in a transaction): no function is granted anything else on the table.
    for spec in topology::FUNCTIONS {
        let statements = resources[spec.logical_id]["Properties"]["Policies"][0]["Statement"]
            .as_array()
            .unwrap();
        for action in statements.iter().flat_map(|s| s["Action"].as_array().unwrap()) {
            let action = action.as_str().unwrap();
            if let Some(call) = action.strip_prefix("dynamodb:") {
                assert!(
                    ["GetItem", "PutItem", "DeleteItem", "Query"].contains(&call),
                    "{} is granted {action}, which the store never calls",
                    spec.name
                );
            }
        }
    }

    // The table aws-local (and every moto test) creates, against the template's.
    let table = &resources["BridgeTable"]["Properties"];
    let created = bridge_tests::moto::dynamo_table().await;
    let client = aws_sdk_dynamodb::Client::new(&bridge_tests::moto::sdk_config().await);
    let described = client
        .describe_table()
        .table_name(created.table_name())
        .send()
        .await
        .unwrap();
    let described = described.table().unwrap();
    let keys = |schema: &[aws_sdk_dynamodb::types::KeySchemaElement]| -> Value {
        schema
            .iter()
            .map(|k| json!({"AttributeName": k.attribute_name(), "KeyType": k.key_type().as_str()}))
            .collect()
    };
    assert_eq!(keys(described.key_schema()), table["KeySchema"]);
    let mut indexes: Vec<Value> = described
        .global_secondary_indexes()
        .iter()
        .map(|i| {
            json!({"IndexName": i.index_name(), "KeySchema": keys(i.key_schema()),
                   "Projection": {"ProjectionType": i.projection().and_then(|p| p.projection_type()).map(|t| t.as_str())}})
        })
        .collect();
    indexes.sort_by_key(|i| i["IndexName"].as_str().unwrap_or_default().to_string());
    assert_eq!(Value::Array(indexes), table["GlobalSecondaryIndexes"]);
    let mut attributes: Vec<Value> = described
        .attribute_definitions()
        .iter()
        .map(|a| json!({"AttributeName": a.attribute_name(), "AttributeType": a.attribute_type().as_str()}))
        .collect();
    attributes.sort_by_key(|a| a["AttributeName"].as_str().unwrap_or_default().to_string());
    let mut declared = table["AttributeDefinitions"].as_array().unwrap().clone();
    declared.sort_by_key(|a| a["AttributeName"].as_str().unwrap_or_default().to_string());
    assert_eq!(attributes, declared);
    assert_eq!(
        described
            .stream_specification()
            .and_then(|s| s.stream_view_type())
            .map(|t| t.as_str()),
        table["StreamSpecification"]["StreamViewType"].as_str()
    );
    assert_eq!(
        described
            .billing_mode_summary()
            .and_then(|b| b.billing_mode())
            .map(|m| m.as_str()),
        table["BillingMode"].as_str()
    );
    let ttl = client
        .describe_time_to_live()
        .table_name(created.table_name())
        .send()
        .await
        .unwrap();
    let ttl = ttl.time_to_live_description().unwrap();
    assert_eq!(
        ttl.attribute_name(),
        table["TimeToLiveSpecification"]["AttributeName"].as_str()
    );
}

/// The processes `pid` started that are still its children (Linux: `/proc/{pid}/task/*/children`).
fn child_processes(pid: u32) -> Vec<u32> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.flatten().collect::<Vec<_>>())
        .unwrap_or_default();
    tasks
        .iter()
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|text| {
            text.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// `aws-local` as a user runs it: it says where it listens, the front answers, function processes
/// start on demand, and SIGTERM stops it and every process it started.
#[tokio::test]
async fn the_aws_local_command_stops_every_process_it_started_on_sigterm() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_aws-local"))
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env_remove("CARGO")
        .env("MOTO_ENDPOINT", bridge_tests::moto::endpoint())
        .env("BRIDGE_ADMIN_TOKEN", ADMIN_TOKEN)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut base = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("aws-local listening on ") {
            base = rest.split_whitespace().next().map(str::to_string);
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let base = base.expect("aws-local said where it listens");
    let client = reqwest::Client::new();
    let health = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let listed = client
        .get(format!("{base}/integrations"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
    let anonymous = client.get(format!("{base}/integrations")).send().await.unwrap();
    assert_eq!(
        anonymous.status(),
        StatusCode::UNAUTHORIZED,
        "the integrations function checks the token"
    );
    // An unsigned webhook: refused by work-items, which starts for it.
    let unsigned = client
        .post(format!("{base}/hooks/sentry"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), StatusCode::UNAUTHORIZED);
    let functions = child_processes(child.id());
    assert!(functions.len() >= 2, "work-items and integrations run: {functions:?}");

    let signal = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(signal.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "stopped cleanly: {exit:?}");
    for pid in functions {
        let gone = (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(20));
            !std::path::Path::new(&format!("/proc/{pid}")).exists()
        });
        assert!(gone, "process {pid} outlived aws-local");
    }
}

/// The integrations function is stopped at its timeout half way through a create (Azure DevOps
/// answers the third subscription slowly): what it made is on record — the integration is listed
/// as `connecting` — and one DELETE removes all of it, the subscriptions it never got to record
/// included, with its secret.
#[tokio::test]
async fn a_create_stopped_half_way_is_removed_whole_by_a_delete() {
    let server = bridge_tests::server::start_aws_local_with(AwsLocalSettings {
        schedule_every: Duration::from_secs(600),
        timeouts: vec![(topology::INTEGRATIONS.name, Duration::from_secs(3))],
        ..AwsLocalSettings::default()
    })
    .await;
    server.ado.inject(Fault {
        path_contains: "/_apis/hooks/subscriptions".into(),
        method: Some(reqwest::Method::POST),
        kind: FaultKind::Slow(Duration::from_secs(20)),
        times: 1,
        after: 2,
    });
    let (status, _) = server
        .call(Method::POST, "/integrations", Some(server.create_body()))
        .await;
    assert!(status.is_server_error(), "{status}");
    let (_, listed) = server.call(Method::GET, "/integrations", None).await;
    let unfinished = &listed["integrations"][0];
    assert_eq!(unfinished["state"], "connecting", "{listed}");
    let id = unfinished["id"].as_str().unwrap().to_string();
    let secret_ref = unfinished["secret_ref"].as_str().unwrap().to_string();
    let delivering_to_it = || {
        server
            .ado
            .subscriptions()
            .iter()
            .filter(|s| s["consumerInputs"]["url"].as_str().unwrap_or_default().ends_with(&id))
            .count()
    };
    assert_eq!(delivering_to_it(), 2, "made, never recorded");

    let (status, _) = server.call(Method::DELETE, &format!("/integrations/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(delivering_to_it(), 0);
    assert!(server.app.secrets.get(&secret_ref).await.is_err(), "the secret is gone");
    let (status, _) = server.call(Method::GET, &format!("/integrations/{id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// On the AWS form, the `reconcile` function's schedule repairs what no webhook told: an issue
/// resolved in Sentry without a webhook resolves the work item; the admin route runs a pass and
/// answers its report through the front.
#[tokio::test]
async fn the_scheduled_reconcile_function_repairs_a_webhook_that_never_came() {
    let setup = setup_on(AwsLocalSettings {
        schedule_every: Duration::from_secs(600),
        reconcile_every: Duration::from_secs(2),
        ..AwsLocalSettings::default()
    })
    .await;
    let server = &setup.server;
    let path = format!("/integrations/{}/reconcile", setup.integration_id);
    let (_, report) = server.call(Method::POST, &path, None).await;
    assert_eq!(report["complete"], true, "{report}");
    assert_eq!(report["links"]["checked"], 1);

    // A subscription Azure DevOps disabled, and an issue resolved in Sentry without a webhook.
    let integration = server
        .app
        .store
        .get_integration(&setup.integration_id)
        .await
        .unwrap()
        .unwrap();
    let disabled = integration.azure_devops.subscriptions["workitem.updated"].clone();
    server.ado.set_subscription_status(&disabled, "disabledBySystem");
    server.sentry.set_status(bridge_tests::server::LINKED_ISSUE, "resolved");
    let state = || {
        server.ado.state(|s| {
            s.work_items[&setup.work_item].fields["System.State"]
                .as_str()
                .unwrap()
                .to_string()
        })
    };
    eventually("the work item resolved by the scheduled pass", || state() == "Resolved").await;
    let stats = setup
        .server
        .stack
        .as_ref()
        .unwrap()
        .function_stats(topology::RECONCILE.name);
    assert!(stats.invocations >= 1, "{stats:?}");
    eventually("a completed run counted", || {
        !setup
            .server
            .stack
            .as_ref()
            .unwrap()
            .metric_values(topology::RECONCILE.name, shared::metrics::RECONCILE_COMPLETED)
            .is_empty()
    })
    .await;
    let enabled = || {
        let subscriptions = server.ado.subscriptions();
        subscriptions.len() == 4 && subscriptions.iter().all(|s| s["status"] == "enabled")
    };
    eventually("the disabled subscription made again", enabled).await;

    // Rotation and user mappings through the integrations function.
    let path = format!("/integrations/{}/rotate-webhook-secret", setup.integration_id);
    let (status, _) = server.call(Method::POST, &path, None).await;
    assert_eq!(status, StatusCode::OK);
    let integration = server
        .app
        .store
        .get_integration(&setup.integration_id)
        .await
        .unwrap()
        .unwrap();
    let secret = server
        .app
        .secrets
        .get(&integration.secret_ref)
        .await
        .unwrap()
        .webhook_secret;
    for id in integration.azure_devops.subscriptions.values() {
        let raw = server.ado.subscription_raw(id).unwrap();
        assert_eq!(raw["consumerInputs"]["basicAuthPassword"], secret.expose());
    }
    let path = format!("/integrations/{}/user-mappings", setup.integration_id);
    let pair = json!({"azure_devops": "jamal@fabrikam.example", "sentry": "jamal.h@personal.example"});
    let (status, _) = server.call(Method::POST, &path, Some(pair)).await;
    assert_eq!(status, StatusCode::CREATED);
}

/// Repositories through the deployed functions: registered by `repositories` (its push
/// subscription made), a push that fixes an issue taken by `webhook-intake` and applied by
/// `sync-worker`, commits set on a release by `repositories`, a release named after a commit
/// given its commits by the scheduled `reconcile`, and a stack-trace link answered by `work-items`.
#[tokio::test]
async fn repositories_work_through_the_deployed_functions() {
    use bridge_tests::fake_ado::{FakeCommit, WEB_REPOSITORY_ID};
    let setup = setup_on(AwsLocalSettings {
        reconcile_every: Duration::from_secs(2),
        ..AwsLocalSettings::default()
    })
    .await;
    let server = &setup.server;
    let base = format!("/integrations/{}", setup.integration_id);
    let web = json!({"repository": "Fabrikam-Fiber/fabrikam-web", "sentry_projects": ["backend"]});
    let (status, registered) = server
        .call(Method::POST, &format!("{base}/repositories"), Some(web))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let push_subscription = server
        .ado
        .subscription_raw(registered["push_subscription_id"].as_str().unwrap());
    assert_eq!(push_subscription.unwrap()["eventType"], "git.push");

    server.sentry.add_issue("9001");
    let fixing = FakeCommit::new(&"d".repeat(40), "Guard the divisor (fixes BACKEND-9001)");
    server.ado.push(WEB_REPOSITORY_ID, "main", vec![fixing]).await;
    eventually("the fixing commit noted on the issue", || {
        server.sentry.issue("9001").comments.len() == 1
    })
    .await;

    let path = format!("{base}/repositories/{WEB_REPOSITORY_ID}/releases");
    let (status, _) = server
        .call(Method::POST, &path, Some(json!({"version": "1.0.0", "commit": "main"})))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(server.sentry.release("1.0.0").unwrap().commits.len(), 6);

    let next = FakeCommit::new(&"e".repeat(40), "Next change");
    server.ado.add_commits(WEB_REPOSITORY_ID, "main", vec![next]);
    let version = format!("backend@{}", &"e".repeat(12));
    server.sentry.add_release(&version, &["backend"]);
    eventually("the scheduled pass set the release's commits", || {
        server.sentry.release(&version).is_some_and(|r| r.commits.len() == 1)
    })
    .await;

    let mapping = json!({"sentry_project": "backend", "repository": WEB_REPOSITORY_ID, "stack_root": "app/", "source_root": "src/"});
    let (status, _) = server
        .call(Method::POST, &format!("{base}/code-mappings"), Some(mapping))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let link = server.url(&format!(
        "/sentry/stacktrace-link?installationId={}&projectSlug=backend&filename=app/a.py&lineNo=3",
        bridge_tests::fake_sentry::INSTALLATION
    ));
    let response = browser.get(link).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert!(
        response.headers()["location"]
            .to_str()
            .unwrap()
            .contains("path=%2Fsrc%2Fa.py&version=GBmain&line=3")
    );
    let stack = server.stack.as_ref().unwrap();
    assert!(stack.function_stats(topology::REPOSITORIES.name).invocations >= 2);
}

/// Upgrading (README: `git pull && sam build && sam deploy`) replaces the functions, not the table
/// or the secrets: an event that failed before the deploy (Sentry down) is applied by the new
/// functions once the operator retries it, and the integration, its link, its webhook secret and the
/// admin token work as before.
#[tokio::test]
async fn an_upgrade_keeps_records_secrets_and_events_in_flight() {
    // A retried event is pending again; the schedule takes pending events once the stream had its
    // chance (two minutes on AWS, a second here).
    let mut setup = setup_on(AwsLocalSettings {
        environment: vec![("BRIDGE_STREAM_GRACE_SECS".into(), "1".into())],
        ..AwsLocalSettings::default()
    })
    .await;
    setup.server.sentry.fail_next(u32::MAX);
    let ops = json!([patch::replace("/fields/System.State", "Resolved")]);
    setup.edit_as_person(ops).await;
    let mut failed = Vec::new();
    for _ in 0..200 {
        failed = setup.events(EventStatus::Failed).await;
        if !failed.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(failed.len(), 1, "the sync failed while Sentry was down");

    setup.server.redeploy().await;
    let server = &setup.server;
    server.sentry.fail_next(0);
    // The new stack's schedule runs, and its stream mapping goes on from where it was: nothing
    // applies the failed event before its backoff ends or the operator retries it.
    tokio::time::sleep(AWS_LOCAL_SCHEDULE + Duration::from_secs(1)).await;
    assert_eq!(server.sentry.issue(ISSUE).status, "unresolved");
    assert_eq!(
        server.stack.as_ref().unwrap().stream_stats().invocations,
        0,
        "no replay of old records"
    );
    let path = format!("/integrations/{}/events/retry?status=failed", setup.integration_id);
    let (status, _) = server.call(Method::POST, &path, None).await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "the admin token still opens the admin API"
    );
    eventually("the event applied by the new sync-worker", || {
        server.sentry.issue(ISSUE).status == "resolved"
    })
    .await;
    assert!(
        server.stack.as_ref().unwrap().function_stats("sync-worker").cold_starts >= 1,
        "applied by a new sync-worker process"
    );

    // The webhook secret stayed: Azure DevOps' next delivery is accepted and applied.
    let ops = json!([patch::replace("/fields/System.State", "Active")]);
    setup.edit_as_person(ops).await;
    eventually("the next change synced through the new functions", || {
        server.sentry.issue(ISSUE).status == "unresolved"
    })
    .await;
    let link = server.stored_link(&setup.integration_id, ISSUE).await;
    assert_eq!(link.work_item_id, setup.work_item, "the link survived");
}
