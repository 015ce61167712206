//! Concurrent audits keep their events apart: every event of a cluster's
//! audit is inside that cluster's `audit` span and no other, although the
//! clusters of one run are polled on one task (a span entered and held
//! across an await would wrap the other clusters' events too).

use flotilla_auditor::audit::{AuditedCluster, Checkout, LiveTarget, audit_all};
use flotilla_core::diff::DiffOptions;
use flotilla_render::RenderOptions;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// The `cluster` field of a span or event.
#[derive(Default)]
struct ClusterField(Option<String>);

impl Visit for ClusterField {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "cluster" {
            self.0 = Some(format!("{value:?}").trim_matches('"').to_owned());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "cluster" {
            self.0 = Some(value.to_owned());
        }
    }
}

/// One event: its own `cluster` field, and the `cluster` of every span
/// around it.
#[derive(Debug)]
struct Seen {
    message_cluster: Option<String>,
    span_clusters: Vec<String>,
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Seen>>>);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut field = ClusterField::default();
        attrs.record(&mut field);
        if let (Some(cluster), Some(span)) = (field.0, ctx.span(id)) {
            span.extensions_mut().insert(ClusterField(Some(cluster)));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut field = ClusterField::default();
        event.record(&mut field);
        let span_clusters = ctx
            .event_scope(event)
            .map(|scope| {
                scope
                    .filter_map(|span| {
                        span.extensions()
                            .get::<ClusterField>()
                            .and_then(|c| c.0.clone())
                    })
                    .collect()
            })
            .unwrap_or_default();
        self.0.lock().unwrap().push(Seen {
            message_cluster: field.0,
            span_clusters,
        });
    }
}

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn snapshot() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/baseline-cluster/snapshot-clean")
}

#[tokio::test]
async fn each_clusters_events_are_inside_its_own_span_only() {
    let repo = tempfile::tempdir().unwrap();
    // Both clusters fail in kustomize (a missing resource), after the
    // render's await: the failure is logged while the other audit is
    // pending.
    for c in ["c1", "c2"] {
        write(
            repo.path(),
            &format!("clusters/{c}/kustomization.yaml"),
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - missing.yaml\n",
        );
    }
    let checkout = Checkout {
        root: repo.path().to_owned(),
        revision: None,
    };
    let targets: Vec<AuditedCluster> = ["c1", "c2"]
        .iter()
        .map(|c| AuditedCluster {
            name: (*c).to_owned(),
            entry: AuditedCluster::default_entry(c),
            live: LiveTarget::Snapshot(snapshot()),
            hub: None,
        })
        .collect();
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let _default = tracing::subscriber::set_default(subscriber);
    let report = audit_all(
        &checkout,
        &targets,
        &RenderOptions::default(),
        &DiffOptions::default(),
    )
    .await;
    assert!(
        report.clusters.iter().all(|c| !c.errors.is_empty()),
        "both audits fail: {report:?}"
    );
    let seen = capture.0.lock().unwrap();
    for c in ["c1", "c2"] {
        assert!(
            seen.iter().any(|s| s.message_cluster.as_deref() == Some(c)),
            "no event of {c}: {seen:#?}"
        );
    }
    for s in seen.iter() {
        if let Some(own) = &s.message_cluster {
            assert_eq!(
                s.span_clusters,
                std::slice::from_ref(own),
                "an event of {own} in other spans: {seen:#?}"
            );
        }
    }
}
