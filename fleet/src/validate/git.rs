//! `git`: where Flux syncs each cluster from.

use crate::formats;
use crate::model::*;
use crate::spec::*;

use super::check::Check;

impl Check<'_> {
    pub(super) fn git(&self, val: &Val<GitSpec>) -> GitSource {
        let g = val.get().cloned().unwrap_or_default();
        GitSource {
            url: self
                .text(&g.url, "git.url", &formats::GIT_URL, true)
                .unwrap_or_default(),
            branch: self
                .text(&g.branch, "git.branch", &formats::GIT_BRANCH, true)
                .unwrap_or_default(),
            path: self
                .text(&g.path, "git.path", &formats::REPO_PATH, true)
                .unwrap_or_default(),
            interval: self
                .text(&g.interval, "git.interval", &formats::DURATION, true)
                .unwrap_or_default(),
            kustomization_interval: self
                .text(
                    &g.kustomization_interval,
                    "git.kustomizationInterval",
                    &formats::DURATION,
                    true,
                )
                .unwrap_or_default(),
            secret_ref: self.text(&g.secret_ref, "git.secretRef", &formats::SECRET_NAME, false),
        }
    }
}
