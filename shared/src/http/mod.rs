//! HTTP plumbing shared by every function: JSON bodies with limits, JSON errors, admin auth,
//! the health route and the 404/405 fallbacks.

mod admin_auth;
mod json_body;
mod routes;

pub use admin_auth::{admin_unauthorized, bearer_matches, require_admin};
pub use json_body::{JsonBody, MAX_BODY_BYTES, json_error, parse_json};
pub use routes::{Route, Routes};

use axum::Router;
use serde_json::json;

use crate::error::ApiError;

/// `GET /healthz` → `200 {"status":"ok"}`.
pub fn health_routes() -> Routes {
    Routes::new().get("/healthz", || async { axum::Json(json!({"status": "ok"})) })
}

/// Adds the JSON 404 and 405 answers every router shares.
pub fn finish(router: Router) -> Router {
    router
        .fallback(|| async { ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed on this route",
            )
        })
}
