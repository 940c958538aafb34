//! Sentry's request signatures: HMAC-SHA256 of the raw body with the app's client secret, hex.
//! Webhooks carry it in `Sentry-Hook-Signature`, UI-component requests in `Sentry-App-Signature`
//! (for GET requests over the empty string). Always computed over the bytes received.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Hex HMAC-SHA256 of `body` with `secret`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `signature` (hex, any case) is the signature of `body`; constant-time.
pub fn verify(secret: &str, body: &[u8], signature: &str) -> bool {
    let expected = sign(secret, body);
    let presented = signature.trim().to_ascii_lowercase();
    expected.len() == presented.len() && bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector() -> serde_json::Value {
        let path = format!(
            "{}/tests/fixtures/sentry-platform/signature_test_vector.json",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn the_published_test_vector_verifies() {
        let v = vector();
        let secret = v["client_secret"].as_str().unwrap();
        let body = v["raw_body"].as_str().unwrap().as_bytes();
        let expected = v["header_Sentry-Hook-Signature"].as_str().unwrap();
        assert_eq!(sign(secret, body), expected);
        assert!(verify(secret, body, expected));
        assert!(verify(secret, body, &expected.to_uppercase()));
        let empty = v["select_GET_Sentry-App-Signature (HMAC of empty string)"]
            .as_str()
            .unwrap();
        assert!(verify(secret, b"", empty));
    }

    #[test]
    fn one_changed_byte_or_secret_fails() {
        let v = vector();
        let secret = v["client_secret"].as_str().unwrap();
        let mut body = v["raw_body"].as_str().unwrap().as_bytes().to_vec();
        let expected = v["header_Sentry-Hook-Signature"].as_str().unwrap();
        body[10] ^= 1;
        assert!(!verify(secret, &body, expected));
        assert!(!verify(
            "other-secret",
            v["raw_body"].as_str().unwrap().as_bytes(),
            expected
        ));
        assert!(!verify(secret, b"", ""));
        assert!(!verify(secret, b"", "not hex"));
    }
}
