//! Flux health: is Flux itself keeping the cluster in step with Git?
//!
//! Drift in objects says what differs; these findings say why it may stay
//! that way: a suspended Kustomization never re-applies, an unhealthy one
//! fails to, and a stale one has not seen the audited commit yet.

use crate::findings::{Condition, Finding, FindingClass};
use crate::object::api_version_of;
use crate::object::{ObjectKey, group_of};
use serde_json::Value;

/// API groups whose objects carry Flux's `Ready` condition and `suspend`.
const FLUX_GROUPS: &[&str] = &[
    "source.toolkit.fluxcd.io",
    "kustomize.toolkit.fluxcd.io",
    "helm.toolkit.fluxcd.io",
];

/// The GitRepository that serves the audited repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRef {
    /// Namespace, usually `flux-system`.
    pub namespace: String,
    /// Name, usually `flux-system`.
    pub name: String,
}

/// What health checks need besides the live objects.
pub struct HealthContext<'a> {
    /// Audited revision, Flux style.
    pub revision: Option<&'a str>,
    /// Source whose objects should be at `revision`.
    pub source: Option<&'a SourceRef>,
}

/// Health findings for every live Flux object; `kustomization_of` names
/// the Kustomization that applies an object, if Git declares it.
pub fn flux_health(
    live: &[Value],
    ctx: &HealthContext<'_>,
    kustomization_of: impl Fn(&ObjectKey) -> Option<String>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for obj in live {
        let Some(key) = ObjectKey::of(obj) else {
            continue;
        };
        if !FLUX_GROUPS.contains(&key.group.as_str()) {
            continue;
        }
        let make = |class, condition| Finding {
            class,
            api_version: api_version_of(obj).to_owned(),
            kind: key.kind.clone(),
            namespace: key.namespace.clone(),
            name: key.name.clone(),
            kustomization: kustomization_of(&key),
            paths: Vec::new(),
            manager: None,
            condition,
            reverts: None,
        };
        let suspended = obj.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true);
        if suspended {
            out.push(make(FindingClass::FluxSuspended, None));
        }
        let ready = ready_condition(obj);
        // A suspended object that never reported is not also "unhealthy".
        let unhealthy = match &ready {
            Some(c) => c.status != "True",
            None => !suspended,
        };
        if unhealthy {
            let condition = ready.clone().unwrap_or_else(|| Condition {
                type_: "Ready".into(),
                status: "Unknown".into(),
                reason: None,
                message: Some("no Ready condition reported".into()),
            });
            out.push(make(FindingClass::FluxUnhealthy, Some(condition)));
        } else if !suspended && let Some(stale) = stale_condition(obj, &key, ctx) {
            out.push(make(FindingClass::FluxStale, Some(stale)));
        }
    }
    out
}

fn ready_condition(obj: &Value) -> Option<Condition> {
    let conditions = obj.pointer("/status/conditions")?.as_array()?;
    let ready = conditions
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))?;
    let text = |k: &str| ready.get(k).and_then(Value::as_str).map(str::to_owned);
    Some(Condition {
        type_: "Ready".into(),
        status: text("status").unwrap_or_else(|| "Unknown".into()),
        reason: text("reason"),
        message: text("message"),
    })
}

/// `flux-stale` when a Ready object of the audited source has applied (or
/// fetched) another revision than the audited one.
fn stale_condition(obj: &Value, key: &ObjectKey, ctx: &HealthContext<'_>) -> Option<Condition> {
    let (want, source) = (ctx.revision?, ctx.source?);
    let ns = key.namespace.as_deref().unwrap_or_default();
    let have = match key.kind.as_str() {
        "GitRepository" if ns == source.namespace && key.name == source.name => {
            obj.pointer("/status/artifact/revision")?.as_str()?
        }
        "Kustomization" => {
            let src = obj.pointer("/spec/sourceRef")?;
            let src_ns = src.get("namespace").and_then(Value::as_str).unwrap_or(ns);
            let is_source = src.get("kind").and_then(Value::as_str) == Some("GitRepository")
                && src.get("name").and_then(Value::as_str) == Some(&source.name)
                && src_ns == source.namespace;
            if !is_source {
                return None;
            }
            obj.pointer("/status/lastAppliedRevision")?.as_str()?
        }
        _ => return None,
    };
    (!same_revision(have, want)).then(|| Condition {
        type_: "Revision".into(),
        status: "Stale".into(),
        reason: Some("RevisionBehind".into()),
        message: Some(format!("applied {have}, audited {want}")),
    })
}

/// Whether two Flux revisions name the same commit: `main@sha1:<hex>`,
/// `sha1:<hex>` and the older `main/<hex>` all compare by their hash; a
/// short hash matches its long form.
pub fn same_revision(a: &str, b: &str) -> bool {
    let (ha, hb) = (commit_hash(a), commit_hash(b));
    let n = ha.len().min(hb.len());
    if n >= 7 && ha.is_ascii() && hb.is_ascii() {
        ha[..n].eq_ignore_ascii_case(&hb[..n])
    } else {
        a == b
    }
}

fn commit_hash(rev: &str) -> &str {
    rev.rsplit([':', '/', '@']).next().unwrap_or(rev)
}

/// Whether an `apiVersion` is a Flux API.
pub fn is_flux_api(api_version: &str) -> bool {
    FLUX_GROUPS.contains(&group_of(api_version))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn revision_formats() {
        let sha = "255b0055ca13d40194cd337ea7d45cd55e568f93";
        assert!(same_revision(
            &format!("main@sha1:{sha}"),
            &format!("main/{sha}")
        ));
        assert!(same_revision(
            &format!("main@sha1:{sha}"),
            &format!("sha1:{sha}")
        ));
        assert!(same_revision(
            &format!("main@sha1:{sha}"),
            "main@sha1:255b005"
        ));
        assert!(!same_revision(
            &format!("main@sha1:{sha}"),
            "main@sha1:0000000000"
        ));
    }

    fn kustomization(suspend: bool, status: &str, applied: &str) -> Value {
        json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
               "metadata": {"namespace": "flux-system", "name": "apps"},
               "spec": {"suspend": suspend, "sourceRef": {"kind": "GitRepository", "name": "flux-system"}},
               "status": {"lastAppliedRevision": applied,
                          "conditions": [{"type": "Ready", "status": status, "reason": "R", "message": "m"}]}})
    }

    fn classes(obj: Value, revision: &str) -> Vec<FindingClass> {
        let source = SourceRef {
            namespace: "flux-system".into(),
            name: "flux-system".into(),
        };
        let ctx = HealthContext {
            revision: Some(revision),
            source: Some(&source),
        };
        flux_health(&[obj], &ctx, |_| None)
            .into_iter()
            .map(|f| f.class)
            .collect()
    }

    #[test]
    fn suspended_unhealthy_stale() {
        assert_eq!(
            classes(
                kustomization(true, "True", "main@sha1:aaaaaaa"),
                "main@sha1:bbbbbbb"
            ),
            [FindingClass::FluxSuspended]
        );
        assert_eq!(
            classes(
                kustomization(false, "False", "main@sha1:aaaaaaa"),
                "main@sha1:bbbbbbb"
            ),
            [FindingClass::FluxUnhealthy]
        );
        assert_eq!(
            classes(
                kustomization(false, "True", "main@sha1:aaaaaaa"),
                "main@sha1:bbbbbbb"
            ),
            [FindingClass::FluxStale]
        );
        assert!(
            classes(
                kustomization(false, "True", "main@sha1:bbbbbbb"),
                "main@sha1:bbbbbbb"
            )
            .is_empty()
        );
    }
}
