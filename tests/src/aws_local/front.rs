//! The one HTTP listener of `aws-local`, standing in for API Gateway and the function URLs: it
//! picks the function a request reaches in the deployed stack ([`topology::entry`]), turns the
//! request into the payload-2.0 event those services send, invokes the function and turns its
//! answer back into HTTP. The admin API's functions check the bearer token themselves (the stack's
//! `AdminToken` secret, here one `aws-local` made in moto).

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Map, Value, json};

use super::lambda::Functions;
use super::topology::{self, Entry};

/// The HTTP API's payload limit (10 MB); function URLs take 6 MB.
const HTTP_API_MAX_BODY: usize = 10 * 1024 * 1024;
const FUNCTION_URL_MAX_BODY: usize = 6 * 1024 * 1024;

pub struct Front {
    pub functions: Functions,
    pub log: Box<dyn Fn(&str) + Send + Sync>,
}

pub fn router(front: Arc<Front>) -> Router {
    Router::new().fallback(handle).with_state(front)
}

fn message(status: StatusCode, text: &str) -> Response {
    (status, axum::Json(json!({"message": text}))).into_response()
}

async fn handle(State(front): State<Arc<Front>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Some(entry) = topology::entry(&parts.method, parts.uri.path()) else {
        return message(StatusCode::NOT_FOUND, "Not Found");
    };
    let limit = match entry {
        Entry::HttpApi { .. } => HTTP_API_MAX_BODY,
        Entry::FunctionUrl { .. } => FUNCTION_URL_MAX_BODY,
    };
    let Ok(body) = axum::body::to_bytes(body, limit).await else {
        return message(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
    };
    let Some(function) = front.functions.get(entry.function().name()) else {
        return message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    };
    let event = request_event(&entry, &parts, &body);
    match function.invoke(&event).await {
        Ok(answer) => response_from(&answer),
        Err(error) => {
            (front.log)(&format!(
                "{} {}: {} failed: {error}",
                parts.method,
                parts.uri.path(),
                function.spec.name
            ));
            invoke_failed(&entry)
        }
    }
}

/// What API Gateway and function URLs answer when the function failed: they say nothing more.
fn invoke_failed(entry: &Entry) -> Response {
    match entry {
        Entry::HttpApi { .. } => message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
        Entry::FunctionUrl { .. } => message(StatusCode::BAD_GATEWAY, "Internal Server Error"),
    }
}

/// The payload-2.0 event for the request (HTTP API and function URLs share the format).
pub fn request_event(entry: &Entry, parts: &Parts, body: &Bytes) -> Value {
    let mut headers = Map::new();
    for name in parts.headers.keys() {
        let values: Vec<&str> = parts
            .headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        headers.insert(name.as_str().to_string(), json!(values.join(",")));
    }
    headers.insert("x-forwarded-proto".into(), json!("http"));
    let (route_key, path_parameters) = match entry {
        Entry::HttpApi {
            route_key,
            path_parameters,
            ..
        } => (
            route_key.to_string(),
            Some(
                path_parameters
                    .iter()
                    .map(|(k, v)| (k.to_string(), json!(v)))
                    .collect::<Map<_, _>>(),
            ),
        ),
        Entry::FunctionUrl { .. } => ("$default".to_string(), None),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let (text, is_base64) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_string(), false),
        Err(_) => (base64::engine::general_purpose::STANDARD.encode(body), true),
    };
    let path = parts.uri.path();
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": parts.uri.query().unwrap_or_default(),
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "awslocal",
            "domainName": parts.headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("localhost"),
            "domainPrefix": "awslocal",
            "http": {
                "method": parts.method.as_str(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": parts.headers.get("user-agent").and_then(|h| h.to_str().ok()).unwrap_or_default(),
            },
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": route_key,
            "stage": "$default",
            "timeEpoch": now.as_millis() as i64,
        },
        "isBase64Encoded": is_base64,
    });
    if !body.is_empty() {
        event["body"] = json!(text);
    }
    if let Some(parameters) = path_parameters {
        event["pathParameters"] = Value::Object(parameters);
    }
    event
}

/// The HTTP response a payload-2.0 answer (`statusCode`, `headers`, `multiValueHeaders`,
/// `cookies`, `body`, `isBase64Encoded`) stands for.
pub fn response_from(answer: &Value) -> Response {
    let status = answer["statusCode"]
        .as_u64()
        .and_then(|code| StatusCode::from_u16(code as u16).ok())
        .unwrap_or(StatusCode::OK);
    let mut headers = HeaderMap::new();
    let mut add = |name: &str, value: &str| {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::from_str(value)) {
            headers.append(name, value);
        }
    };
    if let Some(multi) = answer["multiValueHeaders"].as_object().filter(|m| !m.is_empty()) {
        for (name, values) in multi {
            for value in values.as_array().into_iter().flatten().filter_map(Value::as_str) {
                add(name, value);
            }
        }
    } else if let Some(single) = answer["headers"].as_object() {
        for (name, value) in single {
            add(name, value.as_str().unwrap_or_default());
        }
    }
    for cookie in answer["cookies"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        add("set-cookie", cookie);
    }
    let text = answer["body"].as_str().unwrap_or_default();
    let body = if answer["isBase64Encoded"].as_bool() == Some(true) {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap_or_default()
    } else {
        text.as_bytes().to_vec()
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Method;

    #[test]
    fn a_hook_delivery_becomes_the_http_apis_event_with_its_path_parameter() {
        let request = axum::http::Request::builder()
            .method(Method::POST)
            .uri("/hooks/azure-devops/abc?x=1")
            .header("content-type", "application/json")
            .header("authorization", "Basic Og==")
            .body(())
            .unwrap();
        let (parts, ()) = request.into_parts();
        let entry = topology::entry(&parts.method, parts.uri.path()).unwrap();
        let event = request_event(&entry, &parts, &Bytes::from_static(b"{\"a\":1}"));
        assert_eq!(event["routeKey"], "POST /hooks/azure-devops/{integration_id}");
        assert_eq!(event["pathParameters"]["integration_id"], "abc");
        assert_eq!(event["rawQueryString"], "x=1");
        assert_eq!(event["requestContext"]["http"]["method"], "POST");
        assert_eq!(event["headers"]["authorization"], "Basic Og==");
        assert_eq!(event["body"], "{\"a\":1}");
        assert_eq!(event["isBase64Encoded"], false);

        let binary = request_event(&entry, &parts, &Bytes::from_static(&[0xff, 0x00]));
        assert_eq!(binary["isBase64Encoded"], true);
        assert_eq!(binary["body"], "/wA=");
    }

    #[test]
    fn a_functions_answer_becomes_the_http_response() {
        let response = response_from(&json!({
            "statusCode": 201, "headers": {"location": "/integrations/1", "content-type": "application/json"},
            "body": "{}", "isBase64Encoded": false}));
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(response.headers()["location"], "/integrations/1");
        let encoded = response_from(&json!({"statusCode": 200, "body": "aGk=", "isBase64Encoded": true}));
        assert_eq!(encoded.status(), StatusCode::OK);
    }
}
