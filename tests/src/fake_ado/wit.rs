//! Projects and work item tracking: types, states, categories, classification nodes, work items
//! with JSON Patch and revisions, batch reads, WIQL by title or id, comments.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::hooks::deliver;
use super::state::{FakeComment, FakeWorkItem, PERSON_IDENTITY_ID, State as FakeState, process_types};
use super::{Fake, acts_as_person, ado_error, json_body};

const IDENTITY_FIELDS: [&str; 3] = ["System.AssignedTo", "System.CreatedBy", "System.ChangedBy"];

type Params = Query<HashMap<String, String>>;

fn field_label(name: &str) -> &str {
    match name {
        "System.AssignedTo" => "Assigned To",
        "System.Title" => "Title",
        "System.State" => "State",
        other => other.rsplit('.').next().unwrap_or(other),
    }
}

fn rule_error(field: &str, code: &str) -> (StatusCode, Value) {
    let message = format!(
        "TF401320: Rule Error for field {}. Error code: {code}.",
        field_label(field)
    );
    (
        StatusCode::BAD_REQUEST,
        json!({"message": message, "typeKey": "RuleValidationException"}),
    )
}

fn respond(result: Result<Value, (StatusCode, Value)>) -> Response {
    match result {
        Ok(value) => axum::Json(value).into_response(),
        Err((status, body)) => ado_error(
            status,
            body["message"].as_str().unwrap_or_default(),
            body["typeKey"].as_str().unwrap_or_default(),
        ),
    }
}

fn not_found(id: u64) -> (StatusCode, Value) {
    (
        StatusCode::NOT_FOUND,
        json!({"message": format!("TF401232: Work item {id} does not exist, or you do not have permissions to read it."), "typeKey": "WorkItemUnauthorizedAccessException"}),
    )
}

/// Field values as REST shows them: identities as IdentityRef objects.
fn rest_fields(state: &FakeState, item: &FakeWorkItem) -> Map<String, Value> {
    let mut fields = item.fields.clone();
    for name in IDENTITY_FIELDS {
        if let Some(email) = fields.get(name).and_then(Value::as_str).map(str::to_string) {
            let reference = state
                .identity_by_email(&email)
                .map(|i| i.reference())
                .unwrap_or(json!({"uniqueName": email}));
            fields.insert(name.into(), reference);
        }
    }
    fields.insert("System.Rev".into(), json!(item.rev));
    fields
}

/// Field values as 1.0 service-hook payloads show them: identities as `"Name <email>"`.
fn hook_value(state: &FakeState, name: &str, value: &Value) -> Value {
    match (IDENTITY_FIELDS.contains(&name), value.as_str()) {
        (true, Some(email)) => json!(
            state
                .identity_by_email(email)
                .map(|i| i.hook_form())
                .unwrap_or_else(|| email.to_string())
        ),
        _ => value.clone(),
    }
}

fn hook_fields(state: &FakeState, item: &FakeWorkItem) -> Map<String, Value> {
    let mut fields: Map<String, Value> = item
        .fields
        .iter()
        .map(|(k, v)| (k.clone(), hook_value(state, k, v)))
        .collect();
    fields.insert("System.Rev".into(), json!(item.rev));
    fields
}

fn item_url(state: &FakeState, id: u64) -> String {
    format!("{}/_apis/wit/workItems/{id}", state.base_url)
}

pub(crate) fn rest_item(state: &FakeState, item: &FakeWorkItem) -> Value {
    json!({
        "id": item.id,
        "rev": item.rev,
        "fields": rest_fields(state, item),
        "relations": item.relations,
        "url": item_url(state, item.id),
        "_links": {"html": {"href": format!("{}/{}/_workitems/edit/{}", state.base_url, item.project, item.id)}}
    })
}

fn hook_item(state: &FakeState, item: &FakeWorkItem) -> Value {
    json!({
        "id": item.id,
        "rev": item.rev,
        "fields": hook_fields(state, item),
        "relations": item.relations,
        "url": item_url(state, item.id),
        "_links": {"html": {"href": format!("{}/{}/_workitems/edit/{}", state.base_url, item.project, item.id)}}
    })
}

/// Applies JSON Patch operations to `item`; returns the changed fields `(name, old, new)`.
fn apply_ops(
    state: &FakeState,
    item: &mut FakeWorkItem,
    ops: &[Value],
) -> Result<Vec<(String, Value, Value)>, (StatusCode, Value)> {
    let mut changed = Vec::new();
    for op in ops {
        let kind = op["op"].as_str().unwrap_or_default();
        let path = op["path"].as_str().unwrap_or_default();
        let value = op.get("value").cloned().unwrap_or(Value::Null);
        if path == "/rev" {
            if kind == "test" && value.as_u64() != Some(item.rev) {
                return Err((
                    StatusCode::PRECONDITION_FAILED,
                    json!({"message": format!("The update failed because work item {} has been modified (rev {}).", item.id, item.rev), "typeKey": "WorkItemRevisionMismatchException"}),
                ));
            }
            continue;
        }
        if let Some(name) = path.strip_prefix("/fields/") {
            let old = item.fields.get(name).cloned().unwrap_or(Value::Null);
            let new = match kind {
                "add" | "replace" => normalise_field(state, item, name, value)?,
                "remove" => Value::Null,
                "test" => {
                    if old != value {
                        return Err((
                            StatusCode::PRECONDITION_FAILED,
                            json!({"message": format!("test failed for {name}"), "typeKey": "TestFailed"}),
                        ));
                    }
                    continue;
                }
                _ => {
                    return Err((
                        StatusCode::BAD_REQUEST,
                        json!({"message": format!("unsupported op {kind}"), "typeKey": "InvalidOperation"}),
                    ));
                }
            };
            if new.is_null() {
                item.fields.remove(name);
            } else {
                item.fields.insert(name.to_string(), new.clone());
            }
            if old != new {
                changed.push((name.to_string(), old, new));
            }
        } else if path == "/relations/-" && kind == "add" {
            item.relations.push(value);
        } else if let Some(index) = path.strip_prefix("/relations/").and_then(|i| i.parse::<usize>().ok()) {
            if kind == "remove" && index < item.relations.len() {
                item.relations.remove(index);
            }
        } else if path.starts_with("/multilineFieldsFormat/") {
            continue;
        } else {
            return Err((
                StatusCode::BAD_REQUEST,
                json!({"message": format!("VS402482: path {path} is not supported"), "typeKey": "InvalidPath"}),
            ));
        }
    }
    Ok(changed)
}

/// Validates a field value as ADO's rules would; identities are stored as their email.
fn normalise_field(
    state: &FakeState,
    item: &FakeWorkItem,
    name: &str,
    value: Value,
) -> Result<Value, (StatusCode, Value)> {
    match name {
        "System.AssignedTo" => {
            let text = value.as_str().unwrap_or_default().trim();
            if text.is_empty() {
                return Ok(Value::Null);
            }
            let email = text
                .rsplit_once('<')
                .map(|(_, e)| e.trim_end_matches('>'))
                .unwrap_or(text);
            state
                .identity_by_email(email)
                .map(|i| json!(i.email))
                .ok_or_else(|| rule_error(name, "InvalidIdentity"))
        }
        "System.Title" if value.as_str().unwrap_or_default().trim().is_empty() => Err(rule_error(name, "Required")),
        "System.State" => {
            let project = state.project(&item.project).ok_or_else(|| not_found(item.id))?;
            let valid = process_types(project.process)
                .into_iter()
                .find(|(t, _, _)| *t == item.work_item_type)
                .is_some_and(|(_, _, states)| states.iter().any(|(s, _)| Some(*s) == value.as_str()));
            if valid {
                Ok(value)
            } else {
                Err(rule_error(name, "LimitedToValues"))
            }
        }
        _ => Ok(value),
    }
}

/// Applies a patch as `identity_id` and delivers `workitem.updated`.
pub(crate) async fn apply_patch_as(
    fake: &Fake,
    identity_id: &str,
    id: u64,
    ops: Value,
) -> Result<Value, (StatusCode, Value)> {
    let ops = ops.as_array().cloned().unwrap_or_default();
    let (response, delivery) = {
        let mut state = fake.state.lock().unwrap();
        let actor = state
            .identity_by_id(identity_id)
            .cloned()
            .unwrap_or_else(|| state.acting_identity());
        let mut item = state
            .work_items
            .get(&id)
            .filter(|i| !i.deleted)
            .cloned()
            .ok_or_else(|| not_found(id))?;
        let changed = apply_ops(&state, &mut item, &ops)?;
        let old_rev = item.rev;
        item.rev += 1;
        item.fields.insert("System.ChangedBy".into(), json!(actor.email));
        item.fields.insert(
            "System.ChangedDate".into(),
            json!(shared::clock::rfc3339(shared::clock::now_ms())),
        );
        state.next_update += 1;
        let mut fields: Map<String, Value> = Map::new();
        fields.insert("System.Rev".into(), json!({"oldValue": old_rev, "newValue": item.rev}));
        for (name, old, new) in &changed {
            let mut change = Map::new();
            if !old.is_null() {
                change.insert("oldValue".into(), hook_value(&state, name, old));
            }
            if !new.is_null() {
                change.insert("newValue".into(), hook_value(&state, name, new));
            }
            fields.insert(name.clone(), Value::Object(change));
        }
        let resource = json!({
            "id": state.next_update,
            "workItemId": item.id,
            "rev": item.rev,
            "revisedBy": {"id": actor.id, "name": actor.hook_form(), "displayName": actor.display_name, "uniqueName": actor.email},
            "revisedDate": "9999-01-01T00:00:00Z",
            "fields": fields,
            "revision": {"id": item.id, "rev": item.rev, "fields": hook_fields(&state, &item), "url": item_url(&state, item.id)},
            "url": format!("{}/updates/{}", item_url(&state, item.id), state.next_update)
        });
        let project_id = state.project(&item.project).map(|p| p.id.clone()).unwrap_or_default();
        let response = rest_item(&state, &item);
        state.work_items.insert(id, item);
        (response, (project_id, resource))
    };
    deliver(fake, "workitem.updated", &delivery.0, delivery.1).await;
    Ok(response)
}

/// Adds a comment as `identity_id`; bumps the revision and delivers `workitem.commented`.
pub(crate) async fn add_comment_as(
    fake: &Fake,
    identity_id: &str,
    id: u64,
    text: &str,
    format: &str,
) -> Result<Value, (StatusCode, Value)> {
    let (response, project_id, resource) = {
        let mut state = fake.state.lock().unwrap();
        let actor = state
            .identity_by_id(identity_id)
            .cloned()
            .unwrap_or_else(|| state.acting_identity());
        state.next_comment += 1;
        let comment_id = state.next_comment;
        let mut item = state
            .work_items
            .get(&id)
            .filter(|i| !i.deleted)
            .cloned()
            .ok_or_else(|| not_found(id))?;
        let comment = FakeComment {
            id: comment_id,
            version: 1,
            text: text.to_string(),
            format: format.to_string(),
            author: actor.id.clone(),
            deleted: false,
        };
        item.comments.push(comment.clone());
        item.rev += 1;
        item.fields.insert("System.History".into(), json!(text));
        item.fields.insert(
            "System.CommentCount".into(),
            json!(item.comments.iter().filter(|c| !c.deleted).count()),
        );
        item.fields.insert("System.ChangedBy".into(), json!(actor.email));
        item.fields.insert(
            "System.ChangedDate".into(),
            json!(shared::clock::rfc3339(shared::clock::now_ms())),
        );
        let mut resource = hook_item(&state, &item);
        resource["commentVersionRef"] = json!({"commentId": comment_id, "version": 1, "url": format!("{}/comments/{comment_id}/versions/1", item_url(&state, id))});
        let response = comment_json(&state, id, &comment);
        let project_id = state.project(&item.project).map(|p| p.id.clone()).unwrap_or_default();
        state.work_items.insert(id, item);
        (response, project_id, resource)
    };
    deliver(fake, "workitem.commented", &project_id, resource).await;
    Ok(response)
}

/// Moves a work item to the recycle bin (`deleted`) or back, as `identity_id`, and delivers
/// `workitem.deleted` / `workitem.restored`.
pub(crate) async fn recycle_as(
    fake: &Fake,
    identity_id: &str,
    id: u64,
    deleted: bool,
) -> Result<(), (StatusCode, Value)> {
    let (project_id, resource) = {
        let mut state = fake.state.lock().unwrap();
        let actor = state
            .identity_by_id(identity_id)
            .cloned()
            .unwrap_or_else(|| state.acting_identity());
        let mut item = state.work_items.get(&id).cloned().ok_or_else(|| not_found(id))?;
        item.deleted = deleted;
        item.fields.insert("System.ChangedBy".into(), json!(actor.email));
        item.fields.insert(
            "System.ChangedDate".into(),
            json!(shared::clock::rfc3339(shared::clock::now_ms())),
        );
        let resource = hook_item(&state, &item);
        let project_id = state.project(&item.project).map(|p| p.id.clone()).unwrap_or_default();
        state.work_items.insert(id, item);
        (project_id, resource)
    };
    let event_type = if deleted {
        "workitem.deleted"
    } else {
        "workitem.restored"
    };
    deliver(fake, event_type, &project_id, resource).await;
    Ok(())
}

fn comment_json(state: &FakeState, work_item_id: u64, comment: &FakeComment) -> Value {
    let author = state
        .identity_by_id(&comment.author)
        .map(|i| i.reference())
        .unwrap_or(json!({"id": comment.author}));
    json!({
        "id": comment.id, "workItemId": work_item_id, "version": comment.version, "text": comment.text,
        "format": comment.format, "createdBy": author, "modifiedBy": author, "isDeleted": comment.deleted,
        "createdDate": "2026-11-27T12:00:00Z", "url": format!("{}/comments/{}", item_url(state, work_item_id), comment.id)
    })
}

/// Who a change made over HTTP is attributed to: the person for the person's PAT, otherwise
/// the identity the bridge's credential acts as.
fn acting(fake: &Fake, headers: &HeaderMap) -> String {
    if acts_as_person(headers) {
        return PERSON_IDENTITY_ID.to_string();
    }
    fake.state.lock().unwrap().acting_as.clone()
}

pub async fn projects(State(fake): State<Fake>, Query(params): Params) -> Response {
    let state = fake.state.lock().unwrap();
    let top: usize = params.get("$top").and_then(|t| t.parse().ok()).unwrap_or(100).max(1);
    let start: usize = params
        .get("continuationToken")
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let page: Vec<Value> = state
        .projects
        .iter()
        .skip(start)
        .take(top)
        .map(|p| json!({"id": p.id, "name": p.name, "state": "wellFormed", "url": format!("{}/_apis/projects/{}", state.base_url, p.id)}))
        .collect();
    let mut response = axum::Json(json!({"count": page.len(), "value": page})).into_response();
    if start + top < state.projects.len() {
        response
            .headers_mut()
            .insert("x-ms-continuationtoken", HeaderValue::from((start + top) as u64));
    }
    response
}

pub async fn types(State(fake): State<Fake>, Path((_org, project)): Path<(String, String)>) -> Response {
    let state = fake.state.lock().unwrap();
    let Some(project) = state.project(&project) else {
        return ado_error(
            StatusCode::NOT_FOUND,
            "TF200016: The project does not exist.",
            "ProjectDoesNotExistException",
        );
    };
    let value: Vec<Value> = process_types(project.process)
        .into_iter()
        .map(|(name, disabled, _)| json!({"name": name, "referenceName": format!("Microsoft.VSTS.WorkItemTypes.{}", name.replace(' ', "")), "isDisabled": disabled}))
        .collect();
    axum::Json(json!({"count": value.len(), "value": value})).into_response()
}

pub async fn states(State(fake): State<Fake>, Path((_org, project, kind)): Path<(String, String, String)>) -> Response {
    let state = fake.state.lock().unwrap();
    let types = state
        .project(&project)
        .map(|p| process_types(p.process))
        .unwrap_or_default();
    match types.into_iter().find(|(name, _, _)| name.eq_ignore_ascii_case(&kind)) {
        Some((_, _, states)) => {
            let value: Vec<Value> = states
                .iter()
                .map(|(name, category)| json!({"name": name, "color": "b2b2b2", "category": category}))
                .collect();
            axum::Json(json!({"count": value.len(), "value": value})).into_response()
        }
        None => ado_error(
            StatusCode::NOT_FOUND,
            &format!("VS402323: Work item type {kind} does not exist."),
            "WorkItemTypeNotFoundException",
        ),
    }
}

pub async fn categories(State(fake): State<Fake>, Path((_org, project)): Path<(String, String)>) -> Response {
    let state = fake.state.lock().unwrap();
    let Some(project) = state.project(&project) else {
        return ado_error(
            StatusCode::NOT_FOUND,
            "TF200016: The project does not exist.",
            "ProjectDoesNotExistException",
        );
    };
    let bug_type = match project.process {
        super::state::Process::Agile => "Bug",
        super::state::Process::Basic => "Issue",
    };
    let hidden: Vec<Value> = process_types(project.process)
        .iter()
        .filter(|t| t.1)
        .map(|t| json!({"name": t.0}))
        .collect();
    let value = json!([
        {"name": "Bug Category", "referenceName": "Microsoft.BugCategory", "defaultWorkItemType": {"name": bug_type}, "workItemTypes": [{"name": bug_type}]},
        {"name": "Hidden Types Category", "referenceName": "Microsoft.HiddenCategory", "workItemTypes": hidden}
    ]);
    axum::Json(json!({"count": 2, "value": value})).into_response()
}

pub async fn classification(
    State(fake): State<Fake>,
    Path((_org, project, group)): Path<(String, String, String)>,
) -> Response {
    let state = fake.state.lock().unwrap();
    let Some(project) = state.project(&project) else {
        return ado_error(
            StatusCode::NOT_FOUND,
            "TF200016: The project does not exist.",
            "ProjectDoesNotExistException",
        );
    };
    let children = if group == "areas" {
        json!([{"name": "Web", "hasChildren": true, "children": [{"name": "Checkout", "hasChildren": false}]}, {"name": "Mobile", "hasChildren": false}])
    } else {
        json!([{"name": "Sprint 1", "hasChildren": false}, {"name": "Sprint 2", "hasChildren": false}])
    };
    axum::Json(json!({"name": project.name, "path": format!("\\{}\\{}", project.name, group), "hasChildren": true, "children": children})).into_response()
}

pub async fn create_item(
    State(fake): State<Fake>,
    Path((_org, project, kind)): Path<(String, String, String)>,
    body: Bytes,
) -> Response {
    let ops = match json_body(&body) {
        Ok(ops) => ops,
        Err(response) => return response,
    };
    let Some(work_item_type) = kind.strip_prefix('$').map(str::to_string) else {
        return ado_error(
            StatusCode::BAD_REQUEST,
            "The work item type must start with $.",
            "InvalidArgument",
        );
    };
    let (response, project_id, resource) = {
        let mut state = fake.state.lock().unwrap();
        let Some(project) = state.project(&project).cloned() else {
            return ado_error(
                StatusCode::NOT_FOUND,
                "TF200016: The project does not exist.",
                "ProjectDoesNotExistException",
            );
        };
        let types = process_types(project.process);
        let Some((type_name, _, type_states)) = types
            .iter()
            .find(|(name, _, _)| name.eq_ignore_ascii_case(&work_item_type))
        else {
            return ado_error(
                StatusCode::NOT_FOUND,
                &format!("VS402323: Work item type {work_item_type} does not exist."),
                "WorkItemTypeNotFoundException",
            );
        };
        let actor = state.acting_identity();
        let mut item = FakeWorkItem {
            id: state.next_work_item,
            rev: 1,
            project: project.name.clone(),
            work_item_type: type_name.to_string(),
            fields: Map::new(),
            relations: Vec::new(),
            comments: Vec::new(),
            deleted: false,
        };
        for (name, value) in [
            ("System.TeamProject", json!(project.name)),
            ("System.WorkItemType", json!(type_name)),
            ("System.State", json!(type_states[0].0)),
            ("System.AreaPath", json!(project.name)),
            ("System.IterationPath", json!(project.name)),
            ("System.CreatedBy", json!(actor.email)),
            ("System.ChangedBy", json!(actor.email)),
            (
                "System.ChangedDate",
                json!(shared::clock::rfc3339(shared::clock::now_ms())),
            ),
        ] {
            item.fields.insert(name.into(), value);
        }
        let ops = ops.as_array().cloned().unwrap_or_default();
        if let Err(error) = apply_ops(&state, &mut item, &ops) {
            return respond(Err(error));
        }
        if item
            .fields
            .get("System.Title")
            .and_then(Value::as_str)
            .is_none_or(|t| t.trim().is_empty())
        {
            return respond(Err(rule_error("System.Title", "Required")));
        }
        state.next_work_item += 1;
        let response = rest_item(&state, &item);
        let resource = hook_item(&state, &item);
        state.work_items.insert(item.id, item);
        (response, project.id, resource)
    };
    deliver(&fake, "workitem.created", &project_id, resource).await;
    axum::Json(response).into_response()
}

pub async fn get_item(State(fake): State<Fake>, Path((_org, id)): Path<(String, u64)>) -> Response {
    let state = fake.state.lock().unwrap();
    respond(
        state
            .work_items
            .get(&id)
            .filter(|i| !i.deleted)
            .map(|i| rest_item(&state, i))
            .ok_or_else(|| not_found(id)),
    )
}

pub async fn get_item_in_project(
    State(fake): State<Fake>,
    Path((_org, _project, id)): Path<(String, String, u64)>,
) -> Response {
    let state = fake.state.lock().unwrap();
    respond(
        state
            .work_items
            .get(&id)
            .filter(|i| !i.deleted)
            .map(|i| rest_item(&state, i))
            .ok_or_else(|| not_found(id)),
    )
}

pub async fn update_item(
    State(fake): State<Fake>,
    Path((_org, id)): Path<(String, u64)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ops = match json_body(&body) {
        Ok(ops) => ops,
        Err(response) => return response,
    };
    let actor = acting(&fake, &headers);
    respond(apply_patch_as(&fake, &actor, id, ops).await)
}

pub async fn batch(State(fake): State<Fake>, body: Bytes) -> Response {
    let request = match json_body(&body) {
        Ok(request) => request,
        Err(response) => return response,
    };
    let ids: Vec<u64> = request["ids"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    if ids.len() > 200 {
        return ado_error(
            StatusCode::BAD_REQUEST,
            &format!(
                "VS403474: You requested {} work items which exceeds the limit of 200",
                ids.len()
            ),
            "InvalidArgument",
        );
    }
    let expand = request["$expand"].as_str().unwrap_or("none").to_ascii_lowercase();
    if expand != "none" && request.get("fields").is_some() {
        return ado_error(
            StatusCode::BAD_REQUEST,
            "The expand parameter can not be used with the fields parameter.",
            "ConflictingParametersException",
        );
    }
    let with_relations = expand == "relations" || expand == "all";
    let state = fake.state.lock().unwrap();
    let value: Vec<Value> = ids
        .iter()
        .map(|id| {
            state
                .work_items
                .get(id)
                .filter(|i| !i.deleted)
                .map(|i| {
                    let mut item = rest_item(&state, i);
                    if !with_relations && let Some(fields) = item.as_object_mut() {
                        fields.remove("relations");
                    }
                    item
                })
                .unwrap_or(Value::Null)
        })
        .collect();
    axum::Json(json!({"count": value.len(), "value": value})).into_response()
}

/// `[Field] CONTAINS 'text'` clauses of a WIQL query (quotes doubled inside), lower-cased.
fn contains_clauses(query: &str) -> Vec<(String, String)> {
    let mut clauses = Vec::new();
    let mut rest = query;
    while let Some(at) = rest.find("] CONTAINS '") {
        let field = rest[..at].rsplit('[').next().unwrap_or_default().to_string();
        let mut text = String::new();
        let mut chars = rest[at + "] CONTAINS '".len()..].char_indices().peekable();
        let mut end = rest.len() - at - "] CONTAINS '".len();
        while let Some((i, c)) = chars.next() {
            if c == '\'' {
                if chars.peek().is_some_and(|(_, n)| *n == '\'') {
                    chars.next();
                    text.push('\'');
                    continue;
                }
                end = i + 1;
                break;
            }
            text.push(c);
        }
        clauses.push((field, text.to_lowercase()));
        rest = &rest[at + "] CONTAINS '".len() + end..];
    }
    clauses
}

/// `[System.ChangedDate] >= '<RFC 3339>'`, as Unix milliseconds.
fn changed_since(query: &str) -> Option<i64> {
    let rest = query.split("[System.ChangedDate] >= '").nth(1)?;
    shared::clock::parse_rfc3339(rest.split('\'').next()?)
}

/// A WIQL query in a project.
pub async fn wiql(
    State(fake): State<Fake>,
    Path((_org, project)): Path<(String, String)>,
    Query(params): Params,
    body: Bytes,
) -> Response {
    run_wiql(&fake, Some(&project), &params, &body)
}

/// A WIQL query over the whole organization.
pub async fn wiql_org(State(fake): State<Fake>, Query(params): Params, body: Bytes) -> Response {
    run_wiql(&fake, None, &params, &body)
}

/// Supports `[Field] CONTAINS '…'` (any text field, tags included), `[System.Id] = n` and
/// `[System.ChangedDate] >= '…'` (with `timePrecision=true`, as Azure DevOps wants for a time of
/// day), newest first; other date conditions are not evaluated (every fake work item is recent).
fn run_wiql(fake: &Fake, project: Option<&str>, params: &HashMap<String, String>, body: &Bytes) -> Response {
    let request = match json_body(body) {
        Ok(request) => request,
        Err(response) => return response,
    };
    let query = request["query"].as_str().unwrap_or_default().to_string();
    let top: usize = params.get("$top").and_then(|t| t.parse().ok()).unwrap_or(20_000);
    let contains = contains_clauses(&query);
    let changed = changed_since(&query);
    if changed.is_some() && params.get("timePrecision").map(String::as_str) != Some("true") {
        return ado_error(
            StatusCode::BAD_REQUEST,
            "TF51005: The query references a field that does not exist... (a time of day needs timePrecision=true)",
            "InvalidQueryException",
        );
    }
    let id_filter = query
        .split("[System.Id] =")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok());
    let state = fake.state.lock().unwrap();
    let mut items: Vec<&FakeWorkItem> = state
        .work_items
        .values()
        .filter(|i| !i.deleted && project.is_none_or(|p| i.project.eq_ignore_ascii_case(p)))
        .filter(|i| id_filter.is_none_or(|id| i.id == id))
        .filter(|i| {
            changed.is_none_or(|since| {
                i.fields
                    .get("System.ChangedDate")
                    .and_then(Value::as_str)
                    .and_then(shared::clock::parse_rfc3339)
                    .is_some_and(|at| at >= since)
            })
        })
        .filter(|i| {
            contains.iter().all(|(field, text)| {
                i.fields
                    .get(field)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_lowercase()
                    .contains(text)
            })
        })
        .collect();
    items.sort_by_key(|i| std::cmp::Reverse(i.id));
    let work_items: Vec<Value> = items
        .iter()
        .take(top)
        .map(|i| json!({"id": i.id, "url": item_url(&state, i.id)}))
        .collect();
    axum::Json(json!({"queryType": "flat", "queryResultType": "workItem", "workItems": work_items})).into_response()
}

pub async fn list_comments(
    State(fake): State<Fake>,
    Path((_org, _project, id)): Path<(String, String, u64)>,
    Query(params): Params,
) -> Response {
    let state = fake.state.lock().unwrap();
    let Some(item) = state.work_items.get(&id) else {
        return respond(Err(not_found(id)));
    };
    let top: usize = params.get("$top").and_then(|t| t.parse().ok()).unwrap_or(200).max(1);
    let start: usize = params
        .get("continuationToken")
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let visible: Vec<&FakeComment> = item.comments.iter().filter(|c| !c.deleted).collect();
    let page: Vec<Value> = visible
        .iter()
        .skip(start)
        .take(top)
        .map(|c| comment_json(&state, id, c))
        .collect();
    let mut body = json!({"totalCount": visible.len(), "count": page.len(), "comments": page});
    if start + top < visible.len() {
        body["continuationToken"] = json!((start + top).to_string());
    }
    axum::Json(body).into_response()
}

pub async fn add_comment(
    State(fake): State<Fake>,
    Path((_org, _project, id)): Path<(String, String, u64)>,
    Query(params): Params,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = match json_body(&body) {
        Ok(request) => request,
        Err(response) => return response,
    };
    let format = params
        .get("format")
        .cloned()
        .unwrap_or_else(|| "html".into())
        .to_lowercase();
    let actor = acting(&fake, &headers);
    respond(add_comment_as(&fake, &actor, id, request["text"].as_str().unwrap_or_default(), &format).await)
}

pub async fn update_comment(
    State(fake): State<Fake>,
    Path((_org, _project, id, comment_id)): Path<(String, String, u64, u64)>,
    body: Bytes,
) -> Response {
    let request = match json_body(&body) {
        Ok(request) => request,
        Err(response) => return response,
    };
    let mut state = fake.state.lock().unwrap();
    let Some(mut item) = state.work_items.get(&id).cloned() else {
        return respond(Err(not_found(id)));
    };
    let Some(comment) = item.comments.iter_mut().find(|c| c.id == comment_id && !c.deleted) else {
        return ado_error(
            StatusCode::NOT_FOUND,
            &format!("Comment {comment_id} not found."),
            "CommentNotFoundException",
        );
    };
    comment.text = request["text"].as_str().unwrap_or_default().to_string();
    comment.version += 1;
    let response = comment_json(&state, id, comment);
    state.work_items.insert(id, item);
    axum::Json(response).into_response()
}

pub async fn delete_comment(
    State(fake): State<Fake>,
    Path((_org, _project, id, comment_id)): Path<(String, String, u64, u64)>,
) -> Response {
    let mut state = fake.state.lock().unwrap();
    let Some(item) = state.work_items.get_mut(&id) else {
        return respond(Err(not_found(id)));
    };
    match item.comments.iter_mut().find(|c| c.id == comment_id && !c.deleted) {
        Some(comment) => {
            comment.deleted = true;
            StatusCode::NO_CONTENT.into_response()
        }
        None => ado_error(
            StatusCode::NOT_FOUND,
            &format!("Comment {comment_id} not found."),
            "CommentNotFoundException",
        ),
    }
}
