//! Running kustomize as kustomize-controller does.
//!
//! kustomize is a process: `kustomize build` when a `kustomize` binary is on
//! `PATH`, else `kubectl kustomize` (same engine, built into kubectl). Both
//! run with `--load-restrictor LoadRestrictionsNone`, as Flux builds with
//! `LoadRestrictionsNone` (files anywhere in the repository may be referenced).
//!
//! Flux does not build an overlay on top of `spec.path`: it edits the
//! kustomization file of `spec.path` in a private copy of the source artifact
//! (`fluxcd/pkg/kustomize` generator), generating one first when the folder
//! has none. We do the same in a temporary copy of the repository, so
//! `targetNamespace` replaces the kustomization's own `namespace`,
//! `namePrefix`/`nameSuffix` replace (not compose with) the file's, `patches`
//! and `components` are appended (components relative to `spec.path`), and
//! `images` merge by name. When a Kustomization sets none of these and the
//! folder has its kustomization file, the repository is built in place.

use super::error::{Error, Result};
use serde_json::{Map, Value};
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The file names kustomize recognises, in its order of preference.
const KUSTOMIZATION_FILES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Files source-controller leaves out of every Git artifact (its default
/// ignore patterns), so the folder generator must not list them either.
const IGNORED_FILES: [&str; 10] = [
    ".travis.yml",
    ".gitlab-ci.yml",
    "appveyor.yml",
    ".drone.yml",
    "cloudbuild.yaml",
    "codeship-services.yml",
    "codeship-steps.yml",
    ".goreleaser.yml",
    ".sops.yaml",
    ".flux.yaml",
];
/// Folders source-controller leaves out of every Git artifact.
const IGNORED_DIRS: [&str; 3] = [".git", ".github", ".circleci"];

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

    /// Build `path` (repository-relative) of `repo_root` with `overlay`
    /// applied the way Flux applies it; returns kustomize's YAML stream.
    pub fn build(&self, repo_root: &Path, path: &str, overlay: &Overlay) -> Result<String> {
        let dir = repo_root.join(path);
        if !dir.is_dir() {
            return Err(Error::PathNotFound {
                root: repo_root.to_owned(),
                path: path.to_owned(),
            });
        }
        if overlay.is_empty() && find_kustomization_file(&dir).is_some() {
            return self.run(&dir, path, None);
        }
        let copy = tempfile::Builder::new()
            .prefix("flotilla-build-")
            .tempdir()
            .map_err(|source| Error::Io {
                path: std::env::temp_dir(),
                source,
            })?;
        copy_tree(repo_root, copy.path())?;
        let build_dir = copy.path().join(path);
        let kfile = match find_kustomization_file(&build_dir) {
            Some(file) => file,
            None => generate_kustomization(&build_dir)?,
        };
        edit_kustomization(&kfile, overlay)?;
        self.run(&build_dir, path, Some(copy.path()))
    }

    /// Run kustomize on `dir`; `shown` is the repository-relative path errors
    /// name, and paths under `scratch` are shown relative to it in stderr.
    fn run(&self, dir: &Path, shown: &str, scratch: Option<&Path>) -> Result<String> {
        let output = Command::new(&self.program)
            .args(&self.args)
            .arg("--load-restrictor=LoadRestrictionsNone")
            .arg(dir)
            .output()
            .map_err(|source| Error::Spawn {
                program: self.program.display().to_string(),
                source,
            })?;
        if !output.status.success() {
            let mut stderr = strip_klog_prefixes(String::from_utf8_lossy(&output.stderr).trim());
            if let Some(scratch) = scratch {
                stderr = stderr.replace(&format!("{}/", scratch.display()), "");
            }
            return Err(Error::Kustomize {
                path: shown.to_owned(),
                stderr,
            });
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

/// kubectl prefixes its messages with klog's `E1121 07:40:28.647890   21656 run.go:72] `;
/// the timestamp and pid say nothing about the repository, so they go.
fn strip_klog_prefixes(stderr: &str) -> String {
    stderr
        .lines()
        .map(|line| {
            let mut chars = line.chars();
            let is_klog = matches!(chars.next(), Some('I' | 'W' | 'E' | 'F'))
                && line
                    .get(1..5)
                    .is_some_and(|d| d.chars().all(|c| c.is_ascii_digit()));
            match line.find("] ") {
                Some(end) if is_klog => &line[end + 2..],
                _ => line,
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
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

/// The kustomization file of `dir`, if any.
pub fn find_kustomization_file(dir: &Path) -> Option<PathBuf> {
    KUSTOMIZATION_FILES
        .iter()
        .map(|name| dir.join(name))
        .find(|p| p.is_file())
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// Copy a repository (without `.git`) so kustomization files can be edited.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| Error::Io { path, source }
    };
    for entry in fs::read_dir(from).map_err(io(from))? {
        let entry = entry.map_err(io(from))?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let kind = entry.file_type().map_err(io(&src))?;
        if kind.is_dir() {
            if entry.file_name() == OsStr::new(".git") {
                continue;
            }
            fs::create_dir(&dst).map_err(io(&dst))?;
            copy_tree(&src, &dst)?;
        } else if kind.is_symlink() {
            let target = fs::read_link(&src).map_err(io(&src))?;
            std::os::unix::fs::symlink(target, &dst).map_err(io(&dst))?;
        } else {
            fs::copy(&src, &dst).map_err(io(&src))?;
        }
    }
    Ok(())
}

/// Write the kustomization.yaml Flux generates for a plain folder: every
/// `*.yaml`/`*.yml` file below it (recursively, in lexical order), and every
/// sub-folder with its own kustomization file as one resource (not descended
/// into). JSON files are not listed, as in Flux.
fn generate_kustomization(dir: &Path) -> Result<PathBuf> {
    let mut resources = Vec::new();
    list_manifests(dir, dir, &mut resources)?;
    let kfile = dir.join(KUSTOMIZATION_FILES[0]);
    let doc = serde_json::json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
    });
    fs::write(&kfile, doc.to_string()).map_err(|source| Error::Io {
        path: kfile.clone(),
        source,
    })?;
    Ok(kfile)
}

fn list_manifests(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    let io = |source| Error::Io {
        path: dir.to_owned(),
        source,
    };
    let mut entries = fs::read_dir(dir)
        .map_err(io)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(io)?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = format!("./{}", path.strip_prefix(root).unwrap_or(&path).display());
        if path.is_dir() {
            if IGNORED_DIRS.contains(&name.as_str()) {
                continue;
            }
            if find_kustomization_file(&path).is_some() {
                out.push(rel);
            } else {
                list_manifests(root, &path, out)?;
            }
        } else if (name.ends_with(".yaml") || name.ends_with(".yml"))
            && !IGNORED_FILES.contains(&name.as_str())
        {
            out.push(rel);
        }
    }
    Ok(())
}

/// Apply the Kustomization's fields to the kustomization file, as Flux's generator does.
fn edit_kustomization(kfile: &Path, overlay: &Overlay) -> Result<()> {
    let text = fs::read_to_string(kfile).map_err(|source| Error::Io {
        path: kfile.to_owned(),
        source,
    })?;
    let shown = kfile
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut doc: Value = if text.trim().is_empty() {
        Value::Object(Map::new())
    } else {
        serde_saphyr::from_str(&text).map_err(|e| Error::Yaml {
            file: shown.clone(),
            message: e.to_string(),
        })?
    };
    let Some(kus) = doc.as_object_mut() else {
        return Err(Error::Yaml {
            file: shown,
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
    fs::write(kfile, doc.to_string()).map_err(|source| Error::Io {
        path: kfile.to_owned(),
        source,
    })
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
    fn klog_prefixes_are_removed() {
        let text = "E1121 07:40:28.647890   21656 run.go:72] \"command failed\" err=x\nplain line";
        assert_eq!(
            strip_klog_prefixes(text),
            "\"command failed\" err=x\nplain line"
        );
    }

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
