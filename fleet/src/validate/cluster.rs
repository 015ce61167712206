//! One cluster: its identity (name, kind, environment, location), its
//! resolved layers, and the model built from them.

use std::collections::HashMap;

use crate::decode::OriginId;
use crate::defaults::resolve;
use crate::error::Problem;
use crate::formats;
use crate::model::*;
use crate::spec::*;

use super::Layers;
use super::check::Check;

/// Checks a cluster's identity, resolves its layers and converts it.
pub(super) fn check_cluster(
    check: &Check<'_>,
    spec: &ClusterSpec,
    layers: &Layers<'_>,
    first_seen: &mut HashMap<String, OriginId>,
) -> Option<Cluster> {
    let name = check_name(check, spec, first_seen);
    let kind = check.required(&spec.kind, "kind").map(|(k, _)| *k);
    let environment = check_environment(check, spec, layers);
    let location = check_location(check, spec, kind);
    let kind = kind?;
    let settings = resolve_layers(spec, layers, kind, &name, environment.as_deref());
    let check = Check {
        cluster: name.clone(),
        ..check.clone()
    };
    let kind = match kind {
        KindSpec::Aks => ClusterKind::Aks,
        KindSpec::AksHybrid => ClusterKind::AksHybrid,
    };
    let namespaces = check
        .within(&settings.namespaces)
        .namespaces(&settings.namespaces);
    let declared = settings.namespaces.get().map(|_| namespaces.as_slice());
    let images = check.within(&settings.images).images(&settings.images);
    Some(Cluster {
        ingress: check
            .within(&settings.ingress)
            .ingress(kind, &settings.ingress, declared),
        secrets: check
            .within(&settings.secrets)
            .secrets(kind, &settings.secrets),
        kured: check.within(&settings.kured).kured(&settings.kured),
        auditor: check
            .within(&settings.auditor)
            .auditor(&settings.auditor, &settings.namespaces),
        policies: check
            .within(&settings.policies)
            .policies(&settings.policies, &images.registry),
        source: check.within(&settings.git).git(&settings.git),
        name,
        kind,
        environment: environment.unwrap_or_default(),
        location: location.unwrap_or_default(),
        namespaces,
        images,
    })
}

/// The cluster's name, unique in the fleet. A malformed name is reported
/// and still returned, so the rest of the cluster is checked under it.
fn check_name(
    check: &Check<'_>,
    spec: &ClusterSpec,
    first_seen: &mut HashMap<String, OriginId>,
) -> String {
    let name = check.text(&spec.name, "name", &formats::DNS_LABEL, true);
    if let (Some(name), Val::Set(_, origin)) = (&name, &spec.name) {
        match first_seen.get(name) {
            Some(first) => check.recorder.report_at(
                *origin,
                Problem::DuplicateCluster {
                    name: name.clone(),
                    first: check.recorder.place(*first),
                },
                None,
            ),
            None => {
                first_seen.insert(name.clone(), *origin);
            }
        }
    }
    name.or_else(|| spec.name.get().cloned())
        .unwrap_or_default()
}

/// The cluster's settings from its chain of layers (see [`crate::defaults`]).
fn resolve_layers(
    spec: &ClusterSpec,
    layers: &Layers<'_>,
    kind: KindSpec,
    name: &str,
    environment: Option<&str>,
) -> Settings {
    let kind_layer = match kind {
        KindSpec::Aks => layers.aks,
        KindSpec::AksHybrid => layers.aks_hybrid,
    };
    let env_layer = environment
        .and_then(|e| layers.environments.get(e))
        .and_then(|(s, _)| *s);
    let own = spec.settings();
    let mut chain: Vec<&Settings> = Vec::with_capacity(4);
    chain.extend(layers.defaults.map(|(s, _)| s));
    chain.extend(kind_layer.map(|(s, _)| s));
    chain.extend(env_layer);
    chain.push(&own);
    resolve(kind, name, &chain)
}

fn check_environment(check: &Check<'_>, spec: &ClusterSpec, layers: &Layers<'_>) -> Option<String> {
    let env = check.text(&spec.environment, "environment", &formats::DNS_LABEL, true)?;
    if layers.environments_declared
        && !layers.environments.contains_key(env.as_str())
        && let Val::Set(_, origin) = &spec.environment
    {
        let declared: Vec<&str> = layers.environments.keys().copied().collect();
        check.recorder.report_at(
            *origin,
            Problem::UnknownEnvironment {
                name: env.clone(),
                declared: declared.join(", "),
            },
            None,
        );
    }
    Some(env)
}

/// An Azure region for aks, an Azure Local site for aks-hybrid.
fn check_location(check: &Check<'_>, spec: &ClusterSpec, kind: Option<KindSpec>) -> Option<String> {
    match kind? {
        KindSpec::Aks => {
            check.forbid(
                &spec.site,
                "site",
                Problem::HybridOnly("site (set region to the Azure region)"),
            );
            check.text(&spec.region, "region", &formats::REGION, true)
        }
        KindSpec::AksHybrid => {
            check.forbid(
                &spec.region,
                "region",
                Problem::AzureOnly("region (set site to the Azure Local site name)"),
            );
            check.text(&spec.site, "site", &formats::DNS_LABEL, true)
        }
    }
}

/// Two clusters syncing one folder of one branch would overwrite each other.
pub(super) fn check_git_path_unique(
    check: &Check<'_>,
    spec: &ClusterSpec,
    cluster: &Cluster,
    seen: &mut HashMap<(String, String, String), String>,
) {
    let s = &cluster.source;
    let key = (s.url.clone(), s.branch.clone(), s.path.clone());
    match seen.get(&key) {
        Some(other) => {
            let origin = spec
                .git
                .get()
                .and_then(|g| match &g.path {
                    Val::Set(_, o) => Some(*o),
                    _ => None,
                })
                .unwrap_or(OriginId::BUILTIN);
            check.report(
                origin,
                "git.path",
                Problem::Rule(format!(
                    "cluster {other} already syncs this path of the same repository and branch"
                )),
            );
        }
        None => {
            seen.insert(key, cluster.name.clone());
        }
    }
}
