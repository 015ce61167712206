//! From spec layers to the model: gather the layers, resolve each cluster
//! ([`crate::defaults::resolve`]), check every value and every rule between
//! values, and build the [`Fleet`].
//!
//! Nothing here stops at the first problem. A value that fails a check is
//! recorded and replaced by an empty stand-in so the rest of the cluster is
//! still checked; the fleet is only returned when nothing was recorded.

mod auditor;
mod check;
mod cluster;
mod git;
mod images;
mod ingress;
mod kured;
mod namespaces;
mod policies;
mod secrets;

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use crate::decode::{OriginId, Recorder};
use crate::error::Problem;
use crate::formats;
use crate::model::Fleet;
use crate::spec::{FileSpec, Settings, Val};

use check::Check;
use cluster::{check_cluster, check_git_path_unique};

/// One decoded spec file.
pub(crate) struct SpecFile {
    pub file: Rc<str>,
    pub spec: FileSpec,
}

/// The shared layers of the whole fleet, gathered from every file.
#[derive(Default)]
struct Layers<'a> {
    defaults: Option<(&'a Settings, OriginId)>,
    aks: Option<(&'a Settings, OriginId)>,
    aks_hybrid: Option<(&'a Settings, OriginId)>,
    /// Settings (if any) and origin (if written) per declared environment.
    environments: BTreeMap<&'a str, (Option<&'a Settings>, Option<OriginId>)>,
    /// Whether any file has an `environments:` section; only then must
    /// every cluster's environment be declared.
    environments_declared: bool,
}

/// Checks every file's clusters against the merged layers and builds the
/// fleet. The caller decides from `recorder` whether it may be used.
pub(crate) fn build_fleet(files: &[SpecFile], recorder: &Recorder) -> Fleet {
    let layers = gather_layers(files, recorder);
    let mut clusters = Vec::new();
    let mut first_seen: HashMap<String, OriginId> = HashMap::new();
    let mut git_paths: HashMap<(String, String, String), String> = HashMap::new();
    for file in files {
        let Some(list) = file.spec.clusters.get() else {
            continue;
        };
        for (index, entry) in list.iter().enumerate() {
            let Val::Set(spec, origin) = entry else {
                continue;
            };
            let check = Check::new(recorder, *origin, index, &file.file);
            let duplicate = spec.name.get().is_some_and(|n| first_seen.contains_key(n));
            if let Some(cluster) = check_cluster(&check, spec, &layers, &mut first_seen) {
                if !duplicate {
                    check_git_path_unique(&check, spec, &cluster, &mut git_paths);
                }
                clusters.push(cluster);
            }
        }
    }
    clusters.sort_by(|a, b| a.name.cmp(&b.name));
    Fleet { clusters }
}

fn gather_layers<'a>(files: &'a [SpecFile], recorder: &Recorder) -> Layers<'a> {
    let mut layers = Layers::default();
    for file in files {
        let spec = &file.spec;
        keep_once(&mut layers.defaults, &spec.defaults, recorder, "defaults");
        if let Some(kinds) = spec.kinds.get() {
            keep_once(&mut layers.aks, &kinds.aks, recorder, "kinds.aks");
            keep_once(
                &mut layers.aks_hybrid,
                &kinds.aks_hybrid,
                recorder,
                "kinds.aks-hybrid",
            );
        }
        gather_environments(&mut layers, &spec.environments, recorder);
    }
    layers
}

/// Keeps the first definition of a once-per-fleet section, reporting others.
fn keep_once<'a>(
    slot: &mut Option<(&'a Settings, OriginId)>,
    val: &'a Val<Settings>,
    recorder: &Recorder,
    section: &str,
) {
    let Val::Set(settings, origin) = val else {
        return;
    };
    match slot {
        Some((_, first)) => recorder.report_at(
            *origin,
            Problem::DuplicateSection {
                section: section.to_owned(),
                first: recorder.place(*first),
            },
            None,
        ),
        None => *slot = Some((settings, *origin)),
    }
}

/// Adds one file's environments; each name may be defined in one file only.
fn gather_environments<'a>(
    layers: &mut Layers<'a>,
    environments: &'a Val<BTreeMap<String, Val<Settings>>>,
    recorder: &Recorder,
) {
    if environments.is_written() {
        layers.environments_declared = true;
    }
    for (name, settings) in environments.get().into_iter().flatten() {
        let origin = match settings {
            Val::Set(_, o) => Some(*o),
            _ => None,
        };
        if let Some(o) = origin
            && !formats::is_dns_label(name)
        {
            recorder.report_at(
                o,
                Problem::Invalid {
                    value: name.clone(),
                    what: formats::DNS_LABEL.what,
                },
                None,
            );
        }
        match layers.environments.get(name.as_str()) {
            Some((_, Some(first))) if origin.is_some() => recorder.report_at(
                origin.unwrap_or(OriginId::BUILTIN),
                Problem::DuplicateSection {
                    section: format!("environments.{name}"),
                    first: recorder.place(*first),
                },
                None,
            ),
            _ => {
                layers.environments.insert(name, (settings.get(), origin));
            }
        }
    }
}
