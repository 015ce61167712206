//! Reading spec files: the crate's only I/O.
//!
//! A fleet spec is one file or a folder of `*.yaml`/`*.yml` files read in
//! name order (`00-defaults.yaml`, `10-production.yaml`, ...). Every file has
//! the same top-level keys; `clusters` lists add up, `environments` add up
//! (each name once), and `defaults` and each `kinds` entry may be written in
//! one file only.

use std::fs;
use std::path::Path;
use std::rc::Rc;

use crate::decode::{Recorder, decode};
use crate::error::{Problem, SpecErrors};
use crate::model::Fleet;
use crate::spec::FileSpec;
use crate::validate::{SpecFile, build_fleet};
use crate::yaml::{self, Pos};

/// Loads, merges and validates the fleet spec at `path` (a file, or a folder
/// of `*.yaml`/`*.yml` files read in name order).
///
/// # Errors
///
/// Every problem in every file, each with its file, line, column and field.
pub fn load(path: &Path) -> Result<Fleet, SpecErrors> {
    let recorder = Recorder::new();
    let texts = read_spec_files(path, &recorder);
    if recorder.has_errors() {
        return Err(SpecErrors::new(recorder.diagnostics.into_inner()));
    }
    load_texts(texts, recorder)
}

/// Loads a fleet spec from text; `file_name` is only used in messages.
///
/// # Errors
///
/// Every problem in the text, each with `file_name`, line, column and field.
pub fn load_str(file_name: &str, text: &str) -> Result<Fleet, SpecErrors> {
    load_texts(
        vec![(file_name.to_owned(), text.to_owned())],
        Recorder::new(),
    )
}

fn load_texts(texts: Vec<(String, String)>, recorder: Recorder) -> Result<Fleet, SpecErrors> {
    let files: Vec<SpecFile> = texts
        .iter()
        .filter_map(|(name, text)| parse_file(name, text, &recorder))
        .collect();
    let fleet = build_fleet(&files, &recorder);
    if fleet.clusters.is_empty() && !recorder.has_errors() {
        let first = texts.first().map_or("", |(name, _)| name.as_str());
        recorder.record(
            first,
            Pos::default(),
            String::new(),
            Problem::Rule("the fleet declares no clusters".into()),
        );
    }
    if recorder.has_errors() {
        return Err(SpecErrors::new(recorder.diagnostics.into_inner()));
    }
    Ok(fleet)
}

/// Parses and decodes one file; `None` if it is empty or unreadable as YAML.
fn parse_file(name: &str, text: &str, recorder: &Recorder) -> Option<SpecFile> {
    let (root, problems) = yaml::parse(text);
    for p in problems {
        recorder.record(name, p.pos, p.path, p.problem);
    }
    let file: Rc<str> = Rc::from(name);
    let spec: FileSpec = decode(&root?, &file, recorder)?;
    Some(SpecFile { file, spec })
}

/// The spec files under `path` with their text, in name order.
fn read_spec_files(path: &Path, recorder: &Recorder) -> Vec<(String, String)> {
    let display = path.display().to_string();
    let paths = if path.is_dir() {
        match list_spec_files(path) {
            Ok(paths) if paths.is_empty() => {
                recorder.record(
                    &display,
                    Pos::default(),
                    String::new(),
                    Problem::EmptyFolder,
                );
                return Vec::new();
            }
            Ok(paths) => paths,
            Err(e) => {
                recorder.record(
                    &display,
                    Pos::default(),
                    String::new(),
                    Problem::Read(e.kind().to_string()),
                );
                return Vec::new();
            }
        }
    } else {
        vec![path.to_path_buf()]
    };
    paths
        .into_iter()
        .filter_map(|p| {
            let name = p.display().to_string();
            match fs::read_to_string(&p) {
                Ok(text) => Some((name, text)),
                Err(e) => {
                    recorder.record(
                        &name,
                        Pos::default(),
                        String::new(),
                        Problem::Read(e.kind().to_string()),
                    );
                    None
                }
            }
        })
        .collect()
}

fn list_spec_files(dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut paths = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let is_yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if is_yaml && !hidden && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    Ok(paths)
}
