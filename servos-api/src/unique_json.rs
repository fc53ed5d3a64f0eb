//! JSON whose objects never name a key twice. serde_json keeps the last of
//! two equal keys, so `{"role":"viewer","role":"admin"}` would mean what
//! the last one says to us and perhaps the first to a proxy or a log
//! reader; such a text is refused instead, naming the key, at any depth.
//! Keys are compared after unescaping (`"n\u0061me"` is `"name"`).

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use servos_common::error_text;

/// Characters of a repeated key shown in an error, so a huge key cannot
/// flood a message or a log.
const SHOWN_KEY_CHARS: usize = 64;

/// Why a text is not JSON with unique keys. Neither variant holds a value
/// of the text, only a key and a position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// Not JSON (or nested deeper than serde_json's limit of 128, or
    /// followed by more than whitespace).
    #[error("is not valid JSON (line {line}, column {column})")]
    Syntax {
        /// Line of the problem, from 1.
        line: usize,
        /// Column of the problem, from 1.
        column: usize,
    },
    /// One object names `key` twice.
    #[error("has the key `{key}` twice in one object (line {line}, column {column})")]
    DuplicateKey {
        /// The key, escaped and cut to 64 characters.
        key: String,
        /// Line of the second occurrence, from 1.
        line: usize,
        /// Column just after the second occurrence.
        column: usize,
    },
}

/// Parses `bytes` as one JSON value, refusing any object with a repeated key.
pub fn from_slice(bytes: &[u8]) -> Result<Value, JsonError> {
    let repeated = Cell::new(None);
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed = UniqueKeys {
        repeated: &repeated,
    }
    .deserialize(&mut deserializer)
    .and_then(|value| deserializer.end().map(|()| value));
    parsed.map_err(|e| {
        let (line, column) = (e.line(), e.column());
        match repeated.take() {
            Some(key) => JsonError::DuplicateKey { key, line, column },
            None => JsonError::Syntax { line, column },
        }
    })
}

/// Reads one value like `serde_json::Value` does, recording the first
/// repeated key in `repeated` before failing (serde's error type carries
/// only a message, and this keeps the key out of string matching).
#[derive(Clone, Copy)]
struct UniqueKeys<'a> {
    repeated: &'a Cell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for UniqueKeys<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UniqueKeys<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // As serde_json's own `Value`: JSON has no NaN or infinity to keep.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                self.repeated
                    .set(Some(error_text::quoted(&key, SHOWN_KEY_CHARS)));
                return Err(de::Error::custom("a key is repeated"));
            }
            let value = map.next_value_seed(self)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repeated(text: &str) -> Option<String> {
        match from_slice(text.as_bytes()) {
            Err(JsonError::DuplicateKey { key, .. }) => Some(key),
            _ => None,
        }
    }

    #[test]
    fn unique_keys_parse_as_serde_json_does() {
        let text = r#"{"a":[1,-2,3.5,true,null,"x",{"a":{}}],"b":{"a":1},"c":"é\n","d":18446744073709551615}"#;
        let expected: Value = serde_json::from_str(text).expect("serde_json parses it");
        assert_eq!(from_slice(text.as_bytes()), Ok(expected));
        assert_eq!(from_slice(b" [] "), Ok(Value::Array(Vec::new())));
        assert_eq!(
            from_slice(br#"[{"a":1},{"a":2}]"#).map(|v| v[1]["a"].clone()),
            Ok(Value::from(2)),
            "the same key in two objects is fine"
        );
    }

    #[test]
    fn a_repeated_key_is_named_at_any_depth() {
        assert_eq!(
            repeated(r#"{"name":"a","name":"b"}"#).as_deref(),
            Some("name")
        );
        assert_eq!(
            repeated(r#"{"env":{"set":{"A":{"value":"1","value":"2"}}}}"#).as_deref(),
            Some("value")
        );
        assert_eq!(
            repeated(r#"[1,[{"x":0,"y":1,"x":2}]]"#).as_deref(),
            Some("x")
        );
        assert_eq!(
            repeated(r#"{"name":"a","n\u0061me":"b"}"#).as_deref(),
            Some("name"),
            "keys compare unescaped"
        );
        let error = from_slice(br#"{"k":"hunter2","k":"other-secret"}"#)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("`k`") && error.contains("line 1"), "{error}");
        assert!(!error.contains("hunter2") && !error.contains("other-secret"));
    }

    #[test]
    fn shown_keys_are_escaped_and_cut() {
        let long = format!(r#"{{"{0}":1,"{0}":2}}"#, "k".repeat(500));
        let key = repeated(&long).unwrap_or_default();
        assert_eq!(key, format!("{}...", "k".repeat(SHOWN_KEY_CHARS)));
        assert_eq!(
            repeated(r#"{"a\n\"b":1,"a\n\"b":2}"#).as_deref(),
            Some(r#"a\n\"b"#)
        );
    }

    #[test]
    fn other_problems_are_syntax_errors() {
        for bad in [&b"{"[..], b"{\"a\":1}x", b"", b"{'a':1}", b"[1,]"] {
            assert!(
                matches!(from_slice(bad), Err(JsonError::Syntax { .. })),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(
            matches!(from_slice(deep.as_bytes()), Err(JsonError::Syntax { .. })),
            "nesting is bounded, not a stack overflow"
        );
    }
}
