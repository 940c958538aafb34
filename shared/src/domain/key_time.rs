//! The time an inbox event's dedupe key starts with, so keys of events raised together sort
//! together (the embedded store's key index then takes a burst's inserts in a few pages).

/// `value` when it reads as a timestamp — ISO 8601 or Unix seconds: digits and `-:.TZ+` only,
/// starting with a digit, 10 to 40 characters — else `None`. Only such text goes into a key (an
/// event id, which goes into URLs).
pub fn key_time(value: &str) -> Option<&str> {
    let timestamp_like = (10..=40).contains(&value.len())
        && value.starts_with(|c: char| c.is_ascii_digit())
        && value.bytes().all(|b| b.is_ascii_digit() || b"-:.TZ+".contains(&b));
    timestamp_like.then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_only() {
        for good in [
            "2026-09-02T08:15:07.4493006Z",
            "2026-09-02T08:15:07+00:00",
            "1700000000",
            "1700000000.25",
        ] {
            assert_eq!(key_time(good), Some(good));
        }
        for bad in ["", "yesterday", "2026-09-02/../x#y", "1e9/x", "170000", "T2026-09-02"] {
            assert_eq!(key_time(bad), None, "{bad}");
        }
    }
}
