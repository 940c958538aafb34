//! Why an event was not applied, in one classification for both services: a failure of the
//! event itself (`Permanent`), a passing one (`Retry`), a refused credential (`Credential`,
//! read again once at once), and an outage of a whole service (`Outage`: it is down, throttling
//! or unreachable — every event of the integration would fail alike, so they are kept, however
//! long it lasts, and the integration is left alone for a while). The clients and the store map
//! their errors into it here; the HTTP routes map it to a status at their edge.

use crate::azure_devops::AdoError;
use crate::sentry::SentryError;
use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Try again later (the store was busy, a record kept changing, a write not visible yet).
    Retry(String),
    /// The service is down, throttling, unreachable, or still refuses the credential: retried
    /// with backoff and never given up on (an outage is not a bad event).
    Outage(String),
    /// The other side refused the credential in memory. The worker forgets the cached clients
    /// and secrets and runs the event once more at once (the credential may have been changed
    /// by the admin API in another process); still refused, it is an outage.
    Credential(String),
    /// Trying again cannot help (malformed payload, deleted integration, a field refused).
    Permanent(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl Failure {
    pub fn message(&self) -> &str {
        match self {
            Failure::Retry(m) | Failure::Outage(m) | Failure::Credential(m) | Failure::Permanent(m) => m,
        }
    }

    /// Whether the whole service failed rather than this event.
    pub fn is_outage(&self) -> bool {
        matches!(self, Failure::Outage(_) | Failure::Credential(_))
    }
}

impl From<AdoError> for Failure {
    fn from(error: AdoError) -> Self {
        let text = format!("Azure DevOps: {error}");
        match error {
            AdoError::Auth { .. } => Failure::Credential(text),
            AdoError::NotFound { .. } | AdoError::Field { .. } | AdoError::Decode(_) => Failure::Permanent(text),
            AdoError::Http { status, .. } if (400..500).contains(&status) => Failure::Permanent(text),
            AdoError::Conflict => Failure::Retry(text),
            AdoError::Throttled { .. } | AdoError::Transport(_) | AdoError::Http { .. } => Failure::Outage(text),
        }
    }
}

impl From<SentryError> for Failure {
    fn from(error: SentryError) -> Self {
        let text = format!("Sentry: {error}");
        match error {
            SentryError::Auth { .. } => Failure::Credential(text),
            SentryError::NotFound(_) | SentryError::Decode(_) => Failure::Permanent(text),
            SentryError::Http { status, .. } if (400..500).contains(&status) => Failure::Permanent(text),
            SentryError::RateLimited { .. } | SentryError::Transport(_) | SentryError::Http { .. } => {
                Failure::Outage(text)
            }
        }
    }
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) => Failure::Outage(format!("store: {error}")),
            other => Failure::Retry(format!("store: {other}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_that_is_down_is_an_outage_and_a_refused_field_is_the_events() {
        let down = Failure::from(AdoError::Http {
            status: 503,
            type_key: String::new(),
            message: "x".into(),
        });
        assert!(down.is_outage());
        assert!(Failure::from(AdoError::Transport("timed out".into())).is_outage());
        assert!(Failure::from(SentryError::RateLimited { retry_after_secs: 5 }).is_outage());
        assert!(
            Failure::from(SentryError::Http {
                status: 502,
                message: "x".into()
            })
            .is_outage()
        );
        let field = Failure::from(AdoError::Field {
            field: "Repro Steps".into(),
            message: "required".into(),
        });
        assert!(matches!(field, Failure::Permanent(_)));
        assert!(matches!(
            Failure::from(SentryError::Http {
                status: 400,
                message: "x".into()
            }),
            Failure::Permanent(_)
        ));
        assert!(matches!(Failure::from(AdoError::Conflict), Failure::Retry(_)));
    }
}
