//! An inbox event's payload: JSON text, stored as the JSON it is rather than as a string.
//!
//! Written as a string, every quote of the ~1 KB payload was escaped on each write and unescaped
//! on each read — ~9 % of the instructions of an Azure DevOps delivery's intake (callgrind). Written raw, it
//! is one copy. Only JSON gets in (a payload is made by serialising or by parsing), and a record
//! written before this, with the payload as a string, still reads.

use std::fmt;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

#[derive(Clone)]
pub struct Payload(Box<RawValue>);

impl Payload {
    /// `value` serialised (nothing to check: serde_json wrote it).
    pub fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        serde_json::value::to_raw_value(value).map(Self)
    }

    /// JSON text, checked.
    pub fn from_json(text: String) -> Result<Self, serde_json::Error> {
        RawValue::from_string(text).map(Self)
    }

    /// The JSON text.
    pub fn get(&self) -> &str {
        self.0.get()
    }
}

impl PartialEq for Payload {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.get())
    }
}

impl Serialize for Payload {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Payload {
    /// The JSON as stored; a string (how records were written before) is the JSON text it holds.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        if !raw.get().starts_with('"') {
            return Ok(Self(raw));
        }
        let text: String = serde_json::from_str(raw.get()).map_err(D::Error::custom)?;
        Self::from_json(text).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};
    use serde_json::json;

    use super::Payload;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Holder {
        payload: Payload,
    }

    #[test]
    fn a_payload_is_stored_raw_and_reads_back_the_same() {
        for value in [
            json!({"id": "n", "text": "say \"hi\"\n", "nested": {"a": [1, 2.5, null, true]}}),
            json!([{"op": "add"}, "é"]),
            json!({}),
        ] {
            let payload = Payload::to_json(&value).unwrap();
            let written = serde_json::to_string(&Holder {
                payload: payload.clone(),
            })
            .unwrap();
            assert_eq!(written, format!(r#"{{"payload":{value}}}"#));
            let read: Holder = serde_json::from_str(&written).unwrap();
            assert_eq!(read.payload, payload);
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(read.payload.get()).unwrap(),
                value
            );
        }
    }

    #[test]
    fn a_record_written_with_the_payload_as_a_string_still_reads() {
        let old = r#"{"payload":"{\"id\":\"n\",\"rev\":3}"}"#;
        let read: Holder = serde_json::from_str(old).unwrap();
        assert_eq!(read.payload.get(), r#"{"id":"n","rev":3}"#);
    }

    #[test]
    fn only_json_gets_in() {
        assert!(Payload::from_json("different".into()).is_err());
        assert!(Payload::from_json(r#"{"unclosed": 1"#.into()).is_err());
        let corrupt = r#"{"payload":"not json"}"#;
        assert!(serde_json::from_str::<Holder>(corrupt).is_err());
    }
}
