//! People as the two systems spell them.

use serde_json::Value;

/// The email in an Azure DevOps identity: `"Display Name <email>"` (service-hook payloads), an
/// IdentityRef object (`uniqueName`), or a bare email. `None` for on-prem `DOMAIN\user` names,
/// bare display names and empty values.
pub fn email_of(value: &Value) -> Option<String> {
    let text = match value {
        Value::String(text) => text.clone(),
        Value::Object(object) => object
            .get("uniqueName")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        _ => return None,
    };
    let candidate = match (text.rfind('<'), text.rfind('>')) {
        (Some(start), Some(end)) if start < end => text[start + 1..end].to_string(),
        _ => text,
    };
    let candidate = candidate.trim().to_lowercase();
    (candidate.contains('@') && !candidate.contains(' ')).then_some(candidate)
}

/// The display name in an Azure DevOps identity (`"Display Name <email>"` or an IdentityRef).
pub fn display_name_of(value: &Value) -> Option<String> {
    let text = match value {
        Value::String(text) => text.split('<').next().unwrap_or_default().trim().to_string(),
        Value::Object(object) => object
            .get("displayName")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        _ => String::new(),
    };
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn emails_from_every_identity_shape() {
        assert_eq!(
            email_of(&json!("Jamal Hartnett <Jamal@Fabrikam.example>")).as_deref(),
            Some("jamal@fabrikam.example")
        );
        assert_eq!(
            email_of(&json!({"displayName": "A", "uniqueName": "a@x.example"})).as_deref(),
            Some("a@x.example")
        );
        assert_eq!(email_of(&json!("a@x.example")).as_deref(), Some("a@x.example"));
        assert_eq!(email_of(&json!("Jamal Hartnett <FABRIKAM\\jamal>")), None);
        assert_eq!(email_of(&json!("Jamal Hartnett")), None);
        assert_eq!(email_of(&json!("")), None);
        assert_eq!(email_of(&Value::Null), None);
        assert_eq!(
            display_name_of(&json!("Jamal Hartnett <j@x.example>")).as_deref(),
            Some("Jamal Hartnett")
        );
        assert_eq!(
            display_name_of(&json!({"displayName": "Alice"})).as_deref(),
            Some("Alice")
        );
    }
}
