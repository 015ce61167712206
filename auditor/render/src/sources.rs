//! Which Flux sources are the audited repository, and which are not.
//!
//! A Flux Kustomization renders the `spec.path` of its `spec.sourceRef`. Only
//! a source whose content flotilla holds can be rendered:
//!
//! - the *audited repository*: the source the entry's own Kustomization uses,
//!   whatever its kind and name (`GitRepository flux-system/home-kubernetes`,
//!   an `OCIRepository` a FluxInstance syncs, an `ExternalArtifact`), and every
//!   `GitRepository`/`OCIRepository`/`Bucket`... whose URL is the audited
//!   repository's remote (compared after [`normalize_url`]);
//! - a source the user maps to a local folder (`--source KIND/NAMESPACE/NAME=PATH`).
//!
//! Any other source is *foreign*: its Kustomizations are named as not
//! rendered, never silently dropped.
//!
//! A FluxInstance (flux-operator) with `spec.sync` makes the operator create a
//! source and a Kustomization, both named after the FluxInstance's namespace,
//! in that namespace (<https://fluxoperator.dev/docs/instance/sync.md>: "The
//! Flux objects are created in the same namespace where the FluxInstance is
//! deployed using the namespace name as the Flux source and Kustomization
//! name").

use super::flux::SourceRef;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;

/// The group of Flux's source kinds.
pub const SOURCE_GROUP: &str = "source.toolkit.fluxcd.io";

/// A `--source KIND/NAMESPACE/NAME=PATH` mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceMapping {
    /// The source it stands for.
    pub source: SourceRef,
    /// Local folder holding that source's content (a checkout, an unpacked artifact).
    pub path: PathBuf,
}

/// Why a `--source` argument cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--source {given}: {reason}")]
pub struct SourceMappingError {
    /// The argument as given.
    pub given: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl std::str::FromStr for SourceMapping {
    type Err = SourceMappingError;

    /// `GitRepository/flux-system/podinfo=../podinfo`.
    fn from_str(text: &str) -> Result<SourceMapping, SourceMappingError> {
        let err = |reason| SourceMappingError {
            given: text.to_owned(),
            reason,
        };
        let (reference, path) = text
            .split_once('=')
            .ok_or_else(|| err("expected KIND/NAMESPACE/NAME=PATH"))?;
        let mut parts = reference.split('/');
        let (Some(kind), Some(namespace), Some(name), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(err("expected KIND/NAMESPACE/NAME=PATH"));
        };
        if kind.is_empty() || namespace.is_empty() || name.is_empty() {
            return Err(err("kind, namespace and name must not be empty"));
        }
        if path.is_empty() {
            return Err(err("the path must not be empty"));
        }
        Ok(SourceMapping {
            source: SourceRef {
                kind: kind.to_owned(),
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            },
            path: PathBuf::from(path),
        })
    }
}

/// Where a Kustomization's source content is, if anywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// The audited repository.
    Audited,
    /// A folder given with `--source` (index into the mappings).
    Mapped(usize),
    /// Not known yet: a `GitRepository` not seen so far may still turn out to
    /// point at the audited repository.
    Undecided,
}

/// A repository URL reduced to what identifies it: host and path, lower-case
/// host, no scheme, user, port of the default protocols, `.git` or trailing `/`.
///
/// `ssh://git@github.com/Org/Repo.git`, `git@github.com:Org/Repo`,
/// `https://github.com/Org/Repo/` and `HTTPS://github.com/Org/Repo.git` are one
/// repository. The path keeps its case (GitHub's is case-insensitive, other
/// hosts' is not; a false "foreign" is said out loud, a false match is not).
pub fn normalize_url(url: &str) -> Option<String> {
    let url = url.trim();
    if url.is_empty() {
        return None;
    }
    let (host, path) = match url.split_once("://") {
        Some((_scheme, rest)) => {
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            (host.to_owned(), path.to_owned())
        }
        // scp-like syntax: `git@github.com:org/repo`.
        None => {
            let (authority, path) = url.split_once(':')?;
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            (host.to_owned(), path.to_owned())
        }
    };
    let host = host
        .trim_end_matches(":22")
        .trim_end_matches(":443")
        .trim_end_matches(":80")
        .to_ascii_lowercase();
    let path = path.trim_matches('/');
    let path = path
        .strip_suffix(".git")
        .unwrap_or(path)
        .trim_end_matches('/');
    if host.is_empty() || path.is_empty() {
        return None;
    }
    Some(format!("{host}/{path}"))
}

/// The `spec.url` of a Flux source object, if it is one.
pub fn source_url(obj: &Value) -> Option<(SourceRef, String)> {
    let api_version = obj.get("apiVersion")?.as_str()?;
    if flotilla_core::object::group_of(api_version) != SOURCE_GROUP {
        return None;
    }
    let kind = obj.get("kind")?.as_str()?;
    let meta = obj.get("metadata")?;
    let url = obj.pointer("/spec/url")?.as_str()?;
    Some((
        SourceRef {
            kind: kind.to_owned(),
            namespace: meta
                .get("namespace")
                .and_then(Value::as_str)
                .unwrap_or("default")
                .to_owned(),
            name: meta.get("name")?.as_str()?.to_owned(),
        },
        url.to_owned(),
    ))
}

/// What a FluxInstance's `spec.sync` makes the operator create: the source
/// and the `spec.path` of the Kustomization, both named after the namespace.
pub fn flux_instance_sync(obj: &Value) -> Option<(SourceRef, String, Option<String>)> {
    if obj.get("kind")?.as_str()? != "FluxInstance"
        || flotilla_core::object::group_of(obj.get("apiVersion")?.as_str()?)
            != "fluxcd.controlplane.io"
    {
        return None;
    }
    let namespace = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("flux-system")
        .to_owned();
    let sync = obj.pointer("/spec/sync")?;
    let kind = sync.get("kind")?.as_str()?.to_owned();
    let path = sync
        .get("path")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let url = sync.get("url").and_then(Value::as_str).map(str::to_owned);
    let name = sync
        .get("name")
        .and_then(Value::as_str)
        .map_or_else(|| namespace.clone(), str::to_owned);
    Some((
        SourceRef {
            kind,
            namespace,
            name,
        },
        path,
        url,
    ))
}

/// The sources of one render and what is known about them.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// Sources that are the audited repository.
    audited: BTreeSet<SourceRef>,
    /// Normalised remote URLs of the audited repository.
    audited_urls: BTreeSet<String>,
    /// `--source` mappings, in the order given.
    mappings: Vec<SourceMapping>,
    /// Every source object rendered so far, with its normalised URL.
    seen: BTreeMap<SourceRef, Option<String>>,
}

impl Sources {
    /// Sources knowing the audited repository's remote URLs and the
    /// `--source` mappings.
    pub fn new(repo_urls: &[String], mappings: &[SourceMapping]) -> Sources {
        Sources {
            audited_urls: repo_urls.iter().filter_map(|u| normalize_url(u)).collect(),
            mappings: mappings.to_vec(),
            ..Sources::default()
        }
    }

    /// `url` is a remote of the audited repository (a FluxInstance syncs it).
    pub fn add_url(&mut self, url: &str) {
        if let Some(url) = normalize_url(url) {
            self.audited_urls.insert(url);
        }
    }

    /// `source` is the audited repository.
    pub fn mark_audited(&mut self, source: SourceRef) {
        if let Some(Some(url)) = self.seen.get(&source) {
            self.audited_urls.insert(url.clone());
        }
        self.audited.insert(source);
    }

    /// Remember a rendered object if it is a Flux source: when its URL is
    /// the audited repository's, it is audited too. Returns whether this
    /// changed anything about which sources are audited.
    pub fn record(&mut self, obj: &Value) -> bool {
        let Some((source, url)) = source_url(obj) else {
            return false;
        };
        let normalized = normalize_url(&url);
        let was_audited = self.audited.contains(&source);
        self.seen.insert(source.clone(), normalized.clone());
        match normalized {
            Some(url) if self.audited_urls.contains(&url) => {
                self.audited.insert(source);
                !was_audited
            }
            Some(url) if was_audited => {
                // The audited source's own object names its URL: any other
                // source with that URL is audited too.
                let added = self.audited_urls.insert(url.clone());
                if added {
                    let same: Vec<SourceRef> = self
                        .seen
                        .iter()
                        .filter(|(_, u)| u.as_deref() == Some(url.as_str()))
                        .map(|(s, _)| s.clone())
                        .collect();
                    self.audited.extend(same);
                }
                added
            }
            _ => false,
        }
    }

    /// Where the content of `source` is.
    pub fn content(&self, source: &SourceRef) -> Content {
        if let Some(i) = self.mappings.iter().position(|m| &m.source == source) {
            return Content::Mapped(i);
        }
        if self.audited.contains(source) {
            return Content::Audited;
        }
        Content::Undecided
    }

    /// The folder of a mapped source.
    pub fn mapping(&self, index: usize) -> Option<&SourceMapping> {
        self.mappings.get(index)
    }

    /// Every mapping.
    pub fn mappings(&self) -> &[SourceMapping] {
        &self.mappings
    }

    /// The sources that are the audited repository (for messages).
    pub fn audited(&self) -> impl Iterator<Item = &SourceRef> {
        self.audited.iter()
    }

    /// Why a source is foreign, for the report: its URL when known.
    pub fn describe_foreign(&self, source: &SourceRef) -> ForeignSource {
        ForeignSource {
            source: source.clone(),
            url: self.seen.get(source).cloned().flatten(),
            declared: self.seen.contains_key(source),
        }
    }
}

/// A source flotilla does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignSource {
    /// The source.
    pub source: SourceRef,
    /// Its normalised URL, when the repository declares it.
    pub url: Option<String>,
    /// Whether the repository declares the source object at all.
    pub declared: bool,
}

impl fmt::Display for ForeignSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "source {}", self.source)?;
        match (&self.url, self.declared) {
            (Some(url), _) => write!(f, " ({url}) is not the audited repository"),
            (None, true) => write!(f, " is not the audited repository"),
            (None, false) => write!(f, " is not declared in the audited repository"),
        }?;
        write!(
            f,
            "; map it to a local folder with --source {}/{}/{}=PATH",
            self.source.kind, self.source.namespace, self.source.name
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn urls_of_one_repository_normalise_alike() {
        let forms = [
            "ssh://git@github.com/Contoso/fleet-gitops.git",
            "git@github.com:Contoso/fleet-gitops",
            "https://github.com/Contoso/fleet-gitops/",
            "HTTPS://GitHub.com/Contoso/fleet-gitops.git",
            "ssh://git@github.com:22/Contoso/fleet-gitops",
            "https://x-access-token@github.com/Contoso/fleet-gitops",
        ];
        for form in forms {
            assert_eq!(
                normalize_url(form).as_deref(),
                Some("github.com/Contoso/fleet-gitops"),
                "{form}"
            );
        }
        assert_ne!(
            normalize_url("https://github.com/contoso/other"),
            normalize_url("https://github.com/contoso/fleet-gitops")
        );
        assert_eq!(normalize_url(""), None);
        assert_eq!(normalize_url("https://github.com/"), None);
    }

    #[test]
    fn mappings_parse_and_reject_malformed_arguments() {
        let m: SourceMapping = "OCIRepository/flux-system/apps=../apps".parse().unwrap();
        assert_eq!(m.source.kind, "OCIRepository");
        assert_eq!(m.path, PathBuf::from("../apps"));
        for bad in ["x", "A/b=p", "A/b/c/d=p", "A//c=p", "A/b/c="] {
            assert!(bad.parse::<SourceMapping>().is_err(), "{bad}");
        }
    }

    fn git_repo(name: &str, url: &str) -> Value {
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
               "metadata": {"namespace": "flux-system", "name": name}, "spec": {"url": url}})
    }

    #[test]
    fn a_source_with_the_audited_url_is_audited_whatever_its_name() {
        let mut sources = Sources::new(&["git@github.com:contoso/fleet".into()], &[]);
        let other = SourceRef {
            kind: "GitRepository".into(),
            namespace: "flux-system".into(),
            name: "home-kubernetes".into(),
        };
        assert_eq!(sources.content(&other), Content::Undecided);
        assert!(sources.record(&git_repo(
            "home-kubernetes",
            "https://github.com/contoso/fleet.git"
        )));
        assert_eq!(sources.content(&other), Content::Audited);
        sources.record(&git_repo(
            "podinfo",
            "https://github.com/stefanprodan/podinfo",
        ));
        let podinfo = SourceRef {
            name: "podinfo".into(),
            ..other
        };
        assert_eq!(sources.content(&podinfo), Content::Undecided);
        assert!(
            sources
                .describe_foreign(&podinfo)
                .to_string()
                .contains("stefanprodan/podinfo")
        );
    }

    #[test]
    fn the_audited_sources_url_makes_its_twins_audited() {
        let mut sources = Sources::new(&[], &[]);
        let main = SourceRef {
            kind: "GitRepository".into(),
            namespace: "flux-system".into(),
            name: "flux-system".into(),
        };
        sources.mark_audited(main.clone());
        sources.record(&git_repo("apps-staging", "https://github.com/c/fleet"));
        sources.record(&git_repo("flux-system", "ssh://git@github.com/c/fleet.git"));
        let twin = SourceRef {
            name: "apps-staging".into(),
            ..main
        };
        assert_eq!(sources.content(&twin), Content::Audited);
    }

    #[test]
    fn flux_instance_sync_names_source_and_kustomization_after_the_namespace() {
        let instance = json!({"apiVersion": "fluxcd.controlplane.io/v1", "kind": "FluxInstance",
            "metadata": {"name": "flux", "namespace": "flux-system"},
            "spec": {"sync": {"kind": "OCIRepository", "url": "oci://ghcr.io/c/fleet", "path": "clusters/prod"}}});
        let (source, path, url) = flux_instance_sync(&instance).unwrap();
        assert_eq!(
            (source.kind.as_str(), source.name.as_str(), path.as_str()),
            ("OCIRepository", "flux-system", "clusters/prod")
        );
        assert_eq!(url.as_deref(), Some("oci://ghcr.io/c/fleet"));
    }
}
