//! What kustomize may read: every path a build will open, checked before
//! kustomize runs.
//!
//! kustomize-controller builds with `LoadRestrictionsNone` (files anywhere
//! in the source may be referenced) but on a file system that refuses every
//! path outside the source artifact, symlinks resolved, and with every
//! plugin disabled (`SecureBuild`/`Build` in fluxcd/pkg
//! `kustomize/kustomize_generator.go`: `MakeFsOnDiskSecure(root)`,
//! `LoadRestrictionsNone`, `PluginConfig: DisabledPluginConfig()`; the
//! root check is `isSecurePath` in `kustomize/filesys/fs_secure.go`).
//! flotilla runs the kustomize binary, which has no such file system, so the
//! same boundary is drawn before it runs: starting from the kustomization
//! file of the built path, every kustomization file the build reads is
//! followed (`resources`, `bases`, `components`) and every field that names
//! a file is resolved against the stage ([`super::stage`]):
//!
//! `resources`, `bases`, `components`, `crds`, `configurations`,
//! `openapi.path`, `patches[].path`, `patchesStrategicMerge` (unless
//! inline), `patchesJson6902[].path`, `replacements[].path`,
//! `configMapGenerator`/`secretGenerator` `files`/`envs`/`env`, and the
//! entries of `generators`/`transformers`/`validators` with the path fields
//! of the builtin plugin configs they hold (`files`, `envs`, `env`, `path`,
//! `paths`, `replacements[].path`).
//!
//! A path must be relative and stay inside the repository once `..` is
//! applied; it must not be or go through a symbolic link (none is staged,
//! as none is in Flux's artifact). A local path that does not exist is left
//! for kustomize to report. Plugins other
//! than kustomize's builtins (`apiVersion: builtin`, `isBuiltinPlugin` in
//! kubernetes-sigs/kustomize `api/internal/plugins/loader/loader.go`), KRM
//! functions and Helm inflation (`helmCharts`, `helmGlobals`,
//! `helmChartInflationGenerator`, the `HelmChartInflationGenerator` plugin)
//! are refused, as Flux never enables them. Remote references (a URL or a
//! kustomize remote spec such as `github.com/org/repo//path?ref=v1`) are
//! refused unless remote bases are allowed; `file://` URLs always are.
//!
//! kustomize decodes kustomization files with `sigs.k8s.io/yaml` into Go
//! structs, where `encoding/json` matches field names case-insensitively
//! (with Unicode simple folding: `ſ` is `s`, `K` is `k`), so fields are
//! matched here the same way ([`field_is`]).
//!
//! Paths as written are not secret and are named in errors; file content
//! never is.

use super::stage::{Entry, LinkTarget, Stage, join};
use serde_json::Value;
use std::collections::{BTreeSet, HashSet};

/// Why a build was refused before kustomize ran.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// An absolute path.
    #[error(
        "'{path}' is an absolute path ({file}, {field}): kustomize may only read inside the repository"
    )]
    Absolute {
        /// Kustomization file, repository-relative.
        file: String,
        /// Field, e.g. `configMapGenerator[0].files[1]`.
        field: String,
        /// The path as written.
        path: String,
    },
    /// A relative path whose `..` leave the repository.
    #[error("'{path}' leads outside the repository ({file}, {field})")]
    Escapes {
        /// Kustomization file, repository-relative.
        file: String,
        /// Field.
        field: String,
        /// The path as written.
        path: String,
    },
    /// A path that is, or goes through, a symbolic link.
    #[error(
        "'{path}' goes through the symbolic link {link}, which {target} ({file}, {field}); \
         Flux leaves symbolic links out of the source artifact, so it cannot be read"
    )]
    Symlink {
        /// Kustomization file, repository-relative.
        file: String,
        /// Field.
        field: String,
        /// The path as written.
        path: String,
        /// The link, repository-relative.
        link: String,
        /// Where it leads, in repository terms.
        target: LinkTarget,
    },
    /// A `file://` URL (a clone of something outside the repository), or a
    /// URL in an inline patch entry kustomize would first try to fetch.
    #[error(
        "'{path}' is a file:// URL, or a URL where a patch is expected ({file}, {field}): \
         kustomize may only read inside the repository"
    )]
    FileUrl {
        /// Kustomization file, repository-relative.
        file: String,
        /// Field.
        field: String,
        /// The URL as written.
        path: String,
    },
    /// Helm chart inflation.
    #[error(
        "Helm charts are not inflated ({file}, {field}): kustomize's --enable-helm is never used, as in Flux"
    )]
    Helm {
        /// Kustomization or plugin config file.
        file: String,
        /// Field.
        field: String,
    },
    /// A plugin that is not one of kustomize's builtins, or a KRM function.
    #[error(
        "plugin {kind} ({api_version}) is not run ({file}, {field}): only kustomize's builtin \
         generators and transformers are, as in Flux"
    )]
    Plugin {
        /// Kustomization or plugin config file.
        file: String,
        /// Field.
        field: String,
        /// The config's `apiVersion`.
        api_version: String,
        /// The config's `kind`.
        kind: String,
    },
    /// A kustomization folder as a `generators`/`transformers`/`validators` entry.
    #[error("'{path}' is a folder ({file}, {field}): plugin configs must be files or inline")]
    PluginFolder {
        /// Kustomization file.
        file: String,
        /// Field.
        field: String,
        /// The path as written.
        path: String,
    },
    /// A kustomization or plugin config file that is not valid YAML.
    #[error("{file}: invalid yaml{}", line.map(|l| format!(" at line {l}")).unwrap_or_default())]
    Yaml {
        /// The file, repository-relative.
        file: String,
        /// Line of the error, if known (the parser's message may quote content).
        line: Option<u64>,
    },
}

/// A remote reference the build may fetch (remote bases allowed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// Kustomization file naming it.
    pub file: String,
    /// The URL or remote spec as written.
    pub url: String,
}

/// What a checked build will read.
#[derive(Debug, Default)]
pub struct Inspection {
    /// Every path-field value as written (not content: safe to show).
    pub written: BTreeSet<String>,
    /// Remote references let through (only when allowed).
    pub remotes: Vec<Remote>,
}

/// A remote reference met while remote bases are off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteRefused {
    /// Kustomization file naming it.
    pub file: String,
    /// The URL or remote spec as written.
    pub url: String,
}

/// Why [`inspect`] stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// A refused path, plugin or chart.
    Refused(Refusal),
    /// A remote reference while remote bases are off.
    Remote(RemoteRefused),
}

impl From<Refusal> for Stop {
    fn from(r: Refusal) -> Stop {
        Stop::Refused(r)
    }
}

/// Check a build of `dir` (repository-relative) whose kustomization is
/// `doc`, shown as `file` (the edited or generated one, or the folder's own),
/// and everything it reads.
pub fn inspect(
    stage: &Stage,
    dir: &str,
    file: &str,
    doc: &Value,
    allow_remote: bool,
) -> Result<Inspection, Stop> {
    let mut inspector = Inspector {
        stage,
        allow_remote,
        out: Inspection::default(),
        queue: Vec::new(),
        seen: HashSet::from([dir.to_owned()]),
    };
    inspector.check_kustomization(dir, file, doc)?;
    while let Some(next) = inspector.queue.pop() {
        let Some(kfile) = stage.kustomization_file(&next) else {
            // kustomize reports a folder without a kustomization file itself.
            continue;
        };
        let doc = inspector.read_yaml(&kfile)?;
        let doc = doc.into_iter().next().unwrap_or(Value::Null);
        inspector.check_kustomization(&next, &kfile, &doc)?;
    }
    Ok(inspector.out)
}

/// How a path field's value is used.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Use {
    /// A resource, base or component: a file or a kustomization folder (followed).
    Resource,
    /// A file read as is.
    File,
}

/// What a path field resolved to.
enum Resolved {
    File(String),
    Dir(String),
    Remote,
    /// Nothing in the repository: kustomize reports it itself (it cannot
    /// fetch anything for it: remote-looking paths are [`Resolved::Remote`]
    /// and, with remote bases off, kustomize has no `PATH` to run `git`).
    Missing,
}

struct Inspector<'a> {
    stage: &'a Stage,
    allow_remote: bool,
    out: Inspection,
    queue: Vec<String>,
    seen: HashSet<String>,
}

impl Inspector<'_> {
    fn check_kustomization(&mut self, dir: &str, file: &str, doc: &Value) -> Result<(), Stop> {
        let Some(map) = doc.as_object() else {
            return Ok(());
        };
        for (key, value) in map {
            let at = |f: &str| (file, f.to_owned());
            if field_is(key, "resources") || field_is(key, "bases") || field_is(key, "components") {
                for (i, entry) in strings(value) {
                    let (file, field) = at(&format!("{key}[{i}]"));
                    if let Resolved::Dir(d) =
                        self.resolve(dir, file, &field, entry, Use::Resource)?
                        && self.seen.insert(d.clone())
                    {
                        self.queue.push(d);
                    }
                }
            } else if field_is(key, "crds") || field_is(key, "configurations") {
                for (i, entry) in strings(value) {
                    self.file(dir, file, &format!("{key}[{i}]"), entry)?;
                }
            } else if field_is(key, "openapi") {
                self.path_fields(dir, file, key, value)?;
            } else if field_is(key, "patches")
                || field_is(key, "patchesJson6902")
                || field_is(key, "replacements")
            {
                for (i, item) in items(value) {
                    self.path_fields(dir, file, &format!("{key}[{i}]"), item)?;
                }
            } else if field_is(key, "patchesStrategicMerge") {
                self.patch_paths(dir, file, key, value)?;
            } else if field_is(key, "configMapGenerator") || field_is(key, "secretGenerator") {
                for (i, item) in items(value) {
                    self.generator_sources(dir, file, &format!("{key}[{i}]"), item)?;
                }
            } else if field_is(key, "generators")
                || field_is(key, "transformers")
                || field_is(key, "validators")
            {
                for (i, entry) in strings(value) {
                    self.plugin_entry(dir, file, &format!("{key}[{i}]"), entry)?;
                }
            } else if (field_is(key, "helmCharts")
                || field_is(key, "helmGlobals")
                || field_is(key, "helmChartInflationGenerator"))
                && !is_empty(value)
            {
                return Err(Refusal::Helm {
                    file: file.to_owned(),
                    field: key.clone(),
                }
                .into());
            }
        }
        Ok(())
    }

    /// `path` fields of an object (`patches[i]`, `openapi`, `replacements[i]`, a plugin config).
    fn path_fields(&mut self, dir: &str, file: &str, at: &str, value: &Value) -> Result<(), Stop> {
        let Some(map) = value.as_object() else {
            return Ok(());
        };
        for (key, v) in map {
            if field_is(key, "path")
                && let Some(path) = v.as_str()
            {
                self.file(dir, file, &format!("{at}.{key}"), path)?;
            }
        }
        Ok(())
    }

    /// `patchesStrategicMerge` / a plugin's `paths`: paths, or inline patches.
    ///
    /// kustomize tries each entry as a file first and falls back to inline
    /// YAML, so an inline entry must not name a file kustomize could read
    /// either (`/tmp/x: y` is both a mapping and an absolute path). Inline
    /// text is not recorded as a written path: it may be content.
    fn patch_paths(&mut self, dir: &str, file: &str, at: &str, value: &Value) -> Result<(), Stop> {
        for (i, entry) in strings(value) {
            let field = format!("{at}[{i}]");
            if !is_inline_yaml(entry) {
                self.file(dir, file, &field, entry)?;
                continue;
            }
            let refused = |make: fn(String, String, String) -> Refusal| {
                Err(Stop::Refused(make(
                    file.to_owned(),
                    field.clone(),
                    entry.to_owned(),
                )))
            };
            if entry.starts_with('/') {
                return refused(|file, field, path| Refusal::Absolute { file, field, path });
            }
            if is_remote(entry) || entry.to_ascii_lowercase().starts_with("file:") {
                return refused(|file, field, path| Refusal::FileUrl { file, field, path });
            }
            if resolve_relative(dir, entry).is_none() {
                return refused(|file, field, path| Refusal::Escapes { file, field, path });
            }
        }
        Ok(())
    }

    /// `files` (`[key=]path`), `envs` and `env` of a ConfigMap/Secret generator.
    fn generator_sources(
        &mut self,
        dir: &str,
        file: &str,
        at: &str,
        value: &Value,
    ) -> Result<(), Stop> {
        let Some(map) = value.as_object() else {
            return Ok(());
        };
        for (key, v) in map {
            if field_is(key, "files") {
                for (i, entry) in strings(v) {
                    // kustomize's `parseFileSource`: `key=path` or `path`.
                    let path = entry.split_once('=').map_or(entry, |(_, p)| p);
                    self.file(dir, file, &format!("{at}.{key}[{i}]"), path)?;
                }
            } else if field_is(key, "envs") {
                for (i, entry) in strings(v) {
                    self.file(dir, file, &format!("{at}.{key}[{i}]"), entry)?;
                }
            } else if field_is(key, "env")
                && let Some(entry) = v.as_str()
            {
                self.file(dir, file, &format!("{at}.{key}"), entry)?;
            }
        }
        Ok(())
    }

    /// One `generators`/`transformers`/`validators` entry: inline configs
    /// (kustomize first tries the entry as YAML), else a file of configs.
    fn plugin_entry(&mut self, dir: &str, file: &str, at: &str, entry: &str) -> Result<(), Stop> {
        if is_inline_yaml(entry) {
            let docs = parse_documents(entry).map_err(|line| Refusal::Yaml {
                file: file.to_owned(),
                line,
            })?;
            for doc in &docs {
                self.plugin_config(dir, file, at, doc)?;
            }
            return Ok(());
        }
        match self.resolve(dir, file, at, entry, Use::Resource)? {
            Resolved::File(path) => {
                for doc in self.read_yaml(&path)? {
                    self.plugin_config(dir, &path, at, &doc)?;
                }
                Ok(())
            }
            Resolved::Dir(_) => Err(Refusal::PluginFolder {
                file: file.to_owned(),
                field: at.to_owned(),
                path: entry.to_owned(),
            }
            .into()),
            Resolved::Remote | Resolved::Missing => Ok(()),
        }
    }

    /// A plugin config: builtin only, no Helm, and its path fields checked
    /// (relative to the kustomization's folder, as kustomize's plugins load
    /// through the kustomization's loader).
    fn plugin_config(&mut self, dir: &str, file: &str, at: &str, doc: &Value) -> Result<(), Stop> {
        let Some(map) = doc.as_object() else {
            return Ok(());
        };
        let text = |key: &str| map.get(key).and_then(Value::as_str).unwrap_or_default();
        let (api_version, kind) = (text("apiVersion"), text("kind"));
        let annotations = doc
            .pointer("/metadata/annotations")
            .and_then(Value::as_object);
        let is_function = annotations.is_some_and(|a| {
            a.contains_key("config.kubernetes.io/function")
                || a.contains_key("config.k8s.io/function")
        });
        if api_version != "builtin" || is_function {
            return Err(Refusal::Plugin {
                file: file.to_owned(),
                field: at.to_owned(),
                api_version: api_version.to_owned(),
                kind: kind.to_owned(),
            }
            .into());
        }
        if kind == "HelmChartInflationGenerator" {
            return Err(Refusal::Helm {
                file: file.to_owned(),
                field: at.to_owned(),
            }
            .into());
        }
        for (key, v) in map {
            let field = format!("{at}.{key}");
            if field_is(key, "path") {
                if let Some(path) = v.as_str() {
                    self.file(dir, file, &field, path)?;
                }
            } else if field_is(key, "paths") {
                self.patch_paths(dir, file, &field, v)?;
            } else if field_is(key, "replacements") {
                for (i, item) in items(v) {
                    self.path_fields(dir, file, &format!("{field}[{i}]"), item)?;
                }
            }
        }
        self.generator_sources(dir, file, at, doc)
    }

    fn file(&mut self, dir: &str, file: &str, field: &str, path: &str) -> Result<(), Stop> {
        self.resolve(dir, file, field, path, Use::File).map(|_| ())
    }

    /// Resolve one path field against the stage.
    fn resolve(
        &mut self,
        dir: &str,
        file: &str,
        field: &str,
        raw: &str,
        used: Use,
    ) -> Result<Resolved, Stop> {
        let refusal = |make: fn(String, String, String) -> Refusal| {
            Stop::Refused(make(file.to_owned(), field.to_owned(), raw.to_owned()))
        };
        if raw.is_empty() {
            return Ok(Resolved::File(String::new()));
        }
        self.out.written.insert(raw.to_owned());
        if raw.to_ascii_lowercase().starts_with("file:") {
            return Err(refusal(|file, field, path| Refusal::FileUrl {
                file,
                field,
                path,
            }));
        }
        if is_remote(raw) {
            return self.remote(file, raw);
        }
        if raw.starts_with('/') {
            return Err(refusal(|file, field, path| Refusal::Absolute {
                file,
                field,
                path,
            }));
        }
        let Some(path) = resolve_relative(dir, raw) else {
            return Err(refusal(|file, field, path| Refusal::Escapes {
                file,
                field,
                path,
            }));
        };
        if let Some((link, target)) = self.stage.link_on(&path) {
            return Err(Refusal::Symlink {
                file: file.to_owned(),
                field: field.to_owned(),
                path: raw.to_owned(),
                link: link.to_owned(),
                target: target.clone(),
            }
            .into());
        }
        match self.stage.entry(&path) {
            Some(Entry::File) => Ok(Resolved::File(path)),
            Some(Entry::Dir) if used == Use::Resource => Ok(Resolved::Dir(path)),
            // A folder where a file is expected: kustomize says so itself.
            Some(Entry::Dir) => Ok(Resolved::File(path)),
            Some(Entry::Link(_)) | None if used == Use::Resource && looks_like_host(raw) => {
                self.remote(file, raw)
            }
            Some(Entry::Link(_)) | None => Ok(Resolved::Missing),
        }
    }

    fn remote(&mut self, file: &str, raw: &str) -> Result<Resolved, Stop> {
        if !self.allow_remote {
            return Err(Stop::Remote(RemoteRefused {
                file: file.to_owned(),
                url: raw.to_owned(),
            }));
        }
        self.out.remotes.push(Remote {
            file: file.to_owned(),
            url: raw.to_owned(),
        });
        Ok(Resolved::Remote)
    }

    /// The YAML documents of a staged file (repository-relative).
    fn read_yaml(&self, rel: &str) -> Result<Vec<Value>, Stop> {
        let text =
            std::fs::read_to_string(self.stage.root().join(rel)).map_err(|_| Refusal::Yaml {
                file: rel.to_owned(),
                line: None,
            })?;
        parse_documents(&text).map_err(|line| {
            Refusal::Yaml {
                file: rel.to_owned(),
                line,
            }
            .into()
        })
    }
}

/// Parse a YAML stream; on error only the line (messages may quote content).
pub fn parse_documents(text: &str) -> Result<Vec<Value>, Option<u64>> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    serde_saphyr::from_multiple::<Value>(text).map_err(|e| e.location().map(|l| l.line()))
}

/// Whether a field name matches `name` the way Go's `encoding/json` matches
/// struct fields: exactly, or equal under Unicode simple case folding. For
/// the ASCII names used here that is ASCII case-insensitivity plus
/// `ſ` (U+017F) for `s` and `K` (U+212A, Kelvin) for `k`.
pub fn field_is(key: &str, name: &str) -> bool {
    let mut key_chars = key.chars();
    for want in name.chars() {
        let Some(got) = key_chars.next() else {
            return false;
        };
        let got = match got {
            '\u{17F}' => 's',
            '\u{212A}' => 'k',
            c => c.to_ascii_lowercase(),
        };
        if got != want.to_ascii_lowercase() {
            return false;
        }
    }
    key_chars.next().is_none()
}

/// String entries of a list, with their indices (other shapes: kustomize
/// fails to decode them itself).
fn strings(value: &Value) -> impl Iterator<Item = (usize, &str)> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, v)| v.as_str().map(|s| (i, s)))
}

fn items(value: &Value) -> impl Iterator<Item = (usize, &Value)> {
    value.as_array().into_iter().flatten().enumerate()
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// Whether a list entry is inline YAML (a patch or plugin config) rather
/// than a path: kustomize tries it as YAML first and falls back to a path
/// when it is not a mapping.
fn is_inline_yaml(entry: &str) -> bool {
    match parse_documents(entry) {
        Ok(docs) => docs.iter().any(Value::is_object),
        Err(_) => entry.contains('\n'),
    }
}

/// `dir/raw` with `.` and `..` applied; `None` when it leaves the root.
pub fn resolve_relative(dir: &str, raw: &str) -> Option<String> {
    let mut parts: Vec<&str> = dir.split('/').filter(|s| !s.is_empty()).collect();
    for segment in raw.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    Some(parts.join("/"))
}

/// A URL or kustomize remote spec (`https://…`, `ssh://…`, `git@host:…`,
/// `git::…`, `gh:…`, `github.com/org/repo…`), after kustomize's
/// `NewRepoSpecFromURL` (kubernetes-sigs/kustomize `api/internal/git/repospec.go`)
/// and its loader's http(s) files. kustomize tries these before local
/// folders, so they are remote even if a folder of that name exists.
pub fn is_remote(raw: &str) -> bool {
    let lower = raw.to_ascii_lowercase();
    lower.contains("://")
        || lower.starts_with("git@")
        || lower.starts_with("git::")
        || lower.starts_with("gh:")
        || lower.starts_with("github.com/")
        || lower.starts_with("github.com:")
}

/// A missing path whose first segment looks like a host (`example.com/org/repo`):
/// kustomize would try to clone it.
fn looks_like_host(raw: &str) -> bool {
    let mut segments = raw.split('/');
    let first = segments.next().unwrap_or_default();
    first.contains('.') && first != "." && first != ".." && segments.next().is_some()
}

/// A URL as it may be shown: credentials in it (`https://user:token@host`) are removed.
pub fn shown_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://***@{host}{}", &rest[authority_end..]),
        None => url.to_owned(),
    }
}

/// Repository-relative name of a staged kustomization file of `dir`, or
/// of the one flotilla generates (`dir/kustomization.yaml`).
pub fn shown_file(dir: &str, name: &str) -> String {
    join(dir, name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn field_names_fold_like_go_encoding_json() {
        assert!(field_is("resources", "resources"));
        assert!(field_is("RESOURCES", "resources"));
        assert!(field_is("re\u{17F}ources", "resources"));
        assert!(field_is("configMapGenerator", "configmapgenerator"));
        assert!(field_is("patchesJson6902", "patchesJson6902"));
        assert!(field_is("\u{212A}ind", "kind"));
        assert!(!field_is("resource", "resources"));
        assert!(!field_is("resourcess", "resources"));
    }

    #[test]
    fn relative_paths_resolve_inside_or_not_at_all() {
        assert_eq!(
            resolve_relative("apps/a", "../b/x.yaml").as_deref(),
            Some("apps/b/x.yaml")
        );
        assert_eq!(resolve_relative("apps", "./").as_deref(), Some("apps"));
        assert_eq!(resolve_relative("apps", "../../etc/passwd"), None);
        assert_eq!(resolve_relative("", ".."), None);
    }

    #[test]
    fn remote_specs_and_shown_urls() {
        for r in [
            "https://github.com/org/repo//x?ref=v1",
            "ssh://git@host/org/repo",
            "git@github.com:org/repo.git",
            "github.com/org/repo//path?ref=main",
            "gh:org/repo",
        ] {
            assert!(is_remote(r), "{r}");
        }
        assert!(!is_remote("../base"));
        assert!(looks_like_host("example.com/org/repo"));
        assert!(!looks_like_host("apps/base"));
        assert_eq!(
            shown_url("https://user:tok@example.com/org/repo"),
            "https://***@example.com/org/repo"
        );
    }

    fn stage_with(files: &[(&str, &str)]) -> (tempfile::TempDir, Stage) {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let p = dir.path().join(path);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        }
        let stage = Stage::new(dir.path()).unwrap();
        (dir, stage)
    }

    fn check(stage: &Stage, dir: &str, yaml: &str, allow_remote: bool) -> Result<Inspection, Stop> {
        let doc = parse_documents(yaml).unwrap().remove(0);
        inspect(
            stage,
            dir,
            &shown_file(dir, "kustomization.yaml"),
            &doc,
            allow_remote,
        )
    }

    #[test]
    fn every_path_field_is_confined() {
        let (_repo, stage) = stage_with(&[
            ("apps/cm.yaml", "a: 1\n"),
            (
                "apps/base/kustomization.yaml",
                "configMapGenerator:\n- name: x\n  files: [k=../../../etc/passwd]\n",
            ),
        ]);
        let cases = [
            (
                "configMapGenerator:\n- name: x\n  files: [env=/proc/self/environ]\n",
                "absolute",
            ),
            (
                "configMapGenerator:\n- name: x\n  files: [passwd=../../../../etc/passwd]\n",
                "outside",
            ),
            (
                "secretGenerator:\n- name: x\n  envs: [/etc/hostname]\n",
                "absolute",
            ),
            ("replacements:\n- path: /etc/r.yaml\n", "absolute"),
            ("patches:\n- path: ../../p.yaml\n", "outside"),
            ("openapi:\n  path: /x.json\n", "absolute"),
            ("crds: [/c.yaml]\n", "absolute"),
            ("patchesStrategicMerge: [/p.yaml]\n", "absolute"),
            ("patchesStrategicMerge:\n- \"/tmp/x: y\"\n", "absolute"),
            ("Re\u{17F}ources: [/etc/passwd]\n", "absolute"),
            ("resources: [base]\n", "outside"),
            ("resources: [file:///etc]\n", "file://"),
            ("helmCharts:\n- name: x\n", "Helm"),
            (
                "generators:\n- |\n  apiVersion: example.com/v1\n  kind: Exec\n",
                "plugin",
            ),
            (
                "transformers:\n- |\n  apiVersion: builtin\n  kind: PatchTransformer\n  path: /etc/p\n",
                "absolute",
            ),
        ];
        for (yaml, want) in cases {
            let err = check(&stage, "apps", yaml, false).unwrap_err();
            let Stop::Refused(refusal) = err else {
                panic!("{yaml}: {err:?}")
            };
            assert!(refusal.to_string().contains(want), "{yaml}: {refusal}");
        }
        let ok = check(
            &stage,
            "apps",
            "resources: [cm.yaml, missing.yaml]\npatchesStrategicMerge:\n- |\n  kind: X\n",
            false,
        );
        assert!(ok.is_ok(), "{ok:?}");
    }

    #[test]
    fn remote_bases_are_refused_unless_allowed() {
        let (_repo, stage) = stage_with(&[("apps/cm.yaml", "a: 1\n")]);
        let yaml = "resources:\n- https://127.0.0.1:1/org/repo//x?ref=main\n";
        assert_eq!(
            check(&stage, "apps", yaml, false).unwrap_err(),
            Stop::Remote(RemoteRefused {
                file: "apps/kustomization.yaml".into(),
                url: "https://127.0.0.1:1/org/repo//x?ref=main".into()
            })
        );
        let allowed = check(&stage, "apps", yaml, true).unwrap();
        assert_eq!(allowed.remotes.len(), 1);
    }
}
