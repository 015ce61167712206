//! Walk the desired object against the live one and collect differences.
//!
//! Git's object is the guide: only fields Git sets are compared. Maps are
//! open (keys the server or other controllers add live are fine). Lists
//! follow the API server's own list semantics ([`crate::live::listmap`]):
//! - `atomic` lists compare whole: any difference, an added item included,
//!   is one change of the whole list (the server replaces and owns them
//!   whole, so the manager that owns the list is who changed it);
//! - `set` lists compare as sets: a value Git lists that is missing live
//!   changes the whole list; a value added live is a change of its own;
//! - `map` lists match items by their keys; an item Git defines that is
//!   missing live and a live item Git does not define are changes, and the
//!   two pair up as one change of the key field(s) when they carry the same
//!   unique `name` (a Service port moved from 443 to 8443 is one change of
//!   `port`, not an absent item beside an unexplained new one).
//!
//! Lists no schema describes (fields outside every schema, kinds with no
//! schema at all) are keyed by `name` when every item Git gives has a unique
//! one, and compared whole otherwise. That guess never overrides a declared
//! list type: RBAC `subjects` carry unique names but are atomic, so a subject
//! added by hand is a change of the list.

use super::keyed_path::{FieldPath, Segment};
use super::normalize::{is_noise, is_quantity_field, is_zero_value, scalars_equal};
use crate::live::{ListSemantics, ListType, listmap::Cursor};
use serde_json::Value;
use std::sync::LazyLock;

/// One field whose live value differs from Git's.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Where, from the object root.
    pub path: FieldPath,
    /// What Git sets there (`None`: Git does not have it — an item added
    /// live to a list Git defines).
    pub desired: Option<Value>,
    /// What is live there (`None`: absent).
    pub live: Option<Value>,
}

impl Change {
    /// Whether this is an item added live to a list Git defines.
    pub fn is_added_item(&self) -> bool {
        self.desired.is_none() && self.live.is_some()
    }
}

/// Which object is compared, for list semantics.
#[derive(Debug, Clone, Copy)]
pub struct Schema<'a> {
    /// Where list types come from.
    pub semantics: &'a ListSemantics,
    /// API group of the object.
    pub group: &'a str,
    /// Kind of the object.
    pub kind: &'a str,
}

/// The differences between a desired and a live object.
pub fn compare_object<'a>(desired: &'a Value, live: &Value, schema: Schema<'a>) -> Vec<Change> {
    let mut walk = Walk {
        schema,
        root: schema.semantics.root(schema.group, schema.kind),
        steps: Vec::new(),
        cursors: Vec::new(),
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

/// Key field names of a map list: declared by a schema, or the `name` guess.
#[derive(Clone, Copy)]
enum Keys<'a> {
    Declared(&'a [String]),
    Name,
}

impl<'a> Keys<'a> {
    fn names(self) -> Vec<&'a str> {
        match self {
            Keys::Declared(keys) => keys.iter().map(String::as_str).collect(),
            Keys::Name => vec!["name"],
        }
    }
}

struct Walk<'a> {
    schema: Schema<'a>,
    /// The object's schema, when a source describes its kind.
    root: Option<Cursor<'a>>,
    steps: Vec<Step<'a>>,
    /// The schema at each step (`None`: nothing describes it).
    cursors: Vec<Option<Cursor<'a>>>,
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
                    self.enter(Step::Field(key));
                    self.value(dv, l.get(key), quantity);
                    self.leave();
                }
            }
            (Value::Array(d), Some(Value::Array(l))) => self.list(d, l),
            (Value::Object(d), None) => self.absent_map(d),
            (Value::Object(_) | Value::Array(_), _) => self.record(desired, live),
            (_, Some(l)) if scalars_equal(desired, l, quantity) => {}
            _ => self.record(desired, live),
        }
    }

    /// The schema where the walk is.
    fn cursor(&self) -> Option<Cursor<'v>> {
        match self.cursors.last() {
            Some(c) => *c,
            None => self.root,
        }
    }

    /// Step into a field or item, moving the schema cursor along.
    fn enter(&mut self, step: Step<'v>) {
        let here = self.cursor();
        let next = match step {
            // Every kind shares ObjectMeta; custom resources' schemas leave
            // `metadata` to the server.
            Step::Field("metadata") if self.steps.is_empty() => self.schema.semantics.object_meta(),
            Step::Field(key) => here.and_then(|c| c.field(key)),
            Step::Item { .. } | Step::Index(_) => here.and_then(Cursor::item),
        };
        self.steps.push(step);
        self.cursors.push(next);
    }

    fn leave(&mut self) {
        self.steps.pop();
        self.cursors.pop();
    }

    /// A list, by the type its schema declares; undeclared lists are keyed
    /// by unique names when Git's items all have one, else compared whole.
    /// A map list whose Git items do not all carry their keys (a port
    /// without `containerPort`) cannot be matched item by item: it compares
    /// whole, rather than the unkeyed items being skipped.
    fn list(&mut self, desired: &'v [Value], live: &[Value]) {
        let declared = self.cursor().and_then(Cursor::list_type);
        let keys = match declared {
            Some(ListType::Atomic) => None,
            Some(ListType::Set) => return self.set_list(desired, live),
            Some(ListType::Map(keys)) => Some(Keys::Declared(keys)),
            None => unique_names(desired).then_some(Keys::Name),
        };
        let keys = keys.filter(|keys| {
            let names = keys.names();
            desired
                .iter()
                .all(|item| item.is_object() && key_of(item, &names).is_some())
        });
        match keys {
            Some(keys) => self.keyed_list(desired, live, keys),
            None => self.atomic_list(desired, live),
        }
    }

    /// Items matched by key; then items Git defines that are missing live,
    /// paired by unique `name` with a live item under another key (a changed
    /// key) or reported missing; then live items Git does not define.
    fn keyed_list(&mut self, desired: &'v [Value], live: &[Value], keys: Keys<'v>) {
        let names = keys.names();
        let live_keys: Vec<Option<Vec<&Value>>> =
            live.iter().map(|item| key_of(item, &names)).collect();
        let mut matched = vec![false; live.len()];
        let mut unmatched = Vec::new();
        for item in desired {
            let Some(want) = key_of(item, &names) else {
                continue;
            };
            let index = live_keys
                .iter()
                .enumerate()
                .position(|(i, k)| !matched[i] && k.as_ref().is_some_and(|k| keys_equal(k, &want)));
            match index {
                Some(i) => {
                    matched[i] = true;
                    self.enter(Step::Item {
                        index: Some(i),
                        keys,
                        item,
                    });
                    self.value(item, Some(&live[i]), false);
                    self.leave();
                }
                None => unmatched.push(item),
            }
        }
        for item in unmatched {
            let partner = renamed_partner(item, desired, live, &matched);
            if let Some(i) = partner {
                matched[i] = true;
            }
            self.enter(Step::Item {
                index: partner,
                keys,
                item,
            });
            match partner {
                Some(i) => self.value(item, Some(&live[i]), false),
                None => self.record(item, None),
            }
            self.leave();
        }
        for (i, item) in live.iter().enumerate().filter(|(i, _)| !matched[*i]) {
            let mut path = self.path();
            let values = key_of(item, &names).unwrap_or_default();
            path.0.push(Segment::Item {
                index: Some(i),
                keys: names
                    .iter()
                    .map(|n| (*n).to_owned())
                    .zip(values.into_iter().cloned())
                    .collect(),
            });
            self.changes.push(Change {
                path,
                desired: None,
                live: Some(item.clone()),
            });
        }
    }

    /// A set: a value Git lists that is missing live changes the whole
    /// list (both sides shown); otherwise each value added live is a change
    /// of its own, so it can be blamed on whoever added it.
    fn set_list(&mut self, desired: &'v [Value], live: &[Value]) {
        let mut matched = vec![false; live.len()];
        let mut missing = false;
        for (di, d) in desired.iter().enumerate() {
            let found = (0..live.len()).find(|&i| !matched[i] && self.same(di, d, &live[i]));
            match found {
                Some(i) => matched[i] = true,
                None => missing = true,
            }
        }
        if missing {
            return self.whole_list(desired, live);
        }
        for (i, item) in live.iter().enumerate().filter(|(i, _)| !matched[*i]) {
            let mut path = self.path();
            path.0.push(Segment::Index(i));
            self.changes.push(Change {
                path,
                desired: None,
                live: Some(item.clone()),
            });
        }
    }

    /// Whether a desired item equals a live one, with the same normalisation.
    fn same(&mut self, index: usize, desired: &'v Value, live: &Value) -> bool {
        let before = self.changes.len();
        self.enter(Step::Index(index));
        self.value(desired, Some(live), false);
        self.leave();
        let same = self.changes.len() == before;
        self.changes.truncate(before);
        same
    }

    /// Whole-list comparison, item by item with the same normalisation.
    /// Prevents: NetworkPolicy `ports` items reported because the server
    /// added `protocol: TCP` inside them, while still catching any change,
    /// an item added live included.
    fn atomic_list(&mut self, desired: &'v [Value], live: &[Value]) {
        let differs = desired.len() != live.len()
            || desired
                .iter()
                .zip(live)
                .enumerate()
                .any(|(i, (d, l))| !self.same(i, d, l));
        if differs {
            self.whole_list(desired, live);
        }
    }

    fn whole_list(&mut self, desired: &[Value], live: &[Value]) {
        self.changes.push(Change {
            path: self.path(),
            desired: Some(Value::Array(desired.to_vec())),
            live: Some(Value::Array(live.to_vec())),
        });
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
            desired: Some(desired.clone()),
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
}

/// The unmatched live item a Git item changed its key into: the only live
/// item left with the same `name`, that name unique among Git's items and
/// among live ones.
fn renamed_partner(
    item: &Value,
    desired: &[Value],
    live: &[Value],
    matched: &[bool],
) -> Option<usize> {
    let name = item.get("name")?.as_str()?;
    let named = |v: &Value| v.get("name").and_then(Value::as_str) == Some(name);
    if desired.iter().filter(|d| named(d)).count() != 1 {
        return None;
    }
    let mut live_named = live.iter().enumerate().filter(|(_, l)| named(l));
    let (i, _) = live_named.next()?;
    (live_named.next().is_none() && !matched[i]).then_some(i)
}

fn unique_names(items: &[Value]) -> bool {
    let mut seen = std::collections::HashSet::new();
    !items.is_empty()
        && items.iter().all(|i| {
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

    fn compare_as(group: &str, kind: &str, d: &Value, l: &Value) -> Vec<Change> {
        let semantics = ListSemantics::builtin();
        compare_object(
            d,
            l,
            Schema {
                semantics: &semantics,
                group,
                kind,
            },
        )
    }

    /// A kind no schema describes: only the `name` guess applies.
    fn compare(d: &Value, l: &Value) -> Vec<Change> {
        compare_as("example.com", "Thing", d, l)
    }

    #[test]
    fn reordered_containers_match_by_name() {
        let d = json!({"spec":{"containers":[{"name":"a","image":"x"},{"name":"b","image":"y"}]}});
        let l = json!({"spec":{"containers":[{"name":"b","image":"y"},{"name":"a","image":"x2"}]}});
        let changes = compare(&d, &l);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].path.pointer(), "/spec/containers/1/image");
        assert_eq!(changes[0].path.keyed(), "spec.containers[name=a].image");
    }

    #[test]
    fn items_without_their_key_make_the_list_atomic() {
        let d = json!({"spec":{"template":{"spec":{"containers":[{"image":"x"}]}}}});
        let l = json!({"spec":{"template":{"spec":{"containers":[{"name":"a","image":"y"}]}}}});
        let changes = compare_as("apps", "Deployment", &d, &l);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].path.pointer(), "/spec/template/spec/containers");
    }

    #[test]
    fn atomic_list_reports_whole_list() {
        let d = json!({"args":["--a","--b"]});
        let l = json!({"args":["--b","--a"]});
        let changes = compare(&d, &l);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].path.pointer(), "/args");
        assert_eq!(changes[0].live, Some(json!(["--b", "--a"])));
    }

    #[test]
    fn an_added_env_var_is_a_change_of_its_own() {
        let d = json!({"spec":{"template":{"spec":{"containers":[{"name":"a","env":[{"name":"A","value":"1"}]}]}}}});
        let l = json!({"spec":{"template":{"spec":{"containers":[{"name":"a","env":[
            {"name":"A","value":"1"},{"name":"LOG_LEVEL","value":"DEBUG"}]}]}}}});
        let changes = compare_as("apps", "Deployment", &d, &l);
        assert_eq!(changes.len(), 1, "{changes:#?}");
        assert_eq!(
            changes[0].path.keyed(),
            "spec.template.spec.containers[name=a].env[name=LOG_LEVEL]"
        );
        assert_eq!(
            changes[0].path.pointer(),
            "/spec/template/spec/containers/0/env/1"
        );
        assert!(changes[0].is_added_item());
    }

    #[test]
    fn unique_names_never_open_an_atomic_list() {
        let subject =
            |name: &str| json!({"kind":"User","name":name,"apiGroup":"rbac.authorization.k8s.io"});
        let d = json!({"subjects":[subject("alice")]});
        let l = json!({"subjects":[subject("alice"), subject("mallory")]});
        let changes = compare_as("rbac.authorization.k8s.io", "RoleBinding", &d, &l);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].path.pointer(), "/subjects");
        assert_eq!(changes[0].desired, Some(json!([subject("alice")])));
        assert_eq!(
            changes[0].live,
            Some(json!([subject("alice"), subject("mallory")]))
        );
    }

    #[test]
    fn a_changed_key_pairs_with_the_item_of_the_same_name() {
        let d = json!({"spec":{"ports":[{"name":"https","port":443,"targetPort":8443}]}});
        let l = json!({"spec":{"ports":[{"name":"https","port":8443,"protocol":"TCP","targetPort":8443}]}});
        let changes = compare_as("", "Service", &d, &l);
        assert_eq!(changes.len(), 1, "{changes:#?}");
        assert_eq!(
            changes[0].path.keyed(),
            "spec.ports[port=443,protocol=TCP].port"
        );
        assert_eq!(changes[0].path.pointer(), "/spec/ports/0/port");
        assert_eq!(
            (changes[0].desired.clone(), changes[0].live.clone()),
            (Some(json!(443)), Some(json!(8443)))
        );
    }

    #[test]
    fn sets_compare_as_sets() {
        let d = json!({"metadata":{"finalizers":["a","b"]}});
        let reordered = json!({"metadata":{"finalizers":["b","a"]}});
        assert!(compare(&d, &reordered).is_empty());
        let added = json!({"metadata":{"finalizers":["b","c","a"]}});
        let changes = compare(&d, &added);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].path.pointer(), "/metadata/finalizers/1");
        assert!(changes[0].is_added_item());
        let missing = json!({"metadata":{"finalizers":["a"]}});
        let changes = compare(&d, &missing);
        assert_eq!(changes[0].path.pointer(), "/metadata/finalizers");
        assert_eq!(changes[0].live, Some(json!(["a"])));
    }
}
