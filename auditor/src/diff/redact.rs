//! Masking, the last step before a [`crate::findings::FieldChange`] exists.
//!
//! Secrets arrive sealed (values replaced by digests, see [`crate::secret`]),
//! but even a digest must not leave the engine: a digest of a short password
//! can be brute-forced, and it tells a reader the value changed to something
//! in particular. So every Secret `data`/`stringData` value becomes `***`,
//! and any sealed digest found anywhere else is masked too.

use super::compare::Change;
use crate::secret::{MASK, UNKNOWN, contains_sealed};
use serde_json::Value;

/// A change's values as they may be shown.
#[derive(Debug, Clone, PartialEq)]
pub struct Shown {
    /// Git's value, or `***`.
    pub desired: Option<Value>,
    /// Live value, or `***`.
    pub live: Option<Value>,
    /// Whether the values were masked.
    pub sensitive: bool,
}

/// Mask a change of an object (`secret`: the object is a Secret).
pub fn redact(change: Change, secret: bool) -> Shown {
    let secret_data = secret && matches!(change.path.first_field(), Some("data" | "stringData"));
    if secret_data {
        let mask = |v: Option<Value>| v.map(|_| Value::String(MASK.to_owned()));
        return Shown {
            desired: mask(change.desired),
            live: mask(change.live),
            sensitive: true,
        };
    }
    let (mut desired, mut live) = (change.desired, change.live);
    let mut sensitive = desired.as_mut().is_some_and(mask_sealed);
    if let Some(l) = live.as_mut() {
        // Where Git's value comes from a Secret, the live value of the same
        // field is as secret (an older password, the same token).
        if sensitive {
            *l = Value::String(MASK.to_owned());
        } else {
            sensitive |= mask_sealed(l);
        }
    }
    Shown {
        desired,
        live,
        sensitive,
    }
}

/// Replace sealed digests anywhere in a value; whether any was found.
/// Prevents: a whole Secret map, or a Secret embedded in a List, carrying
/// digests out through a change reported above `data`.
fn mask_sealed(value: &mut Value) -> bool {
    match value {
        Value::String(s) if contains_sealed(s) || s.contains(UNKNOWN) => {
            *s = MASK.to_owned();
            true
        }
        Value::Array(items) => items.iter_mut().fold(false, |acc, v| mask_sealed(v) | acc),
        Value::Object(map) => map.values_mut().fold(false, |acc, v| mask_sealed(v) | acc),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::keyed_path::{FieldPath, Segment};
    use serde_json::json;

    fn change(first: &str, desired: Value, live: Option<Value>) -> Change {
        Change {
            path: FieldPath(vec![Segment::Field(first.into())]),
            desired: Some(desired),
            live,
        }
    }

    #[test]
    fn secret_data_is_masked_both_sides() {
        let shown = redact(
            change(
                "data",
                json!({"users": "sealed:sha256:ab"}),
                Some(json!("x")),
            ),
            true,
        );
        assert_eq!(shown.desired, Some(json!("***")));
        assert_eq!(shown.live, Some(json!("***")));
        assert!(shown.sensitive);
        let absent = redact(change("stringData", json!("v"), None), true);
        assert_eq!(absent.live, None);
    }

    #[test]
    fn sealed_digests_elsewhere_are_masked() {
        let shown = redact(
            change("items", json!([{"data": {"k": "sealed:sha256:00"}}]), None),
            false,
        );
        assert_eq!(shown.desired, Some(json!([{"data": {"k": "***"}}])));
        assert!(shown.sensitive);
    }

    #[test]
    fn other_fields_pass_through() {
        let shown = redact(change("type", json!("Opaque"), Some(json!("tls"))), true);
        assert_eq!(shown.live, Some(json!("tls")));
        assert!(!shown.sensitive);
    }
}
