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
use std::sync::LazyLock;

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
pub fn compare_object<'a>(desired: &'a Value, live: &Value, schema: Schema<'a>) -> Vec<Change> {
    let mut walk = Walk {
        schema,
        steps: Vec::new(),
        changes: Vec::new(),
    };
    walk.value(desired, Some(live), false);
    walk.changes
}

/// A step of the current path, borrowed from the desired object: the walk
/// allocates nothing per field, only when it records a change.
#[derive(Clone, Copy)]
enum Step<'a> {
    Field(&'a str),
    Item {
        index: Option<usize>,
        keys: Keys<'a>,
        item: &'a Value,
    },
    Index(usize),
}

/// Merge key field names, from server hints or the built-in table.
#[derive(Clone, Copy)]
enum Keys<'a> {
    Hinted(&'a [String]),
    Builtin(&'static [&'static str]),
}

impl<'a> Keys<'a> {
    fn names(self) -> Vec<&'a str> {
        match self {
            Keys::Hinted(keys) => keys.iter().map(String::as_str).collect(),
            Keys::Builtin(keys) => keys.to_vec(),
        }
    }
}

/// Lists of items with unique names are keyed by `name`.
const NAME_KEY: Keys<'static> = Keys::Builtin(&["name"]);

struct Walk<'a> {
    schema: Schema<'a>,
    steps: Vec<Step<'a>>,
    changes: Vec<Change>,
}

impl<'v> Walk<'v> {
    fn value(&mut self, desired: &'v Value, live: Option<&Value>, quantity: bool) {
        match (desired, live) {
            // `null` in Git means "not set".
            (Value::Null, _) => {}
            (_, None) if is_zero_value(desired) => {}
            (Value::Object(d), Some(Value::Object(l))) => {
                let parent = self.last_field();
                for (key, dv) in d {
                    if self.is_noise_key(key) {
                        continue;
                    }
                    let quantity = is_quantity_field(parent, key);
                    self.steps.push(Step::Field(key));
                    self.value(dv, l.get(key), quantity);
                    self.steps.pop();
                }
            }
            (Value::Array(d), Some(Value::Array(l))) => self.list(d, l),
            (Value::Object(d), None) => self.absent_map(d),
            (Value::Object(_) | Value::Array(_), _) => self.record(desired, live),
            (_, Some(l)) if scalars_equal(desired, l, quantity) => {}
            _ => self.record(desired, live),
        }
    }

    /// A list Git states without a merge key on every item (a port without
    /// `containerPort`) cannot be matched item by item: it compares whole,
    /// rather than the unkeyed items being skipped.
    fn list(&mut self, desired: &'v [Value], live: &[Value]) {
        let keys = self.merge_keys(desired).filter(|keys| {
            let names = keys.names();
            desired.iter().all(|item| key_of(item, &names).is_some())
        });
        match keys {
            Some(keys) => self.keyed_list(desired, live, keys),
            None => self.atomic_list(desired, live),
        }
    }

    /// Items matched by key. An item Git defines that is missing live is a
    /// change; extra live items are not (other writers may add to such lists).
    fn keyed_list(&mut self, desired: &'v [Value], live: &[Value], keys: Keys<'v>) {
        let names = keys.names();
        let live_keys: Vec<Option<Vec<&Value>>> =
            live.iter().map(|item| key_of(item, &names)).collect();
        for item in desired {
            let Some(want) = key_of(item, &names) else {
                continue;
            };
            let index = live_keys
                .iter()
                .position(|k| k.as_ref().is_some_and(|k| keys_equal(k, &want)));
            self.steps.push(Step::Item { index, keys, item });
            match index {
                Some(i) => self.value(item, Some(&live[i]), false),
                None => self.record(item, None),
            }
            self.steps.pop();
        }
    }

    /// Whole-list comparison, item by item with the same normalisation.
    /// Prevents: NetworkPolicy `ports` items reported because the server
    /// added `protocol: TCP` inside them, while still catching any change.
    fn atomic_list(&mut self, desired: &'v [Value], live: &[Value]) {
        let differs = desired.len() != live.len() || {
            let before = self.changes.len();
            for (i, (d, l)) in desired.iter().zip(live).enumerate() {
                self.steps.push(Step::Index(i));
                self.value(d, Some(l), false);
                self.steps.pop();
            }
            let grew = self.changes.len() > before;
            self.changes.truncate(before);
            grew
        };
        if differs {
            self.changes.push(Change {
                path: self.path(),
                desired: Value::Array(desired.to_vec()),
                live: Some(Value::Array(live.to_vec())),
            });
        }
    }

    /// A map Git sets that is absent live, recorded without its noise keys.
    /// Prevents: an object adopted from the cluster (no labels live) reported
    /// because Git's copy carries Flux's owner labels, which Flux adds itself.
    fn absent_map(&mut self, desired: &serde_json::Map<String, Value>) {
        let kept: serde_json::Map<String, Value> = desired
            .iter()
            .filter(|(k, v)| !self.is_noise_key(k) && !v.is_null())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !kept.is_empty() {
            self.record(&Value::Object(kept), None);
        }
    }

    fn record(&mut self, desired: &Value, live: Option<&Value>) {
        self.changes.push(Change {
            path: self.path(),
            desired: desired.clone(),
            live: live.cloned(),
        });
    }

    /// The current path, owned, for a change.
    fn path(&self) -> FieldPath {
        FieldPath(
            self.steps
                .iter()
                .map(|step| match *step {
                    Step::Field(k) => Segment::Field(k.to_owned()),
                    Step::Item { index, keys, item } => {
                        let names = keys.names();
                        let values = key_of(item, &names).unwrap_or_default();
                        Segment::Item {
                            index,
                            keys: names
                                .iter()
                                .map(|n| (*n).to_owned())
                                .zip(values.into_iter().cloned())
                                .collect(),
                        }
                    }
                    Step::Index(i) => Segment::Index(i),
                })
                .collect(),
        )
    }

    /// Path pattern for merge key lookups: keys joined by `.`, `[]` after
    /// list items (`spec.template.spec.containers[].ports`).
    fn pattern(&self) -> String {
        let mut out = String::new();
        for step in &self.steps {
            match step {
                Step::Field(k) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                }
                Step::Item { .. } | Step::Index(_) => out.push_str("[]"),
            }
        }
        out
    }

    fn last_field(&self) -> Option<&'v str> {
        match self.steps.last() {
            Some(Step::Field(k)) => Some(k),
            _ => None,
        }
    }

    fn is_noise_key(&self, key: &str) -> bool {
        match self.steps.as_slice() {
            [] => is_noise(&[key]),
            [Step::Field(a)] => is_noise(&[a, key]),
            [Step::Field(a), Step::Field(b)] => is_noise(&[a, b, key]),
            _ => false,
        }
    }

    /// Merge keys for the list at the current path: server hints first, then
    /// the built-in table, then "every item has a unique `name`".
    fn merge_keys(&self, desired: &[Value]) -> Option<Keys<'v>> {
        if desired.is_empty() || !desired.iter().all(Value::is_object) {
            return None;
        }
        let pattern = self.pattern();
        let schema = self.schema;
        if let Some(keys) = schema.hints.keys_for(schema.group, schema.kind, &pattern) {
            return Some(Keys::Hinted(keys));
        }
        let field = self.last_field().unwrap_or_default();
        if let Some(keys) = builtin_keys(&pattern, field) {
            return Some(Keys::Builtin(keys));
        }
        unique_names(desired).then_some(NAME_KEY)
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
fn key_of<'v>(item: &'v Value, keys: &[&str]) -> Option<Vec<&'v Value>> {
    keys.iter()
        .map(|k| match item.get(k) {
            Some(v) if !v.is_null() => Some(v),
            _ if *k == "protocol" => Some(&*TCP),
            _ => None,
        })
        .collect()
}

/// The server's default `protocol`.
static TCP: LazyLock<Value> = LazyLock::new(|| Value::String("TCP".to_owned()));

fn keys_equal(a: &[&Value], b: &[&Value]) -> bool {
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
    fn items_without_their_key_make_the_list_atomic() {
        let d = json!({"spec":{"containers":[{"image":"x"}]}});
        let l = json!({"spec":{"containers":[{"name":"a","image":"y"}]}});
        let changes = compare(&d, &l, &SchemaHints::default());
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].path.pointer(), "/spec/containers");
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
