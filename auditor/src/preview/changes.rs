//! Object- and field-level differences between two renders of one cluster.
//!
//! The diff engine's comparer is one-sided (only fields Git sets count,
//! which is right against a live object full of defaults). Between two Git
//! revisions both sides are Git, so it runs both ways: head against base
//! finds fields head sets differently or newly, base against head finds the
//! fields head no longer sets.

use super::{ChangeKind, FieldDelta, ObjectChange};
use flotilla_core::diff::compare::{Schema, compare_object};
use flotilla_core::diff::redact::redact;
use flotilla_core::object::ObjectKey;
use flotilla_core::object::api_version_of;
use flotilla_core::secret::is_secret;
use flotilla_live::ListSemantics;
use flotilla_render::{Desired, DesiredObject};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Objects added, removed and changed from `base` to `head`, sorted by
/// Kustomization, kind, namespace and name.
pub fn compare(base: &Desired, head: &Desired) -> Vec<ObjectChange> {
    let base_by_key = index(base);
    let head_by_key = index(head);
    let semantics = ListSemantics::builtin();
    let mut out = Vec::new();
    for (key, h) in &head_by_key {
        match base_by_key.get(key) {
            None => out.push(object_change(ChangeKind::Added, key, h, Vec::new())),
            Some(b) => {
                let schema = Schema {
                    semantics: &semantics,
                    group: &key.group,
                    kind: &key.kind,
                };
                let fields = field_deltas(&b.object, &h.object, schema);
                if !fields.is_empty() {
                    out.push(object_change(ChangeKind::Changed, key, h, fields));
                }
            }
        }
    }
    for (key, b) in &base_by_key {
        if !head_by_key.contains_key(key) {
            out.push(object_change(ChangeKind::Removed, key, b, Vec::new()));
        }
    }
    out.sort_by(|a, b| sort_key(a).cmp(&sort_key(b)));
    out
}

fn index(desired: &Desired) -> BTreeMap<ObjectKey, &DesiredObject> {
    desired
        .objects
        .iter()
        .filter_map(|d| Some((ObjectKey::of(&d.object)?, d)))
        .collect()
}

fn sort_key(c: &ObjectChange) -> (Option<&str>, &str, Option<&str>, &str) {
    (
        c.kustomization.as_deref(),
        &c.kind,
        c.namespace.as_deref(),
        &c.name,
    )
}

fn object_change(
    change: ChangeKind,
    key: &ObjectKey,
    obj: &DesiredObject,
    fields: Vec<FieldDelta>,
) -> ObjectChange {
    ObjectChange {
        change,
        api_version: api_version_of(&obj.object).to_owned(),
        kind: key.kind.clone(),
        namespace: key.namespace.clone(),
        name: key.name.clone(),
        kustomization: obj.kustomization.as_ref().map(ToString::to_string),
        fields,
    }
}

/// Field changes from `base` to `head`, masked, one per keyed path.
fn field_deltas(base: &Value, head: &Value, schema: Schema<'_>) -> Vec<FieldDelta> {
    let secret = is_secret(head);
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for change in compare_object(head, base, schema) {
        let field = change.path.keyed();
        let shown = redact(change, secret);
        if seen.insert(field.clone()) {
            out.push(FieldDelta {
                field,
                base: shown.live,
                head: shown.desired,
                sensitive: shown.sensitive,
            });
        }
    }
    // Fields base sets that head no longer does.
    for change in compare_object(base, head, schema) {
        if change.live.is_some() {
            continue;
        }
        let field = change.path.keyed();
        let shown = redact(change, secret);
        if seen.insert(field.clone()) {
            out.push(FieldDelta {
                field,
                base: shown.desired,
                head: None,
                sensitive: shown.sensitive,
            });
        }
    }
    out.sort_by(|a, b| a.field.cmp(&b.field));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_render::KustomizationRef;
    use serde_json::json;

    fn desired(objects: Vec<Value>) -> Desired {
        Desired {
            objects: objects
                .into_iter()
                .map(|object| DesiredObject {
                    object,
                    kustomization: Some(KustomizationRef {
                        namespace: "flux-system".into(),
                        name: "apps".into(),
                    }),
                })
                .collect(),
            ..Desired::default()
        }
    }

    fn deploy(image: &str, replicas: Option<u32>) -> Value {
        let mut d = json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"a"},
            "spec":{"template":{"spec":{"containers":[{"name":"web","image":image}]}}}});
        if let Some(r) = replicas {
            d["spec"]["replicas"] = json!(r);
        }
        d
    }

    #[test]
    fn added_removed_and_changed_objects_are_found() {
        let cm = |n: &str| json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":n,"namespace":"a"},"data":{"k":"v"}});
        let base = desired(vec![deploy("r/web:1", Some(2)), cm("old")]);
        let head = desired(vec![deploy("r/web:2", None), cm("new")]);
        let changes = compare(&base, &head);
        let summary: Vec<_> = changes
            .iter()
            .map(|c| (c.change, c.name.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                (ChangeKind::Added, "new"),
                (ChangeKind::Removed, "old"),
                (ChangeKind::Changed, "web")
            ]
        );
        let fields: Vec<_> = changes[2]
            .fields
            .iter()
            .map(|f| (f.field.as_str(), f.base.clone(), f.head.clone()))
            .collect();
        assert_eq!(
            fields,
            [
                ("spec.replicas", Some(json!(2)), None),
                (
                    "spec.template.spec.containers[name=web].image",
                    Some(json!("r/web:1")),
                    Some(json!("r/web:2"))
                ),
            ]
        );
    }

    #[test]
    fn identical_renders_have_no_changes() {
        let base = desired(vec![deploy("r/web:1", Some(2))]);
        assert!(compare(&base, &base.clone()).is_empty());
    }

    #[test]
    fn secret_values_are_masked() {
        let sealer = flotilla_core::secret::Sealer::random();
        let secret = |v: &str| {
            let mut s = json!({"apiVersion":"v1","kind":"Secret","metadata":{"name":"s","namespace":"a"},"stringData":{"password":v}});
            sealer.seal(&mut s);
            s
        };
        let changes = compare(
            &desired(vec![secret("hunter2")]),
            &desired(vec![secret("hunter3")]),
        );
        let text = serde_json::to_string(&changes).unwrap();
        assert!(changes[0].fields[0].sensitive);
        assert!(
            !text.contains("hunter") && !text.contains("sealed:"),
            "{text}"
        );
    }
}
