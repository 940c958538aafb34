//! The one retry policy of the bridge: when a call to Azure DevOps or Sentry is sent again at
//! once (both clients use [`RetryPolicy`] and [`may_resend`]), and how often a read-modify-write
//! that met a concurrent writer reads again ([`ConflictRetries`]). What happens after a call has
//! finally failed — retried later, kept through an outage, or given up — is
//! [`crate::failure::Failure`].

use std::time::Duration;

use reqwest::Method;

/// Timeouts and bounds of the quick retries within one call.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First backoff when the answer names no delay; doubles per retry.
    pub base_delay: Duration,
    /// A longer requested delay is not waited for: the call fails (throttled) instead, and the
    /// event is retried later rather than holding a worker.
    pub max_delay: Duration,
    /// Per-attempt timeout.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(10),
            timeout: Duration::from_secs(10),
        }
    }
}

/// How an attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// No answer: connect, TLS or timeout.
    NoAnswer,
    /// A non-2xx answer.
    Status(u16),
}

/// Whether an attempt that failed like this may be sent again. Refused before it was processed
/// (429, 503): any method. No answer, or a gateway's (502, 504): only methods that are safe to
/// repeat (GET, HEAD, PUT, DELETE) — a POST may have been carried out (a second work item, a
/// second comment). Anything else is an answer that the same request would get again.
pub fn may_resend(method: &Method, attempt: Attempt) -> bool {
    let idempotent = matches!(*method, Method::GET | Method::HEAD | Method::PUT | Method::DELETE);
    match attempt {
        Attempt::Status(429 | 503) => true,
        Attempt::NoAnswer | Attempt::Status(502 | 504) => idempotent,
        Attempt::Status(_) => false,
    }
}

impl RetryPolicy {
    /// How long to wait before retry number `retries + 1`: the delay the answer asked for, else
    /// the backoff (`base_delay` doubling, at most `max_delay`), plus up to 255 ms of jitter;
    /// `None` when the retries are used up or the requested delay is longer than `max_delay`.
    pub fn wait_before_retry(&self, retries: u32, requested: Option<Duration>) -> Option<Duration> {
        if retries >= self.max_retries {
            return None;
        }
        let wait = match requested {
            Some(asked) if asked > self.max_delay => return None,
            Some(asked) => asked,
            None => (self.base_delay * 2u32.saturating_pow(retries)).min(self.max_delay),
        };
        Some(wait + jitter())
    }
}

impl RetryPolicy {
    /// [`may_resend`] and [`Self::wait_before_retry`] together: how long to wait before sending
    /// a `method` call that failed like `attempt` once more, or `None` to give up now.
    pub fn wait_before_resending(
        &self,
        method: &Method,
        attempt: Attempt,
        retries: u32,
        requested: Option<Duration>,
    ) -> Option<Duration> {
        may_resend(method, attempt)
            .then(|| self.wait_before_retry(retries, requested))
            .flatten()
    }
}

fn jitter() -> Duration {
    let mut byte = [0u8; 1];
    let _ = getrandom::fill(&mut byte);
    Duration::from_millis(u64::from(byte[0]))
}

/// How many times a read-modify-write is tried when a concurrent writer keeps winning.
pub const CONFLICT_ATTEMPTS: u32 = 3;

/// The attempts of one read-modify-write (read, decide, write with a version or `test /rev`):
/// after a conflict, [`Self::another`] says whether to read again and retry.
#[derive(Debug, Default)]
pub struct ConflictRetries {
    attempts: u32,
}

impl ConflictRetries {
    pub fn new() -> Self {
        Self { attempts: 1 }
    }

    /// Whether the attempt that just met a conflict may be followed by another.
    pub fn another(&mut self) -> bool {
        if self.attempts >= CONFLICT_ATTEMPTS {
            return false;
        }
        self.attempts += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_calls_are_resent_and_lost_ones_only_when_safe_to_repeat() {
        for method in [Method::GET, Method::POST, Method::PATCH] {
            assert!(may_resend(&method, Attempt::Status(429)));
            assert!(may_resend(&method, Attempt::Status(503)));
            assert!(!may_resend(&method, Attempt::Status(500)));
            assert!(!may_resend(&method, Attempt::Status(404)));
        }
        assert!(may_resend(&Method::GET, Attempt::NoAnswer));
        assert!(may_resend(&Method::PUT, Attempt::Status(502)));
        assert!(
            !may_resend(&Method::POST, Attempt::NoAnswer),
            "a POST may have been applied"
        );
        assert!(!may_resend(&Method::PATCH, Attempt::Status(504)));
    }

    #[test]
    fn waits_grow_then_stop_and_a_long_requested_delay_is_not_waited_for() {
        let policy = RetryPolicy {
            max_retries: 2,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(5),
            timeout: Duration::from_secs(1),
        };
        let first = policy.wait_before_retry(0, None).unwrap();
        assert!(first >= Duration::from_secs(1) && first < Duration::from_millis(1256));
        assert!(policy.wait_before_retry(1, None).unwrap() >= Duration::from_secs(2));
        assert_eq!(policy.wait_before_retry(2, None), None, "retries used up");
        assert!(policy.wait_before_retry(0, Some(Duration::from_secs(4))).unwrap() >= Duration::from_secs(4));
        assert_eq!(policy.wait_before_retry(0, Some(Duration::from_secs(6))), None);
    }

    #[test]
    fn a_conflict_is_tried_again_a_bounded_number_of_times() {
        let mut retries = ConflictRetries::new();
        let mut attempts = 1;
        while retries.another() {
            attempts += 1;
        }
        assert_eq!(attempts, CONFLICT_ATTEMPTS);
        assert!(!retries.another(), "and stays used up");
    }
}
