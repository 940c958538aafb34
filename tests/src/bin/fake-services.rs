//! Runs the fake Azure DevOps organization and the fake Sentry as one process, so the bridge
//! can be tried end to end on one machine without any account:
//! `cargo run -p bridge-tests --bin fake-services`, then create an integration with the printed
//! values against `bridge-local`. Fixed ports, so the printed commands stay the same from run to
//! run: Azure DevOps on 127.0.0.1:9100, Sentry on 127.0.0.1:9200 (`FAKE_ADO_LISTEN`,
//! `FAKE_SENTRY_LISTEN` change them). Ctrl-C stops it.

use bridge_tests::fake_ado::{self, FakeAdo};
use bridge_tests::fake_sentry::{self, FakeSentry};

#[tokio::main]
async fn main() {
    let listen = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_string());
    let ado = FakeAdo::start_on(&listen("FAKE_ADO_LISTEN", "127.0.0.1:9100")).await;
    let sentry = FakeSentry::start_on(&listen("FAKE_SENTRY_LISTEN", "127.0.0.1:9200")).await;
    for issue in ["1", "2", "3", "77"] {
        sentry.add_issue(issue);
    }
    let repository = fake_ado::WEB_REPOSITORY_ID;
    println!("fake Azure DevOps organization: {}", ado.org_url());
    println!("  PAT: {} (the bridge's)", fake_ado::VALID_PAT);
    println!(
        "  PAT: {} (acts as Jamal Hartnett: change work items with it to see them sync)",
        fake_ado::PERSON_PAT
    );
    println!("  projects: Fabrikam-Fiber (Agile), Contoso Web (Basic), Archive (Agile)");
    println!(
        "  repositories: Fabrikam-Fiber/fabrikam-web ({repository}), Fabrikam-Fiber/fabrikam-api, Contoso Web/site"
    );
    println!(
        "fake Sentry: {} (organization `{}`, token {}, issues 1, 2, 3, 77 = BACKEND-1, BACKEND-2, …)",
        sentry.base_url(),
        fake_sentry::ORG,
        fake_sentry::TOKEN
    );
    println!();
    println!("create an integration against them:");
    println!(
        "  curl -s -X POST localhost:8080/integrations -H \"Authorization: Bearer $(cat .bridge-data/admin-token)\" \\\n    -H 'content-type: application/json' -d '{}'",
        serde_json::json!({
            "name": "fake",
            "azure_devops": {"organization_url": ado.org_url(), "auth": {"type": "pat", "token": fake_ado::VALID_PAT}},
            "sentry": {"base_url": sentry.base_url(), "organization_slug": fake_sentry::ORG,
                       "client_secret": "fake-client-secret", "auth_token": fake_sentry::TOKEN}
        })
    );
    println!();
    println!("once a work item is linked to a Sentry issue, change it as a person would:");
    println!(
        "  curl -s -u :{} -X PATCH '{}/_apis/wit/workitems/1?api-version=7.1' \
    -H 'content-type: application/json-patch+json' -d '[{{\"op\":\"add\",\"path\":\"/fields/System.State\",\"value\":\"Resolved\"}}]'",
        fake_ado::PERSON_PAT,
        ado.org_url()
    );
    println!(
        "and watch the Sentry issue: curl -s -H 'Authorization: Bearer {}' {}/api/0/organizations/{}/issues/<id>/",
        fake_sentry::TOKEN,
        sentry.base_url(),
        fake_sentry::ORG
    );
    println!("push a commit that fixes Sentry issue 77 (after registering the repository):");
    println!(
        "  curl -s -u :{} -X POST '{}/_apis/git/repositories/{repository}/pushes?api-version=7.1' \\\n    \
         -H 'content-type: application/json' -d '{{\"refUpdates\":[{{\"name\":\"refs/heads/main\"}}],\"commits\":[{{\"comment\":\"Guard the divisor (Fixes BACKEND-77)\"}}]}}'",
        fake_ado::PERSON_PAT,
        ado.org_url()
    );
    let _ = tokio::signal::ctrl_c().await;
}
