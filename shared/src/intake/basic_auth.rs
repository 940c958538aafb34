//! HTTP Basic credentials of service-hook deliveries, checked in constant time against the
//! current webhook secret or, during a rotation's grace period, the previous one.

use axum::http::{HeaderMap, header};
use base64::Engine;
use subtle::ConstantTimeEq;

use crate::secrets::IntegrationSecrets;

/// The password of an `Authorization: Basic` header.
pub fn basic_password(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    text.split_once(':').map(|(_, password)| password.to_string())
}

fn equal(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Whether `password` is the integration's webhook secret (or the previous one, until it expires).
pub fn webhook_secret_matches(secrets: &IntegrationSecrets, password: &str, now_ms: i64) -> bool {
    let current = equal(password, secrets.webhook_secret.expose());
    let previous = secrets
        .previous_webhook_secret
        .as_ref()
        .filter(|_| secrets.previous_webhook_secret_expires_at.is_some_and(|at| now_ms < at))
        .is_some_and(|old| equal(password, old.expose()));
    current | previous
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::{AdoCredential, Secret};
    use axum::http::HeaderValue;

    fn secrets() -> IntegrationSecrets {
        IntegrationSecrets {
            azure_devops: AdoCredential::Pat {
                token: Secret::new("p"),
            },
            webhook_secret: Secret::new("new-secret"),
            previous_webhook_secret: Some(Secret::new("old-secret")),
            previous_webhook_secret_expires_at: Some(1_000),
            sentry_client_secret: Secret::new("c"),
            sentry_auth_token: Secret::new("t"),
        }
    }

    #[test]
    fn reads_the_password_of_a_basic_header() {
        let mut headers = HeaderMap::new();
        // base64("azure-devops:s3cr:et") — a password may contain ':'
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic YXp1cmUtZGV2b3BzOnMzY3I6ZXQ="),
        );
        assert_eq!(basic_password(&headers).as_deref(), Some("s3cr:et"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic Og=="));
        assert_eq!(basic_password(&headers).as_deref(), Some(""));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic !!!"));
        assert_eq!(basic_password(&headers), None);
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        assert_eq!(basic_password(&headers), None);
        assert_eq!(basic_password(&HeaderMap::new()), None);
    }

    #[test]
    fn current_secret_always_previous_only_in_grace() {
        assert!(webhook_secret_matches(&secrets(), "new-secret", 5_000));
        assert!(webhook_secret_matches(&secrets(), "old-secret", 500));
        assert!(!webhook_secret_matches(&secrets(), "old-secret", 1_000));
        assert!(!webhook_secret_matches(&secrets(), "wrong", 500));
        assert!(!webhook_secret_matches(&secrets(), "", 500));
    }
}
