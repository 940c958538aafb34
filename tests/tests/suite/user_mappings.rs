//! User mappings through the admin API, and both directions of an assignment through them:
//! Jamal is `jamal@fabrikam.example` in Azure DevOps and `jamal.h@personal.example` (user 103)
//! in Sentry.

use bridge_tests::server::{Backend, LINKED_ISSUE as ISSUE, Linked, start};
use bridge_tests::wait::settled;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn send(linked: &Linked, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut request = linked
        .server
        .admin(method, &format!("/integrations/{}{path}", linked.integration_id));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn assignee(linked: &Linked) -> Value {
    linked.server.ado.state(|s| {
        s.work_items[&linked.work_item]
            .fields
            .get("System.AssignedTo")
            .cloned()
            .unwrap_or(Value::Null)
    })
}

#[tokio::test]
async fn a_mapping_pairs_one_person_in_both_directions() {
    let linked = Linked::create(start(Backend::Local).await).await;
    let server = &linked.server;
    let pair = json!({"azure_devops": "Jamal@Fabrikam.example", "sentry": "jamal.h@personal.example"});
    let (status, created) = send(&linked, Method::POST, "/user-mappings", Some(pair)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        created,
        json!({"azure_devops": "jamal@fabrikam.example", "sentry": "jamal.h@personal.example", "sentry_user_id": "103"})
    );
    let (_, listed) = send(&linked, Method::GET, "/user-mappings", None).await;
    assert_eq!(listed["user_mappings"], json!([created]));

    // Azure DevOps → Sentry: assigned to Jamal's identity, the Sentry issue goes to user 103.
    let ops = json!([{"op": "add", "path": "/fields/System.AssignedTo", "value": "jamal@fabrikam.example"}]);
    linked.edit_as_person(ops).await;
    settled(&server.app, &linked.integration_id).await;
    assert_eq!(server.sentry.issue(ISSUE).assigned_to.as_deref(), Some("user:103"));

    // Sentry → Azure DevOps: unassigned in Azure DevOps, then assigned to user 103 in Sentry.
    let ops = json!([{"op": "add", "path": "/fields/System.AssignedTo", "value": ""}]);
    linked.edit_as_person(ops).await;
    settled(&server.app, &linked.integration_id).await;
    assert_eq!(assignee(&linked), Value::Null);
    let mut webhook = bridge_tests::sentry_app::fixture("webhook_issue_assigned.json");
    webhook["data"]["assignee"] =
        json!({"type": "user", "name": "Jamal", "id": 103, "email": "jamal.h@personal.example"});
    assert_eq!(server.sentry_webhook("issue", &webhook).await, StatusCode::ACCEPTED);
    settled(&server.app, &linked.integration_id).await;
    assert_eq!(
        assignee(&linked),
        "jamal@fabrikam.example",
        "no Azure DevOps identity has his Sentry email"
    );

    // Each side's own email is what the link holds: reconciliation finds nothing to repair (it
    // would flip between the two emails otherwise).
    let (status, report) = send(&linked, Method::POST, "/reconcile", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report["links"]["repaired_inbound"], 0, "{report}");
    assert_eq!(report["links"]["repaired_outbound"], 0, "{report}");
    let link = server.stored_link(&linked.integration_id, ISSUE).await;
    assert_eq!(link.sync.ado_assignee.as_deref(), Some("jamal@fabrikam.example"));
    assert_eq!(link.sync.sentry_assignee.as_deref(), Some("jamal.h@personal.example"));

    let (status, _) = send(&linked, Method::DELETE, "/user-mappings/jamal@fabrikam.example", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, listed) = send(&linked, Method::GET, "/user-mappings", None).await;
    assert_eq!(listed["user_mappings"], json!([]));
    let store = &server.app.store;
    assert!(
        store
            .get_user_mapping(&linked.integration_id, "jamal.h@personal.example")
            .await
            .unwrap()
            .is_none()
    );
    let (status, _) = send(&linked, Method::DELETE, "/user-mappings/jamal@fabrikam.example", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_mapping_to_someone_unknown_names_who() {
    let linked = Linked::create(start(Backend::Local).await).await;
    let nobody_in_ado = json!({"azure_devops": "ghost@fabrikam.example", "sentry": "jamal.h@personal.example"});
    let (status, body) = send(&linked, Method::POST, "/user-mappings", Some(nobody_in_ado)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ghost@fabrikam.example"),
        "{body}"
    );
    let nobody_in_sentry = json!({"azure_devops": "jamal@fabrikam.example", "sentry": "ghost@personal.example"});
    let (status, body) = send(&linked, Method::POST, "/user-mappings", Some(nobody_in_sentry)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ghost@personal.example"),
        "{body}"
    );
    let (status, _) = send(
        &linked,
        Method::POST,
        "/user-mappings",
        Some(json!({"azure_devops": "x"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a missing field");
    let (_, listed) = send(&linked, Method::GET, "/user-mappings", None).await;
    assert_eq!(listed["user_mappings"], json!([]));
}

/// A pair replaced by another that takes one of its emails is gone whole: no half of it is left to
/// map one direction only.
#[tokio::test]
async fn a_pair_that_loses_an_email_to_another_is_gone_whole() {
    let linked = Linked::create(start(Backend::Local).await).await;
    let store = &linked.server.app.store;
    let id = &linked.integration_id;
    let first = json!({"azure_devops": "jamal@fabrikam.example", "sentry": "jamal.h@personal.example"});
    assert_eq!(
        send(&linked, Method::POST, "/user-mappings", Some(first)).await.0,
        StatusCode::CREATED
    );
    let replaced = json!({"azure_devops": "jamal@fabrikam.example", "sentry": "alice@fabrikam.example"});
    assert_eq!(
        send(&linked, Method::POST, "/user-mappings", Some(replaced)).await.0,
        StatusCode::CREATED
    );
    assert!(
        store
            .get_user_mapping(id, "jamal.h@personal.example")
            .await
            .unwrap()
            .is_none(),
        "the old half is gone"
    );
    let (_, listed) = send(&linked, Method::GET, "/user-mappings", None).await;
    assert_eq!(listed["user_mappings"].as_array().unwrap().len(), 1, "{listed}");

    // Alice's identity now pairs with Jamal's Sentry email: the Jamal ↔ Alice pair loses an email.
    let taken = json!({"azure_devops": "alice@fabrikam.example", "sentry": "jamal.h@personal.example"});
    assert_eq!(
        send(&linked, Method::POST, "/user-mappings", Some(taken)).await.0,
        StatusCode::CREATED
    );
    assert!(
        store
            .get_user_mapping(id, "jamal@fabrikam.example")
            .await
            .unwrap()
            .is_none()
    );
    let (_, listed) = send(&linked, Method::GET, "/user-mappings", None).await;
    assert_eq!(
        listed["user_mappings"],
        json!([{"azure_devops": "alice@fabrikam.example", "sentry": "jamal.h@personal.example", "sentry_user_id": "103"}])
    );
    let (status, _) = send(&linked, Method::DELETE, "/user-mappings/alice@fabrikam.example", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(store.list_user_mappings(id).await.unwrap().is_empty());
}
