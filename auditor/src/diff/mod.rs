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
use crate::live::{Live, SchemaHints};
use crate::object::{ObjectKey, meta_str};
use crate::secret::is_secret;
use controller_owned::ControllerOwned;
use health::HealthContext;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

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
    /// List merge keys to use instead of [`Live::hints`].
    pub hints: Option<SchemaHints>,
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
    let mut desired_by_key: HashMap<ObjectKey, usize> = HashMap::new();
    for (i, d) in desired.objects.iter().enumerate() {
        if let Some(key) = ObjectKey::of(&d.object) {
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
    let builtin;
    let hints = match (&opts.hints, live.hints.list_map_keys.is_empty()) {
        (Some(h), _) => h,
        (None, false) => &live.hints,
        (None, true) => {
            builtin = crate::live::listmap::builtin();
            &builtin
        }
    };

    let mut findings = Vec::new();
    let mut seen = HashSet::new();
    for d in &desired.objects {
        let Some(key) = ObjectKey::of(&d.object) else {
            continue;
        };
        if !seen.insert(key.clone()) {
            continue;
        }
        let live_obj = find_live(&live_by_key, &key);
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
                    hints,
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
    let mut seen = HashSet::new();
    desired
        .objects
        .iter()
        .filter(|d| {
            let Some(key) = ObjectKey::of(&d.object) else {
                return false;
            };
            let l = find_live(&live_by_key, &key);
            seen.insert(key) && l.is_some() && flux_mode(&d.object, l) == FluxMode::Apply
        })
        .count()
}

/// The live object for a desired key.
///
/// Prevents: a cluster-scoped custom resource (ClusterIssuer, …) that
/// kustomize's `namespace:` gave a namespace in Git reported missing; the
/// server ignores the namespace of cluster-scoped objects.
fn find_live<'a>(live: &HashMap<ObjectKey, &'a Value>, key: &ObjectKey) -> Option<&'a Value> {
    live.get(key).copied().or_else(|| {
        key.namespace.as_ref()?;
        let cluster_scoped = ObjectKey {
            namespace: None,
            ..key.clone()
        };
        live.get(&cluster_scoped).copied()
    })
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
            let blame = ownership::blame(live, &change.path);
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
        api_version: d
            .object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
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

/// Flux's opt-outs, read from labels or annotations in Git or live (Flux
/// honours both: Git for what it applies, live for objects people marked).
///
/// Prevents: the `compute-resources` quota (`reconcile: disabled`, created by
/// hand) reported as drift or missing; `ssa: IfNotPresent` objects (created
/// once, then owned by someone else) reported as modified.
fn flux_mode(desired: &Value, live: Option<&Value>) -> FluxMode {
    let objects = std::iter::once(desired).chain(live);
    let mut mode = FluxMode::Apply;
    for obj in objects {
        for map in ["annotations", "labels"] {
            let reconcile = meta_str(obj, map, "kustomize.toolkit.fluxcd.io/reconcile");
            let ssa = meta_str(obj, map, "kustomize.toolkit.fluxcd.io/ssa");
            if reconcile.is_some_and(|v| v.eq_ignore_ascii_case("disabled"))
                || ssa.is_some_and(|v| v.eq_ignore_ascii_case("ignore"))
            {
                return FluxMode::Skip;
            }
            if ssa.is_some_and(|v| v.eq_ignore_ascii_case("ifnotpresent")) {
                mode = FluxMode::CreateOnly;
            }
        }
    }
    mode
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
