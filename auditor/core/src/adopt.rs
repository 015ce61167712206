//! Findings → file edits that make Git match the cluster ("adopt live").
//!
//! A drift pull request is only useful if merging it settles the drift. For
//! a `modified` object, flotilla writes the live values as a strategic-merge
//! patch; for an `unmanaged` object, the object itself, cleaned of what the
//! server set. Every edit lands under the cluster's entry path, so shared
//! bases are never touched and other clusters are unaffected:
//!
//! - objects the entry's own Kustomization applies (the Flux objects in
//!   `clusters/<cluster>/`) are patched by `patches:` in the entry's
//!   `kustomization.yaml`;
//! - objects applied by another Flux Kustomization get their patch through
//!   that Kustomization's `spec.patches`, which is itself added by a JSON 6902
//!   patch in the entry's `kustomization.yaml`.
//!
//! Pure: the caller reads the current `kustomization.yaml` and writes the
//! edits. Secret values are never adopted (flotilla never has them), nor are
//! `missing` objects or Flux health findings: those are for a person.

use crate::desired::{Desired, KustomizationRef};
use crate::desired::{is_flux_kustomization, reference_of};
use crate::findings::{FieldChange, Finding, FindingClass};
use crate::live::Live;
use crate::object::{ObjectKey, group_of};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Folder under the entry path that holds flotilla's patches and manifests.
pub const DRIFT_DIR: &str = "flotilla-drift";

/// What a drift PR does about one class of finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Write the live state into Git.
    Adopt,
    /// Describe the drift only; a person reverts it in the cluster.
    ReportOnly,
}

/// Action per finding class (`modified` and `unmanaged` can be adopted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actions {
    /// For `modified` findings.
    pub modified: Action,
    /// For `unmanaged` findings.
    pub unmanaged: Action,
}

impl Default for Actions {
    fn default() -> Self {
        Actions {
            modified: Action::Adopt,
            unmanaged: Action::Adopt,
        }
    }
}

/// Everything adoption reads.
#[derive(Debug)]
pub struct AdoptInput<'a> {
    /// Repository-relative entry path of the cluster, e.g. `clusters/aks-eastus2-01`.
    pub entry: &'a str,
    /// Current `<entry>/kustomization.yaml`, if there is one.
    pub kustomization_yaml: Option<&'a str>,
    /// YAML files directly in the entry folder (names only): listed as
    /// resources when flotilla has to create the `kustomization.yaml`.
    pub entry_files: &'a [String],
    /// What Git declares (to find owners and existing `spec.patches`).
    pub desired: &'a Desired,
    /// What the cluster runs (to copy live values and objects).
    pub live: &'a Live,
    /// The cluster's findings.
    pub findings: &'a [Finding],
    /// Per-class actions.
    pub actions: &'a Actions,
}

/// The result: files to write, and which findings were or were not adopted.
#[derive(Debug, Default, PartialEq)]
pub struct Adoption {
    /// Repository path → new contents.
    pub edits: BTreeMap<String, String>,
    /// Indices (into the findings) adopted by `edits`.
    pub adopted: Vec<usize>,
    /// Indices not adopted, with the reason shown in the PR.
    pub not_adopted: Vec<(usize, String)>,
}

/// Work out the edits.
pub fn adopt(input: &AdoptInput<'_>) -> Adoption {
    let mut plan = Plan::new(input);
    for (i, finding) in input.findings.iter().enumerate() {
        match plan.add(finding) {
            Ok(()) => plan.out.adopted.push(i),
            Err(reason) => plan.out.not_adopted.push((i, reason)),
        }
    }
    plan.finish()
}

/// Edits under construction.
struct Plan<'a> {
    input: &'a AdoptInput<'a>,
    /// The Kustomization that builds the entry path.
    entry_owner: Option<KustomizationRef>,
    live: BTreeMap<ObjectKey, &'a Value>,
    /// Strategic-merge patches per object, merged field by field.
    patches: BTreeMap<ObjectKey, (Option<KustomizationRef>, Value)>,
    /// Unmanaged objects to add, by file name.
    manifests: BTreeMap<String, Value>,
    out: Adoption,
}

impl<'a> Plan<'a> {
    fn new(input: &'a AdoptInput<'a>) -> Self {
        Plan {
            input,
            entry_owner: entry_owner(input.desired, input.entry),
            live: input
                .live
                .objects
                .iter()
                .filter_map(|o| Some((ObjectKey::of(o)?, o)))
                .collect(),
            patches: BTreeMap::new(),
            manifests: BTreeMap::new(),
            out: Adoption::default(),
        }
    }

    fn add(&mut self, f: &Finding) -> Result<(), String> {
        let key = key_of(f);
        match f.class {
            FindingClass::Modified if self.input.actions.modified == Action::Adopt => {
                self.add_patch(f, key)
            }
            FindingClass::Unmanaged if self.input.actions.unmanaged == Action::Adopt => {
                self.add_manifest(f, key)
            }
            FindingClass::Modified | FindingClass::Unmanaged => {
                Err("report-only by configuration".into())
            }
            FindingClass::Missing => Err(
                "missing objects are for a person: Flux recreates them, or delete them from Git"
                    .into(),
            ),
            _ => Err("Flux health is reported, not adopted".into()),
        }
    }

    fn add_patch(&mut self, f: &Finding, key: ObjectKey) -> Result<(), String> {
        if f.paths.iter().any(|p| p.sensitive) {
            return Err("secret values are never copied into Git".into());
        }
        let owner = parse_ref(f.kustomization.as_deref());
        if owner != self.entry_owner
            && self.owner_of_kustomization(owner.as_ref()) != self.entry_owner
        {
            return Err(
                "applied by a Kustomization this cluster's entry path does not declare".into(),
            );
        }
        let live = *self.live.get(&key).ok_or("the live object is gone")?;
        let git = self.git_object(&key);
        let mut patch = patch_skeleton(f);
        for change in &f.paths {
            merge_change(&mut patch, live, git, change, &key)?;
        }
        let slot = self
            .patches
            .entry(key)
            .or_insert_with(|| (owner, Value::Object(Map::new())));
        deep_merge(&mut slot.1, patch);
        Ok(())
    }

    /// The object as Git renders it (a cluster-scoped one may carry the
    /// namespace kustomize gave it, which the finding's key does not).
    fn git_object(&self, key: &ObjectKey) -> Option<&'a Value> {
        self.input
            .desired
            .objects
            .iter()
            .map(|d| &d.object)
            .find(|o| {
                ObjectKey::of(o).is_some_and(|k| {
                    &k == key
                        || (key.namespace.is_none()
                            && ObjectKey {
                                namespace: None,
                                ..k
                            } == *key)
                })
            })
    }

    fn add_manifest(&mut self, f: &Finding, key: ObjectKey) -> Result<(), String> {
        if f.kind == "Secret" && group_of(&f.api_version).is_empty() {
            return Err("secret values are never copied into Git".into());
        }
        let live = *self.live.get(&key).ok_or("the live object is gone")?;
        self.manifests.insert(file_name("", &key), clean_live(live));
        Ok(())
    }

    /// The Kustomization that applies the Flux Kustomization `k`.
    fn owner_of_kustomization(&self, k: Option<&KustomizationRef>) -> Option<KustomizationRef> {
        let k = k?;
        self.input
            .desired
            .objects
            .iter()
            .find(|d| {
                is_flux_kustomization(&d.object) && reference_of(&d.object).as_ref() == Some(k)
            })?
            .kustomization
            .clone()
    }

    fn finish(mut self) -> Adoption {
        if self.patches.is_empty() && self.manifests.is_empty() {
            return self.out;
        }
        let dir = format!("{}/{DRIFT_DIR}", self.input.entry.trim_end_matches('/'));
        let mut resources = Vec::new();
        let mut kustomize_patches = Vec::new();
        let mut per_kustomization: BTreeMap<KustomizationRef, Vec<Value>> = BTreeMap::new();
        for (key, (owner, patch)) in std::mem::take(&mut self.patches) {
            if owner == self.entry_owner {
                let name = file_name("patch-", &key);
                self.out
                    .edits
                    .insert(format!("{dir}/{name}"), to_yaml(&patch));
                kustomize_patches.push(json!({"path": format!("{DRIFT_DIR}/{name}")}));
            } else if let Some(owner) = owner {
                per_kustomization
                    .entry(owner)
                    .or_default()
                    .push(flux_patch(&key, &patch));
            }
        }
        for (k, flux_patches) in per_kustomization {
            let name = format!("kustomization-{}-{}.yaml", k.namespace, k.name);
            let ops = self.spec_patch_ops(&k, flux_patches);
            self.out
                .edits
                .insert(format!("{dir}/{name}"), to_yaml(&ops));
            kustomize_patches.push(json!({
                "path": format!("{DRIFT_DIR}/{name}"),
                "target": {"group": "kustomize.toolkit.fluxcd.io", "kind": "Kustomization",
                           "name": k.name, "namespace": k.namespace},
            }));
        }
        for (name, obj) in std::mem::take(&mut self.manifests) {
            self.out
                .edits
                .insert(format!("{dir}/{name}"), to_yaml(&obj));
            resources.push(format!("{DRIFT_DIR}/{name}"));
        }
        let kustomization = self.kustomization_yaml(resources, kustomize_patches);
        self.out.edits.insert(
            format!(
                "{}/kustomization.yaml",
                self.input.entry.trim_end_matches('/')
            ),
            kustomization,
        );
        self.out
    }

    /// JSON 6902 operations adding `patches` to a Flux Kustomization's spec.
    fn spec_patch_ops(&self, k: &KustomizationRef, patches: Vec<Value>) -> Value {
        let has_patches = self
            .input
            .desired
            .objects
            .iter()
            .find(|d| {
                is_flux_kustomization(&d.object) && reference_of(&d.object).as_ref() == Some(k)
            })
            .and_then(|d| d.object.pointer("/spec/patches"))
            .is_some_and(|p| p.as_array().is_some_and(|a| !a.is_empty()));
        if has_patches {
            Value::Array(
                patches
                    .into_iter()
                    .map(|p| json!({"op": "add", "path": "/spec/patches/-", "value": p}))
                    .collect(),
            )
        } else {
            json!([{"op": "add", "path": "/spec/patches", "value": patches}])
        }
    }

    /// The entry's `kustomization.yaml` with flotilla's resources and patches added.
    fn kustomization_yaml(&self, resources: Vec<String>, patches: Vec<Value>) -> String {
        let mut k = match self.input.kustomization_yaml {
            Some(text) => serde_saphyr::from_str::<Value>(text).unwrap_or_else(|_| json!({})),
            None => json!({
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": self.input.entry_files,
            }),
        };
        let map = k.as_object_mut().expect("a kustomization is a map");
        append_unique(map, "resources", resources.into_iter().map(Value::String));
        append_unique(map, "patches", patches);
        to_yaml(&k)
    }
}

/// The Kustomization whose `spec.path` is the entry path (Flux's `flux-system`).
fn entry_owner(desired: &Desired, entry: &str) -> Option<KustomizationRef> {
    let norm = |p: &str| p.trim_start_matches("./").trim_end_matches('/').to_owned();
    desired
        .objects
        .iter()
        .filter(|d| is_flux_kustomization(&d.object))
        .find(|d| {
            d.object
                .pointer("/spec/path")
                .and_then(Value::as_str)
                .map(norm)
                == Some(norm(entry))
        })
        .and_then(|d| reference_of(&d.object))
}

fn parse_ref(s: Option<&str>) -> Option<KustomizationRef> {
    let (namespace, name) = s?.split_once('/')?;
    Some(KustomizationRef {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    })
}

fn key_of(f: &Finding) -> ObjectKey {
    ObjectKey {
        group: group_of(&f.api_version).to_owned(),
        kind: f.kind.clone(),
        namespace: f.namespace.clone(),
        name: f.name.clone(),
    }
}

/// `apiVersion`, `kind` and name: what makes a strategic-merge patch find its object.
fn patch_skeleton(f: &Finding) -> Value {
    let mut metadata = json!({"name": f.name});
    if let Some(ns) = &f.namespace {
        metadata["namespace"] = json!(ns);
    }
    json!({"apiVersion": f.api_version, "kind": f.kind, "metadata": metadata})
}

/// Add one changed field to a strategic-merge patch, walking the live object
/// along the change's pointer: list items are named by the list-map keys the
/// diff matched them by (the server's `x-kubernetes-list-map-keys`, which
/// the keyed field carries: `ports[port=443,protocol=TCP]`), so the patch
/// merges into the right item; strategic merge finds items by their
/// `patchMergeKey`, one of those keys (Service ports: `port`, not `name`).
///
/// Prevents: a Service port's `targetPort` adopted as `{name, targetPort}`,
/// which kustomize's strategic merge (no `port`, the merge key) turns into
/// `ports: []`; a port moved 443 → 8443 adopted as a second port beside 443.
fn merge_change(
    patch: &mut Value,
    live: &Value,
    git: Option<&Value>,
    change: &FieldChange,
    key: &ObjectKey,
) -> Result<(), String> {
    let tokens = crate::diff::keyed_path::pointer_tokens(&change.path);
    if tokens.iter().any(|t| t == "-") {
        return Err(format!(
            "{}: Git has a list item the cluster does not; remove it in Git by hand",
            change.field
        ));
    }
    let walk = Walk {
        levels: list_levels(&change.field),
        value: change.live.clone().unwrap_or(Value::Null),
        was: change.desired.as_ref(),
    };
    let fragment = walk.fragment(live, git, &tokens, 0).ok_or_else(|| {
        format!(
            "{}: cannot follow the field in the live {}",
            change.field, key.kind
        )
    })?;
    deep_merge(patch, fragment);
    Ok(())
}

/// One change being turned into a patch fragment.
struct Walk<'v> {
    /// Key names of each list level along the path (`None`: positional).
    levels: Vec<Option<Vec<String>>>,
    /// The live value to write.
    value: Value,
    /// Git's value of the field (to see a renamed key).
    was: Option<&'v Value>,
}

impl Walk<'_> {
    /// A patch fragment that sets the value at `tokens` (a JSON pointer into
    /// `live`); `level` counts the lists passed so far (an index into
    /// `levels`); `git` is the same
    /// place in Git's object, where known.
    fn fragment(
        &self,
        live: &Value,
        git: Option<&Value>,
        tokens: &[String],
        level: usize,
    ) -> Option<Value> {
        let Some((first, rest)) = tokens.split_first() else {
            return Some(self.value.clone());
        };
        match live {
            Value::Object(map) => {
                let child = map.get(first).unwrap_or(&Value::Null);
                let git_child = git.and_then(|g| g.get(first));
                let inner = self.fragment(child, git_child, rest, level)?;
                Some(json!({ first.clone(): inner }))
            }
            Value::Array(items) => {
                let item = items.get(first.parse::<usize>().ok()?)?;
                let keys = self.levels.get(level).cloned().flatten();
                let mut element = match &keys {
                    Some(names) => keys_of(item, names).or_else(|| merge_keys_of(item))?,
                    None => merge_keys_of(item)?,
                };
                let git_items = git.and_then(Value::as_array);
                // A key field itself changed (the diff paired the vanished
                // item with the new one): delete Git's item by its old keys
                // and add the item under its new ones.
                if let ([field], Some(names), Some(was)) = (rest, &keys, self.was)
                    && names.contains(field)
                    && *was != self.value
                {
                    let mut old = element.clone();
                    old[field] = was.clone();
                    let git_item = git_items
                        .and_then(|g| g.iter().find(|i| keys_of(i, names).as_ref() == Some(&old)));
                    let mut new = match git_item.and_then(Value::as_object) {
                        Some(g) => Value::Object(
                            g.iter()
                                .map(|(k, v)| (k.clone(), item.get(k).unwrap_or(v).clone()))
                                .collect(),
                        ),
                        None => element.clone(),
                    };
                    new[field] = self.value.clone();
                    old["$patch"] = json!("delete");
                    return Some(Value::Array(vec![old, new]));
                }
                let git_item = match &keys {
                    Some(names) => git_items.and_then(|g| {
                        g.iter()
                            .find(|i| keys_of(i, names).as_ref() == Some(&element))
                    }),
                    None => None,
                };
                deep_merge(
                    &mut element,
                    self.fragment(item, git_item, rest, level + 1)?,
                );
                Some(Value::Array(vec![element]))
            }
            _ if rest.is_empty() => Some(json!({ first.clone(): self.value })),
            _ => None,
        }
    }
}

/// The values of `names` in a list item, as a map (`None` if it has none).
fn keys_of(item: &Value, names: &[String]) -> Option<Value> {
    let map = item.as_object()?;
    let out: Map<String, Value> = names
        .iter()
        .filter_map(|n| Some((n.clone(), map.get(n)?.clone())))
        .collect();
    (!out.is_empty()).then_some(Value::Object(out))
}

/// The key names of each list level along a keyed field, as
/// [`crate::diff::keyed_path::FieldPath::keyed`] prints it:
/// `spec.ports[port=443,protocol=TCP].port` → `[Some([port, protocol])]`,
/// an atomic list's `[2]` → `None`; a quoted map key `["a.b"]` is no list.
fn list_levels(field: &str) -> Vec<Option<Vec<String>>> {
    let mut levels = Vec::new();
    let mut chars = field.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '[' {
            continue;
        }
        let mut inner = String::new();
        let mut in_string = false;
        let mut escaped = false;
        for c in chars.by_ref() {
            if in_string {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    in_string = false;
                }
            } else if c == '"' {
                in_string = true;
            } else if c == ']' {
                break;
            }
            inner.push(c);
        }
        if inner.starts_with('"') {
            continue;
        }
        if inner.chars().all(|c| c.is_ascii_digit()) {
            levels.push(None);
            continue;
        }
        // `k=v,k2=v2`: key names are identifiers, values may be quoted.
        let mut names = Vec::new();
        let mut part = String::new();
        let mut in_string = false;
        for c in inner.chars().chain([',']) {
            match c {
                '"' => in_string = !in_string,
                ',' if !in_string => {
                    if let Some((name, _)) = part.split_once('=') {
                        names.push(name.to_owned());
                    }
                    part.clear();
                    continue;
                }
                _ => {}
            }
            part.push(c);
        }
        levels.push(Some(names));
    }
    levels
}

/// The fields that identify a list item for a strategic merge, guessed
/// (`name` first, else the usual keys) where the path names no keys.
fn merge_keys_of(item: &Value) -> Option<Value> {
    const KEYS: [&str; 6] = ["name", "containerPort", "port", "mountPath", "ip", "type"];
    let map = item.as_object()?;
    let mut out = Map::new();
    for k in KEYS {
        if let Some(v) = map.get(k) {
            out.insert(k.to_owned(), v.clone());
            if k == "name" {
                break;
            }
        }
    }
    if let (Some(p), true) = (
        map.get("protocol"),
        out.contains_key("containerPort") || out.contains_key("port"),
    ) {
        out.insert("protocol".into(), p.clone());
    }
    (!out.is_empty()).then_some(Value::Object(out))
}

/// Merge `patch` into `base`: maps key by key; lists of keyed items item by item.
fn deep_merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                match b.get_mut(&k) {
                    Some(existing) => deep_merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (Value::Array(b), Value::Array(p)) => {
            for item in p {
                let keys = merge_keys_of(&item);
                match b
                    .iter_mut()
                    .find(|e| keys.is_some() && merge_keys_of(e) == keys)
                {
                    Some(existing) => deep_merge(existing, item),
                    None => b.push(item),
                }
            }
        }
        (b, p) => *b = p,
    }
}

/// A Flux `spec.patches` entry for one object.
fn flux_patch(key: &ObjectKey, patch: &Value) -> Value {
    let mut target = json!({"kind": key.kind, "name": key.name});
    if !key.group.is_empty() {
        target["group"] = json!(key.group);
    }
    if let Some(ns) = &key.namespace {
        target["namespace"] = json!(ns);
    }
    json!({"patch": patch_text(patch), "target": target})
}

/// A patch body as JSON (which YAML reads too): kustomize trims the final
/// newline of block scalars in strategic-merge patches, and a config file's
/// last newline is part of its value. Quoted JSON strings keep it.
fn patch_text(patch: &Value) -> String {
    let mut s = serde_json::to_string_pretty(patch).unwrap_or_default();
    s.push('\n');
    s
}

/// Fields the API server sets: never part of a manifest in Git.
fn clean_live(live: &Value) -> Value {
    let mut obj = live.clone();
    let Some(map) = obj.as_object_mut() else {
        return obj;
    };
    map.remove("status");
    if let Some(Value::Object(meta)) = map.get_mut("metadata") {
        for k in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "generation",
            "managedFields",
            "selfLink",
        ] {
            meta.remove(k);
        }
        if let Some(Value::Object(ann)) = meta.get_mut("annotations") {
            ann.remove("kubectl.kubernetes.io/last-applied-configuration");
            ann.remove("deployment.kubernetes.io/revision");
            if ann.is_empty() {
                meta.remove("annotations");
            }
        }
    }
    obj
}

fn file_name(prefix: &str, key: &ObjectKey) -> String {
    let ns = key
        .namespace
        .as_deref()
        .map(|n| format!("{n}-"))
        .unwrap_or_default();
    format!("{prefix}{}-{ns}{}.yaml", key.kind.to_lowercase(), key.name)
}

fn append_unique(
    map: &mut Map<String, Value>,
    field: &str,
    items: impl IntoIterator<Item = Value>,
) {
    let list = map.entry(field).or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(list) = list {
        for item in items {
            if !list.contains(&item) {
                list.push(item);
            }
        }
    }
}

fn to_yaml(v: &Value) -> String {
    serde_saphyr::to_string(v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::DesiredObject;

    fn ks(name: &str, path: &str, owner: &str) -> DesiredObject {
        DesiredObject {
            object: json!({"apiVersion":"kustomize.toolkit.fluxcd.io/v1","kind":"Kustomization",
                           "metadata":{"name":name,"namespace":"flux-system"},"spec":{"path":path}}),
            kustomization: Some(KustomizationRef {
                namespace: "flux-system".into(),
                name: owner.into(),
            }),
        }
    }

    fn modified(
        kind: &str,
        api: &str,
        ns: &str,
        name: &str,
        owner: &str,
        path: &str,
        live: Value,
    ) -> Finding {
        Finding {
            class: FindingClass::Modified,
            api_version: api.into(),
            kind: kind.into(),
            namespace: Some(ns.into()),
            name: name.into(),
            kustomization: Some(format!("flux-system/{owner}")),
            paths: vec![FieldChange {
                path: path.into(),
                field: String::new(),
                desired: None,
                live: Some(live),
                manager: None,
                time: None,
                sensitive: false,
                reverts: None,
            }],
            manager: None,
            condition: None,
            reverts: None,
        }
    }

    #[test]
    fn a_changed_container_image_becomes_a_flux_patch_keyed_by_container_name() {
        let ds = json!({"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"kured","namespace":"cbs"},
            "spec":{"template":{"spec":{"containers":[{"name":"kured","image":"r/kured:1.16.0"}]}}}});
        let desired = Desired {
            objects: vec![
                ks("flux-system", "./clusters/c1", "flux-system"),
                ks("kured", "./infra/kured", "flux-system"),
            ],
            ..Desired::default()
        };
        let live = Live {
            objects: vec![ds],
            ..Live::default()
        };
        let findings = [modified(
            "DaemonSet",
            "apps/v1",
            "cbs",
            "kured",
            "kured",
            "/spec/template/spec/containers/0/image",
            json!("r/kured:1.16.0"),
        )];
        let input = AdoptInput {
            entry: "clusters/c1",
            kustomization_yaml: Some(
                "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - flux-system\n",
            ),
            entry_files: &[],
            desired: &desired,
            live: &live,
            findings: &findings,
            actions: &Actions::default(),
        };
        let out = adopt(&input);
        assert_eq!(out.adopted, [0]);
        let ops: Value = serde_saphyr::from_str(
            &out.edits["clusters/c1/flotilla-drift/kustomization-flux-system-kured.yaml"],
        )
        .unwrap();
        assert_eq!(ops[0]["path"], "/spec/patches");
        let patch: Value =
            serde_saphyr::from_str(ops[0]["value"][0]["patch"].as_str().unwrap()).unwrap();
        assert_eq!(
            patch["spec"]["template"]["spec"]["containers"],
            json!([{"name":"kured","image":"r/kured:1.16.0"}])
        );
        let k: Value =
            serde_saphyr::from_str(&out.edits["clusters/c1/kustomization.yaml"]).unwrap();
        assert_eq!(k["resources"], json!(["flux-system"]));
        assert_eq!(k["patches"][0]["target"]["name"], "kured");
    }

    #[test]
    fn secrets_missing_and_report_only_are_not_adopted() {
        let desired = Desired::default();
        let live = Live::default();
        let mut secret = modified("Secret", "v1", "a", "s", "x", "/data/users", json!("***"));
        secret.paths[0].sensitive = true;
        let mut missing = secret.clone();
        missing.class = FindingClass::Missing;
        let cm = modified("ConfigMap", "v1", "a", "c", "x", "/data/k", json!("v"));
        let findings = [secret, missing, cm];
        let actions = Actions {
            modified: Action::ReportOnly,
            unmanaged: Action::Adopt,
        };
        let mut input = AdoptInput {
            entry: "clusters/c1",
            kustomization_yaml: None,
            entry_files: &[],
            desired: &desired,
            live: &live,
            findings: &findings,
            actions: &Actions::default(),
        };
        let out = adopt(&input);
        assert!(out.adopted.is_empty() && out.edits.is_empty());
        assert_eq!(
            out.not_adopted[0].1,
            "secret values are never copied into Git"
        );
        input.actions = &actions;
        assert_eq!(
            adopt(&input).not_adopted[2].1,
            "report-only by configuration"
        );
    }
}
