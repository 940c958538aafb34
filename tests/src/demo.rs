//! The whole flow, step by step, against a running bridge and the fakes — what `demo` prints for a
//! person trying the bridge (README "Try it locally"), and what the suite runs so the walk-through
//! cannot drift from the product. Each step shows the request a person (or Sentry, or Azure
//! DevOps) makes, then waits until the bridge has synced it.

use std::time::Duration;

use serde_json::{Value, json};

use crate::fake_ado::{self, FakeAdo};
use crate::fake_sentry::{self, FakeSentry};
use crate::sentry_app::{fixture, post_signed, post_webhook};

/// The client secret the demo's integration uses (as a Sentry internal integration shows it).
pub const CLIENT_SECRET: &str = "demo-client-secret";
const ISSUE: &str = "6543210987";

pub struct Demo<'a> {
    pub bridge: String,
    pub admin_token: String,
    pub ado: &'a FakeAdo,
    pub sentry: &'a FakeSentry,
    pub client: reqwest::Client,
}

fn say(text: &str) {
    println!("{text}");
}

async fn until(what: &str, mut done: impl FnMut() -> bool) -> Result<(), String> {
    for _ in 0..100 {
        if done() {
            say(&format!("   ✓ {what}"));
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("not synced within 10 s: {what}"))
}

impl Demo<'_> {
    /// Runs every step; `Err` names the step that did not happen.
    pub async fn run(&self) -> Result<(), String> {
        let id = self.connect().await?;
        let work_item = self.link().await?;
        self.resolve_in_azure_devops(work_item).await?;
        self.reopen_in_sentry(work_item).await?;
        self.comment_in_sentry(work_item).await?;
        self.comment_in_azure_devops(work_item).await?;
        say(&format!(
            "\nDone. Look around: curl -s {}/integrations/{id}/status -H 'Authorization: Bearer <token>'",
            self.bridge
        ));
        Ok(())
    }

    async fn connect(&self) -> Result<String, String> {
        say("1. Connect the two organizations (admin API):");
        let body = json!({
            "name": "demo",
            "azure_devops": {"organization_url": self.ado.org_url(), "auth": {"type": "pat", "token": fake_ado::VALID_PAT}},
            "sentry": {"base_url": self.sentry.base_url(), "organization_slug": fake_sentry::ORG,
                       "client_secret": CLIENT_SECRET, "auth_token": fake_sentry::TOKEN}
        });
        say(&format!(
            "   curl -s -X POST {}/integrations -H \"Authorization: Bearer $TOKEN\" -H 'content-type: application/json' -d '{body}'",
            self.bridge
        ));
        let response = self
            .client
            .post(format!("{}/integrations", self.bridge))
            .bearer_auth(&self.admin_token)
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let created: Value = response.json().await.unwrap_or(Value::Null);
        if status != reqwest::StatusCode::CREATED {
            return Err(format!("create answered {status}: {created}"));
        }
        let id = created["id"].as_str().unwrap_or_default().to_string();
        say(&format!(
            "   ✓ integration {id}; Azure DevOps now delivers to {}",
            created["webhook_url"]
        ));
        Ok(id)
    }

    async fn link(&self) -> Result<u64, String> {
        say(
            "\n2. Create a work item from Sentry issue 6543210987 (what Sentry sends when someone uses the issue-link):",
        );
        let request = json!({
            "fields": {"title": "ZeroDivisionError: division by zero", "ado_project": "Fabrikam-Fiber", "work_item_type": "Bug"},
            "issueId": ISSUE.parse::<u64>().unwrap_or_default(),
            "installationId": fake_sentry::INSTALLATION,
            "webUrl": format!("https://acme.sentry.io/issues/{ISSUE}/"),
            "project": {"slug": "backend", "id": 1},
            "actor": {"type": "user", "id": 1, "name": "Jane Doe"}
        });
        say(&format!("   POST {}/sentry/issue-link/create", self.bridge));
        say("   Sentry-App-Signature: hex(HMAC-SHA256(client secret, exact body bytes))");
        say(&format!(
            "   {request}\n   (`installationId`: the Sentry app's installation, learned when the integration was created)"
        ));
        self.sentry.add_issue(ISSUE);
        let url = format!("{}/sentry/issue-link/create", self.bridge);
        let (status, created) = post_signed(&self.client, &url, &request, CLIENT_SECRET).await;
        if status != reqwest::StatusCode::CREATED {
            return Err(format!("issue-link create answered {status}: {created}"));
        }
        let work_item: u64 = created["identifier"]
            .as_str()
            .and_then(|i| i.parse().ok())
            .ok_or("no work item id")?;
        say(&format!("   ✓ work item {work_item}: {}", created["webUrl"]));
        Ok(work_item)
    }

    fn state(&self, work_item: u64) -> String {
        self.ado.state(|s| {
            s.work_items
                .get(&work_item)
                .and_then(|w| w.fields.get("System.State"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        })
    }

    async fn resolve_in_azure_devops(&self, work_item: u64) -> Result<(), String> {
        say(
            "\n3. A person resolves the work item in Azure DevOps (their own PAT; the bridge's own changes are echoes):",
        );
        let url = format!("{}/_apis/wit/workitems/{work_item}?api-version=7.1", self.ado.org_url());
        let ops = json!([{"op": "add", "path": "/fields/System.State", "value": "Resolved"}]);
        say(&format!(
            "   curl -s -u :{} -X PATCH '{url}' -H 'content-type: application/json-patch+json' -d '{ops}'",
            fake_ado::PERSON_PAT
        ));
        let response = self
            .client
            .patch(url)
            .basic_auth("", Some(fake_ado::PERSON_PAT))
            .header("content-type", "application/json-patch+json")
            .body(ops.to_string())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("the PATCH answered {}", response.status()));
        }
        until("the Sentry issue is resolved", || {
            self.sentry.issue(ISSUE).status == "resolved"
        })
        .await
    }

    async fn reopen_in_sentry(&self, work_item: u64) -> Result<(), String> {
        say("\n4. A person reopens the issue in Sentry; Sentry sends its webhook:");
        self.sentry.set_status(ISSUE, "unresolved");
        let body = fixture("webhook_issue_unresolved.json").to_string();
        self.webhook("issue", &body).await?;
        until("the work item is active again", || {
            let state = self.state(work_item);
            !state.is_empty() && state != "Resolved"
        })
        .await
    }

    async fn comment_in_sentry(&self, work_item: u64) -> Result<(), String> {
        say("\n5. A comment in Sentry (the comment.created webhook):");
        let body = fixture("webhook_comment_created.json").to_string();
        self.webhook("comment", &body).await?;
        until("the comment is on the work item, attributed", || {
            self.ado.state(|s| {
                s.work_items
                    .get(&work_item)
                    .is_some_and(|w| w.comments.iter().any(|c| c.text.contains("Repro")))
            })
        })
        .await
    }

    async fn comment_in_azure_devops(&self, work_item: u64) -> Result<(), String> {
        say("\n6. A person comments on the work item in Azure DevOps:");
        let url = format!(
            "{}/Fabrikam-Fiber/_apis/wit/workItems/{work_item}/comments?api-version=7.1-preview.4",
            self.ado.org_url()
        );
        let body = json!({"text": "Fixed by guarding the divisor."});
        say(&format!(
            "   curl -s -u :{} -X POST '{url}' -H 'content-type: application/json' -d '{body}'",
            fake_ado::PERSON_PAT
        ));
        let response = self
            .client
            .post(url)
            .basic_auth("", Some(fake_ado::PERSON_PAT))
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("the comment answered {}", response.status()));
        }
        until("the comment is on the Sentry issue", || {
            self.sentry
                .issue(ISSUE)
                .comments
                .iter()
                .any(|(_, text)| text.contains("guarding the divisor"))
        })
        .await
    }

    async fn webhook(&self, resource: &str, body: &str) -> Result<(), String> {
        let url = format!("{}/hooks/sentry", self.bridge);
        say(&format!(
            "   POST {url}\n   Sentry-Hook-Resource: {resource}\n   Sentry-Hook-Timestamp: <unix seconds>\n   \
             Sentry-Hook-Signature: hex(HMAC-SHA256(client secret, exact body bytes))\n   {body}"
        ));
        let now = shared::clock::now_ms() / 1000;
        let (status, answer) = post_webhook(&self.client, &url, resource, body, CLIENT_SECRET, now).await;
        if status != reqwest::StatusCode::ACCEPTED {
            return Err(format!("the webhook answered {status}: {answer}"));
        }
        Ok(())
    }
}
