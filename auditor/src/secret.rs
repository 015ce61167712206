//! Secret values never leave this module in the clear.
//!
//! Both sides of the diff pass Secrets through [`seal_secret`] as soon as they
//! are read: `stringData` is folded into `data` (as the API server does), and
//! every `data` value is replaced by a digest of its decoded bytes. The diff
//! then compares digests; reports print `***`. No secret value is kept in
//! memory past loading, so none can reach a log, report or pull request.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// What reports print in place of a secret value.
pub const MASK: &str = "***";

/// Prefix of sealed values, so a sealed value is recognisable.
pub const SEALED_PREFIX: &str = "sealed:sha256:";

/// Whether an object is a core `v1` Secret.
pub fn is_secret(obj: &Value) -> bool {
    obj.get("kind").and_then(Value::as_str) == Some("Secret")
        && obj.get("apiVersion").and_then(Value::as_str) == Some("v1")
}

/// Fold `stringData` into `data` and replace every `data` value by its digest.
/// Does nothing to objects that are not Secrets.
pub fn seal_secret(obj: &mut Value) {
    if !is_secret(obj) {
        return;
    }
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    let mut data: Map<String, Value> = match map.remove("data") {
        Some(Value::Object(d)) => d
            .into_iter()
            .map(|(k, v)| match v.as_str() {
                // Already sealed (a snapshot recorded by flotilla): sealing
                // again would digest nothing and hide every change.
                Some(s) if s.starts_with(SEALED_PREFIX) => (k, v),
                s => {
                    let bytes = s.and_then(|s| STANDARD.decode(s).ok()).unwrap_or_default();
                    (k, Value::String(digest(&bytes)))
                }
            })
            .collect(),
        _ => Map::new(),
    };
    if let Some(Value::Object(sd)) = map.remove("stringData") {
        for (k, v) in sd {
            let s = v.as_str().unwrap_or_default();
            data.insert(k, Value::String(digest(s.as_bytes())));
        }
    }
    if !data.is_empty() {
        map.insert("data".into(), Value::Object(data));
    }
    // The last-applied annotation would carry the plain value.
    if let Some(Value::Object(ann)) = map
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
    {
        ann.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

fn digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let mut s = String::with_capacity(SEALED_PREFIX.len() + 64);
    s.push_str(SEALED_PREFIX);
    for b in hash {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn string_data_and_data_seal_to_the_same_digest() {
        let mut a = json!({"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"stringData":{"users":"admin:x"}});
        let mut b = json!({"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"data":{"users":STANDARD.encode("admin:x")}});
        seal_secret(&mut a);
        seal_secret(&mut b);
        assert_eq!(a["data"], b["data"]);
        let text = a.to_string();
        assert!(!text.contains("admin:x"));
        assert!(!text.contains(&STANDARD.encode("admin:x")));
    }

    #[test]
    fn sealing_twice_changes_nothing() {
        let mut a = json!({"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"data":{"k":STANDARD.encode("v1")}});
        seal_secret(&mut a);
        let once = a.clone();
        seal_secret(&mut a);
        assert_eq!(a, once);
    }

    #[test]
    fn other_kinds_are_untouched() {
        let mut cm = json!({"apiVersion":"v1","kind":"ConfigMap","data":{"k":"v"}});
        let before = cm.clone();
        seal_secret(&mut cm);
        assert_eq!(cm, before);
    }
}
