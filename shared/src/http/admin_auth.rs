//! Admin authentication, the same everywhere: a bearer token compared in constant time (locally the
//! data directory's `admin-token`, on AWS the stack's `AdminToken` secret). Without a token every
//! admin request is refused.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::App;
use crate::config::AdminAuth;
use crate::error::ApiError;
use crate::secrets::Secret;

/// Middleware for admin routes.
pub async fn require_admin(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    match &app.config.admin_auth {
        AdminAuth::Bearer(expected) if bearer_matches(request.headers(), expected) => next.run(request).await,
        AdminAuth::Bearer(_) | AdminAuth::Closed => admin_unauthorized(),
    }
}

/// Whether `Authorization: Bearer <token>` carries `expected` (compared in constant time).
pub fn bearer_matches(headers: &HeaderMap, expected: &Secret) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .is_some_and(|token| bool::from(token.as_bytes().ct_eq(expected.expose().as_bytes())))
}

/// `401` with `WWW-Authenticate: Bearer`.
pub fn admin_unauthorized() -> Response {
    let mut response =
        ApiError::unauthorized("admin routes need `Authorization: Bearer <admin token>`").into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}
