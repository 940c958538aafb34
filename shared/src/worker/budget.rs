//! How much time the worker may spend: one event at most [`EVENT_TIME_LIMIT`], and on Lambda no
//! claim so late that the invocation's deadline would kill the worker holding it (a killed claim
//! settles nothing: the event would be claimed again a minute later, forever).

use std::time::{Duration, Instant};

/// The most one event may take before it is given up for now (settled `failed`, the attempt
/// counted): one slow event must not hold up every other.
pub const EVENT_TIME_LIMIT: Duration = Duration::from_secs(30);
/// Kept back before a deadline to settle the event in hand and answer the invocation (the
/// worker's AWS calls give up after 2.5 s: `SdkTimeouts::WORKER`).
pub const DEADLINE_RESERVE: Duration = Duration::from_secs(3);
/// The least time an event is given (an Azure DevOps call may take 10 s before it times out);
/// with less left, nothing more is claimed.
pub const LEAST_EVENT_TIME: Duration = Duration::from_secs(10);

/// The time a worker run may use: unlimited in `bridge-local`, up to the invocation's deadline
/// on Lambda.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    deadline: Option<Instant>,
}

impl Budget {
    pub fn unlimited() -> Self {
        Self { deadline: None }
    }

    pub fn until(deadline: Instant) -> Self {
        Self {
            deadline: Some(deadline),
        }
    }

    /// A Lambda invocation's deadline (`Lambda-Runtime-Deadline-Ms`, Unix milliseconds).
    pub fn until_unix_ms(deadline_ms: u64, now_ms: i64) -> Self {
        let left = u64::try_from(now_ms).map_or(0, |now| deadline_ms.saturating_sub(now));
        Self::until(Instant::now() + Duration::from_millis(left))
    }

    /// How long the next event may take, or `None` when too little time is left to claim one.
    pub fn next_event(&self, now: Instant) -> Option<Duration> {
        let Some(deadline) = self.deadline else {
            return Some(EVENT_TIME_LIMIT);
        };
        let usable = deadline.saturating_duration_since(now).checked_sub(DEADLINE_RESERVE)?;
        (usable >= LEAST_EVENT_TIME).then(|| usable.min(EVENT_TIME_LIMIT))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_get_the_time_left_before_the_deadline_less_a_reserve() {
        let now = Instant::now();
        let secs = Duration::from_secs;
        assert_eq!(Budget::unlimited().next_event(now), Some(EVENT_TIME_LIMIT));
        let lambda = Budget::until(now + secs(60));
        assert_eq!(lambda.next_event(now), Some(EVENT_TIME_LIMIT), "capped per event");
        assert_eq!(lambda.next_event(now + secs(40)), Some(secs(17)));
        assert_eq!(lambda.next_event(now + secs(47)), Some(LEAST_EVENT_TIME));
        assert_eq!(lambda.next_event(now + secs(48)), None, "too late to claim");
        assert_eq!(lambda.next_event(now + secs(90)), None);
    }

    #[test]
    fn a_lambda_deadline_in_unix_milliseconds() {
        let left = Budget::until_unix_ms(1_000_020_000, 1_000_000_000)
            .next_event(Instant::now())
            .unwrap();
        assert!(
            left <= Duration::from_secs(17) && left > Duration::from_secs(16),
            "{left:?}"
        );
        let past = Budget::until_unix_ms(5, 1_000);
        assert_eq!(past.next_event(Instant::now()), None, "already past");
    }
}
