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
use super::error::{Error, Result};
use super::kustomize::{Built, Kustomizer, Overlay, split_documents};
use super::sources::{Content, Sources, flux_instance_sync};
use super::stage::Stage;
use super::substitute::{
    self, Origin, Var, check_var_names, envsubst, flux_value, is_substitution_disabled,
};
use super::{
    ClusterLookup, ClusterObjectsRef, Desired, DesiredObject, KustomizationRef, NotRendered,
    NotRenderedReason, RemoteCluster, RenderOptions, sops, taint,
};
use super::{KustomizationError, KustomizationLabel};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use flotilla_core::object::ObjectKey;
use flotilla_core::secret::Sealer;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, mpsc};

/// Variables as read here, name → value; [`substitute::Vars`] adds their origin.
type Vars = BTreeMap<String, String>;

/// Group of Flux Kustomizations, and how to recognise and name one.
pub use flotilla_core::desired::{KUSTOMIZE_GROUP, is_flux_kustomization, reference_of};
/// Owner label Flux puts on every object it applies (name of the Kustomization).
pub const OWNER_NAME_LABEL: &str = "kustomize.toolkit.fluxcd.io/name";
/// Owner label Flux puts on every object it applies (namespace of the Kustomization).
pub const OWNER_NAMESPACE_LABEL: &str = "kustomize.toolkit.fluxcd.io/namespace";

/// The Flux source a Kustomization reads from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
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
    /// Where the source content is: the audited repository (`None`) or a
    /// `--source` mapping (its index).
    mapped: Option<usize>,
    /// Repository-relative path, normalised (`""` is the root).
    path: String,
    overlay: Overlay,
    /// Whether `spec.postBuild` is set at all (Flux substitutes only then).
    post_build: bool,
    substitute: Vars,
    substitute_from: Vec<SubstituteRef>,
    /// `spec.postBuild.substituteStrategy: Always`: substitute even without variables.
    substitute_always: bool,
    /// `spec.decryption` is set: Flux decrypts SOPS content.
    decryption: bool,
    /// The cluster it applies to, when `spec.kubeConfig` (or an ancestor's) points elsewhere.
    remote: Option<RemoteCluster>,
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
    decryption: Option<Value>,
    kube_config: Option<KubeConfigFields>,
}

/// `spec.kubeConfig`: a Secret (`secretRef`) or, for workload identity, a
/// ConfigMap (`configMapRef`) in the Kustomization's namespace.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct KubeConfigFields {
    secret_ref: Option<NameRef>,
    config_map_ref: Option<NameRef>,
}

#[derive(Debug, Deserialize)]
struct NameRef {
    name: String,
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
    substitute_strategy: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct CommonMetadataFields {
    #[serde(default)]
    labels: Map<String, Value>,
    #[serde(default)]
    annotations: Map<String, Value>,
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
        message: without_quoted(&e.to_string()),
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
    let has_post_build = spec.post_build.is_some();
    let post_build = spec.post_build.unwrap_or_default();
    let common = spec.common_metadata.unwrap_or_default();
    let remote = spec.kube_config.and_then(|k| {
        let (kind, name) = match (k.secret_ref, k.config_map_ref) {
            (Some(s), _) => ("Secret", s.name),
            (None, Some(c)) => ("ConfigMap", c.name),
            (None, None) => return None,
        };
        Some(RemoteCluster {
            kind: kind.into(),
            namespace: reference.namespace.clone(),
            name,
        })
    });
    Ok(FoundKustomization {
        unit: Unit {
            owner: Some(reference.clone()),
            mapped: None,
            post_build: has_post_build,
            substitute_always: post_build
                .substitute_strategy
                .as_deref()
                .is_some_and(|s| s == "Always"),
            decryption: spec.decryption.is_some_and(|d| !d.is_null()),
            remote,
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

/// ConfigMap and Secret data rendered so far, for `substituteFrom` when the
/// cluster does not have the object (or is not read). Secret values are held
/// here only while rendering and never leave this module.
#[derive(Default)]
struct SourceStore {
    data: HashMap<(String, String, String), substitute::Vars>,
}

impl SourceStore {
    /// Remember the data of a ConfigMap or (unsealed) Secret.
    fn record(&mut self, obj: &Value) {
        if let Some((kind, namespace, name, vars)) = substitution_source(obj) {
            self.data.insert((kind, namespace, name), vars);
        }
    }

    fn get(&self, kind: &str, namespace: &str, name: &str) -> Option<&substitute::Vars> {
        self.data
            .get(&(kind.to_owned(), namespace.to_owned(), name.to_owned()))
    }
}

/// What `substituteFrom` reads from a ConfigMap or Secret object, as Flux
/// does (kustomize-controller `LoadVariables`: ConfigMap `.data`, Secret
/// `.data` decoded; `binaryData` ignored; newlines removed), with each
/// value's origin: ConfigMaps plain, Secrets secret, and a value that is
/// itself sealed or unknown (a ConfigMap value substituted from a Secret
/// earlier) unknown.
pub fn substitution_source(obj: &Value) -> Option<(String, String, String, substitute::Vars)> {
    let kind = obj.get("kind").and_then(Value::as_str)?;
    let key = ObjectKey::of(obj)?;
    if !key.group.is_empty() {
        return None;
    }
    let mut vars = substitute::Vars::new();
    let mut put = |k: &str, value: String, origin: Origin| {
        let unknown = flotilla_core::secret::contains_sealed(&value) || taint::has_markers(&value);
        let var = if unknown {
            Var {
                value: String::new(),
                origin: Origin::Unknown,
            }
        } else {
            Var {
                value: flux_value(&value),
                origin,
            }
        };
        vars.insert(k.to_owned(), var);
    };
    match kind {
        "ConfigMap" => {
            for (k, v) in obj
                .get("data")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                if let Some(v) = v.as_str() {
                    put(k, v.to_owned(), Origin::Plain);
                }
            }
        }
        "Secret" => {
            for (k, v) in obj
                .get("data")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                let Some(v) = v.as_str() else { continue };
                match STANDARD.decode(v) {
                    Ok(bytes) => match String::from_utf8(bytes) {
                        Ok(text) => put(k, text, Origin::Secret),
                        Err(_) => put(k, substitute::UNKNOWN.to_owned(), Origin::Unknown),
                    },
                    // Sealed or unknown already: not a value to use.
                    Err(_) => put(k, substitute::UNKNOWN.to_owned(), Origin::Unknown),
                }
            }
            for (k, v) in obj
                .get("stringData")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                if let Some(v) = v.as_str() {
                    put(k, v.to_owned(), Origin::Secret);
                }
            }
        }
        _ => return None,
    }
    Some((
        kind.to_owned(),
        key.namespace.unwrap_or_default(),
        key.name,
        vars,
    ))
}

/// Result of post-processing one build.
struct Finished {
    objects: Vec<Value>,
    unresolved: BTreeSet<String>,
    notes: Vec<String>,
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

/// A finished build's report: queue position, unit, result (or the
/// panic, which the walk resumes: a panic in a build is a bug).
type Report = (u64, Unit, std::thread::Result<Result<Arc<Built>>>);

/// The whole walk for one entry path.
pub(super) struct Walk {
    builder: Arc<Builder>,
    /// Builders of `--source` mappings, staged when first needed.
    mapped: HashMap<usize, Arc<Builder>>,
    kustomizer: Kustomizer,
    allow_remote: bool,
    strict: bool,
    sealer: Sealer,
    cluster: Option<ClusterObjectsRef>,
    sops_keys: Option<Arc<sops::Keyring>>,
    /// Which sources are the audited repository (or mapped).
    sources: Sources,
    /// Kustomizations whose source is not known yet to be followable.
    pending: Vec<FoundKustomization>,
    root_owner: Option<KustomizationRef>,
    visited: HashSet<KustomizationRef>,
    owners: HashMap<ObjectKey, Option<KustomizationRef>>,
    store: SourceStore,
    to_build: Vec<Unit>,
    built: Vec<(Unit, Arc<Built>)>,
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
            mapped: HashMap::new(),
            kustomizer: opts.kustomizer.clone(),
            allow_remote: opts.allow_remote_bases,
            strict: opts.strict_substitution,
            sealer: opts.sealer.clone(),
            cluster: opts.cluster.clone(),
            sops_keys: opts.sops_keys.clone(),
            sources: Sources::new(&opts.repo_urls, &opts.sources),
            pending: Vec::new(),
            root_owner: None,
            visited: HashSet::new(),
            owners: HashMap::new(),
            store: SourceStore::default(),
            to_build: Vec::new(),
            built: Vec::new(),
            desired: Desired::default(),
        }
    }

    /// Render `entry` and everything reachable from it.
    ///
    /// The audited repository is the source the entry's own Flux objects
    /// use, whatever its kind and name: the Kustomization whose `spec.path`
    /// is the entry (as `flux bootstrap` writes it), or the one a
    /// FluxInstance's `spec.sync` makes; failing both, the sources of the
    /// Kustomizations the entry declares.
    pub(super) fn run(mut self, entry: &str) -> Result<Desired> {
        let entry = normalize_path(entry)?;
        let plain = Unit {
            path: entry.clone(),
            ..Unit::default()
        };
        let raw = self.builder.build(&plain)?;
        self.note_build(&raw);
        let objects: Vec<Value> = split_documents(&raw.output)
            .into_iter()
            .filter_map(|doc| serde_saphyr::from_str::<Value>(doc).ok())
            .collect();
        for obj in &objects {
            self.sources.record(obj);
        }
        match self.entry_owner(&entry, &objects) {
            Some(found) => {
                self.sources.mark_audited(found.source.clone());
                self.root_owner = found.unit.owner.clone();
                self.visited.extend(found.unit.owner.clone());
                if found.unit.overlay.is_empty() {
                    self.built.push((found.unit, raw));
                } else {
                    self.to_build.push(found.unit);
                }
            }
            None => {
                let used: BTreeSet<SourceRef> = objects
                    .iter()
                    .filter(|o| is_flux_kustomization(o))
                    .filter_map(|o| parse_kustomization(o, &reference_of(o)?).ok())
                    .map(|k| k.source)
                    .collect();
                let shown: Vec<String> = used.iter().map(ToString::to_string).collect();
                self.desired.notes.push(if shown.is_empty() {
                    format!(
                        "no Kustomization in the repository has spec.path ./{entry}: its objects have no owner"
                    )
                } else {
                    format!(
                        "no Kustomization in the repository has spec.path ./{entry}: its objects have no owner; \
                         the audited repository is taken to be the source its Kustomizations use ({})",
                        shown.join(", ")
                    )
                });
                for source in used {
                    self.sources.mark_audited(source);
                }
                self.built.push((plain, raw));
            }
        }
        self.drain();
        self.end_pending();
        Ok(self.desired)
    }

    /// The Kustomization (from the entry's own output) whose `spec.path` is
    /// the entry, of any source kind; or the Kustomization a FluxInstance in
    /// the entry makes with `spec.sync.path` equal to the entry.
    fn entry_owner(&mut self, entry: &str, objects: &[Value]) -> Option<FoundKustomization> {
        let declared = objects
            .iter()
            .filter(|o| is_flux_kustomization(o))
            .filter_map(|obj| parse_kustomization(obj, &reference_of(obj)?).ok())
            .find(|k| k.unit.path == entry);
        if declared.is_some() {
            return declared;
        }
        let (source, path, url) = objects.iter().find_map(flux_instance_sync)?;
        if normalize_path(&path).ok()? != entry {
            return None;
        }
        if let Some(url) = url {
            self.sources.add_url(&url);
        }
        self.desired.notes.push(format!(
            "the entry is synced by a FluxInstance: Kustomization {ns}/{ns} of {source} (made by flux-operator, not in Git)",
            ns = source.namespace
        ));
        Some(FoundKustomization {
            unit: Unit {
                owner: Some(KustomizationRef {
                    namespace: source.namespace.clone(),
                    name: source.namespace.clone(),
                }),
                path: entry.to_owned(),
                ..Unit::default()
            },
            source,
            suspended: false,
        })
    }

    /// The builder of a unit's source: the audited repository's, or a
    /// `--source` mapping's (staged on first use).
    fn builder_for(&mut self, unit: &Unit) -> Result<Arc<Builder>> {
        let Some(index) = unit.mapped else {
            return Ok(Arc::clone(&self.builder));
        };
        if let Some(builder) = self.mapped.get(&index) {
            return Ok(Arc::clone(builder));
        }
        let mapping = self
            .sources
            .mapping(index)
            .ok_or_else(|| Error::Spec {
                field: "--source".into(),
                message: "unknown mapping".into(),
            })?
            .clone();
        let cache = Arc::clone(&self.builder.cache);
        let (stage, tree) = cache.stage(&mapping.path, None)?;
        let builder = Arc::new(Builder {
            stage,
            tree,
            kustomizer: self.kustomizer.clone(),
            allow_remote: self.allow_remote,
            cache,
        });
        self.mapped.insert(index, Arc::clone(&builder));
        Ok(builder)
    }

    /// Build and post-process until nothing is left.
    ///
    /// Each queued unit goes to the cache's build threads
    /// ([`RenderCache::spawn`]) as soon as it is queued; the kustomize
    /// processes of every render sharing the cache are bounded by its
    /// slots. Results are released in queue order (a later build that ends
    /// first waits for the earlier ones), so which objects, notes and owners
    /// the render keeps never depends on timing.
    fn drain(&mut self) {
        let (sender, reports) = mpsc::channel::<Report>();
        let mut queued: u64 = 0;
        let mut released: u64 = 0;
        let mut arrived: BTreeMap<u64, (Unit, Result<Arc<Built>>)> = BTreeMap::new();
        loop {
            for unit in std::mem::take(&mut self.to_build) {
                let builder = match self.builder_for(&unit) {
                    Ok(builder) => builder,
                    Err(e) => {
                        self.fail(&unit, e);
                        continue;
                    }
                };
                let (sender, seq) = (sender.clone(), queued);
                queued += 1;
                let cache = Arc::clone(&builder.cache);
                cache.spawn(move || {
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
                    let result = result.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
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
    }

    /// Keep what a build says it could not see (once per render).
    fn note_build(&mut self, built: &Built) {
        for note in &built.notes {
            if !self.desired.notes.contains(note) {
                self.desired.notes.push(note.clone());
            }
        }
    }

    /// Finish every built unit whose substitution sources are all known.
    fn finish_ready(&mut self) -> bool {
        let mut progressed = false;
        while let Some(i) = self
            .built
            .iter()
            .position(|(u, raw)| self.sources_ready(u, &raw.output))
        {
            let (unit, raw) = self.built.remove(i);
            self.finish(unit, &raw.output);
            progressed = true;
        }
        progressed
    }

    /// Whether every `substituteFrom` source of `unit` can be looked up now:
    /// the cluster has it, a rendered object is it, or the unit's own output
    /// holds it.
    fn sources_ready(&self, unit: &Unit, raw: &str) -> bool {
        unit.substitute_from
            .iter()
            .all(|from| !matches!(self.lookup(unit, from, raw), Found::NotYet))
    }

    /// Look one `substituteFrom` source up: in the cluster first (Flux reads
    /// it there at reconcile time), then among the objects rendered for
    /// this cluster, then in the Kustomization's own output.
    fn lookup(&self, unit: &Unit, from: &SubstituteRef, raw: &str) -> Found {
        let namespace = unit
            .owner
            .as_ref()
            .map(|o| o.namespace.as_str())
            .unwrap_or_default();
        if let Some(cluster) = &self.cluster {
            match cluster.0.lookup(&from.kind, namespace, &from.name) {
                ClusterLookup::Found(vars) => return Found::Vars(vars),
                ClusterLookup::Unreadable(reason) => return Found::Unreadable(reason),
                ClusterLookup::NotFound => {}
            }
        }
        if let Some(vars) = self.store.get(&from.kind, namespace, &from.name) {
            return Found::Vars(vars.clone());
        }
        split_documents(raw)
            .into_iter()
            .filter_map(|doc| serde_saphyr::from_str::<Value>(doc).ok())
            .filter_map(|obj| substitution_source(&obj))
            .find(|(kind, ns, name, _)| {
                kind == &from.kind && name == &from.name && (ns == namespace || ns.is_empty())
            })
            .map_or(Found::NotYet, |(_, _, _, vars)| Found::Vars(vars))
    }

    fn fail(&mut self, unit: &Unit, error: Error) {
        if let Error::RemoteBase { .. } = &error {
            let line = error.to_string();
            let detail = line
                .strip_prefix("not rendered: ")
                .unwrap_or(&line)
                .to_owned();
            return self.not_rendered(unit.owner.clone(), NotRenderedReason::RemoteBase, detail);
        }
        self.desired.errors.push(KustomizationError {
            kustomization: KustomizationLabel(unit.owner.clone()),
            source: Arc::new(error),
        });
    }

    fn not_rendered(
        &mut self,
        kustomization: Option<KustomizationRef>,
        reason: NotRenderedReason,
        detail: String,
    ) {
        let entry = NotRendered {
            kustomization,
            reason,
            detail,
        };
        if !self.desired.not_rendered.contains(&entry) {
            self.desired.not_rendered.push(entry);
        }
    }

    /// Decrypt, substitute, label and seal a unit's objects, then follow its
    /// Kustomizations. `last`: nothing else can provide a missing
    /// `substituteFrom` source any more.
    fn finish(&mut self, unit: Unit, raw: &str) {
        let vars = match self.variables(&unit, raw) {
            Ok(Some(vars)) => vars,
            Ok(None) => return,
            Err(e) => return self.fail(&unit, e),
        };
        let finished = match self.post_build(&unit, raw, &vars) {
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
        for note in finished.notes {
            if !self.desired.notes.contains(&note) {
                self.desired.notes.push(note);
            }
        }
        let mut remote_count = 0;
        for mut obj in finished.objects {
            self.store.record(&obj);
            if self.sources.record(&obj) {
                self.promote_pending();
            }
            self.sealer.seal(&mut obj);
            self.note_unrendered_kinds(&obj, unit.owner.as_ref());
            if is_flux_kustomization(&obj) {
                self.follow(&obj, &unit);
            }
            match &unit.remote {
                Some(remote) => {
                    remote_count += 1;
                    self.desired
                        .remote
                        .entry(remote.clone())
                        .or_default()
                        .push(DesiredObject {
                            object: obj,
                            kustomization: unit.owner.clone(),
                        });
                }
                None => self.add_object(obj, unit.owner.clone()),
            }
        }
        if let Some(remote) = &unit.remote {
            self.not_rendered(
                unit.owner.clone(),
                NotRenderedReason::OtherCluster,
                format!(
                    "applies {remote_count} objects to another cluster (spec.kubeConfig: {remote}); \
                     they are audited only with a target for that cluster"
                ),
            );
        }
    }

    /// The variables of a unit, as kustomize-controller loads them
    /// (`LoadVariables`): `substituteFrom` in order, a later one winning,
    /// then inline `substitute` over all. `Ok(None)`: a required source is
    /// missing, and the unit is recorded as not rendered.
    ///
    /// A source flotilla may not read (a Secret without RBAC to read it) makes
    /// its variables unknown: every variable that only an earlier source (or
    /// no source) defines might be set by it, so those are unknown too; the
    /// caller adds the unknown names the text uses.
    fn variables(&mut self, unit: &Unit, raw: &str) -> Result<Option<UnitVars>> {
        let mut vars = substitute::Vars::new();
        let mut unreadable: Option<String> = None;
        for from in &unit.substitute_from {
            match self.lookup(unit, from, raw) {
                Found::Vars(found) => vars.extend(found),
                Found::Unreadable(reason) => {
                    // Whatever was set before may be overridden by it.
                    for var in vars.values_mut() {
                        *var = Var {
                            value: String::new(),
                            origin: Origin::Unknown,
                        };
                    }
                    unreadable = Some(format!("{} {}: {reason}", from.kind, from.name));
                }
                Found::NotYet if from.optional => {}
                Found::NotYet => {
                    let namespace = unit
                        .owner
                        .as_ref()
                        .map(|o| o.namespace.clone())
                        .unwrap_or_default();
                    self.not_rendered(
                        unit.owner.clone(),
                        NotRenderedReason::SubstituteFrom,
                        format!(
                            "postBuild.substituteFrom {}/{} in namespace {namespace} is not in the cluster \
                             nor in the repository: Flux cannot build it either until it exists",
                            from.kind, from.name
                        ),
                    );
                    return Ok(None);
                }
            }
        }
        vars.extend(
            unit.substitute
                .iter()
                .map(|(k, v)| (k.clone(), Var::plain(v.clone()))),
        );
        if let (Some(reason), Some(owner)) = (&unreadable, &unit.owner) {
            self.desired.notes.push(format!(
                "kustomization {owner}: variables from {reason} are unknown: fields using them are not compared"
            ));
        }
        Ok(Some(UnitVars {
            vars,
            unknown_rest: unreadable.is_some(),
        }))
    }

    /// Decrypt (SOPS), substitute and resolve taint in every object of one
    /// build, as kustomize-controller's `build` does per resource: decryption
    /// first, then substitution (kustomization_controller.go `build`).
    fn post_build(&self, unit: &Unit, raw: &str, unit_vars: &UnitVars) -> Result<Finished> {
        let vars = &unit_vars.vars;
        check_var_names(vars).map_err(|source| Error::Substitute {
            object: "postBuild".into(),
            source,
        })?;
        // Flux substitutes only when `spec.postBuild` is set, and then only
        // with at least one variable unless the strategy is `Always`
        // (fluxcd/pkg kustomize_varsub.go: `len(vars) > 0 || options.Always`).
        let substitutes = unit.post_build
            && (!vars.is_empty() || unit.substitute_always || unit_vars.unknown_rest);
        let mut unresolved = BTreeSet::new();
        let mut notes = Vec::new();
        let mut objects = Vec::new();
        for (index, doc) in split_documents(raw).into_iter().enumerate() {
            let shown = || {
                format!(
                    "kustomize output of ./{}, document {}",
                    unit.path,
                    index + 1
                )
            };
            if taint::has_reserved(doc) {
                return Err(Error::Reserved { file: shown() });
            }
            let mut obj = parse_yaml(doc, &shown)?;
            if obj.is_null() {
                continue;
            }
            let mut text = std::borrow::Cow::Borrowed(doc);
            if let Some(decrypted) = self.decrypt(unit, &obj, &mut notes)? {
                obj = decrypted;
                text = std::borrow::Cow::Owned(serde_json::to_string(&obj).map_err(|_| {
                    Error::Yaml {
                        file: shown(),
                        message: "cannot write the decrypted object".into(),
                    }
                })?);
            }
            if substitutes && !is_substitution_disabled(&obj) {
                let mut vars = vars.clone();
                if unit_vars.unknown_rest {
                    add_unknown_names(&text, &mut vars);
                }
                let substituted =
                    envsubst(&text, &vars, self.strict).map_err(|source| Error::Substitute {
                        object: describe(&obj),
                        source,
                    })?;
                unresolved.extend(substituted.unresolved);
                let out = &substituted.text;
                obj = if taint::has_markers(out) {
                    let marked = parse_yaml(out, &shown)?;
                    let plain = parse_yaml(&taint::strip(out), &shown)?;
                    taint::resolve(marked, plain).map_err(|source| Error::Taint {
                        object: describe(&obj),
                        source,
                    })?
                } else {
                    parse_yaml(out, &shown)?
                };
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
            notes,
        })
    }

    /// A SOPS-encrypted resource, decrypted as Flux would (any kind with a
    /// non-empty `sops.mac`; Secret `data` values that are SOPS documents),
    /// or — without a key — with every encrypted value unknown. `None`: not
    /// encrypted, or decryption disabled for it.
    ///
    /// Values that were encrypted are secret wherever they land: in a
    /// Secret's `data` they stay plain here and are sealed next; anywhere
    /// else they become [`flotilla_core::secret::tainted`] digests.
    fn decrypt(&self, unit: &Unit, obj: &Value, notes: &mut Vec<String>) -> Result<Option<Value>> {
        if sops::is_decryption_disabled(obj) {
            return Ok(None);
        }
        let object = describe(obj);
        if sops::is_encrypted_object(obj) {
            let kinds = obj
                .get("sops")
                .and_then(|m| sops::Metadata::from_value(m).ok())
                .map(|m| {
                    let kinds: Vec<String> =
                        m.key_kinds().iter().map(ToString::to_string).collect();
                    format!("encrypted to {} keys", kinds.join(", "))
                })
                .unwrap_or_else(|| "unknown keys".into());
            if let Some(keys) = self.sops_keys.as_deref() {
                match sops::decrypt_value(obj, keys) {
                    Ok(decrypted) => {
                        if !decrypted.mac_ok {
                            notes.push(format!(
                                "{object}: SOPS MAC does not match (Flux does not check it either); decrypted anyway"
                            ));
                        }
                        let plain = decrypted.value.into_value();
                        return Ok(Some(taint_decrypted(obj, plain)));
                    }
                    Err(e) if e.is_missing_key() => {}
                    Err(e) => {
                        return Err(Error::Sops { object, source: e });
                    }
                }
            }
            notes.push(format!(
                "{object} is SOPS-encrypted ({kinds}){}: key names are compared, values are not",
                if self.sops_keys.is_some() {
                    ", and no given key opens it"
                } else {
                    " and no key was given (--sops-age-key-file)"
                }
            ));
            if !unit.decryption {
                notes.push(format!(
                    "{object} is SOPS-encrypted but its Kustomization has no spec.decryption: Flux would apply the ciphertext"
                ));
            }
            let stripped = sops::strip(obj, substitute::UNKNOWN).map_err(|e| Error::Sops {
                object: object.clone(),
                source: e,
            })?;
            return Ok(Some(stripped));
        }
        if flotilla_core::secret::is_secret(obj) {
            return self.decrypt_secret_values(obj, &object, notes);
        }
        Ok(None)
    }

    /// A Secret whose `data` values are SOPS documents (kustomize-controller
    /// decrypts each one, in the format its key names), or the values a
    /// `secretGenerator` made from an encrypted dotenv file (`ENC[…]` lines,
    /// which Flux decrypts in the source file before the build: flotilla
    /// does not, so those values are unknown and the `sops_*` metadata keys
    /// are dropped).
    fn decrypt_secret_values(
        &self,
        obj: &Value,
        object: &str,
        notes: &mut Vec<String>,
    ) -> Result<Option<Value>> {
        let Some(data) = obj.get("data").and_then(Value::as_object) else {
            return Ok(None);
        };
        let mut changed = false;
        let mut out = data.clone();
        let generated_from_sops = data.keys().any(|k| k == "sops_mac" || k == "sops_version");
        for (key, value) in data {
            let Some(bytes) = value.as_str().and_then(|v| STANDARD.decode(v).ok()) else {
                continue;
            };
            if generated_from_sops {
                changed = true;
                if key.starts_with("sops_") {
                    out.remove(key);
                } else {
                    out.insert(key.clone(), Value::String(substitute::UNKNOWN.into()));
                }
                continue;
            }
            if !sops::is_encrypted_bytes(&bytes) {
                continue;
            }
            changed = true;
            let format = sops::Format::for_path(key);
            let decrypted = self.sops_keys.as_deref().map(|keys| {
                let input = sops::Format::detect(&bytes).unwrap_or(format);
                sops::decrypt_bytes(&bytes, input, format, keys)
            });
            match decrypted {
                Some(Ok(plain)) if plain.value.byte_exact() => {
                    out.insert(
                        key.clone(),
                        Value::String(STANDARD.encode(plain.value.as_bytes())),
                    );
                }
                Some(Err(e)) if !e.is_missing_key() => {
                    return Err(Error::Sops {
                        object: object.to_owned(),
                        source: e,
                    });
                }
                _ => {
                    out.insert(key.clone(), Value::String(substitute::UNKNOWN.into()));
                }
            }
        }
        if !changed {
            return Ok(None);
        }
        if generated_from_sops {
            notes.push(format!(
                "{object} is generated from a SOPS-encrypted file: flotilla does not decrypt generator sources, \
                 so key names are compared and values are not"
            ));
        }
        let mut obj = obj.clone();
        obj["data"] = Value::Object(out);
        Ok(Some(obj))
    }

    /// Queue a Kustomization found in some output, unless already followed;
    /// wait with it when its source is not known to be followable yet.
    fn follow(&mut self, obj: &Value, parent: &Unit) {
        let Some(reference) = reference_of(obj) else {
            return;
        };
        if self.visited.contains(&reference) {
            if self.root_owner.as_ref() != Some(&reference)
                || parent.owner.as_ref() != Some(&reference)
            {
                self.desired.notes.push(format!(
                    "kustomization {reference} is rendered again by {}: followed once (cycle or duplicate)",
                    KustomizationLabel(parent.owner.clone())
                ));
            }
            return;
        }
        self.visited.insert(reference.clone());
        let mut found = match parse_kustomization(obj, &reference) {
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
        // Objects a Kustomization applies to another cluster, and the
        // Kustomizations among them, belong to that cluster.
        if found.unit.remote.is_none() {
            found.unit.remote = parent.remote.clone();
        }
        if found.suspended {
            self.desired.notes.push(format!(
                "kustomization {reference} is suspended in Git: rendered, but Flux does not apply it"
            ));
        }
        self.pending.push(found);
        self.promote_pending();
    }

    /// Queue every pending Kustomization whose source is now known to be the
    /// audited repository or a mapped folder.
    fn promote_pending(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        for mut found in pending {
            match self.sources.content(&found.source) {
                Content::Audited => self.to_build.push(found.unit),
                Content::Mapped(index) => {
                    found.unit.mapped = Some(index);
                    self.to_build.push(found.unit);
                }
                Content::Undecided => self.pending.push(found),
            }
        }
    }

    /// Kustomizations left waiting when the walk ends read a source flotilla
    /// does not hold: named, never silently dropped.
    fn end_pending(&mut self) {
        for found in std::mem::take(&mut self.pending) {
            let detail = self.sources.describe_foreign(&found.source).to_string();
            self.not_rendered(found.unit.owner, NotRenderedReason::ForeignSource, detail);
        }
    }

    /// HelmReleases and ResourceSets are desired objects, but what they make
    /// is not rendered: name each one.
    fn note_unrendered_kinds(&mut self, obj: &Value, owner: Option<&KustomizationRef>) {
        let Some(key) = ObjectKey::of(obj) else {
            return;
        };
        let (reason, detail) = match (key.group.as_str(), key.kind.as_str()) {
            ("helm.toolkit.fluxcd.io", "HelmRelease") => {
                let chart = obj
                    .pointer("/spec/chart/spec/chart")
                    .or_else(|| obj.pointer("/spec/chartRef/name"))
                    .and_then(Value::as_str)
                    .unwrap_or("?");
                (
                    NotRenderedReason::HelmChart,
                    format!(
                        "{key}: chart {chart} is not rendered; the objects it installs are not compared"
                    ),
                )
            }
            ("fluxcd.controlplane.io", "ResourceSet") => (
                NotRenderedReason::ResourceSet,
                format!(
                    "{key}: its templates are not expanded; the objects it generates are not compared"
                ),
            ),
            _ => return,
        };
        self.not_rendered(owner.cloned(), reason, detail);
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

/// What looking up a `substituteFrom` source found.
enum Found {
    Vars(substitute::Vars),
    Unreadable(String),
    /// Not found yet (a later build may render it).
    NotYet,
}

/// A unit's variables.
struct UnitVars {
    vars: substitute::Vars,
    /// A source could not be read: names no later source defines are unknown.
    unknown_rest: bool,
}

/// Make every variable name `text` uses that `vars` lacks unknown.
fn add_unknown_names(text: &str, vars: &mut substitute::Vars) {
    let Ok(tree) = substitute::parse_text(text) else {
        return;
    };
    let mut names = BTreeSet::new();
    collect_names(&tree, &mut names);
    for name in names {
        vars.entry(name).or_insert(Var {
            value: String::new(),
            origin: Origin::Unknown,
        });
    }
}

fn collect_names(node: &substitute::parse::Node, out: &mut BTreeSet<String>) {
    use substitute::parse::Node;
    match node {
        Node::Text(_) => {}
        Node::Func(func) => {
            out.insert(func.param.clone());
            for arg in &func.args {
                collect_names(arg, out);
            }
        }
        Node::List(nodes) => nodes.iter().for_each(|n| collect_names(n, out)),
    }
}

/// Parse one YAML document; an error says where, never what (the text may
/// hold Secret values after substitution or decryption).
fn parse_yaml(text: &str, shown: &dyn Fn() -> String) -> Result<Value> {
    serde_saphyr::from_str(text).map_err(|e| Error::Yaml {
        file: shown(),
        message: yaml_error_place(&e),
    })
}

/// "invalid YAML at line L, column C", from a parser error, without its text.
fn yaml_error_place(e: &serde_saphyr::Error) -> String {
    match e.location() {
        Some(at) => format!("invalid YAML at line {}, column {}", at.line(), at.column()),
        None => "invalid YAML".into(),
    }
}

/// Mark the values SOPS had encrypted as secret: in a Secret's
/// `data`/`stringData` the plain value stays (sealed next), anywhere else a
/// tainted digest of it. `encrypted` is the resource as in Git.
fn taint_decrypted(encrypted: &Value, plain: Value) -> Value {
    fn walk(enc: &Value, plain: Value, keep_plain: bool) -> Value {
        match (enc, plain) {
            (Value::Object(e), Value::Object(p)) => Value::Object(
                p.into_iter()
                    .map(|(k, v)| {
                        let inner = match e.get(&k) {
                            Some(ev) => walk(ev, v, keep_plain),
                            None => v,
                        };
                        (k, inner)
                    })
                    .collect(),
            ),
            (Value::Array(e), Value::Array(p)) => Value::Array(
                p.into_iter()
                    .enumerate()
                    .map(|(i, v)| match e.get(i) {
                        Some(ev) => walk(ev, v, keep_plain),
                        None => v,
                    })
                    .collect(),
            ),
            (Value::String(s), plain) if s.starts_with("ENC[") => {
                if keep_plain {
                    plain
                } else {
                    Value::String(flotilla_core::secret::tainted(
                        &flotilla_core::secret::taint_bytes(&plain),
                    ))
                }
            }
            (_, plain) => plain,
        }
    }
    let secret = flotilla_core::secret::is_secret(encrypted);
    let (Value::Object(enc), Value::Object(plain)) = (encrypted, plain.clone()) else {
        return walk(encrypted, plain, false);
    };
    Value::Object(
        plain
            .into_iter()
            .filter(|(k, _)| k != "sops")
            .map(|(k, v)| {
                let keep_plain = secret && (k == "data" || k == "stringData");
                let inner = match enc.get(&k) {
                    Some(ev) => walk(ev, v, keep_plain),
                    None => v,
                };
                (k, inner)
            })
            .collect(),
    )
}

/// A serde message without the values it quotes (`invalid type: string
/// "…", expected …`): a Kustomization is substituted, and a value may come
/// from a Secret.
fn without_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    for c in message.chars() {
        match (c, quoted) {
            ('"', false) => {
                quoted = true;
                out.push_str("\"…");
            }
            ('"', true) => {
                quoted = false;
                out.push('"');
            }
            (_, false) => out.push(c),
            (_, true) => {}
        }
    }
    out
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
    fn spec_errors_never_quote_values() {
        let obj = serde_json::json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "apps", "namespace": "flux-system"},
            "spec": {"sourceRef": {"kind": "GitRepository", "name": "r"}, "patches": "s3cret-canary"}
        });
        let err = parse_kustomization(&obj, &reference_of(&obj).unwrap()).unwrap_err();
        let text = err.to_string();
        assert!(!text.contains("s3cret-canary"), "{text}");
        assert!(text.contains("invalid type"), "{text}");
    }

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
