//! Typed Azure DevOps errors: what a caller must tell apart (retry later, fix the credential,
//! fix a field, re-read and retry) plus ADO's own `typeKey` and message for diagnostics.

use reqwest::StatusCode;
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdoError {
    /// The credential was refused: 401/403, the 203 sign-in page, or a failed Entra token request.
    #[error("Azure DevOps refused the credential ({status}): {message}")]
    Auth { status: u16, message: String },
    /// 404: the resource does not exist or the credential may not read it.
    #[error("not found in Azure DevOps: {message}")]
    NotFound { message: String },
    /// 412 on a `test /rev` patch: the work item changed since it was read.
    #[error("the work item changed since it was read (revision conflict)")]
    Conflict,
    /// `TF401320`: a work item rule rejected a field (required, invalid identity, not an allowed value…).
    #[error("Azure DevOps rejected field `{field}`: {message}")]
    Field { field: String, message: String },
    /// 429 or 503 still after the bounded retries.
    #[error("Azure DevOps is throttling or unavailable ({status}); retry after {retry_after_secs}s")]
    Throttled { status: u16, retry_after_secs: u64 },
    /// Any other non-2xx answer.
    #[error("Azure DevOps answered {status} {type_key}: {message}")]
    Http {
        status: u16,
        type_key: String,
        message: String,
    },
    /// Could not reach Azure DevOps (DNS, connect, TLS, timeout).
    #[error("could not reach Azure DevOps: {0}")]
    Transport(String),
    /// A 2xx answer that did not have the expected shape.
    #[error("unexpected answer from Azure DevOps: {0}")]
    Decode(String),
}

impl AdoError {
    /// Worth trying again later (throttling, outages, network).
    pub fn is_transient(&self) -> bool {
        matches!(self, AdoError::Throttled { .. } | AdoError::Transport(_))
            || matches!(self, AdoError::Http { status, .. } if *status >= 500)
    }

    /// Whether a write that failed like this may still have been carried out: the answer was
    /// lost (network, timeout, a gateway's 5xx) or unreadable. A refusal (4xx, 429/503, a
    /// refused credential or field) changed nothing.
    pub fn may_have_been_applied(&self) -> bool {
        matches!(self, AdoError::Transport(_) | AdoError::Decode(_))
            || matches!(self, AdoError::Http { status, .. } if *status >= 500)
    }
}

/// ADO's JSON error body (`{"message", "typeKey", ...}`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub type_key: String,
}

/// `TF401320: Rule Error for field Repro Steps. Error code: Required, ...` → `Repro Steps`.
pub fn rule_error_field(message: &str) -> Option<String> {
    let rest = &message[message.find("TF401320")?..];
    let start = rest.find("for field ")? + "for field ".len();
    let tail = &rest[start..];
    let end = tail
        .find(". Error code")
        .or_else(|| tail.find('.'))
        .unwrap_or(tail.len());
    Some(tail[..end].trim().to_string()).filter(|f| !f.is_empty())
}

/// Maps a non-2xx status and its body to a typed error (429/503 are handled by the retry loop).
pub fn from_status(status: StatusCode, body: &str) -> AdoError {
    let parsed: ErrorBody = serde_json::from_str(body).unwrap_or_default();
    let message = if parsed.message.is_empty() {
        body.chars().take(300).collect::<String>()
    } else {
        parsed.message.clone()
    };
    match status.as_u16() {
        401 | 403 => AdoError::Auth {
            status: status.as_u16(),
            message,
        },
        404 => AdoError::NotFound { message },
        412 => AdoError::Conflict,
        400 if rule_error_field(&message).is_some() => AdoError::Field {
            field: rule_error_field(&message).unwrap_or_default(),
            message,
        },
        code => AdoError::Http {
            status: code,
            type_key: parsed.type_key,
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_lost_or_unreadable_answer_may_hide_a_write() {
        let http = |status| AdoError::Http {
            status,
            type_key: String::new(),
            message: String::new(),
        };
        assert!(AdoError::Transport("timed out".into()).may_have_been_applied());
        assert!(http(502).may_have_been_applied());
        assert!(AdoError::Decode("x".into()).may_have_been_applied());
        for refused in [
            http(400),
            AdoError::Throttled {
                status: 429,
                retry_after_secs: 1,
            },
            AdoError::Auth {
                status: 401,
                message: String::new(),
            },
            AdoError::Conflict,
        ] {
            assert!(!refused.may_have_been_applied(), "{refused}");
        }
    }

    #[test]
    fn rule_errors_name_the_field() {
        let message = "TF401320: Rule Error for field Repro Steps. Error code: Required, HasValues, LimitedToValues.";
        assert_eq!(rule_error_field(message).as_deref(), Some("Repro Steps"));
        assert_eq!(rule_error_field("TF401347: Invalid tree name"), None);
        match from_status(
            StatusCode::BAD_REQUEST,
            &serde_json::json!({"message": message, "typeKey": "RuleValidationException"}).to_string(),
        ) {
            AdoError::Field { field, .. } => assert_eq!(field, "Repro Steps"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn statuses_map_to_kinds() {
        let unauthorized = r#"{"message":"TF400813: The user '' is not authorized to access this resource.","typeKey":"UnauthorizedRequestException"}"#;
        assert!(matches!(
            from_status(StatusCode::UNAUTHORIZED, unauthorized),
            AdoError::Auth { status: 401, .. }
        ));
        assert!(matches!(
            from_status(StatusCode::NOT_FOUND, "{}"),
            AdoError::NotFound { .. }
        ));
        assert_eq!(from_status(StatusCode::PRECONDITION_FAILED, ""), AdoError::Conflict);
        match from_status(
            StatusCode::CONFLICT,
            r#"{"message":"TF26071: changed","typeKey":"WorkItemUpdateException"}"#,
        ) {
            AdoError::Http { status, type_key, .. } => {
                assert_eq!((status, type_key.as_str()), (409, "WorkItemUpdateException"))
            }
            other => panic!("{other:?}"),
        }
        assert!(from_status(StatusCode::BAD_GATEWAY, "").is_transient());
    }
}
