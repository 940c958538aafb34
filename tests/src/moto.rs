//! One moto server per test binary. `MOTO_ENDPOINT` (set by `infra/test.sh`) wins; otherwise a
//! `ThreadedMotoServer` is started on a free loopback port. It reads its stdin until EOF, so it
//! exits with the test process even when that process is killed.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};

use shared::store::{DynamoTable, Store};

const LAUNCHER: &str = r#"
import logging, sys
logging.getLogger("werkzeug").setLevel(logging.ERROR)
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()
server.stop()
"#;

struct Moto {
    endpoint: String,
    _child: Option<Child>,
}

static MOTO: OnceLock<Moto> = OnceLock::new();

fn start() -> Moto {
    if let Ok(endpoint) = std::env::var("MOTO_ENDPOINT") {
        return Moto { endpoint, _child: None };
    }
    let mut child = Command::new("python3")
        .args(["-c", LAUNCHER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 must be installed to run moto (pip install 'moto[server]')");
    let stdout = child.stdout.take().expect("moto stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("read moto port");
    let port: u16 = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("moto did not start (is `moto[server]` installed? run infra/test.sh): {line:?}"));
    Moto {
        endpoint: format!("http://127.0.0.1:{port}"),
        _child: Some(child),
    }
}

/// The moto endpoint for this test binary.
pub fn endpoint() -> &'static str {
    &MOTO.get_or_init(start).endpoint
}

/// SDK configuration pointed at moto: fixed region and credentials, no retries.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint())
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "moto",
        ))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await
}

/// A table name no other test uses.
pub fn table_name() -> String {
    format!("bridge-test-{}", uuid::Uuid::new_v4().simple())
}

/// A fresh DynamoDB table (unique name) laid out as `template.yaml` declares it.
pub async fn dynamo_table() -> DynamoTable {
    let client = aws_sdk_dynamodb::Client::new(&sdk_config().await);
    let name = table_name();
    DynamoTable::create_table(&client, &name)
        .await
        .expect("create table in moto");
    DynamoTable::new(client, name)
}

/// The existing table `name` (created by someone else, e.g. `aws-local`).
pub async fn dynamo_table_named(name: &str) -> DynamoTable {
    DynamoTable::new(aws_sdk_dynamodb::Client::new(&sdk_config().await), name)
}

/// A typed store over a fresh DynamoDB table.
pub async fn dynamo_store() -> Store {
    Store::new(Arc::new(dynamo_table().await))
}

pub async fn secrets_manager() -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(&sdk_config().await)
}
