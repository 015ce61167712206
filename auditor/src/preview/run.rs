//! Preview every cluster of a repository between two checkouts.

use super::validate::mark_preexisting;
use super::{
    ClusterPreview, PREVIEW_VERSION, PreviewReport, Problem, ProblemClass, Validator, compare,
    validate,
};
use crate::audit::{self, Checkout, LiveTarget};
use crate::progress::{Progress, Silent};
use flotilla_core::diff::DiffOptions;
use flotilla_render::{Desired, RenderCache, RenderOptions};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use tracing::Instrument;

/// What to preview.
pub struct PreviewRequest<'a> {
    /// The base revision, checked out.
    pub base: &'a Checkout,
    /// The head revision, checked out.
    pub head: &'a Checkout,
    /// Folder whose sub-folders are the clusters' entry paths (`clusters`).
    pub clusters_dir: &'a str,
    /// Rendering (the cache is shared by both revisions and all clusters).
    pub render: &'a RenderOptions,
    /// Checks per cluster (policies differ by cluster).
    pub validator_for: &'a (dyn Fn(&str) -> Validator + Sync),
    /// Live state to compare the head with, by cluster (`--context`).
    pub live: &'a BTreeMap<String, LiveTarget>,
}

/// Clusters at either revision: the sub-folders of `clusters_dir`.
pub fn clusters_in(checkouts: [&Checkout; 2], clusters_dir: &str) -> BTreeSet<String> {
    checkouts
        .iter()
        .filter_map(|c| std::fs::read_dir(c.root.join(clusters_dir)).ok())
        .flatten()
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|n| !n.starts_with('.'))
        .collect()
}

/// Preview every cluster, concurrently. Both revisions and every cluster
/// render through one [`RenderCache`] (`req.render.cache`, or one made for
/// this preview): each revision is staged once, shared paths are built once,
/// and kustomize processes share the cores.
pub async fn preview_all(req: &PreviewRequest<'_>) -> PreviewReport {
    preview_all_with(req, &Silent).await
}

/// [`preview_all`], telling `progress` as each cluster ends.
pub async fn preview_all_with(req: &PreviewRequest<'_>, progress: &dyn Progress) -> PreviewReport {
    let clusters = clusters_in([req.base, req.head], req.clusters_dir);
    let mut render = req.render.clone();
    render
        .cache
        .get_or_insert_with(|| Arc::new(RenderCache::new()));
    let req = &PreviewRequest {
        render: &render,
        ..*req
    };
    progress.start(clusters.len());
    let runs = clusters.iter().map(|name| async move {
        // Each cluster's events in its own span, attached to its future:
        // the clusters are polled on one task.
        let preview = preview_cluster(req, name)
            .instrument(tracing::info_span!("preview", cluster = %name))
            .await;
        progress.finished(name, preview.fails());
        preview
    });
    PreviewReport {
        version: PREVIEW_VERSION,
        base: req.base.revision.clone().unwrap_or_default(),
        head: req.head.revision.clone().unwrap_or_default(),
        clusters: futures::future::join_all(runs).await,
    }
}

async fn preview_cluster(req: &PreviewRequest<'_>, name: &str) -> ClusterPreview {
    let entry = format!("{}/{name}", req.clusters_dir.trim_end_matches('/'));
    let mut out = ClusterPreview {
        cluster: name.to_owned(),
        ..ClusterPreview::default()
    };
    // Base and head are sealed alike so a changed Secret shows; with live
    // state to compare, with the live side's sealer (a snapshot's own key).
    let target = req.live.get(name);
    let sealer = match target.map(|t| audit::sealer_for(t, &req.render.sealer)) {
        Some(Ok(sealer)) => sealer,
        Some(Err(e)) => {
            out.live = Some(flotilla_core::findings::ClusterReport {
                cluster: name.to_owned(),
                errors: vec![format!(
                    "read live state: {}",
                    flotilla_core::findings::error_chain(&e)
                )],
                ..Default::default()
            });
            req.render.sealer.clone()
        }
        None => req.render.sealer.clone(),
    };
    let render = RenderOptions {
        sealer: sealer.clone(),
        ..req.render.clone()
    };
    let (base, head) = futures::join!(
        render_at(req.base, &entry, &render),
        render_at(req.head, &entry, &render)
    );
    let base_failure = base
        .as_ref()
        .err()
        .map(|e| without_checkout_root(e, &req.base.root));
    let head = match head {
        Ok(h) => h,
        Err(e) => {
            let message = without_checkout_root(&e, &req.head.root);
            out.problems
                .push(entry_problem(&entry, message, base_failure.as_deref()));
            return out;
        }
    };
    // A change that repairs a cluster must not fail for the base's fault.
    let base = base.unwrap_or_else(|_| {
        out.notes.push(format!(
            "the base revision does not build ({}): every object counts as added",
            base_failure.as_deref().unwrap_or_default()
        ));
        Desired::default()
    });
    out.changes = compare(&base, &head);
    let validator = (req.validator_for)(name);
    out.problems = validate(&head, &validator);
    strip_checkout_root(&mut out.problems, &req.head.root);
    let mut before = validate(&base, &validator);
    strip_checkout_root(&mut before, &req.base.root);
    mark_preexisting(&mut out.problems, &before);
    out.notes.extend(head.notes.iter().cloned());
    for n in crate::audit::not_rendered_in(&head, None)
        .into_iter()
        .chain(crate::audit::not_rendered_in(&base, None))
    {
        if !out.not_rendered.contains(&n) {
            out.not_rendered.push(n);
        }
    }
    if let Some(target) = target.filter(|_| out.live.is_none()) {
        out.live = Some(live_drift(name, &head, target, &sealer).await);
    }
    out
}

/// The cluster's entry path itself does not build at head: nothing below
/// it renders. Pre-existing when the base failed the same way.
fn entry_problem(entry: &str, message: String, base_failure: Option<&str>) -> Problem {
    Problem {
        class: ProblemClass::Build,
        kustomization: None,
        path: Some(format!("./{entry}")),
        object: None,
        preexisting: base_failure == Some(message.as_str()),
        advisory: false,
        message,
    }
}

/// Make kustomize's messages repository-relative: they name files under
/// the checkout's temporary directory, which differs between base and head
/// (so the same build error would never match as pre-existing) and means
/// nothing to the reader of a pull request.
fn strip_checkout_root(problems: &mut [Problem], root: &Path) {
    for p in problems.iter_mut() {
        p.message = without_checkout_root(&p.message, root);
    }
}

fn without_checkout_root(message: &str, root: &Path) -> String {
    let mut roots = vec![root.to_path_buf()];
    // kustomize resolves symlinks (`/tmp` → `/private/tmp` on macOS).
    roots.extend(root.canonicalize().ok().filter(|c| c != root));
    roots.iter().fold(message.to_owned(), |m, r| {
        let prefix = format!("{}/", r.display().to_string().trim_end_matches('/'));
        m.replace(&prefix, "")
    })
}

/// Render `entry` at a checkout; a cluster that does not exist there renders empty.
async fn render_at(
    checkout: &Checkout,
    entry: &str,
    render: &RenderOptions,
) -> Result<Desired, String> {
    if !Path::new(&checkout.root).join(entry).is_dir() {
        return Ok(Desired {
            revision: checkout.revision.clone(),
            ..Desired::default()
        });
    }
    audit::render_desired(checkout, entry, render)
        .await
        .map_err(|e| flotilla_core::findings::error_chain(&e))
}

async fn live_drift(
    name: &str,
    head: &Desired,
    target: &LiveTarget,
    sealer: &flotilla_core::secret::Sealer,
) -> flotilla_core::findings::ClusterReport {
    match audit::read_live(target, &audit::scope_for(head), sealer).await {
        Ok(live) => audit::report_for(name, head, &live, &DiffOptions::default()),
        Err(e) => flotilla_core::findings::ClusterReport {
            cluster: name.to_owned(),
            errors: vec![format!(
                "read live state: {}",
                flotilla_core::findings::error_chain(&e)
            )],
            ..Default::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_messages_lose_the_checkout_directory() {
        let root = Path::new("/tmp/flotilla-repo-abc123");
        let mut problems = vec![Problem {
            class: ProblemClass::Build,
            kustomization: None,
            path: None,
            object: None,
            message: "open /tmp/flotilla-repo-abc123/infrastructure/x.yaml: no such file".into(),
            preexisting: false,
            advisory: false,
        }];
        strip_checkout_root(&mut problems, root);
        assert_eq!(
            problems[0].message,
            "open infrastructure/x.yaml: no such file"
        );
    }
}
