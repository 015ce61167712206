//! After substitution: where a Secret's value landed, and where a value is unknown.
//!
//! [`super::substitute::envsubst`] wraps every expression that read a Secret
//! variable in [`TAINT_START`]…[`TAINT_END`] and replaces every expression
//! that read an unknown one by [`UNKNOWN`]. Flux parses the substituted text
//! as YAML; so does [`resolve`], twice: once with the sentinels (to see
//! *which* fields they fall in) and once without (to get the values and
//! types Flux would apply). Then, field by field:
//!
//! - a field that holds [`UNKNOWN`] becomes exactly [`UNKNOWN`]: it is
//!   not compared, never printed;
//! - a field that holds tainted text becomes [`flotilla_core::secret::tainted`] of
//!   its value (`sealed:tainted:…`), compared with the live value's digest
//!   and masked in every output; in a Secret's `data`/`stringData` the plain
//!   value is kept, because the Secret's own sealing digests it next;
//! - every other field is Flux's value, untouched.
//!
//! A sentinel in a map key (a Secret's value used as a key) cannot be
//! compared or shown: that object is an error naming its path, never its text.
//! Errors never quote the YAML (it may hold Secret values): only where.

use super::substitute::{TAINT_END, TAINT_START, UNKNOWN};
use flotilla_core::secret::{is_secret, taint_bytes, tainted};
use serde_json::{Map, Value};

/// Why a substituted object could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaintError {
    /// A value from a Secret, or an unknown value, is used in a map key.
    #[error("a value from a Secret or an unknown value is used in a key under {path}")]
    Key {
        /// JSON pointer of the map.
        path: String,
    },
    /// The text does not parse the same way with and without the sentinels.
    #[error("a value from a Secret or an unknown value changes the structure at {path}")]
    Shape {
        /// JSON pointer of the place.
        path: String,
    },
}

/// Whether a text carries any taint sentinel or unknown marker.
pub fn has_markers(text: &str) -> bool {
    text.contains([TAINT_START, TAINT_END]) || text.contains(UNKNOWN)
}

/// Whether a text carries any of the reserved characters at all: Git's own
/// text may not, or it could forge an "unknown" field and hide a change.
pub fn has_reserved(text: &str) -> bool {
    has_markers(text)
}

/// The text Flux parses: the sentinels removed, unknown markers kept.
pub fn strip(text: &str) -> String {
    text.chars()
        .filter(|c| *c != TAINT_START && *c != TAINT_END)
        .collect()
}

/// Combine the two parses of one substituted document: `marked` (with the
/// sentinels) and `plain` (from [`strip`]).
pub fn resolve(marked: Value, plain: Value) -> Result<Value, TaintError> {
    let secret = is_secret(&plain);
    let mut path = Vec::new();
    merge(marked, plain, secret, &mut path)
}

fn pointer(path: &[String]) -> String {
    if path.is_empty() {
        return "/".into();
    }
    path.iter()
        .map(|p| format!("/{}", p.replace('~', "~0").replace('/', "~1")))
        .collect()
}

fn merge(
    marked: Value,
    plain: Value,
    secret: bool,
    path: &mut Vec<String>,
) -> Result<Value, TaintError> {
    match (marked, plain) {
        (Value::Object(m), Value::Object(mut p)) => {
            let mut out = Map::new();
            for (key, mv) in m {
                if has_markers(&key) {
                    return Err(TaintError::Key {
                        path: pointer(path),
                    });
                }
                let Some(pv) = p.remove(&key) else {
                    return Err(TaintError::Shape {
                        path: pointer(path),
                    });
                };
                path.push(key.clone());
                let merged = merge(mv, pv, secret, path)?;
                path.pop();
                out.insert(key, merged);
            }
            Ok(Value::Object(out))
        }
        (Value::Array(m), Value::Array(p)) if m.len() == p.len() => {
            let mut out = Vec::with_capacity(m.len());
            for (i, (mv, pv)) in m.into_iter().zip(p).enumerate() {
                path.push(i.to_string());
                out.push(merge(mv, pv, secret, path)?);
                path.pop();
            }
            Ok(Value::Array(out))
        }
        (Value::String(s), plain) if has_markers(&s) => {
            if s.contains(UNKNOWN) {
                return Ok(Value::String(UNKNOWN.to_owned()));
            }
            let secret_data = secret
                && matches!(
                    path.first().map(String::as_str),
                    Some("data" | "stringData")
                );
            // An empty value makes the field null ("not set" in Git): there is
            // nothing to compare or to hide.
            if secret_data || plain.is_null() {
                Ok(plain)
            } else {
                Ok(Value::String(tainted(&taint_bytes(&plain))))
            }
        }
        (Value::Object(_) | Value::Array(_), _) => Err(TaintError::Shape {
            path: pointer(path),
        }),
        (_, plain) => Ok(plain),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_core::secret::{TAINTED_PREFIX, sealed_scalar_matches};
    use serde_json::json;

    fn parse(text: &str) -> Value {
        serde_saphyr::from_str(text).unwrap()
    }

    fn run(text: &str) -> Result<Value, TaintError> {
        resolve(parse(text), parse(&strip(text)))
    }

    #[test]
    fn tainted_fields_are_sealed_and_typed_like_flux() {
        let text = format!(
            "kind: ConfigMap\napiVersion: v1\ndata:\n  host: api.{TAINT_START}canary-domain{TAINT_END}\n  plain: x\nspec:\n  replicas: {TAINT_START}3{TAINT_END}\n"
        );
        let out = run(&text).unwrap();
        let host = out["data"]["host"].as_str().unwrap();
        assert!(host.starts_with(TAINTED_PREFIX), "{host}");
        assert!(!out.to_string().contains("canary"));
        assert_eq!(out["data"]["plain"], "x");
        assert_eq!(
            sealed_scalar_matches(&out["data"]["host"], &json!("api.canary-domain")),
            Some(true)
        );
        assert_eq!(
            sealed_scalar_matches(&out["data"]["host"], &json!("api.other")),
            Some(false)
        );
        // YAML types the plain text as a number: the live number matches.
        assert_eq!(
            sealed_scalar_matches(&out["spec"]["replicas"], &json!(3)),
            Some(true)
        );
    }

    #[test]
    fn secret_data_keeps_the_plain_value_for_its_own_sealing() {
        let text = format!(
            "kind: Secret\napiVersion: v1\nstringData:\n  password: {TAINT_START}hunter2{TAINT_END}\n"
        );
        let out = run(&text).unwrap();
        assert_eq!(out["stringData"]["password"], "hunter2");
    }

    #[test]
    fn unknown_fields_become_the_marker() {
        let text = format!("kind: ConfigMap\ndata:\n  a: x-{UNKNOWN}-y\n");
        let out = run(&text).unwrap();
        assert_eq!(out["data"]["a"], UNKNOWN);
        assert_eq!(
            sealed_scalar_matches(&out["data"]["a"], &json!("anything")),
            Some(true)
        );
    }

    #[test]
    fn keys_with_markers_are_errors_that_name_only_the_path() {
        let text = format!("data:\n  {TAINT_START}canary{TAINT_END}: x\n");
        let err = run(&text).unwrap_err();
        assert_eq!(
            err,
            TaintError::Key {
                path: "/data".into()
            }
        );
        assert!(!err.to_string().contains("canary"));
    }
}
