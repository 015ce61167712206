//! Walking Flux Kustomizations the way kustomize-controller reconciles them.
//!
//! Starting from the entry path, each build's output is scanned for
//! `kustomize.toolkit.fluxcd.io` Kustomizations; each is a desired object of
//! the Kustomization that rendered it *and* a new build (its `spec.path` with
//! its overlay fields, then `postBuild`). A build starts as soon as its
//! Kustomization is found (no rounds), in parallel with every other build of
//! every render sharing the cache, which bounds the kustomize processes
//! running at once; outputs are taken in the order their Kustomizations were
//! found, so the render does not depend on which build ends first.
//! Substitution waits until every `substituteFrom` source the
//! Kustomization names has been rendered (any order of dependencies works),
//! and a missing source ends as an error (or is skipped when `optional`).
//! Each Kustomization is followed once, which also stops cycles.

use super::cache::{CacheKey, RenderCache};
use super::error::{Error, KustomizationError, KustomizationLabel, Result};
use super::kustomize::{Built, Kustomizer, Overlay, split_documents};
use super::stage::Stage;
use super::substitute::{
    self, Var, check_var_names, envsubst, flux_value, is_substitution_disabled,
};
use super::{Desired, DesiredObject, KustomizationRef, RenderOptions};
use crate::object::{ObjectKey, group_of};
use crate::secret::Sealer;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, mpsc};

/// Variables as read here, name → value; [`substitute::Vars`] adds their origin.
type Vars = BTreeMap<String, String>;

/// Group of Flux Kustomizations.
pub const KUSTOMIZE_GROUP: &str = "kustomize.toolkit.fluxcd.io";
/// Owner label Flux puts on every object it applies (name of the Kustomization).
pub const OWNER_NAME_LABEL: &str = "kustomize.toolkit.fluxcd.io/name";
/// Owner label Flux puts on every object it applies (namespace of the Kustomization).
pub const OWNER_NAMESPACE_LABEL: &str = "kustomize.toolkit.fluxcd.io/namespace";

/// The Flux source a Kustomization reads from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SourceRef {
    /// `GitRepository`, `OCIRepository` or `Bucket`.
    pub kind: String,
    /// Namespace (defaults to the Kustomization's).
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl std::fmt::Display for SourceRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// The source a repository bootstrapped by `flux bootstrap` syncs from.
pub fn bootstrap_source() -> SourceRef {
    SourceRef {
        kind: "GitRepository".into(),
        namespace: "flux-system".into(),
        name: "flux-system".into(),
    }
}

/// A `substituteFrom` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubstituteRef {
    kind: String,
    name: String,
    #[serde(default)]
    optional: bool,
}

/// What one build renders and how its output is post-processed.
#[derive(Debug, Clone, Default)]
struct Unit {
    /// The Kustomization applying the output (`None`: an entry no Kustomization applies).
    owner: Option<KustomizationRef>,
    /// Repository-relative path, normalised (`""` is the root).
    path: String,
    overlay: Overlay,
    substitute: Vars,
    substitute_from: Vec<SubstituteRef>,
    common_labels: Map<String, Value>,
    common_annotations: Map<String, Value>,
}

/// A Kustomization found in some build's output, parsed.
#[derive(Debug, Clone)]
struct FoundKustomization {
    unit: Unit,
    source: SourceRef,
    suspended: bool,
}

/// The fields of `spec` we read. Flux's other fields (interval, prune,
/// dependsOn, healthChecks, …) do not change what is rendered, so unknown
/// fields are accepted here: this mirrors Flux's API, not flotilla's.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SpecFields {
    #[serde(default)]
    path: Option<String>,
    source_ref: Option<SourceRefFields>,
    target_namespace: Option<String>,
    name_prefix: Option<String>,
    name_suffix: Option<String>,
    #[serde(default)]
    patches: Vec<Value>,
    #[serde(default)]
    images: Vec<Value>,
    #[serde(default)]
    components: Vec<String>,
    post_build: Option<PostBuildFields>,
    common_metadata: Option<CommonMetadataFields>,
    #[serde(default)]
    suspend: bool,
}

#[derive(Debug, Deserialize)]
struct SourceRefFields {
    kind: String,
    name: String,
    namespace: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostBuildFields {
    #[serde(default)]
    substitute: Vars,
    #[serde(default)]
    substitute_from: Vec<SubstituteRef>,
}

#[derive(Debug, Default, Deserialize)]
struct CommonMetadataFields {
    #[serde(default)]
    labels: Map<String, Value>,
    #[serde(default)]
    annotations: Map<String, Value>,
}

/// Whether an object is a Flux Kustomization (any served version).
pub fn is_flux_kustomization(obj: &Value) -> bool {
    obj.get("kind").and_then(Value::as_str) == Some("Kustomization")
        && obj.get("apiVersion").and_then(Value::as_str).map(group_of) == Some(KUSTOMIZE_GROUP)
}

/// `namespace/name` of a Flux Kustomization object (namespace `default`
/// when unset, as Flux reads it).
pub fn reference_of(obj: &Value) -> Option<KustomizationRef> {
    let meta = obj.get("metadata")?;
    Some(KustomizationRef {
        namespace: meta
            .get("namespace")
            .and_then(Value::as_str)
            .unwrap_or("default")
            .to_owned(),
        name: meta.get("name")?.as_str()?.to_owned(),
    })
}

/// A repository-relative path without `.`/`..`/empty segments; `""` is the root.
pub fn normalize_path(path: &str) -> Result<String> {
    let mut parts: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(Error::PathOutsideRepo {
                        path: path.to_owned(),
                    });
                }
            }
            s => parts.push(s),
        }
    }
    Ok(parts.join("/"))
}

fn parse_kustomization(obj: &Value, reference: &KustomizationRef) -> Result<FoundKustomization> {
    let spec_value = obj.get("spec").cloned().unwrap_or(Value::Null);
    let spec: SpecFields = serde_json::from_value(spec_value).map_err(|e| Error::Spec {
        field: "spec".into(),
        message: e.to_string(),
    })?;
    let source = spec.source_ref.ok_or_else(|| Error::Spec {
        field: "spec.sourceRef".into(),
        message: "missing".into(),
    })?;
    for (i, from) in spec
        .post_build
        .as_ref()
        .map(|p| p.substitute_from.as_slice())
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        if from.kind != "ConfigMap" && from.kind != "Secret" {
            return Err(Error::Spec {
                field: format!("spec.postBuild.substituteFrom[{i}].kind"),
                message: format!("'{}' is not ConfigMap or Secret", from.kind),
            });
        }
    }
    let post_build = spec.post_build.unwrap_or_default();
    let common = spec.common_metadata.unwrap_or_default();
    Ok(FoundKustomization {
        unit: Unit {
            owner: Some(reference.clone()),
            path: normalize_path(spec.path.as_deref().unwrap_or(""))?,
            overlay: Overlay {
                target_namespace: spec.target_namespace.filter(|s| !s.is_empty()),
                name_prefix: spec.name_prefix.filter(|s| !s.is_empty()),
                name_suffix: spec.name_suffix.filter(|s| !s.is_empty()),
                patches: spec.patches,
                images: spec.images,
                components: spec.components,
            },
            substitute: post_build
                .substitute
                .iter()
                .map(|(k, v)| (k.clone(), flux_value(v)))
                .collect(),
            substitute_from: post_build.substitute_from,
            common_labels: common.labels,
            common_annotations: common.annotations,
        },
        source: SourceRef {
            namespace: source
                .namespace
                .unwrap_or_else(|| reference.namespace.clone()),
            kind: source.kind,
            name: source.name,
        },
        suspended: spec.suspend,
    })
}

/// ConfigMap and Secret data rendered so far, for `substituteFrom`. Secret
/// values are held here only while rendering and never leave this module.
#[derive(Default)]
struct SourceStore {
    data: HashMap<(String, String, String), Vars>,
}

impl SourceStore {
    /// Remember the data of a ConfigMap or (unsealed) Secret.
    fn record(&mut self, obj: &Value) {
        let (Some(kind), Some(key)) = (obj.get("kind").and_then(Value::as_str), ObjectKey::of(obj))
        else {
            return;
        };
        let vars = match (kind, key.group.as_str()) {
            ("ConfigMap", "") => string_map(obj.get("data"), |s| Some(s.to_owned())),
            ("Secret", "") => {
                let mut vars = string_map(obj.get("data"), |s| {
                    STANDARD
                        .decode(s)
                        .ok()
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                });
                vars.extend(string_map(obj.get("stringData"), |s| Some(s.to_owned())));
                vars
            }
            _ => return,
        };
        let namespace = key.namespace.unwrap_or_default();
        self.data
            .insert((kind.to_owned(), namespace, key.name), vars);
    }

    fn get(&self, kind: &str, namespace: &str, name: &str) -> Option<&Vars> {
        self.data
            .get(&(kind.to_owned(), namespace.to_owned(), name.to_owned()))
    }
}

fn string_map(value: Option<&Value>, decode: impl Fn(&str) -> Option<String>) -> Vars {
    let Some(Value::Object(map)) = value else {
        return Vars::new();
    };
    map.iter()
        .filter_map(|(k, v)| Some((k.clone(), flux_value(&decode(v.as_str()?)?))))
        .collect()
}

/// Result of post-processing one build.
struct Finished {
    objects: Vec<Value>,
    unresolved: BTreeSet<String>,
}

/// Runs the builds of one walk: shared by its build threads.
struct Builder {
    stage: Arc<Stage>,
    /// Tree id keying the cache (commit, or the stage's own id).
    tree: String,
    kustomizer: Kustomizer,
    allow_remote: bool,
    cache: Arc<RenderCache>,
}

impl Builder {
    fn build(&self, unit: &Unit) -> Result<Arc<Built>> {
        let key = CacheKey {
            commit: self.tree.clone(),
            path: unit.path.clone(),
            overlay: unit.overlay.fingerprint(),
            remote: self.allow_remote,
        };
        self.cache.get_or_build(Some(key), || {
            self.kustomizer
                .build(&self.stage, &unit.path, &unit.overlay, self.allow_remote)
        })
    }
}

/// A finished build thread's report: queue position, unit, result (or the
/// panic, which the walk resumes: a panic in a build is a bug).
type Report = (u64, Unit, std::thread::Result<Result<Arc<Built>>>);

/// The whole walk for one entry path.
pub(super) struct Walk {
    builder: Arc<Builder>,
    strict: bool,
    sealer: Sealer,
    audited: SourceRef,
    root_owner: Option<KustomizationRef>,
    visited: HashSet<KustomizationRef>,
    owners: HashMap<ObjectKey, Option<KustomizationRef>>,
    sources: SourceStore,
    to_build: Vec<Unit>,
    built: Vec<(Unit, Arc<Built>)>,
    helm_noted: bool,
    desired: Desired,
}

impl Walk {
    pub(super) fn new(
        stage: Arc<Stage>,
        tree: String,
        opts: &RenderOptions,
        cache: Arc<RenderCache>,
    ) -> Walk {
        Walk {
            builder: Arc::new(Builder {
                stage,
                tree,
                kustomizer: opts.kustomizer.clone(),
                allow_remote: opts.allow_remote_bases,
                cache,
            }),
            strict: opts.strict_substitution,
            sealer: opts.sealer.clone(),
            audited: bootstrap_source(),
            root_owner: None,
            visited: HashSet::new(),
            owners: HashMap::new(),
            sources: SourceStore::default(),
            to_build: Vec::new(),
            built: Vec::new(),
            helm_noted: false,
            desired: Desired::default(),
        }
    }

    /// Render `entry` and everything reachable from it.
    pub(super) fn run(mut self, entry: &str) -> Result<Desired> {
        let entry = normalize_path(entry)?;
        let plain = Unit {
            path: entry.clone(),
            ..Unit::default()
        };
        let raw = self.builder.build(&plain)?;
        self.note_build(&raw);
        match self.entry_owner(&entry, &raw.output) {
            Some(found) => {
                self.audited = found.source.clone();
                self.root_owner = found.unit.owner.clone();
                self.visited.extend(found.unit.owner.clone());
                if found.unit.overlay.is_empty() {
                    self.built.push((found.unit, raw));
                } else {
                    self.to_build.push(found.unit);
                }
            }
            None => {
                self.desired.notes.push(format!(
                    "no Kustomization in the repository has spec.path ./{entry}: its objects have no owner and \
                     Kustomizations are followed only from source {}",
                    self.audited
                ));
                self.built.push((plain, raw));
            }
        }
        self.drain();
        Ok(self.desired)
    }

    /// The Kustomization (from the entry's own output) whose `spec.path` is the entry.
    fn entry_owner(&mut self, entry: &str, raw: &str) -> Option<FoundKustomization> {
        split_documents(raw)
            .into_iter()
            .filter_map(|doc| serde_saphyr::from_str::<Value>(doc).ok())
            .filter(is_flux_kustomization)
            .filter_map(|obj| parse_kustomization(&obj, &reference_of(&obj)?).ok())
            .find(|k| k.unit.path == entry && k.source.kind == "GitRepository")
    }

    /// Build and post-process until nothing is left.
    ///
    /// Each queued unit is built on a thread of its own as soon as it is
    /// queued; the kustomize processes of every render sharing the cache
    /// are bounded by its slots. Results are released in queue order (a
    /// later build that ends first waits for the earlier ones), so which
    /// objects, notes and owners the render keeps never depends on timing.
    fn drain(&mut self) {
        let (sender, reports) = mpsc::channel::<Report>();
        let mut queued: u64 = 0;
        let mut released: u64 = 0;
        let mut arrived: BTreeMap<u64, (Unit, Result<Arc<Built>>)> = BTreeMap::new();
        std::thread::scope(|scope| {
            loop {
                for unit in std::mem::take(&mut self.to_build) {
                    let (builder, sender, seq) =
                        (Arc::clone(&self.builder), sender.clone(), queued);
                    queued += 1;
                    scope.spawn(move || {
                        let result =
                            std::panic::catch_unwind(AssertUnwindSafe(|| builder.build(&unit)));
                        // The walk holds the receiver until every report is in.
                        let _ = sender.send((seq, unit, result));
                    });
                }
                while let Some((unit, result)) = arrived.remove(&released) {
                    released += 1;
                    match result {
                        Ok(raw) => {
                            self.note_build(&raw);
                            self.built.push((unit, raw));
                        }
                        Err(e) => self.fail(&unit, e),
                    }
                }
                let progressed = self.finish_ready();
                if !self.to_build.is_empty() {
                    continue;
                }
                if released < queued {
                    // The walk keeps a sender, so this waits for a report.
                    if let Ok((seq, unit, result)) = reports.recv() {
                        let result =
                            result.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                        arrived.insert(seq, (unit, result));
                    }
                    continue;
                }
                if self.built.is_empty() {
                    return;
                }
                if !progressed {
                    // Nothing left can provide the missing sources: finish
                    // the oldest anyway (optional sources skipped, others errors).
                    let (unit, raw) = self.built.remove(0);
                    self.finish(unit, &raw.output);
                }
            }
        });
    }

    /// Keep what a build says it could not see (once per render).
    fn note_build(&mut self, built: &Built) {
        for note in &built.notes {
            if !self.desired.notes.contains(note) {
                self.desired.notes.push(note.clone());
            }
        }
    }

    /// Finish every built unit whose substitution sources are all rendered.
    fn finish_ready(&mut self) -> bool {
        let mut progressed = false;
        while let Some(i) = self.built.iter().position(|(u, _)| self.sources_ready(u)) {
            let (unit, raw) = self.built.remove(i);
            self.finish(unit, &raw.output);
            progressed = true;
        }
        progressed
    }

    fn sources_ready(&self, unit: &Unit) -> bool {
        let namespace = unit
            .owner
            .as_ref()
            .map(|o| o.namespace.as_str())
            .unwrap_or_default();
        unit.substitute_from.iter().all(|from| {
            self.sources
                .get(&from.kind, namespace, &from.name)
                .is_some()
        })
    }

    fn fail(&mut self, unit: &Unit, error: Error) {
        self.desired.errors.push(KustomizationError {
            kustomization: KustomizationLabel(unit.owner.clone()),
            source: Arc::new(error),
        });
    }

    /// Substitute, label and seal a unit's objects, then follow its Kustomizations.
    fn finish(&mut self, unit: Unit, raw: &str) {
        let finished = match self.post_build(&unit, raw) {
            Ok(f) => f,
            Err(e) => return self.fail(&unit, e),
        };
        if let (Some(owner), false) = (&unit.owner, finished.unresolved.is_empty()) {
            let names: Vec<&str> = finished.unresolved.iter().map(String::as_str).collect();
            self.desired.notes.push(format!(
                "kustomization {owner}: unresolved variables substituted with empty strings: {}",
                names.join(", ")
            ));
            self.desired
                .unresolved
                .insert(owner.clone(), finished.unresolved.clone());
        }
        for mut obj in finished.objects {
            self.sources.record(&obj);
            self.sealer.seal(&mut obj);
            self.note_helm_release(&obj);
            self.note_sops(&obj);
            if is_flux_kustomization(&obj) {
                self.follow(&obj, unit.owner.as_ref());
            }
            self.add_object(obj, unit.owner.clone());
        }
    }

    fn post_build(&self, unit: &Unit, raw: &str) -> Result<Finished> {
        let vars: substitute::Vars = self
            .variables(unit)?
            .into_iter()
            .map(|(name, value)| (name, Var::plain(value)))
            .collect();
        check_var_names(&vars).map_err(|source| Error::Substitute {
            object: "postBuild".into(),
            source,
        })?;
        let mut unresolved = BTreeSet::new();
        let mut objects = Vec::new();
        for (index, doc) in split_documents(raw).into_iter().enumerate() {
            let shown = || {
                format!(
                    "kustomize output of ./{}, document {}",
                    unit.path,
                    index + 1
                )
            };
            let parse = |text: &str| -> Result<Value> {
                serde_saphyr::from_str(text).map_err(|e| Error::Yaml {
                    file: shown(),
                    message: e.to_string(),
                })
            };
            let mut obj = parse(doc)?;
            if obj.is_null() {
                continue;
            }
            if !vars.is_empty() && !is_substitution_disabled(&obj) {
                let substituted =
                    envsubst(doc, &vars, self.strict).map_err(|source| Error::Substitute {
                        object: describe(&obj),
                        source,
                    })?;
                unresolved.extend(substituted.unresolved);
                obj = parse(&substituted.text)?;
            }
            apply_metadata(&mut obj, unit);
            objects.push(obj);
        }
        if self.strict && !unresolved.is_empty() {
            let names: Vec<&str> = unresolved.iter().map(String::as_str).collect();
            return Err(Error::UnresolvedVariables {
                names: names.join(", "),
            });
        }
        Ok(Finished {
            objects,
            unresolved,
        })
    }

    /// `substituteFrom` in order (later wins), then inline `substitute` (wins over all).
    fn variables(&self, unit: &Unit) -> Result<Vars> {
        let namespace = unit
            .owner
            .as_ref()
            .map(|o| o.namespace.as_str())
            .unwrap_or_default();
        let mut vars = Vars::new();
        for from in &unit.substitute_from {
            match self.sources.get(&from.kind, namespace, &from.name) {
                Some(data) => vars.extend(data.iter().map(|(k, v)| (k.clone(), v.clone()))),
                None if from.optional => {}
                None => {
                    return Err(Error::SubstituteFromNotFound {
                        kind: from.kind.clone(),
                        namespace: namespace.to_owned(),
                        name: from.name.clone(),
                    });
                }
            }
        }
        vars.extend(unit.substitute.iter().map(|(k, v)| (k.clone(), v.clone())));
        Ok(vars)
    }

    /// Queue a Kustomization found in some output, unless already followed or
    /// it reads from another source.
    fn follow(&mut self, obj: &Value, parent: Option<&KustomizationRef>) {
        let Some(reference) = reference_of(obj) else {
            return;
        };
        if self.visited.contains(&reference) {
            if self.root_owner.as_ref() != Some(&reference) || parent != Some(&reference) {
                self.desired.notes.push(format!(
                    "kustomization {reference} is rendered again by {}: followed once (cycle or duplicate)",
                    KustomizationLabel(parent.cloned())
                ));
            }
            return;
        }
        self.visited.insert(reference.clone());
        let found = match parse_kustomization(obj, &reference) {
            Ok(found) => found,
            Err(e) => {
                return self.fail(
                    &Unit {
                        owner: Some(reference),
                        ..Unit::default()
                    },
                    e,
                );
            }
        };
        if found.source != self.audited {
            self.desired.notes.push(format!(
                "kustomization {reference}: source {} is not the audited repository ({}); not rendered",
                found.source, self.audited
            ));
            return;
        }
        if found.suspended {
            self.desired.notes.push(format!(
                "kustomization {reference} is suspended in Git: rendered, but Flux does not apply it"
            ));
        }
        self.to_build.push(found.unit);
    }

    fn note_helm_release(&mut self, obj: &Value) {
        if !self.helm_noted && obj.get("kind").and_then(Value::as_str) == Some("HelmRelease") {
            self.helm_noted = true;
            self.desired.notes.push(
                "HelmReleases are desired objects, but their charts are not rendered: objects a chart creates are not audited"
                    .into(),
            );
        }
    }

    /// Flux decrypts SOPS-encrypted objects with `spec.decryption`; flotilla
    /// has no keys, so such an object's values cannot be compared.
    fn note_sops(&mut self, obj: &Value) {
        if obj.get("sops").is_some() {
            self.desired.notes.push(format!(
                "{} is SOPS-encrypted in Git and is not decrypted: its values cannot be compared",
                describe(obj)
            ));
        }
    }

    fn add_object(&mut self, object: Value, owner: Option<KustomizationRef>) {
        let Some(key) = ObjectKey::of(&object) else {
            self.desired.notes.push(format!(
                "an object rendered by kustomization {} has no kind or name: ignored",
                KustomizationLabel(owner)
            ));
            return;
        };
        if let Some(first) = self.owners.get(&key) {
            self.desired.notes.push(format!(
                "{key} is rendered by both kustomization {} and {}: the first is kept",
                KustomizationLabel(first.clone()),
                KustomizationLabel(owner)
            ));
            return;
        }
        self.owners.insert(key, owner.clone());
        self.desired.objects.push(DesiredObject {
            object,
            kustomization: owner,
        });
    }
}

/// `Kind namespace/name` for messages.
fn describe(obj: &Value) -> String {
    ObjectKey::of(obj)
        .map(|k| k.to_string())
        .unwrap_or_else(|| "an object without kind or name".into())
}

/// What Flux does to each object on apply: `commonMetadata`, then the owner
/// labels; and, as `fluxcd/pkg/ssa` normalisation does, a `status` written in
/// Git is dropped (except on CRDs): it is never applied, so it is not desired.
fn apply_metadata(obj: &mut Value, unit: &Unit) {
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    if map.get("kind").and_then(Value::as_str) != Some("CustomResourceDefinition") {
        map.remove("status");
    }
    let meta = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(meta) = meta.as_object_mut() else {
        return;
    };
    merge_into(meta, "labels", unit.common_labels.clone());
    merge_into(meta, "annotations", unit.common_annotations.clone());
    if let Some(owner) = &unit.owner {
        let mut labels = Map::new();
        labels.insert(OWNER_NAME_LABEL.into(), Value::String(owner.name.clone()));
        labels.insert(
            OWNER_NAMESPACE_LABEL.into(),
            Value::String(owner.namespace.clone()),
        );
        merge_into(meta, "labels", labels);
    }
}

fn merge_into(meta: &mut Map<String, Value>, key: &str, entries: Map<String, Value>) {
    if entries.is_empty() {
        return;
    }
    let target = meta.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(target) = target {
        target.extend(entries);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_normalise_and_may_not_leave_the_repository() {
        assert_eq!(normalize_path("./clusters/a/").unwrap(), "clusters/a");
        assert_eq!(normalize_path("apps/../infra").unwrap(), "infra");
        assert_eq!(normalize_path("./").unwrap(), "");
        assert!(matches!(
            normalize_path("../x"),
            Err(Error::PathOutsideRepo { .. })
        ));
    }

    #[test]
    fn source_namespace_defaults_to_the_kustomization_namespace() {
        let obj = serde_json::json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "apps", "namespace": "team"},
            "spec": {"path": "./apps", "sourceRef": {"kind": "GitRepository", "name": "repo"}}
        });
        let found = parse_kustomization(&obj, &reference_of(&obj).unwrap()).unwrap();
        assert_eq!(
            found.source,
            SourceRef {
                kind: "GitRepository".into(),
                namespace: "team".into(),
                name: "repo".into()
            }
        );
        assert_eq!(found.unit.path, "apps");
    }

    #[test]
    fn substitute_from_must_name_a_configmap_or_secret() {
        let obj = serde_json::json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "apps", "namespace": "flux-system"},
            "spec": {"sourceRef": {"kind": "GitRepository", "name": "r"},
                     "postBuild": {"substituteFrom": [{"kind": "Service", "name": "x"}]}}
        });
        let err = parse_kustomization(&obj, &reference_of(&obj).unwrap()).unwrap_err();
        assert!(
            err.to_string()
                .contains("spec.postBuild.substituteFrom[0].kind"),
            "{err}"
        );
    }
}
