//! Every admin command in the README runs as written against the local server: the `sh` blocks
//! that use `$BRIDGE`, in order, with `$BRIDGE`, `$TOKEN` and (once the create command made it) `$ID`
//! set, and the README's placeholders for your organizations replaced by the fakes'.

use bridge_tests::fake_ado::{VALID_PAT, WEB_REPOSITORY_ID};
use bridge_tests::fake_sentry::TOKEN as SENTRY_TOKEN;
use bridge_tests::readme::{bridge_blocks, commands, curl};
use bridge_tests::server::{ADMIN_TOKEN, Backend, start};
use std::collections::HashMap;

#[tokio::test]
async fn every_admin_command_in_the_readme_runs_as_written() {
    let server = start(Backend::Local).await;
    let readme = std::fs::read_to_string(format!("{}/../README.md", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let placeholders = [
        ("https://dev.azure.com/contoso", server.ado.org_url()),
        ("<PAT>", VALID_PAT.to_string()),
        ("https://sentry.io", server.sentry.base_url()),
        ("<client secret>", "readme-client-secret".to_string()),
        ("<token>", SENTRY_TOKEN.to_string()),
        ("<repository id>", WEB_REPOSITORY_ID.to_string()),
    ];
    let mut vars = HashMap::from([
        ("BRIDGE".to_string(), server.url("")),
        ("TOKEN".to_string(), ADMIN_TOKEN.to_string()),
    ]);
    let blocks = bridge_blocks(&readme);
    assert!(blocks.len() >= 3, "{blocks:?}");
    let mut sent = 0;
    for block in blocks {
        let mut script = block.clone();
        for (placeholder, value) in &placeholders {
            script = script.replace(placeholder, value);
        }
        // The token and base URL are this server's (the README reads them from the data directory).
        let script: String = script
            .lines()
            .filter(|line| !line.trim_start().starts_with("TOKEN="))
            .map(|line| format!("{line}\n"))
            .collect();
        if script.contains("$ID") && !vars.contains_key("ID") {
            let integrations = server.app.store.list_integrations().await.unwrap();
            vars.insert("ID".into(), integrations[0].id.clone());
        }
        for command in commands(&script, &mut vars) {
            let Some(request) = curl(&server.client, &command) else {
                panic!("not a curl command in a $BRIDGE block: {command:?}");
            };
            let response = request.send().await.unwrap();
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            assert!(status.is_success(), "{command:?} answered {status}: {body}");
            sent += 1;
        }
    }
    assert!(sent >= 10, "{sent} commands");
}
