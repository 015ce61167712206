//! Checks of the head revision: what would make Flux fail, or break a rule.
//!
//! Build errors come from the renderer; the rest is checked here on the
//! rendered objects: schemas (typed round trip for core kinds, CRD schemas
//! for the rest), `dependsOn` references, unresolved `postBuild` variables
//! and the fleet's policies.

use super::policy::PolicyRules;
use super::typed::check_core;
use super::{Problem, ProblemClass};
use crate::schema::{self, CrdSchemas};
use flotilla_core::object::ObjectKey;
use flotilla_core::object::api_version_of;
use flotilla_render::flux::{is_flux_kustomization, reference_of};
use flotilla_render::{Desired, KustomizationRef};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// What to check the head revision against.
#[derive(Debug)]
pub struct Validator {
    /// Schemas of custom resources (from `--crds`; CRDs the repository
    /// declares are added per render). Shared between clusters.
    pub schemas: std::sync::Arc<CrdSchemas>,
    /// The fleet's policies.
    pub policy: PolicyRules,
}

/// Every problem of `head`, sorted.
pub fn validate(head: &Desired, validator: &Validator) -> Vec<Problem> {
    let paths = kustomization_paths(head);
    let at = |k: Option<&KustomizationRef>| {
        (
            k.map(ToString::to_string),
            k.and_then(|k| paths.get(k).cloned()),
        )
    };
    let mut out = Vec::new();
    for error in &head.errors {
        let (kustomization, path) = at(error.kustomization.0.as_ref());
        out.push(Problem {
            class: ProblemClass::Build,
            kustomization,
            path,
            object: None,
            message: flotilla_core::findings::error_chain(error.source.as_ref()),
            preexisting: false,
            advisory: false,
        });
    }
    for (k, vars) in &head.unresolved {
        let (kustomization, path) = at(Some(k));
        for var in vars {
            let message =
                format!("variable ${{{var}}} has no value: Flux substitutes an empty string");
            out.push(Problem {
                class: ProblemClass::UnresolvedVariable,
                kustomization: kustomization.clone(),
                path: path.clone(),
                object: None,
                message,
                preexisting: false,
                advisory: false,
            });
        }
    }
    let repo_schemas = repo_crds(head);
    let flux_objects = flux_names(head);
    for d in &head.objects {
        let (kustomization, path) = at(d.kustomization.as_ref());
        let object = ObjectKey::of(&d.object).map(|k| k.to_string());
        let mut push = |class, message: String| {
            out.push(Problem {
                class,
                kustomization: kustomization.clone(),
                path: path.clone(),
                object: object.clone(),
                message,
                preexisting: false,
                advisory: class == ProblemClass::Policy && !validator.policy.enforce,
            });
        };
        for message in schema_problems(&d.object, [&validator.schemas, &repo_schemas]) {
            push(ProblemClass::Schema, message);
        }
        for message in broken_depends_on(&d.object, &flux_objects) {
            push(ProblemClass::DependsOn, message);
        }
        for message in validator.policy.check(&d.object) {
            push(ProblemClass::Policy, message);
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Mark the problems of `head` that `base` already had.
pub fn mark_preexisting(head: &mut [Problem], base: &[Problem]) {
    let before: BTreeSet<_> = base.iter().map(preexisting_key).collect();
    for p in head.iter_mut() {
        p.preexisting = before.contains(&preexisting_key(p));
    }
}

/// What makes two problems the same: an object's problem is the object's
/// wherever it moves; a problem without an object (a build error, an
/// unresolved variable) belongs to its Kustomization, so the same variable
/// newly missing in another Kustomization is new.
fn preexisting_key(p: &Problem) -> (ProblemClass, Option<&str>, Option<&str>, &str) {
    let owner = match p.object {
        Some(_) => None,
        None => p.kustomization.as_deref(),
    };
    (p.class, owner, p.object.as_deref(), p.message.as_str())
}

/// `spec.path` of every Flux Kustomization, so a problem says where to look.
fn kustomization_paths(head: &Desired) -> BTreeMap<KustomizationRef, String> {
    head.objects
        .iter()
        .filter(|d| is_flux_kustomization(&d.object))
        .filter_map(|d| {
            let path = d.object.pointer("/spec/path")?.as_str()?.to_owned();
            Some((reference_of(&d.object)?, path))
        })
        .collect()
}

fn is_flux(obj: &Value, group_prefix: &str, kind: &str) -> bool {
    obj.get("kind").and_then(Value::as_str) == Some(kind)
        && obj
            .get("apiVersion")
            .and_then(Value::as_str)
            .is_some_and(|v| v.starts_with(group_prefix))
}

/// Schemas of the CRDs the repository itself installs: they count too.
fn repo_crds(head: &Desired) -> CrdSchemas {
    let mut schemas = CrdSchemas::new();
    let crds = head
        .objects
        .iter()
        .map(|d| &d.object)
        .filter(|o| o.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition"));
    for crd in crds {
        // A CRD the loader cannot read is reported by its own typed round trip.
        let _ = schemas.add_crd(crd);
    }
    schemas
}

fn schema_problems(obj: &Value, sets: [&CrdSchemas; 2]) -> Vec<String> {
    if let Some(problems) = check_core(obj) {
        return problems;
    }
    let api_version = api_version_of(obj);
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
    // Kinds no schema describes (a CRD installed outside this repository)
    // are left to the API server.
    let Some(schemas) = sets.into_iter().find(|s| s.contains(api_version, kind)) else {
        return Vec::new();
    };
    match schemas.validate(obj) {
        Ok(()) => Vec::new(),
        Err(errors) => errors.iter().map(schema::SchemaError::to_string).collect(),
    }
}

/// `(kind, namespace, name)` of every Flux Kustomization and HelmRelease.
fn flux_names(head: &Desired) -> BTreeSet<(String, String, String)> {
    head.objects
        .iter()
        .filter(|d| {
            is_flux(&d.object, "kustomize.toolkit.fluxcd.io/", "Kustomization")
                || is_flux(&d.object, "helm.toolkit.fluxcd.io/", "HelmRelease")
        })
        .filter_map(|d| ObjectKey::of(&d.object))
        .map(|k| (k.kind, k.namespace.unwrap_or_default(), k.name))
        .collect()
}

fn broken_depends_on(obj: &Value, known: &BTreeSet<(String, String, String)>) -> Vec<String> {
    let is_kustomization = is_flux(obj, "kustomize.toolkit.fluxcd.io/", "Kustomization");
    if !is_kustomization && !is_flux(obj, "helm.toolkit.fluxcd.io/", "HelmRelease") {
        return Vec::new();
    }
    let kind = if is_kustomization {
        "Kustomization"
    } else {
        "HelmRelease"
    };
    let own_ns = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let deps = obj.pointer("/spec/dependsOn").and_then(Value::as_array);
    deps.into_iter()
        .flatten()
        .filter_map(|dep| {
            let name = dep.get("name")?.as_str()?;
            let ns = dep
                .get("namespace")
                .and_then(Value::as_str)
                .unwrap_or(own_ns);
            let found = known.contains(&(kind.to_owned(), ns.to_owned(), name.to_owned()));
            (!found).then(|| {
                format!("dependsOn {kind} {ns}/{name}, which this cluster does not declare")
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_render::DesiredObject;
    use serde_json::json;

    fn ks(name: &str, deps: &[&str]) -> Value {
        let deps: Vec<Value> = deps.iter().map(|d| json!({"name": d})).collect();
        json!({"apiVersion":"kustomize.toolkit.fluxcd.io/v1","kind":"Kustomization",
               "metadata":{"name":name,"namespace":"flux-system"},
               "spec":{"interval":"10m","path":format!("./infra/{name}"),"prune":true,
                       "sourceRef":{"kind":"GitRepository","name":"flux-system"},"dependsOn":deps}})
    }

    #[test]
    fn a_problem_without_object_is_preexisting_only_in_its_kustomization() {
        let unresolved = |ks: &str| Problem {
            class: ProblemClass::UnresolvedVariable,
            kustomization: Some(format!("flux-system/{ks}")),
            path: None,
            object: None,
            message: "variable ${region} has no value: Flux substitutes an empty string".into(),
            preexisting: false,
            advisory: false,
        };
        let mut head = vec![unresolved("apps"), unresolved("secrets")];
        mark_preexisting(&mut head, &[unresolved("apps")]);
        assert_eq!(
            head.iter().map(|p| p.preexisting).collect::<Vec<_>>(),
            [true, false]
        );
    }

    #[test]
    fn broken_depends_on_and_unresolved_variables_are_problems() {
        let owner = KustomizationRef {
            namespace: "flux-system".into(),
            name: "flux-system".into(),
        };
        let head = Desired {
            objects: vec![
                ks("namespaces", &[]),
                ks("ingress", &["namespaces", "secrets"]),
            ]
            .into_iter()
            .map(|object| DesiredObject {
                object,
                kustomization: Some(owner.clone()),
            })
            .collect(),
            unresolved: [(
                KustomizationRef {
                    namespace: "flux-system".into(),
                    name: "ingress".into(),
                },
                ["acr_server".to_owned()].into(),
            )]
            .into(),
            ..Desired::default()
        };
        let validator = Validator {
            schemas: CrdSchemas::new().into(),
            policy: PolicyRules::baseline(),
        };
        let problems = validate(&head, &validator);
        let summary: Vec<_> = problems
            .iter()
            .map(|p| (p.class, p.path.as_deref(), p.message.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                (
                    ProblemClass::DependsOn,
                    None,
                    "dependsOn Kustomization flux-system/secrets, which this cluster does not declare"
                ),
                (
                    ProblemClass::UnresolvedVariable,
                    Some("./infra/ingress"),
                    "variable ${acr_server} has no value: Flux substitutes an empty string"
                ),
            ]
        );
    }
}
