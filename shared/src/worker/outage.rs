//! Integrations whose other side is out, as this process saw it. Their events are left alone
//! until a pause ends — none after one failure (a blip), 30 s after the second in a row,
//! doubling to five minutes while it lasts — so an outage costs one call a pause instead of one
//! per event, and the events keep their place. The next success ends the pause.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The pause after the `streak`-th outage in a row.
pub fn pause_after(streak: u32) -> Duration {
    match streak {
        0 | 1 => Duration::ZERO,
        _ => (Duration::from_secs(30) * 2u32.pow((streak - 2).min(4))).min(Duration::from_secs(300)),
    }
}

#[derive(Default)]
pub struct Outages {
    paused: Mutex<HashMap<String, (Instant, u32)>>,
}

impl Outages {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, u32)>> {
        self.paused.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the integration's events wait for its outage's pause to end.
    pub fn paused(&self, integration_id: &str, now: Instant) -> bool {
        self.lock().get(integration_id).is_some_and(|(until, _)| now < *until)
    }

    /// An event of the integration met an outage.
    pub fn note(&self, integration_id: &str, now: Instant) {
        let mut paused = self.lock();
        let streak = paused.get(integration_id).map_or(0, |(_, streak)| *streak) + 1;
        paused.insert(integration_id.to_string(), (now + pause_after(streak), streak));
    }

    /// An event of the integration went through: the outage is over.
    pub fn clear(&self, integration_id: &str) {
        self.lock().remove(integration_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_grow_while_the_outage_lasts_and_end_with_a_success() {
        assert_eq!(pause_after(1), Duration::ZERO, "one failure is a blip");
        assert_eq!(pause_after(2), Duration::from_secs(30));
        assert_eq!(pause_after(3), Duration::from_secs(60));
        assert_eq!(pause_after(9), Duration::from_secs(300));
        let outages = Outages::default();
        let now = Instant::now();
        assert!(!outages.paused("i", now));
        outages.note("i", now);
        assert!(!outages.paused("i", now));
        outages.note("i", now);
        assert!(outages.paused("i", now + Duration::from_secs(29)));
        assert!(!outages.paused("i", now + Duration::from_secs(31)));
        assert!(!outages.paused("other", now));
        outages.clear("i");
        assert!(!outages.paused("i", now));
    }
}
