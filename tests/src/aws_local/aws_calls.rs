//! What each function asks of AWS: every function reaches moto through a recording proxy of its
//! own, which notes each call's operation (`X-Amz-Target`) and when it started and ended. From
//! that, [`sequential_round_trips`] tells how many round trips a request waited for one after
//! another — the figure that decides whether a cold `work-items` answers inside Sentry's 1 s.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;

/// Calls kept per function (the oldest are dropped).
const KEPT: usize = 10_000;

/// One call to AWS.
#[derive(Debug, Clone)]
pub struct AwsCall {
    /// `DynamoDB_20120810.Query`, `secretsmanager.GetSecretValue`, …
    pub operation: String,
    pub started: Instant,
    pub ended: Instant,
}

/// The calls one function made, in the order they started.
#[derive(Default)]
pub struct CallLog {
    calls: Mutex<VecDeque<AwsCall>>,
    latency: Mutex<Duration>,
}

impl CallLog {
    /// Every answer from now on waits `latency` more, as a network would: calls made at once then
    /// overlap however busy the machine is, and calls made one after another cannot.
    pub fn set_latency(&self, latency: Duration) {
        *self.latency.lock().unwrap_or_else(|p| p.into_inner()) = latency;
    }

    pub fn calls(&self) -> Vec<AwsCall> {
        self.lock().iter().cloned().collect()
    }

    /// Calls that started at or after `since`.
    pub fn since(&self, since: Instant) -> Vec<AwsCall> {
        self.lock().iter().filter(|c| c.started >= since).cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<AwsCall>> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn record(&self, call: AwsCall) {
        let mut calls = self.lock();
        if calls.len() == KEPT {
            calls.pop_front();
        }
        calls.push_back(call);
    }
}

struct Proxy {
    upstream: String,
    http: reqwest::Client,
    log: Arc<CallLog>,
}

/// Starts a proxy to `upstream` (moto); returns its address and the log it writes.
pub async fn start_proxy(upstream: &str) -> std::io::Result<(String, Arc<CallLog>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?.to_string();
    let log = Arc::new(CallLog::default());
    let proxy = Arc::new(Proxy {
        upstream: upstream.trim_end_matches('/').to_string(),
        http: reqwest::Client::new(),
        log: log.clone(),
    });
    let router = Router::new().fallback(forward).with_state(proxy);
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok((format!("http://{address}"), log))
}

async fn forward(State(proxy): State<Arc<Proxy>>, request: Request) -> Response {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let operation = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or(parts.uri.path())
        .to_string();
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut outbound = proxy
        .http
        .request(parts.method.clone(), format!("{}{path}", proxy.upstream));
    for (name, value) in parts.headers.iter().filter(|(name, _)| *name != "host") {
        outbound = outbound.header(name, value);
    }
    let answer = outbound.body(body).send().await;
    let response = match answer {
        Ok(answer) => {
            let status = answer.status();
            let headers = answer.headers().clone();
            let bytes: Bytes = answer.bytes().await.unwrap_or_default();
            let mut response = Response::new(Body::from(bytes));
            *response.status_mut() = status;
            for (name, value) in headers
                .iter()
                .filter(|(name, _)| !matches!(name.as_str(), "content-length" | "transfer-encoding" | "connection"))
            {
                response.headers_mut().append(name, value.clone());
            }
            response
        }
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
    };
    let latency = *proxy.log.latency.lock().unwrap_or_else(|p| p.into_inner());
    tokio::time::sleep(latency).await;
    proxy.log.record(AwsCall {
        operation,
        started,
        ended: Instant::now(),
    });
    response
}

/// How many round trips the calls waited for one after another: calls that overlap in time ran
/// at once and count once; a call that started after every earlier one ended is a new trip.
pub fn sequential_round_trips(calls: &[AwsCall]) -> usize {
    let mut calls: Vec<&AwsCall> = calls.iter().collect();
    calls.sort_by_key(|c| c.started);
    let mut trips = 0;
    let mut busy_until: Option<Instant> = None;
    for call in calls {
        match busy_until {
            Some(until) if call.started < until => busy_until = Some(until.max(call.ended)),
            _ => {
                trips += 1;
                busy_until = Some(call.ended);
            }
        }
    }
    trips
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn overlapping_calls_count_as_one_round_trip() {
        let t = Instant::now();
        let ms = |n: u64| t + Duration::from_millis(n);
        let call = |from: u64, to: u64| AwsCall {
            operation: "op".into(),
            started: ms(from),
            ended: ms(to),
        };
        assert_eq!(sequential_round_trips(&[]), 0);
        let calls = [call(0, 10), call(12, 30), call(14, 25), call(31, 40), call(45, 50)];
        assert_eq!(sequential_round_trips(&calls), 4);
        assert_eq!(sequential_round_trips(&[call(0, 10), call(5, 20), call(15, 30)]), 1);
    }
}
