//! Walk the desired object against the live one and collect differences.
//!
//! Git's object is the guide: only fields Git sets are compared. Maps are
//! open (keys the server or other controllers add live are fine). Lists of
//! objects with merge keys are matched by key, not position; other lists are
//! atomic and compare whole.

use super::keyed_path::{FieldPath, Segment};
use super::normalize::{is_noise, is_quantity_field, is_zero_value, scalars_equal};
use crate::live::SchemaHints;
use serde_json::Value;

/// One field whose live value differs from Git's.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Where, from the object root.
    pub path: FieldPath,
    /// What Git sets there.
    pub desired: Value,
    /// What is live there (`None`: absent).
    pub live: Option<Value>,
}

/// Which object is compared, for merge key lookups.
#[derive(Debug, Clone, Copy)]
pub struct Schema<'a> {
    /// List merge keys (server hints or [`crate::live::listmap::builtin`]).
    pub hints: &'a SchemaHints,
    /// API group of the object.
    pub group: &'a str,
    /// Kind of the object.
    pub kind: &'a str,
}

/// The differences between a desired and a live object.
pub fn compare_object(desired: &Value, live: &Value, schema: Schema<'_>) -> Vec<Change> {
    let mut walk = Walk {
        schema,
        path: Vec::new(),
        pattern: Vec::new(),
        changes: Vec::new(),
    };
    walk.value(desired, Some(live), false);
    walk.changes
}

struct Walk<'a> {
    schema: Schema<'a>,
    path: Vec<Segment>,
    /// Path pattern for hint lookups: keys, with `[]` after list items.
    pattern: Vec<String>,
    changes: Vec<Change>,
}

impl Walk<'_> {
    fn value(&mut self, desired: &Value, live: Option<&Value>, quantity: bool) {
        match (desired, live) {
            // `null` in Git means "not set".
            (Value::Null, _) => {}
            (_, None) if is_zero_value(desired) => {}
            (Value::Object(d), Some(Value::Object(l))) => {
                let parent = self.last_field().map(str::to_owned);
                for (key, dv) in d {
                    if self.is_noise_key(key) {
                        continue;
                    }
                    let quantity = is_quantity_field(parent.as_deref(), key);
                    self.path.push(Segment::Field(key.clone()));
                    self.pattern.push(key.clone());
                    self.value(dv, l.get(key), quantity);
                    self.pattern.pop();
                    self.path.pop();
                }
            }
            (Value::Array(d), Some(Value::Array(l))) => self.list(d, l),
            (Value::Object(_) | Value::Array(_), _) => self.record(desired, live),
            (_, Some(l)) if scalars_equal(desired, l, quantity) => {}
            _ => self.record(desired, live),
        }
    }

    fn list(&mut self, desired: &[Value], live: &[Value]) {
        match self.merge_keys(desired) {
            Some(keys) => self.keyed_list(desired, live, &keys),
            None => self.atomic_list(desired, live),
        }
    }

    /// Items matched by key. An item Git defines that is missing live is a
    /// change; extra live items are not (other writers may add to such lists).
    fn keyed_list(&mut self, desired: &[Value], live: &[Value], keys: &[String]) {
        let live_keys: Vec<Option<Vec<Value>>> =
            live.iter().map(|item| key_of(item, keys)).collect();
        let depth = self.pattern.len();
        if let Some(last) = self.pattern.last_mut() {
            last.push_str("[]");
        }
        for item in desired {
            let Some(want) = key_of(item, keys) else {
                continue;
            };
            let index = live_keys
                .iter()
                .position(|k| k.as_ref().is_some_and(|k| keys_equal(k, &want)));
            let named = keys.iter().cloned().zip(want).collect();
            self.path.push(Segment::Item { index, keys: named });
            match index {
                Some(i) => self.value(item, Some(&live[i]), false),
                None => self.record(item, None),
            }
            self.path.pop();
        }
        if let Some(last) = self.pattern.last_mut() {
            last.truncate(last.len() - 2);
        }
        debug_assert_eq!(depth, self.pattern.len());
    }

    /// Whole-list comparison, item by item with the same normalisation.
    /// Prevents: NetworkPolicy `ports` items reported because the server
    /// added `protocol: TCP` inside them, while still catching any change.
    fn atomic_list(&mut self, desired: &[Value], live: &[Value]) {
        let differs = desired.len() != live.len() || {
            let before = self.changes.len();
            for (i, (d, l)) in desired.iter().zip(live).enumerate() {
                self.path.push(Segment::Index(i));
                self.value(d, Some(l), false);
                self.path.pop();
            }
            let grew = self.changes.len() > before;
            self.changes.truncate(before);
            grew
        };
        if differs {
            self.changes.push(Change {
                path: FieldPath(self.path.clone()),
                desired: Value::Array(desired.to_vec()),
                live: Some(Value::Array(live.to_vec())),
            });
        }
    }

    fn record(&mut self, desired: &Value, live: Option<&Value>) {
        self.changes.push(Change {
            path: FieldPath(self.path.clone()),
            desired: desired.clone(),
            live: live.cloned(),
        });
    }

    fn last_field(&self) -> Option<&str> {
        match self.path.last() {
            Some(Segment::Field(k)) => Some(k),
            _ => None,
        }
    }

    fn is_noise_key(&self, key: &str) -> bool {
        if self.path.len() > 2 {
            return false;
        }
        let mut keys: Vec<&str> = self
            .path
            .iter()
            .filter_map(|s| match s {
                Segment::Field(k) => Some(k.as_str()),
                _ => None,
            })
            .collect();
        if keys.len() != self.path.len() {
            return false;
        }
        keys.push(key);
        is_noise(&keys)
    }

    /// Merge keys for the list at the current path: server hints first, then
    /// the built-in table, then "every item has a unique `name`".
    fn merge_keys(&self, desired: &[Value]) -> Option<Vec<String>> {
        if desired.is_empty() || !desired.iter().all(Value::is_object) {
            return None;
        }
        let pattern = self.pattern.join(".");
        let schema = self.schema;
        if let Some(keys) = schema.hints.keys_for(schema.group, schema.kind, &pattern) {
            return Some(keys.to_vec());
        }
        let field = self.pattern.last().map(String::as_str).unwrap_or_default();
        if let Some(keys) = builtin_keys(&pattern, field) {
            return Some(keys.iter().map(|k| (*k).to_owned()).collect());
        }
        unique_names(desired).then(|| vec!["name".to_owned()])
    }
}

/// Merge keys the API server declares for built-in types
/// (`x-kubernetes-list-map-keys` / `patchMergeKey`), by field name.
fn builtin_keys(pattern: &str, field: &str) -> Option<&'static [&'static str]> {
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "webhooks"
        | "resourceClaims" => &["name"],
        "volumeMounts" | "volumeDevices" => &["mountPath"],
        "ports"
            if pattern.ends_with("containers[].ports")
                || pattern.ends_with("Containers[].ports") =>
        {
            &["containerPort", "protocol"]
        }
        "ports" if pattern == "spec.ports" => &["port", "protocol"],
        "hostAliases" => &["ip"],
        "topologySpreadConstraints" => &["topologyKey", "whenUnsatisfiable"],
        "conditions" => &["type"],
        _ => return None,
    })
}

fn unique_names(items: &[Value]) -> bool {
    let mut seen = std::collections::HashSet::new();
    items.iter().all(|i| {
        i.get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| seen.insert(n))
    })
}

/// An item's merge key values. `protocol` defaults to `TCP` as the server
/// does, so a Git port without it matches the stored one.
fn key_of(item: &Value, keys: &[String]) -> Option<Vec<Value>> {
    keys.iter()
        .map(|k| match item.get(k) {
            Some(v) if !v.is_null() => Some(v.clone()),
            _ if k == "protocol" => Some(Value::String("TCP".into())),
            _ => None,
        })
        .collect()
}

fn keys_equal(a: &[Value], b: &[Value]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| scalars_equal(x, y, false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn compare(d: &Value, l: &Value, hints: &SchemaHints) -> Vec<Change> {
        compare_object(
            d,
            l,
            Schema {
                hints,
                group: "example.com",
                kind: "Thing",
            },
        )
    }

    #[test]
    fn reordered_containers_match_by_name() {
        let d = json!({"spec":{"containers":[{"name":"a","image":"x"},{"name":"b","image":"y"}]}});
        let l = json!({"spec":{"containers":[{"name":"b","image":"y"},{"name":"a","image":"x2"}]}});
        let changes = compare(&d, &l, &SchemaHints::default());
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].path.pointer(), "/spec/containers/1/image");
        assert_eq!(changes[0].path.keyed(), "spec.containers[name=a].image");
    }

    #[test]
    fn atomic_list_reports_whole_list() {
        let d = json!({"args":["--a","--b"]});
        let l = json!({"args":["--b","--a"]});
        let changes = compare(&d, &l, &SchemaHints::default());
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].path.pointer(), "/args");
        assert_eq!(changes[0].live, Some(json!(["--b", "--a"])));
    }

    #[test]
    fn hints_override_builtin_keys() {
        let mut hints = SchemaHints::default();
        hints.insert("example.com", "Thing", "spec.items", &["id"]);
        let d = json!({"spec":{"items":[{"id":1,"v":"a"}]}});
        let l = json!({"spec":{"items":[{"id":2,"v":"b"},{"id":1,"v":"c"}]}});
        let changes = compare(&d, &l, &hints);
        assert_eq!(changes[0].path.pointer(), "/spec/items/1/v");
        assert_eq!(changes[0].path.keyed(), "spec.items[id=1].v");
    }
}
