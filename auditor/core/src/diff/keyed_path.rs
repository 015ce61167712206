//! Where a change is: one path, printed two ways.
//!
//! Machines get an RFC 6901 JSON pointer into the *live* object (list items by
//! their live index), so a tool can fetch the value. People get the keyed
//! form, `spec.template.spec.containers[name=kured].image`, which still makes
//! sense after the list is reordered and reads the way Git states it.

use serde_json::Value;

/// One step from a value to its child.
#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    /// A map key.
    Field(String),
    /// An item of a list matched by merge keys; `index` is its live index,
    /// `None` when the item does not exist live.
    Item {
        /// Index in the live list.
        index: Option<usize>,
        /// Merge key fields and their values (desired side).
        keys: Vec<(String, Value)>,
    },
    /// An item of an atomic list, by position.
    Index(usize),
}

/// A path from the object root.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FieldPath(pub Vec<Segment>);

impl FieldPath {
    /// RFC 6901 pointer into the live object; an item missing live is `-`
    /// (the JSON Patch "end of list" spelling), since it has no index.
    pub fn pointer(&self) -> String {
        let mut out = String::new();
        for seg in &self.0 {
            out.push('/');
            match seg {
                Segment::Field(key) => out.push_str(&escape_pointer_token(key)),
                Segment::Item { index: Some(i), .. } | Segment::Index(i) => {
                    out.push_str(&i.to_string())
                }
                Segment::Item { index: None, .. } => out.push('-'),
            }
        }
        out
    }

    /// Keyed form: identifiers joined by `.`, other map keys quoted
    /// (`data["traefik.toml"]`), list items named (`containers[name=kured]`).
    pub fn keyed(&self) -> String {
        let mut out = String::new();
        for seg in &self.0 {
            match seg {
                Segment::Field(key) if is_identifier(key) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(key);
                }
                Segment::Field(key) => {
                    out.push('[');
                    out.push_str(&Value::String(key.clone()).to_string());
                    out.push(']');
                }
                Segment::Item { keys, .. } => {
                    out.push('[');
                    let parts: Vec<String> = keys
                        .iter()
                        .map(|(k, v)| format!("{k}={}", key_value(v)))
                        .collect();
                    out.push_str(&parts.join(","));
                    out.push(']');
                }
                Segment::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        out
    }

    /// The first map key, e.g. `data` for `/data/users`.
    pub fn first_field(&self) -> Option<&str> {
        match self.0.first() {
            Some(Segment::Field(k)) => Some(k),
            _ => None,
        }
    }
}

/// `~` and `/` are the two characters RFC 6901 escapes.
pub fn escape_pointer_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Tokens of a pointer, unescaped (`/a~1b/0` → `["a/b", "0"]`).
pub fn pointer_tokens(pointer: &str) -> Vec<String> {
    pointer
        .split('/')
        .skip(1)
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect()
}

/// Letters, digits and `_`, not starting with a digit: printed bare.
fn is_identifier(key: &str) -> bool {
    let mut chars = key.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Merge key values print bare when they cannot be confused with the syntax.
fn key_value(v: &Value) -> String {
    match v {
        Value::String(s)
            if !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:".contains(c)) =>
        {
            s.clone()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(k: &str) -> Segment {
        Segment::Field(k.to_owned())
    }

    #[test]
    fn container_image_prints_by_name_and_by_live_index() {
        let path = FieldPath(vec![
            field("spec"),
            field("template"),
            field("spec"),
            field("containers"),
            Segment::Item {
                index: Some(0),
                keys: vec![("name".into(), json!("kured"))],
            },
            field("image"),
        ]);
        assert_eq!(path.pointer(), "/spec/template/spec/containers/0/image");
        assert_eq!(
            path.keyed(),
            "spec.template.spec.containers[name=kured].image"
        );
    }

    #[test]
    fn map_keys_that_are_not_identifiers_are_quoted_and_pointer_escaped() {
        let path = FieldPath(vec![
            field("metadata"),
            field("labels"),
            field("pod-security.kubernetes.io/enforce"),
        ]);
        assert_eq!(
            path.pointer(),
            "/metadata/labels/pod-security.kubernetes.io~1enforce"
        );
        assert_eq!(
            path.keyed(),
            r#"metadata.labels["pod-security.kubernetes.io/enforce"]"#
        );
        let toml = FieldPath(vec![field("data"), field("traefik.toml")]);
        assert_eq!(toml.keyed(), r#"data["traefik.toml"]"#);
        assert_eq!(
            FieldPath(vec![field("data"), field("users")]).keyed(),
            "data.users"
        );
        assert_eq!(FieldPath(vec![field("a~b")]).pointer(), "/a~0b");
    }

    #[test]
    fn composite_keys_and_missing_items() {
        let path = FieldPath(vec![
            field("ports"),
            Segment::Item {
                index: None,
                keys: vec![
                    ("containerPort".into(), json!(8080)),
                    ("protocol".into(), json!("TCP")),
                ],
            },
        ]);
        assert_eq!(path.pointer(), "/ports/-");
        assert_eq!(path.keyed(), "ports[containerPort=8080,protocol=TCP]");
        let odd = FieldPath(vec![Segment::Item {
            index: Some(3),
            keys: vec![("name".into(), json!("a]b"))],
        }]);
        assert_eq!(odd.keyed(), r#"[name="a]b"]"#);
    }

    #[test]
    fn pointer_tokens_round_trip() {
        assert_eq!(
            pointer_tokens("/metadata/labels/a~1b~0c"),
            vec!["metadata", "labels", "a/b~c"]
        );
        assert!(pointer_tokens("").is_empty());
    }
}
