//! Running kustomize as kustomize-controller does, confined.
//!
//! kustomize is a process: `kustomize build` when a `kustomize` binary is on
//! `PATH`, else `kubectl kustomize` (same engine, built into kubectl). It runs
//! with `--load-restrictor=LoadRestrictionsNone`, as Flux builds with
//! `LoadRestrictionsNone` (fluxcd/pkg `kustomize/kustomize_generator.go`,
//! `Build`), and with nothing else: never `--enable-helm`,
//! `--enable-alpha-plugins` or `--enable-exec` (Flux disables every plugin
//! but the builtins). What confines it:
//!
//! - it only ever reads the stage ([`super::stage`]): flotilla's private
//!   copy of the repository, without symbolic links, never the repository;
//! - before it runs, every path the build will read is checked to stay in
//!   the repository, and plugins, KRM functions, Helm charts and (unless
//!   allowed) remote bases are refused ([`super::confine`]);
//! - its environment is cleared: a private `HOME` and `TMPDIR` inside the
//!   stage's directory, its working directory there too, no standard input,
//!   and `PATH` only when remote bases are allowed (kustomize runs `git` to
//!   fetch them; without `PATH` it cannot run anything);
//! - its standard error is reduced to what may be shown ([`super::failure`]).
//!
//! Flux does not build an overlay on top of `spec.path`: it edits the
//! kustomization file of `spec.path` in its copy of the artifact (fluxcd/pkg
//! `kustomize` generator), generating one first when the folder has none.
//! flotilla does the same in a scratch folder beside `spec.path` in the
//! stage (no copy of the tree), so `targetNamespace` replaces the
//! kustomization's own `namespace`, `namePrefix`/`nameSuffix` replace (not
//! compose with) the file's, `patches` and `components` are appended
//! (components relative to `spec.path`), and `images` merge by name. When a
//! Kustomization sets none of these and the folder has its kustomization
//! file, the staged folder is built as it is.

use super::confine::{self, Inspection, Stop, parse_documents};
use super::error::{Error, RemoteReason, Result};
use super::failure::{self, Failure};
use super::stage::{Entry, Scratch, Stage, describe_links, join};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The fields of a Flux Kustomization that change what kustomize builds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overlay {
    /// `spec.targetNamespace`.
    pub target_namespace: Option<String>,
    /// `spec.namePrefix`.
    pub name_prefix: Option<String>,
    /// `spec.nameSuffix`.
    pub name_suffix: Option<String>,
    /// `spec.patches` (same shape as kustomize's `patches`).
    pub patches: Vec<Value>,
    /// `spec.images` (`name`, `newName`, `newTag`, `digest`).
    pub images: Vec<Value>,
    /// `spec.components`, relative to `spec.path`.
    pub components: Vec<String>,
}

impl Overlay {
    /// Whether building needs no edited kustomization file.
    pub fn is_empty(&self) -> bool {
        self == &Overlay::default()
    }

    /// A stable text form, for cache keys.
    pub fn fingerprint(&self) -> String {
        serde_json::json!({
            "targetNamespace": self.target_namespace,
            "namePrefix": self.name_prefix,
            "nameSuffix": self.name_suffix,
            "patches": self.patches,
            "images": self.images,
            "components": self.components,
        })
        .to_string()
    }
}

/// What one build produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    /// kustomize's YAML stream.
    pub output: String,
    /// What the build could not see or did differently from a plain build
    /// (symbolic links the folder generator left out, remote bases fetched).
    pub notes: Vec<String>,
}

/// How kustomize is invoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kustomizer {
    program: PathBuf,
    args: Vec<String>,
}

impl Default for Kustomizer {
    fn default() -> Self {
        Kustomizer::detect()
    }
}

impl Kustomizer {
    /// `kustomize build` if `kustomize` is on `PATH`, else `kubectl kustomize`.
    pub fn detect() -> Kustomizer {
        match find_on_path("kustomize") {
            Some(program) => Kustomizer {
                program,
                args: vec!["build".into()],
            },
            None => Kustomizer {
                program: find_on_path("kubectl").unwrap_or_else(|| "kubectl".into()),
                args: vec!["kustomize".into()],
            },
        }
    }

    /// A specific program and leading arguments (e.g. `kubectl`, `["kustomize"]`).
    pub fn with_program(program: impl Into<PathBuf>, args: Vec<String>) -> Kustomizer {
        Kustomizer {
            program: program.into(),
            args,
        }
    }

    /// Build `path` (repository-relative, normalised) of the staged
    /// repository with `overlay` applied the way Flux applies it.
    pub fn build(
        &self,
        stage: &Stage,
        path: &str,
        overlay: &Overlay,
        allow_remote: bool,
    ) -> Result<Built> {
        if let Some((link, target)) = stage.link_on(path) {
            return Err(Error::PathIsLink {
                path: path.to_owned(),
                link: link.to_owned(),
                target: target.clone(),
            });
        }
        if stage.entry(path) != Some(&Entry::Dir) {
            return Err(Error::PathNotFound {
                root: PathBuf::from("."),
                path: path.to_owned(),
            });
        }
        let mut notes = Vec::new();
        let (name, shown, mut doc) = match stage.kustomization_file(path) {
            Some(file) => {
                let doc = read_kustomization(stage, &file)?;
                let name = file.rsplit('/').next().unwrap_or(&file).to_owned();
                if overlay.is_empty() {
                    let inspection = check(stage, path, &file, &doc, allow_remote)?;
                    notes.extend(remote_note(&inspection));
                    let output = self.run(stage, &stage.root().join(path), None, &inspection)?;
                    return Ok(Built { output, notes });
                }
                (name, file, doc)
            }
            None => {
                let (resources, links) = stage.manifests(path);
                if !links.is_empty() {
                    notes.push(format!(
                        "./{path} has no kustomization file and Flux generates one without its symbolic links \
                         (source-controller leaves them out of the artifact); not rendered either: {}",
                        describe_links(&links)
                    ));
                }
                let doc = serde_json::json!({
                    "apiVersion": "kustomize.config.k8s.io/v1beta1",
                    "kind": "Kustomization",
                    "resources": resources,
                });
                let name = KUSTOMIZATION_FILE.to_owned();
                (name, join(path, KUSTOMIZATION_FILE), doc)
            }
        };
        edit_kustomization(&mut doc, &shown, overlay)?;
        let inspection = check(stage, path, &shown, &doc, allow_remote)?;
        notes.extend(remote_note(&inspection));
        let scratch = stage.scratch(path, &name, &doc.to_string())?;
        let output = self.run(stage, scratch.dir(), Some(&scratch), &inspection)?;
        Ok(Built { output, notes })
    }

    /// Run kustomize on `dir` of the stage, confined (see the module docs).
    fn run(
        &self,
        stage: &Stage,
        dir: &Path,
        scratch: Option<&Scratch>,
        inspection: &Inspection,
    ) -> Result<String> {
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .arg("--load-restrictor=LoadRestrictionsNone")
            .arg(dir)
            .env_clear()
            .current_dir(stage.work_dir())
            .stdin(Stdio::null());
        for (key, value) in stage.env() {
            command.env(key, value);
        }
        // Only fetching remote bases needs a program (`git`); without `PATH`
        // kustomize cannot start one, whatever a kustomization says.
        if !inspection.remotes.is_empty()
            && let Some(path) = std::env::var_os("PATH")
        {
            command.env("PATH", path);
        }
        let output = command.output().map_err(|source| Error::Spawn {
            program: self.program.display().to_string(),
            source,
        })?;
        let shown = scratch.map_or_else(
            || {
                dir.strip_prefix(stage.root())
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default()
            },
            |s| s.path().to_owned(),
        );
        if !output.status.success() {
            let ctx = failure::Context {
                stage,
                scratch,
                written: &inspection.written,
                remotes: &inspection.remotes,
            };
            return Err(
                match failure::summarize(&String::from_utf8_lossy(&output.stderr), &ctx) {
                    Failure::Remote { file, url } => Error::RemoteBase {
                        file,
                        url,
                        reason: RemoteReason::Unreachable,
                    },
                    Failure::Other(summary) => Error::Kustomize {
                        path: shown,
                        stderr: summary,
                    },
                },
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

/// The file name flotilla writes a generated kustomization to, as Flux does.
const KUSTOMIZATION_FILE: &str = "kustomization.yaml";

/// A staged kustomization file, parsed (an empty file is an empty kustomization).
fn read_kustomization(stage: &Stage, file: &str) -> Result<Value> {
    let text = std::fs::read_to_string(stage.root().join(file)).map_err(|source| Error::Io {
        path: PathBuf::from(file),
        source,
    })?;
    let docs = parse_documents(&text).map_err(|line| {
        Error::Refused(confine::Refusal::Yaml {
            file: file.to_owned(),
            line,
        })
    })?;
    Ok(docs
        .into_iter()
        .next()
        .unwrap_or_else(|| Value::Object(Map::new())))
}

/// [`confine::inspect`], as an [`Error`].
fn check(
    stage: &Stage,
    dir: &str,
    file: &str,
    doc: &Value,
    allow_remote: bool,
) -> Result<Inspection> {
    confine::inspect(stage, dir, file, doc, allow_remote).map_err(|stop| match stop {
        Stop::Refused(refusal) => Error::Refused(refusal),
        Stop::Remote(remote) => Error::RemoteBase {
            file: remote.file,
            url: remote.url,
            reason: RemoteReason::Off,
        },
    })
}

/// Remote bases are fetched by kustomize itself and are not confined: say so.
fn remote_note(inspection: &Inspection) -> Option<String> {
    let urls: Vec<String> = inspection
        .remotes
        .iter()
        .map(|r| confine::shown_url(&r.url))
        .collect();
    (!urls.is_empty()).then(|| {
        format!(
            "remote bases fetched by kustomize (allowed; their content is not checked by flotilla): {}",
            urls.join(", ")
        )
    })
}

/// Split kustomize's output into its YAML documents.
pub fn split_documents(stream: &str) -> Vec<&str> {
    let mut docs = Vec::new();
    let mut start = 0;
    let mut offset = 0;
    for line in stream.split_inclusive('\n') {
        if line.trim_end() == "---" {
            docs.push(&stream[start..offset]);
            start = offset + line.len();
        }
        offset += line.len();
    }
    docs.push(&stream[start..]);
    docs.into_iter().filter(|d| !d.trim().is_empty()).collect()
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// Apply the Kustomization's fields to the kustomization document, as Flux's generator does.
fn edit_kustomization(doc: &mut Value, shown: &str, overlay: &Overlay) -> Result<()> {
    if doc.is_null() {
        *doc = Value::Object(Map::new());
    }
    let Some(kus) = doc.as_object_mut() else {
        return Err(Error::Yaml {
            file: shown.to_owned(),
            message: "not a mapping".into(),
        });
    };
    set_if_some(kus, "namespace", &overlay.target_namespace);
    set_if_some(kus, "namePrefix", &overlay.name_prefix);
    set_if_some(kus, "nameSuffix", &overlay.name_suffix);
    append(kus, "patches", overlay.patches.iter().cloned());
    for (i, component) in overlay.components.iter().enumerate() {
        check_local_relative(component, &format!("spec.components[{i}]"))?;
    }
    append(
        kus,
        "components",
        overlay.components.iter().map(|c| Value::String(c.clone())),
    );
    merge_images(kus, &overlay.images);
    Ok(())
}

fn set_if_some(kus: &mut Map<String, Value>, key: &str, value: &Option<String>) {
    if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
        kus.insert(key.to_owned(), Value::String(v.to_owned()));
    }
}

fn append(kus: &mut Map<String, Value>, key: &str, items: impl Iterator<Item = Value>) {
    let items: Vec<Value> = items.collect();
    if items.is_empty() {
        return;
    }
    let list = kus.entry(key).or_insert_with(|| Value::Array(Vec::new()));
    if !list.is_array() {
        *list = Value::Array(Vec::new());
    }
    if let Value::Array(list) = list {
        list.extend(items);
    }
}

/// Images merge by name: `newName` replaces; tag and digest go together.
fn merge_images(kus: &mut Map<String, Value>, images: &[Value]) {
    for image in images {
        let name = image.get("name").cloned().unwrap_or(Value::Null);
        let list = kus
            .entry("images")
            .or_insert_with(|| Value::Array(Vec::new()));
        let Value::Array(list) = list else { continue };
        let Some(existing) = list.iter_mut().find(|i| i.get("name") == Some(&name)) else {
            list.push(image.clone());
            continue;
        };
        let Some(existing) = existing.as_object_mut() else {
            continue;
        };
        if let Some(new_name) = image
            .get("newName")
            .filter(|v| v.as_str().is_some_and(|s| !s.is_empty()))
        {
            existing.insert("newName".into(), new_name.clone());
        }
        let tag = image
            .get("newTag")
            .filter(|v| v.as_str().is_some_and(|s| !s.is_empty()));
        let digest = image
            .get("digest")
            .filter(|v| v.as_str().is_some_and(|s| !s.is_empty()));
        if tag.is_some() || digest.is_some() {
            existing.remove("newTag");
            existing.remove("digest");
            if let Some(t) = tag {
                existing.insert("newTag".into(), t.clone());
            }
            if let Some(d) = digest {
                existing.insert("digest".into(), d.clone());
            }
        }
    }
}

/// Flux accepts only local, relative component paths.
fn check_local_relative(path: &str, field: &str) -> Result<()> {
    if path.contains("://") || Path::new(path).is_absolute() {
        return Err(Error::Spec {
            field: field.to_owned(),
            message: format!("component path '{path}' must be local and relative"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_documents_drops_separators_and_empty_documents() {
        let docs = split_documents("a: 1\n---\nb: 2\n---\n\n");
        assert_eq!(docs, ["a: 1\n", "b: 2\n"]);
    }

    #[test]
    fn images_merge_by_name_with_tag_and_digest_together() {
        let mut kus = Map::new();
        kus.insert(
            "images".into(),
            serde_json::json!([{"name": "nginx", "newTag": "1", "newName": "x/nginx"}]),
        );
        merge_images(
            &mut kus,
            &[
                serde_json::json!({"name": "nginx", "digest": "sha256:ab"}),
                serde_json::json!({"name": "redis", "newTag": "7"}),
            ],
        );
        assert_eq!(
            Value::Object(kus)["images"],
            serde_json::json!([{"name": "nginx", "newName": "x/nginx", "digest": "sha256:ab"}, {"name": "redis", "newTag": "7"}])
        );
    }

    #[test]
    fn remote_component_is_rejected() {
        assert!(check_local_relative("https://example.com/c", "spec.components[0]").is_err());
        assert!(check_local_relative("/abs", "spec.components[0]").is_err());
        assert!(check_local_relative("../components/x", "spec.components[0]").is_ok());
    }
}
