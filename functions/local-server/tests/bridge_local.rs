//! `bridge-local` as a user runs it: start the binary, curl it, stop it with Ctrl-C, start it
//! again on the same data directory.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use bridge_tests::fake_ado::FakeAdo;
use bridge_tests::fake_sentry::FakeSentry;
use serde_json::{Value, json};

struct Running {
    child: Child,
    base: String,
    /// Every line it printed so far (its start-up lines, then its logs).
    output: Arc<Mutex<Vec<String>>>,
}

impl Running {
    fn printed(&self, text: &str) -> bool {
        self.output.lock().unwrap().iter().any(|line| line.contains(text))
    }

    /// The log lines with `message` that contain every one of `parts`.
    fn logged(&self, message: &str, parts: &[&str]) -> Vec<String> {
        let output = self.output.lock().unwrap();
        output
            .iter()
            .filter(|line| line.contains(message) && parts.iter().all(|part| line.contains(part)))
            .cloned()
            .collect()
    }
}

/// Starts the binary on a free port and waits for its "listening on" line; what it prints
/// afterwards keeps being collected.
fn start(data_dir: &Path, admin_token: Option<&str>) -> Running {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bridge-local"));
    command
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env_remove("BRIDGE_ADMIN_TOKEN")
        .env_remove("BRIDGE_PUBLIC_URL")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(token) = admin_token {
        command.env("BRIDGE_ADMIN_TOKEN", token);
    }
    let child = command.spawn().expect("start bridge-local");
    // Owned by `Running` from here, so every path (including a failed start) stops it.
    let mut running = Running {
        child,
        base: String::new(),
        output: Arc::default(),
    };
    let mut lines = BufReader::new(running.child.stdout.take().unwrap()).lines();
    while let Some(Ok(line)) = lines.next() {
        running.output.lock().unwrap().push(line.clone());
        if let Some(address) = line.strip_prefix("bridge-local listening on ") {
            running.base = address.to_string();
            let output = running.output.clone();
            std::thread::spawn(move || {
                for line in lines.map_while(Result::ok) {
                    output.lock().unwrap().push(line);
                }
            });
            return running;
        }
    }
    panic!(
        "bridge-local exited before listening: {:?}",
        running.output.lock().unwrap()
    );
}

/// A test that fails midway still stops the server.
impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends SIGINT (Ctrl-C) and waits for a clean exit.
fn interrupt(running: Running) {
    let mut running = running;
    let status = Command::new("kill")
        .args(["-INT", &running.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = std::time::Instant::now();
    let exit = loop {
        if let Some(exit) = running.child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "bridge-local did not stop within 20 s of Ctrl-C"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(exit.success(), "graceful shutdown exits 0, got {exit:?}");
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn runs_persists_across_restarts_and_keeps_secrets_private() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let client = reqwest::Client::new();

    let first = start(&data_dir, None);
    let token_path = data_dir.join("admin-token");
    assert!(
        first.printed(&token_path.display().to_string()),
        "{:?}",
        first.output.lock().unwrap()
    );
    assert_eq!(mode(&token_path), 0o600);
    let token = std::fs::read_to_string(&token_path).unwrap().trim().to_string();

    let health: Value = client
        .get(format!("{}/healthz", first.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health, json!({"status": "ok"}));

    let unauthorized = client
        .post(format!("{}/integrations", first.base))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status(), 401);
    assert_eq!(
        unauthorized.json::<Value>().await.unwrap()["error"]["code"],
        "unauthorized"
    );

    let malformed = client
        .post(format!("{}/integrations", first.base))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"name\": \"x\"")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);

    let ado = FakeAdo::start().await;
    let sentry = FakeSentry::start().await;
    sentry.accept_token("auth-token-xyz");
    ado.state(|s| s.pat = "pat-value-xyz".into());
    let body = json!({
        "name": "contoso",
        "azure_devops": {"organization_url": ado.org_url(), "auth": {"type": "pat", "token": "pat-value-xyz"}},
        "sentry": {"base_url": sentry.base_url(), "organization_slug": "acme", "client_secret": "client-secret-xyz", "auth_token": "auth-token-xyz"}
    });
    let created = client
        .post(format!("{}/integrations", first.base))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let text = created.text().await.unwrap();
    for secret in ["pat-value-xyz", "client-secret-xyz", "auth-token-xyz"] {
        assert!(!text.contains(secret), "{text}");
    }
    let created: Value = serde_json::from_str(&text).unwrap();
    assert!(created["webhook_url"].as_str().unwrap().starts_with(&first.base));
    assert_eq!(ado.subscriptions().len(), 4, "the binary connected to Azure DevOps");

    let secrets_file = data_dir.join("secrets.json");
    assert_eq!(mode(&secrets_file), 0o600);
    assert_eq!(mode(&data_dir), 0o700);
    assert!(
        std::fs::read_to_string(&secrets_file)
            .unwrap()
            .contains("pat-value-xyz"),
        "secrets live in the file"
    );
    interrupt(first);

    let second = start(&data_dir, None);
    let listed: Value = client
        .get(format!("{}/integrations", second.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed["integrations"][0]["id"], created["id"],
        "the record survived the restart"
    );
    assert_eq!(listed["integrations"][0]["name"], "contoso");
    interrupt(second);

    let third = start(&data_dir, Some("token-from-env"));
    assert!(third.printed("BRIDGE_ADMIN_TOKEN"));
    let with_env_token = client
        .get(format!("{}/integrations", third.base))
        .bearer_auth("token-from-env")
        .send()
        .await
        .unwrap();
    assert_eq!(with_env_token.status(), 200);
    let with_file_token = client
        .get(format!("{}/integrations", third.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(with_file_token.status(), 401);
    interrupt(third);
}

/// What a person reads in the log at `info` as the README's walk-through runs: the link made,
/// each sync applied with what it changed, a refused request with why — plain text (no colour
/// codes) when the output is not a terminal, and no secret anywhere.
#[tokio::test]
async fn the_log_says_what_each_step_changed() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(&dir.path().join("data"), Some("log-test-admin-token"));
    let ado = FakeAdo::start().await;
    let sentry = FakeSentry::start().await;
    let demo = bridge_tests::demo::Demo {
        bridge: running.base.clone(),
        admin_token: "log-test-admin-token".into(),
        ado: &ado,
        sentry: &sentry,
        client: reqwest::Client::new(),
    };
    demo.run().await.unwrap();
    let refused = reqwest::Client::new()
        .get(format!("{}/integrations", running.base))
        .bearer_auth("wrong-token")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    // The worker logs an event after settling it: give the last one a moment.
    for _ in 0..50 {
        if !running.logged("event applied", &["Azure DevOps comment"]).is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    let all = running.output.lock().unwrap().join("\n");
    let issue = "Sentry issue 6543210987";
    for (message, parts) in [
        (
            "work item linked to the Sentry issue",
            &["issue=6543210987", "work_item=1"][..],
        ),
        (
            "event applied",
            &[
                "azure_devops_to_sentry",
                &format!("{issue} (work item 1): status unresolved → resolved"),
            ],
        ),
        (
            "event applied",
            &[
                "sentry_to_azure_devops",
                &format!("work item 1 ({issue}): state Resolved → Active"),
            ],
        ),
        (
            "event applied",
            &["sentry_to_azure_devops", "Sentry comment", "posted as comment"],
        ),
        (
            "event applied",
            &["azure_devops_to_sentry", "Azure DevOps comment", "posted"],
        ),
        ("request refused", &["status=401", "unauthorized"]),
        (
            "event applied",
            &[
                "workitem.updated",
                "nothing changed: revision 3 was applied already (the bridge's own write",
            ],
        ),
        (
            "event applied",
            &[
                "workitem.commented",
                "nothing changed: the bridge's own comment from Sentry coming back",
            ],
        ),
    ] {
        assert_eq!(
            running.logged(message, parts).len(),
            1,
            "one `{message}` line with {parts:?} in:\n{all}"
        );
    }
    assert!(!all.contains('\u{1b}'), "no colour codes into a pipe:\n{all}");
    for secret in [
        bridge_tests::fake_ado::VALID_PAT,
        bridge_tests::demo::CLIENT_SECRET,
        bridge_tests::fake_sentry::TOKEN,
        "log-test-admin-token",
    ] {
        assert!(!all.contains(secret), "a secret in the log:\n{all}");
    }
}

#[test]
fn bad_flags_exit_with_usage() {
    let output = Command::new(env!("CARGO_BIN_EXE_bridge-local"))
        .arg("--bogus")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("usage: bridge-local"));
    let output = Command::new(env!("CARGO_BIN_EXE_bridge-local"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("--data-dir"));
}
