//! A JSON body extractor whose every rejection is the bridge's JSON error: 413 past the limit,
//! 400 for bytes that are not JSON or not the expected shape. Messages never echo values,
//! so a secret sent in the wrong place is not reflected back.

use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, ApiError> {
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|length| length > MAX_BODY_BYTES) {
            return Err(ApiError::too_large(MAX_BODY_BYTES));
        }
        let bytes = axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES)
            .await
            .map_err(|_| ApiError::too_large(MAX_BODY_BYTES))?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Parses JSON, mapping failures to 400 errors that say what is wrong without echoing values.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(json_error)
}

/// The 400 for a body that failed to parse: not JSON, or JSON of the wrong shape.
pub fn json_error(error: serde_json::Error) -> ApiError {
    match error.classify() {
        serde_json::error::Category::Data => ApiError::malformed(format!(
            "request body has the wrong shape: {}",
            without_values(&error.to_string())
        )),
        _ => ApiError::malformed(format!("request body is not valid JSON: {error}")),
    }
}

/// serde reports `invalid type: string "value", expected …`; keep the kind, drop the value.
fn without_values(message: &str) -> String {
    for marker in ["invalid type: ", "invalid value: "] {
        if let Some(start) = message.find(marker) {
            let rest = &message[start + marker.len()..];
            if let Some(end) = rest.find(", expected") {
                let kind = rest[..end].split_whitespace().next().unwrap_or("value");
                return format!("{}{marker}{kind}{}", &message[..start], &rest[end..]);
            }
        }
    }
    message.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        count: u32,
    }

    #[test]
    fn syntax_errors_are_400_and_say_so() {
        let error = parse_json::<Body>(b"{not json").unwrap_err();
        assert_eq!(error.status, StatusCode::BAD_REQUEST);
        assert!(error.message.contains("not valid JSON"), "{}", error.message);
    }

    #[test]
    fn shape_errors_name_the_field_but_not_the_value() {
        let error = parse_json::<Body>(br#"{"name": "x"}"#).unwrap_err();
        assert_eq!(error.status, StatusCode::BAD_REQUEST);
        assert!(error.message.contains("missing field `count`"), "{}", error.message);

        let error = parse_json::<Body>(br#"{"name": 5, "count": "hunter2-secret"}"#).unwrap_err();
        assert!(!error.message.contains("hunter2"), "{}", error.message);
        assert!(
            error.message.contains("invalid type: integer, expected a string"),
            "{}",
            error.message
        );

        let error = parse_json::<Body>(br#"{"name": "n", "count": "hunter2-secret"}"#).unwrap_err();
        assert!(!error.message.contains("hunter2"), "{}", error.message);
    }
}
