//! Flags every command that renders a repository shares: what kustomize may
//! fetch, which further Flux sources map to local folders, and SOPS keys.

use flotilla_render::sops::Keyring;
use flotilla_render::{RenderCache, RenderOptions, SourceMapping};
use std::path::PathBuf;

use super::error_chain;
use std::sync::Arc;

/// How the repository is rendered.
#[derive(Debug, Clone, clap::Args)]
pub struct RenderArgs {
    /// Let kustomize fetch remote bases (URLs and remote specs such as
    /// `github.com/org/repo//path?ref=v1` in `resources`/`components`).
    /// Off by default: a Kustomization with one is reported as not rendered
    /// (its objects are neither missing nor unmanaged).
    #[arg(long)]
    pub allow_remote_bases: bool,

    /// Map a further Flux source to a local folder holding its content (a
    /// checkout of another repository, an unpacked OCI artifact), as
    /// `KIND/NAMESPACE/NAME=PATH`, e.g.
    /// `GitRepository/flux-system/podinfo=../podinfo`. Repeatable. Sources
    /// neither mapped nor the audited repository are reported as not rendered.
    #[arg(long = "source", value_name = "KIND/NAMESPACE/NAME=PATH")]
    pub sources: Vec<SourceMapping>,

    /// age identities for SOPS-encrypted files (`spec.decryption`), as the
    /// sops tool reads them; default: `$SOPS_AGE_KEY_FILE` / `$SOPS_AGE_KEY`.
    /// Without a key, encrypted values are not compared (key names are).
    #[arg(long, value_name = "FILE")]
    pub sops_age_key_file: Option<PathBuf>,

    /// Fail a Kustomization whose output uses a variable without a value, as
    /// kustomize-controller does with `StrictPostBuildSubstitutions` (its
    /// default since v1.9). Off: such variables become empty strings and
    /// are listed.
    #[arg(long)]
    pub strict_substitution: bool,
}

impl RenderArgs {
    /// Render options for one run: one shared cache; `repo_urls` are the
    /// audited repository's remotes.
    pub fn options(&self, repo_urls: Vec<String>) -> Result<RenderOptions, String> {
        let sops_keys = match &self.sops_age_key_file {
            Some(file) => Some(Keyring::from_age_file(file).map_err(|e| error_chain(&e))?),
            None => Keyring::from_env().map_err(|e| error_chain(&e))?,
        };
        Ok(RenderOptions {
            cache: Some(Arc::new(RenderCache::new())),
            allow_remote_bases: self.allow_remote_bases,
            repo_urls,
            sources: self.sources.clone(),
            sops_keys: sops_keys.map(Arc::new),
            strict_substitution: self.strict_substitution,
            ..RenderOptions::default()
        })
    }
}
