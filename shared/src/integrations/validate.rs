//! Pure validation of what an admin sends: URLs, slugs, names. No I/O.

use url::{Host, Url};

/// Parses `text` as a URL a bridge may call: `https`, or `http` only on a loopback host
/// (fakes and local emulators). No credentials, query or fragment. Returned without trailing slash.
pub fn service_url(field: &str, text: &str) -> Result<Url, String> {
    let url = Url::parse(text.trim()).map_err(|e| format!("`{field}` is not a URL ({e})"))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(format!(
                "`{field}` must use https (plain http is accepted only for loopback hosts)"
            ));
        }
        other => return Err(format!("`{field}` must be an https URL, not {other}:")),
    }
    if url.host().is_none() {
        return Err(format!("`{field}` has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("`{field}` must not contain credentials"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("`{field}` must not have a query or fragment"));
    }
    Ok(url)
}

/// Whether the URL points at this machine (`localhost`, 127.0.0.0/8, `::1`).
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn without_trailing_slash(url: &Url) -> String {
    url.as_str().trim_end_matches('/').to_string()
}

fn path_segments(url: &Url) -> Vec<String> {
    url.path_segments()
        .map(|s| s.filter(|p| !p.is_empty()).map(str::to_string).collect())
        .unwrap_or_default()
}

/// An Azure DevOps organization URL: `https://dev.azure.com/{org}`, `https://{org}.visualstudio.com`,
/// or an Azure DevOps Server collection URL (`https://host/tfs/{collection}`). Returns the
/// normalised URL and the organization (collection) name.
pub fn organization_url(text: &str) -> Result<(String, String), String> {
    const FIELD: &str = "azure_devops.organization_url";
    let url = service_url(FIELD, text)?;
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    let segments = path_segments(&url);
    let organization = if host == "dev.azure.com" {
        match segments.as_slice() {
            [org] => org.clone(),
            _ => {
                return Err(format!("`{FIELD}` must be https://dev.azure.com/{{organization}}"));
            }
        }
    } else if let Some(org) = host.strip_suffix(".visualstudio.com") {
        if !segments.is_empty() || org.is_empty() || org.contains('.') {
            return Err(format!("`{FIELD}` must be https://{{organization}}.visualstudio.com"));
        }
        org.to_string()
    } else if host.ends_with(".azure.com") || host.ends_with(".visualstudio.com") {
        return Err(format!(
            "`{FIELD}` must be https://dev.azure.com/{{organization}} or https://{{organization}}.visualstudio.com"
        ));
    } else {
        match segments.last() {
            Some(collection) => collection.clone(),
            None => {
                return Err(format!(
                    "`{FIELD}` for Azure DevOps Server must name the collection (https://host/tfs/{{collection}})"
                ));
            }
        }
    };
    if !organization
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    {
        return Err(format!(
            "`{FIELD}` names an organization with characters Azure DevOps does not allow"
        ));
    }
    Ok((without_trailing_slash(&url), organization))
}

/// Sentry's base URL (`https://sentry.io`, a regional or a self-hosted URL).
pub fn sentry_base_url(text: &str) -> Result<String, String> {
    service_url("sentry.base_url", text).map(|url| without_trailing_slash(&url))
}

/// An identity-provider authority for Entra (default `https://login.microsoftonline.com`).
pub fn authority_url(text: &str) -> Result<String, String> {
    service_url("azure_devops.auth.authority", text).map(|url| without_trailing_slash(&url))
}

/// Sentry organization slugs: lower-case letters, digits, `-` and `_`.
pub fn organization_slug(text: &str) -> Result<String, String> {
    let slug = text.trim();
    let valid = !slug.is_empty()
        && slug.len() <= 50
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if valid {
        Ok(slug.to_string())
    } else {
        Err("`sentry.organization_slug` must be a Sentry organization slug (a-z, 0-9, - and _)".into())
    }
}

/// A UUID in any of the usual spellings, returned hyphenated lower-case.
pub fn uuid(field: &str, text: &str) -> Result<String, String> {
    uuid::Uuid::parse_str(text.trim())
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| format!("`{field}` must be a UUID"))
}

/// A required, non-blank text of bounded length.
pub fn required_text(field: &str, text: &str, max: usize) -> Result<String, String> {
    let text = text.trim();
    if text.is_empty() {
        Err(format!("`{field}` must not be empty"))
    } else if text.chars().count() > max {
        Err(format!("`{field}` must be at most {max} characters"))
    } else {
        Ok(text.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_three_organization_url_forms() {
        assert_eq!(
            organization_url("https://dev.azure.com/contoso/").unwrap(),
            ("https://dev.azure.com/contoso".into(), "contoso".into())
        );
        assert_eq!(
            organization_url("https://Fabrikam.visualstudio.com").unwrap(),
            ("https://fabrikam.visualstudio.com".into(), "fabrikam".into())
        );
        assert_eq!(
            organization_url("https://tfs.contoso.local/tfs/DefaultCollection").unwrap(),
            (
                "https://tfs.contoso.local/tfs/DefaultCollection".into(),
                "DefaultCollection".into()
            )
        );
        assert_eq!(
            organization_url("http://127.0.0.1:8081/fake-org").unwrap(),
            ("http://127.0.0.1:8081/fake-org".into(), "fake-org".into())
        );
    }

    #[test]
    fn rejects_wrong_organization_urls_with_a_reason() {
        for (url, reason) in [
            ("http://dev.azure.com/contoso", "https"),
            ("http://ado.example.com/tfs/Default", "https"),
            ("https://dev.azure.com", "dev.azure.com/{organization}"),
            ("https://dev.azure.com/contoso/project", "dev.azure.com/{organization}"),
            ("https://contoso.visualstudio.com/project", "visualstudio.com"),
            ("https://tfs.example.com", "collection"),
            ("https://user:pw@dev.azure.com/contoso", "credentials"),
            ("https://dev.azure.com/contoso?x=1", "query"),
            ("ftp://dev.azure.com/contoso", "https URL"),
            ("not a url", "not a URL"),
        ] {
            let error = organization_url(url).unwrap_err();
            assert!(error.contains(reason), "{url}: {error}");
            assert!(error.contains("azure_devops.organization_url"), "{url}: {error}");
        }
    }

    #[test]
    fn loopback_is_the_only_plain_http() {
        assert!(sentry_base_url("http://localhost:9000").is_ok());
        assert!(sentry_base_url("http://[::1]:9000").is_ok());
        assert!(sentry_base_url("http://sentry.example.com").is_err());
        assert_eq!(sentry_base_url("https://sentry.io/").unwrap(), "https://sentry.io");
    }

    #[test]
    fn slugs_uuids_and_names() {
        assert_eq!(organization_slug(" acme-corp_1 ").unwrap(), "acme-corp_1");
        assert!(organization_slug("Acme").is_err());
        assert!(organization_slug("").is_err());
        assert_eq!(
            uuid("x", "0A1B2C3D4E5F60718293A4B5C6D7E8F9").unwrap(),
            "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9"
        );
        assert!(uuid("x", "nope").is_err());
        assert!(required_text("name", "  ", 10).unwrap_err().contains("`name`"));
        assert!(required_text("name", "abcdefghijk", 10).is_err());
    }
}
