//! `git`: where Flux syncs each cluster from.

use crate::formats;
use crate::model::*;
use crate::ranges;
use crate::spec::*;

use super::check::Check;
use crate::error::Problem;

impl Check<'_> {
    /// A Flux `spec.interval`: the CRD's pattern, then a length Flux can
    /// hold (a `metav1.Duration`, parsed with Go's `time.ParseDuration`)
    /// and more than zero (controller-runtime only requeues after a
    /// positive `RequeueAfter`, so 0 would stop Flux from polling).
    fn flux_interval(&self, val: &Val<String>, field: &str) -> Option<String> {
        self.duration(
            val,
            field,
            &formats::FLUX_DURATION,
            ranges::go_duration_nanos,
            "Flux reads it as a Go duration, at most about 292 years; at 0 it stops reconciling",
        )
    }
}

impl Check<'_> {
    pub(super) fn git(&self, val: &Val<GitSpec>) -> GitSource {
        let g = val.get().cloned().unwrap_or_default();
        if let Val::Set(url, origin) = &g.url
            && formats::has_url_credentials(url)
        {
            // Never echoed: the value holds a token or a password.
            self.report(
                *origin,
                "git.url",
                Problem::InvalidHidden {
                    what: "a Git URL without credentials (put them in the Secret git.secretRef names)",
                },
            );
        }
        let credentials = matches!(&g.url, Val::Set(url, _) if formats::has_url_credentials(url));
        GitSource {
            url: if credentials {
                String::new()
            } else {
                self.text(&g.url, "git.url", &formats::GIT_URL, true)
                    .unwrap_or_default()
            },
            branch: self
                .text(&g.branch, "git.branch", &formats::GIT_BRANCH, true)
                .unwrap_or_default(),
            path: self
                .text(&g.path, "git.path", &formats::REPO_PATH, true)
                .unwrap_or_default(),
            interval: self
                .flux_interval(&g.interval, "git.interval")
                .unwrap_or_default(),
            kustomization_interval: self
                .flux_interval(&g.kustomization_interval, "git.kustomizationInterval")
                .unwrap_or_default(),
            secret_ref: self.text(&g.secret_ref, "git.secretRef", &formats::SECRET_NAME, false),
        }
    }
}
