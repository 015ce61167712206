//! The diff engine: `(Desired, Live) → Findings`, with no I/O, no async and no clock.
//!
//! One file per step, in the order they run for a desired object:
//! [`compare`] walks Git's object against the live one using the rules of
//! [`normalize`]; [`controller_owned`] and [`ignore`] drop fields that are not
//! Git's business; [`ownership`] blames each remaining field on a field
//! manager; [`redact`] masks secret values; then the finding is built. Live
//! objects nothing accounts for go through [`unmanaged`], Flux objects through
//! [`health`]. [`keyed_path`] prints where a change is. Last, [`reverts`]
//! says of each drift whether the next Flux reconciliation undoes it.

pub mod compare;
pub mod controller_owned;
pub mod health;
pub mod ignore;
pub mod keyed_path;
pub mod normalize;
pub mod ownership;
pub mod redact;
pub mod reverts;
pub mod unmanaged;

pub use health::SourceRef;
pub use ignore::{IgnoreError, IgnoreRule, IgnoreRules};

use crate::desired::{Desired, DesiredObject, NotRenderedReason};
use crate::findings::{FieldChange, Finding, FindingClass};
use crate::live::{ListSemantics, Live, SchemaGraph};
use crate::object::api_version_of;
use crate::object::{ObjectKey, builtin_namespaced, meta_str};
use crate::secret::is_secret;
use controller_owned::ControllerOwned;
use health::HealthContext;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// How to diff.
#[derive(Debug, Clone, Default)]
pub struct DiffOptions {
    /// User ignore rules (fields that are never drift).
    pub ignore: IgnoreRules,
    /// Audited Flux revision, for `flux-stale`; falls back to
    /// [`Desired::revision`].
    pub revision: Option<String>,
    /// The GitRepository serving the audited repository, for `flux-stale`;
    /// when unset, the only GitRepository Git declares (if exactly one).
    pub source: Option<SourceRef>,
    /// List semantics to use instead of [`Live::semantics`] (the built-in
    /// table and CRDs are still asked after them).
    pub semantics: Option<ListSemantics>,
}

/// Flux's per-object opt-outs (`kustomize.toolkit.fluxcd.io/*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FluxMode {
    /// Applied and kept in step: every Git field is compared.
    Apply,
    /// `ssa: IfNotPresent`: created once, then left alone.
    CreateOnly,
    /// `reconcile: disabled` or `ssa: Ignore`: Flux never touches it.
    Skip,
}

/// Diff one cluster: findings sorted by class, kind, namespace, name.
pub fn diff(desired: &Desired, live: &Live, opts: &DiffOptions) -> Vec<Finding> {
    let live_by_key: HashMap<ObjectKey, &Value> = live
        .objects
        .iter()
        .filter_map(|o| Some((ObjectKey::of(o)?, o)))
        .collect();
    let crds = Crds::collect(desired, live);
    let keys = ScopedKeys::new(live, &crds);
    let key_of = |obj: &Value| keys.of(obj);
    let mut desired_by_key: HashMap<ObjectKey, usize> = HashMap::new();
    for (i, d) in desired.objects.iter().enumerate() {
        if let Some(key) = key_of(&d.object) {
            desired_by_key.entry(key).or_insert(i);
        }
    }
    let owned = ControllerOwned::collect(
        desired
            .objects
            .iter()
            .map(|d| &d.object)
            .chain(live.objects.iter()),
    );
    let semantics = list_semantics(desired, live, opts, &crds);

    let mut findings = Vec::new();
    let mut seen = HashSet::new();
    for d in &desired.objects {
        let Some(mut key) = key_of(&d.object) else {
            continue;
        };
        if !seen.insert(key.clone()) {
            continue;
        }
        let live_obj = find_live(&live_by_key, &mut key);
        let mode = flux_mode(&d.object, live_obj);
        let finding = match (mode, live_obj) {
            (FluxMode::Skip, _) => None,
            (_, None) if was_read(live, &key) => {
                Some(object_finding(FindingClass::Missing, d, &key, Vec::new()))
            }
            (_, None) => None,
            (FluxMode::CreateOnly, Some(_)) => None,
            (FluxMode::Apply, Some(l)) => {
                let schema = compare::Schema {
                    semantics: &semantics,
                    group: &key.group,
                    kind: &key.kind,
                };
                let paths = field_changes(d, l, &key, &owned, opts, schema);
                (!paths.is_empty()).then(|| object_finding(FindingClass::Modified, d, &key, paths))
            }
        };
        findings.extend(finding);
    }

    let governed: HashSet<String> = desired
        .objects
        .iter()
        .filter(|d| d.object.get("kind").and_then(Value::as_str) == Some("Namespace"))
        .filter_map(|d| ObjectKey::of(&d.object).map(|k| k.name))
        .collect();
    let unrendered = unrendered_kustomizations(desired);
    let git = unmanaged::Accounted {
        desired: &desired_by_key,
        governed: &governed,
        helm_releases: desired_by_key.keys().any(|k| k.kind == "HelmRelease"),
        unrendered: &unrendered,
    };
    findings.extend(unmanaged::find_unmanaged(&live.objects, &git));

    let revision = opts.revision.as_deref().or(desired.revision.as_deref());
    let source = opts.source.clone().or_else(|| only_git_repository(desired));
    let ctx = HealthContext {
        revision,
        source: source.as_ref(),
    };
    findings.extend(health::flux_health(&live.objects, &ctx, |key| {
        let i = desired_by_key.get(key)?;
        desired.objects[*i]
            .kustomization
            .as_ref()
            .map(ToString::to_string)
    }));

    // A path-less ignore rule says the object is not Git's business at all
    // (e.g. Secrets cert-manager writes into a governed namespace).
    findings.retain(|f| !opts.ignore.ignores_object(&finding_key(f)));

    findings.sort_by(|a, b| {
        (a.class, &a.kind, &a.namespace, &a.name, &a.api_version).cmp(&(
            b.class,
            &b.kind,
            &b.namespace,
            &b.name,
            &b.api_version,
        ))
    });

    // Will Flux undo it? Read from the owning Kustomizations' live state.
    let kustomizations_read = live.listed.is_empty()
        || live.listed.contains(&(
            "kustomize.toolkit.fluxcd.io".to_owned(),
            "Kustomization".to_owned(),
        ));
    let ctx = reverts::Context {
        desired,
        desired_by_key: &desired_by_key,
        live: &live_by_key,
        kustomizations_read,
    };
    reverts::annotate(&mut findings, &ctx);
    findings
}

/// How many desired objects [`diff`] compares field by field: found live
/// and not left alone by a Flux opt-out (for `--stats`).
pub fn compared(desired: &Desired, live: &Live) -> usize {
    let live_by_key: HashMap<ObjectKey, &Value> = live
        .objects
        .iter()
        .filter_map(|o| Some((ObjectKey::of(o)?, o)))
        .collect();
    let crds = Crds::collect(desired, live);
    let keys = ScopedKeys::new(live, &crds);
    let mut seen = HashSet::new();
    desired
        .objects
        .iter()
        .filter(|d| {
            let Some(mut key) = keys.of(&d.object) else {
                return false;
            };
            let l = find_live(&live_by_key, &mut key);
            seen.insert(key) && l.is_some() && flux_mode(&d.object, l) == FluxMode::Apply
        })
        .count()
}

/// Object keys scoped by their kind's scope, asked once per kind rather
/// than once per object (see [`namespaced`]).
struct ScopedKeys<'a> {
    live: &'a Live,
    crds: &'a Crds<'a>,
    scopes: std::cell::RefCell<HashMap<(String, String), Option<bool>>>,
}

impl<'a> ScopedKeys<'a> {
    fn new(live: &'a Live, crds: &'a Crds<'a>) -> Self {
        ScopedKeys {
            live,
            crds,
            scopes: Default::default(),
        }
    }

    fn of(&self, obj: &Value) -> Option<ObjectKey> {
        let key = ObjectKey::of(obj)?;
        let kind = (key.group.clone(), key.kind.clone());
        let known = self.scopes.borrow().get(&kind).copied();
        let namespaced = known.unwrap_or_else(|| {
            let found = namespaced(self.live, self.crds, &key.group, &key.kind);
            self.scopes.borrow_mut().insert(kind, found);
            found
        });
        Some(key.scoped(namespaced))
    }
}

/// The live object for a desired key (already scoped when the kind's scope
/// is known, see [`namespaced`]).
///
/// Prevents: a cluster-scoped custom resource (ClusterIssuer, …) of a kind
/// no scope source knows, that kustomize's `namespace:` gave a namespace in
/// Git, reported missing; the live object without a namespace shows it is
/// cluster-scoped, and the key (so the finding) loses the namespace too.
fn find_live<'a>(live: &HashMap<ObjectKey, &'a Value>, key: &mut ObjectKey) -> Option<&'a Value> {
    let found = live_at(live, key)?;
    if !live.contains_key(key) {
        key.namespace = None;
    }
    Some(found)
}

/// The live object for a key, also when Git gave a cluster-scoped object a
/// namespace (see [`find_live`], which also drops it from the key).
fn live_at<'a>(live: &HashMap<ObjectKey, &'a Value>, key: &ObjectKey) -> Option<&'a Value> {
    live.get(key).copied().or_else(|| {
        key.namespace.as_ref()?;
        let cluster_scoped = ObjectKey {
            namespace: None,
            ..key.clone()
        };
        live.get(&cluster_scoped).copied()
    })
}

/// Whether `(group, kind)` is namespaced, by the server's discovery, then a
/// CRD's `spec.scope` (live, then Git), then the built-in kinds; `None`
/// when nothing knows. Identity follows the resource's scope, never the
/// file: the server drops `metadata.namespace` of a cluster-scoped object.
fn namespaced(live: &Live, crds: &Crds<'_>, group: &str, kind: &str) -> Option<bool> {
    let key = (group.to_owned(), kind.to_owned());
    live.namespaced
        .get(&key)
        .copied()
        .or_else(|| crds.scope(group, kind))
        .or_else(|| builtin_namespaced(group, kind))
}

/// CustomResourceDefinitions in sight: live ones first (what the server
/// uses), then Git's.
struct Crds<'a> {
    by_kind: HashMap<(&'a str, &'a str), &'a Value>,
}

impl<'a> Crds<'a> {
    fn collect(desired: &'a Desired, live: &'a Live) -> Crds<'a> {
        let mut by_kind = HashMap::new();
        let objects = live
            .objects
            .iter()
            .chain(desired.objects.iter().map(|d| &d.object));
        for obj in objects {
            let is_crd = obj.get("kind").and_then(Value::as_str)
                == Some("CustomResourceDefinition")
                && obj
                    .get("apiVersion")
                    .and_then(Value::as_str)
                    .is_some_and(|v| v.starts_with("apiextensions.k8s.io/"));
            if !is_crd {
                continue;
            }
            let group = obj.pointer("/spec/group").and_then(Value::as_str);
            let kind = obj.pointer("/spec/names/kind").and_then(Value::as_str);
            if let (Some(group), Some(kind)) = (group, kind) {
                by_kind.entry((group, kind)).or_insert(obj);
            }
        }
        Crds { by_kind }
    }

    fn get(&self, group: &str, kind: &str) -> Option<&'a Value> {
        self.by_kind.get(&(group, kind)).copied()
    }

    fn scope(&self, group: &str, kind: &str) -> Option<bool> {
        match self.get(group, kind)?.pointer("/spec/scope")?.as_str()? {
            "Namespaced" => Some(true),
            "Cluster" => Some(false),
            _ => None,
        }
    }
}

/// Where list types come from for this diff: the options' or the server's
/// OpenAPI documents, then the built-in table, then the CRDs (live, then
/// Git) of the custom kinds Git uses that nothing before describes.
fn list_semantics(
    desired: &Desired,
    live: &Live,
    opts: &DiffOptions,
    crds: &Crds<'_>,
) -> ListSemantics {
    let mut semantics = opts
        .semantics
        .clone()
        .unwrap_or_else(|| live.semantics.clone());
    semantics.extend(&ListSemantics::builtin());
    let kinds: BTreeSet<(&str, &str)> = desired
        .objects
        .iter()
        .filter_map(|d| {
            let api_version = d.object.get("apiVersion")?.as_str()?;
            let kind = d.object.get("kind")?.as_str()?;
            Some((crate::object::group_of(api_version), kind))
        })
        .collect();
    for (group, kind) in kinds {
        if semantics.knows(group, kind) {
            continue;
        }
        if let Some(graph) = crds.get(group, kind).and_then(SchemaGraph::from_crd) {
            semantics.push(Arc::new(graph));
        }
    }
    semantics
}

/// The changed fields of one object, filtered, blamed and masked.
fn field_changes(
    d: &DesiredObject,
    live: &Value,
    key: &ObjectKey,
    owned: &ControllerOwned,
    opts: &DiffOptions,
    schema: compare::Schema<'_>,
) -> Vec<FieldChange> {
    let secret = is_secret(&d.object) || is_secret(live);
    compare::compare_object(&d.object, live, schema)
        .into_iter()
        .filter_map(|change| {
            let pointer = change.path.pointer();
            if owned.owns(key, &d.object, live, &pointer) || opts.ignore.ignores(key, &pointer) {
                return None;
            }
            let field = change.path.keyed();
            // An item added live is its adder's: excused when that is a
            // known controller or webhook, else blamed on it (or on nobody).
            let blame = if change.is_added_item() {
                let owner = ownership::item_owner(live, &change.path);
                let excused = owner.as_ref().is_some_and(|b| {
                    ownership::KNOWN_WRITERS.contains(&b.manager.as_str())
                        || opts.ignore.excuses(key, &pointer, &b.manager)
                });
                if excused {
                    return None;
                }
                owner
            } else {
                ownership::blame(live, &change.path)
            };
            let shown = redact::redact(change, secret);
            Some(FieldChange {
                path: pointer,
                field,
                desired: shown.desired,
                live: shown.live,
                manager: blame.as_ref().map(|b| b.manager.clone()),
                time: blame.and_then(|b| b.time),
                sensitive: shown.sensitive,
                reverts: None,
            })
        })
        .collect()
}

fn object_finding(
    class: FindingClass,
    d: &DesiredObject,
    key: &ObjectKey,
    paths: Vec<FieldChange>,
) -> Finding {
    Finding {
        class,
        api_version: api_version_of(&d.object).to_owned(),
        kind: key.kind.clone(),
        namespace: key.namespace.clone(),
        name: key.name.clone(),
        kustomization: d.kustomization.as_ref().map(ToString::to_string),
        paths,
        manager: None,
        condition: None,
        reverts: None,
    }
}

/// Flux's opt-outs, read from labels or annotations as kustomize-controller
/// reads them (fluxcd/pkg `ssa/manager_apply.go`, `shouldSkipApply`): the
/// exclusions (`reconcile: disabled`, `ssa: Ignore`) in Git or live, for
/// objects people marked by hand too; `ssa: IfNotPresent` in Git only (a
/// live mark alone does not stop Flux applying).
///
/// Prevents: the `compute-resources` quota (`reconcile: disabled`, created by
/// hand) reported as drift or missing; `ssa: IfNotPresent` objects (created
/// once, then owned by someone else) reported as modified; a drifted object
/// hidden by an `IfNotPresent` mark added live, which Flux overwrites.
fn flux_mode(desired: &Value, live: Option<&Value>) -> FluxMode {
    let mark = |obj: &Value, key: &str, value: &str| {
        ["annotations", "labels"]
            .iter()
            .any(|map| meta_str(obj, map, key).is_some_and(|v| v.eq_ignore_ascii_case(value)))
    };
    let excluded = |obj: &Value| {
        mark(obj, "kustomize.toolkit.fluxcd.io/reconcile", "disabled")
            || mark(obj, "kustomize.toolkit.fluxcd.io/ssa", "ignore")
    };
    if excluded(desired) || live.is_some_and(excluded) {
        FluxMode::Skip
    } else if mark(desired, "kustomize.toolkit.fluxcd.io/ssa", "ifnotpresent") {
        FluxMode::CreateOnly
    } else {
        FluxMode::Apply
    }
}

/// Kustomizations whose objects Git's render does not show: declared but
/// owning no rendered object (another source), or failed to render.
fn unrendered_kustomizations(desired: &Desired) -> HashSet<(String, String)> {
    let rendered: HashSet<(&str, &str)> = desired
        .objects
        .iter()
        .filter_map(|d| d.kustomization.as_ref())
        .map(|k| (k.namespace.as_str(), k.name.as_str()))
        .collect();
    let declared = desired.objects.iter().filter_map(|d| {
        let key = ObjectKey::of(&d.object)?;
        (key.group == "kustomize.toolkit.fluxcd.io" && key.kind == "Kustomization")
            .then(|| (key.namespace.unwrap_or_default(), key.name))
    });
    let failed = desired
        .errors
        .iter()
        .filter_map(|e| e.kustomization.0.as_ref())
        .map(|k| (k.namespace.clone(), k.name.clone()));
    let not_rendered = desired
        .not_rendered
        .iter()
        // Only a Kustomization whose own output is unseen: a HelmRelease's
        // or ResourceSet's objects carry their own owner labels.
        .filter(|n| {
            matches!(
                n.reason,
                NotRenderedReason::ForeignSource
                    | NotRenderedReason::SubstituteFrom
                    | NotRenderedReason::RemoteBase
            )
        })
        .filter_map(|n| n.kustomization.as_ref())
        .map(|k| (k.namespace.clone(), k.name.clone()));
    declared
        .filter(|(ns, name)| !rendered.contains(&(ns.as_str(), name.as_str())))
        .chain(failed)
        .chain(not_rendered)
        .collect()
}

fn finding_key(f: &Finding) -> ObjectKey {
    ObjectKey {
        group: crate::object::group_of(&f.api_version).to_owned(),
        kind: f.kind.clone(),
        namespace: f.namespace.clone(),
        name: f.name.clone(),
    }
}

/// Whether live state covers objects of this type, so absence means missing.
/// Prevents: every object of a type the read skipped (scope, RBAC) reported
/// missing. A type the server does not serve (CRD not installed) was read in
/// effect: its objects are missing. An empty `listed` means "everything"
/// (hand-built `Live` values).
fn was_read(live: &Live, key: &ObjectKey) -> bool {
    let gk = (key.group.clone(), key.kind.clone());
    live.listed.is_empty() || live.listed.contains(&gk) || live.unserved.contains(&gk)
}

/// The GitRepository Git declares, when there is exactly one.
fn only_git_repository(desired: &Desired) -> Option<SourceRef> {
    let mut repos = desired.objects.iter().filter_map(|d| {
        let key = ObjectKey::of(&d.object)?;
        (key.group == "source.toolkit.fluxcd.io" && key.kind == "GitRepository").then(|| {
            SourceRef {
                namespace: key.namespace.unwrap_or_default(),
                name: key.name,
            }
        })
    });
    let first = repos.next()?;
    repos.next().is_none().then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::KustomizationRef;
    use serde_json::json;

    fn desired(objects: Vec<Value>) -> Desired {
        let ks = KustomizationRef {
            namespace: "flux-system".into(),
            name: "apps".into(),
        };
        Desired {
            objects: objects
                .into_iter()
                .map(|object| DesiredObject {
                    object,
                    kustomization: Some(ks.clone()),
                })
                .collect(),
            ..Desired::default()
        }
    }

    fn git_repo(name: &str, revision: &str) -> Value {
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
               "metadata": {"namespace": "flux-system", "name": name},
               "status": {"artifact": {"revision": revision},
                          "conditions": [{"type": "Ready", "status": "True"}]}})
    }

    #[test]
    fn stale_needs_to_know_the_source() {
        let old = "main@sha1:1111111111111111111111111111111111111111";
        let audited = "main@sha1:2222222222222222222222222222222222222222";
        let git = desired(vec![git_repo("a", audited), git_repo("b", audited)]);
        let live = Live {
            objects: vec![git_repo("a", old), git_repo("b", old)],
            ..Live::default()
        };
        let mut opts = DiffOptions {
            revision: Some(audited.into()),
            ..DiffOptions::default()
        };
        assert!(
            diff(&git, &live, &opts).is_empty(),
            "two sources: which one is audited is unknown"
        );
        opts.source = Some(SourceRef {
            namespace: "flux-system".into(),
            name: "b".into(),
        });
        let found = diff(&git, &live, &opts);
        assert_eq!(found.len(), 1);
        assert_eq!(
            (found[0].class, found[0].name.as_str()),
            (FindingClass::FluxStale, "b")
        );
    }

    #[test]
    fn objects_of_types_not_read_are_not_missing() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"namespace": "a", "name": "x"}});
        let git = desired(vec![cm]);
        let mut live = Live::default();
        live.listed.insert(("".into(), "Secret".into()));
        assert!(diff(&git, &live, &DiffOptions::default()).is_empty());
        live.unserved.push(("".into(), "ConfigMap".into()));
        assert_eq!(
            diff(&git, &live, &DiffOptions::default())[0].class,
            FindingClass::Missing
        );
    }

    #[test]
    fn cluster_scoped_objects_match_without_namespace() {
        let git = desired(vec![
            json!({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
                                      "metadata": {"namespace": "apps", "name": "le"}, "spec": {"acme": {}}}),
        ]);
        let live = Live {
            objects: vec![
                json!({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
                                 "metadata": {"name": "le"}, "spec": {"acme": {}}}),
            ],
            ..Live::default()
        };
        assert!(diff(&git, &live, &DiffOptions::default()).is_empty());
    }
}
