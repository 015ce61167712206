//! kustomize's failures, told without file content.
//!
//! kustomize quotes what it read in some of its messages: a
//! `secretGenerator` literal (`invalid literal source <value>`), an object
//! dump (`missing metadata.name in object {{v1 ConfigMap} …}`), a JSON patch
//! path, a YAML value that does not fit. Its standard error therefore never
//! leaves flotilla as is. A failed build becomes one line made of:
//!
//! - the kind of failure, from kustomize's own fixed phrases ([`PHRASES`]);
//! - the repository paths it names that exist in the stage, or that a
//!   kustomization file of the build wrote in a path field (paths are not
//!   content), with the stage's temporary directory removed;
//! - YAML line numbers, kustomize resource ids (`Kind.version.[group]/name.[namespace]`)
//!   and unknown field names, by strict patterns;
//!
//! followed by a note that the rest of kustomize's message was withheld.
//! A failure to fetch a remote base is recognised as such and reported as
//! one line naming the base ([`Failure::Remote`]), not kustomize's
//! multi-line git output.

use super::confine::Remote;
use super::stage::{Entry, Scratch, Stage};
use regex::Regex;
use std::collections::BTreeSet;
use std::sync::LazyLock;

/// kustomize's (and its YAML parser's) fixed phrases → what they mean.
/// Matched case-insensitively; each description is shown once.
const PHRASES: &[(&str, &str)] = &[
    (
        "no such file or directory",
        "a file or folder it names does not exist",
    ),
    (
        "unable to find one of",
        "a folder it names has no kustomization file",
    ),
    ("malformedyamlerror", "invalid YAML"),
    ("yaml: line", "invalid YAML"),
    ("did not find expected", "invalid YAML"),
    ("could not find expected", "invalid YAML"),
    ("mapping values are not allowed", "invalid YAML"),
    (
        "found character that cannot start any token",
        "invalid YAML",
    ),
    ("found unexpected end of stream", "invalid YAML"),
    ("cannot unmarshal", "a value has the wrong type"),
    ("invalid kustomization", "invalid kustomization file"),
    ("unknown field", "unknown field"),
    ("missing metadata.name", "an object has no metadata.name"),
    ("missing kind", "an object has no kind"),
    (
        "already registered id",
        "two objects have the same kind, name and namespace",
    ),
    (
        "found multiple kustomization files",
        "a folder has more than one kustomization file",
    ),
    (
        "failed to find unique target",
        "a patch target matches no object or several",
    ),
    (
        "no matches for",
        "a patch or replacement target matches no object",
    ),
    ("does not apply", "a JSON patch does not apply"),
    ("doc is missing path", "a JSON patch does not apply"),
    (
        "unable to find field",
        "a replacement names a field that does not exist",
    ),
    (
        "literal source",
        "invalid literal in a configMapGenerator or secretGenerator",
    ),
    (
        "env file",
        "invalid env file of a configMapGenerator or secretGenerator",
    ),
    ("behavior must be", "invalid generator behavior"),
    ("cycle detected", "a cycle between kustomizations"),
    ("external plugins disabled", "a plugin would be needed"),
    ("conflict", "conflicting objects or patches"),
    ("panic", "kustomize crashed"),
];

/// What a failed build was, for [`super::error::Error`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// A remote base could not be fetched.
    Remote {
        /// Kustomization file naming it.
        file: String,
        /// The base as written.
        url: String,
    },
    /// Anything else: the safe summary.
    Other(String),
}

/// Everything known about the build whose kustomize failed.
pub struct Context<'a> {
    /// The stage it ran on.
    pub stage: &'a Stage,
    /// Its scratch folder, if any.
    pub scratch: Option<&'a Scratch>,
    /// Path-field values of its kustomization files, as written.
    pub written: &'a BTreeSet<String>,
    /// Remote bases it was allowed to fetch.
    pub remotes: &'a [Remote],
}

static LINE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\byaml: line (\d{1,7})\b").unwrap_or_else(|e| panic!("{e}")));
static RES_ID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b([A-Z][A-Za-z0-9]{0,62})\.([a-z0-9]{1,20})\.(?:\[noGrp\]|([a-z0-9][a-z0-9.\-]{0,252}))/([a-z0-9][a-z0-9.\-]{0,252})\.(?:\[noNs\]|([a-z0-9][a-z0-9\-]{0,62})\b)")
        .unwrap_or_else(|e| panic!("{e}"))
});
static UNKNOWN_FIELD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"unknown field \\?"([A-Za-z][A-Za-z0-9_]{0,63})\\?""#)
        .unwrap_or_else(|e| panic!("{e}"))
});

/// Reduce kustomize's standard error to what may be shown.
pub fn summarize(stderr: &str, ctx: &Context<'_>) -> Failure {
    let text = relative_paths(&flatten(stderr), ctx);
    if let Some(remote) = ctx.remotes.iter().find(|r| text.contains(&r.url)) {
        return Failure::Remote {
            file: remote.file.clone(),
            url: remote.url.clone(),
        };
    }
    let lower = text.to_lowercase();
    let mut kinds: Vec<&str> = Vec::new();
    for (needle, description) in PHRASES {
        if lower.contains(needle) && !kinds.contains(description) {
            kinds.push(description);
        }
    }
    let mut details: Vec<String> = Vec::new();
    let mut push = |d: String| {
        if !details.contains(&d) {
            details.push(d);
        }
    };
    for c in LINE.captures_iter(&text) {
        push(format!("line {}", &c[1]));
    }
    for c in UNKNOWN_FIELD.captures_iter(&text) {
        push(format!("field '{}'", &c[1]));
    }
    for c in RES_ID.captures_iter(&text) {
        let group = c
            .get(3)
            .map_or(String::new(), |g| format!(".{}", g.as_str()));
        let namespace = c
            .get(5)
            .map_or(String::new(), |n| format!(" in namespace {}", n.as_str()));
        push(format!("{}{group} {}{namespace}", &c[1], &c[4]));
    }
    for path in safe_paths(&text, ctx) {
        push(path);
    }
    let mut line = if kinds.is_empty() {
        "kustomize failed".to_owned()
    } else {
        kinds.join("; ")
    };
    if !details.is_empty() {
        line.push_str(&format!(" ({})", details.join(", ")));
    }
    line.push_str("; the rest of kustomize's message is withheld: it may quote file content");
    Failure::Other(line)
}

/// One line: klog prefixes gone, Go-quoted `err="…"` unescaped, whitespace
/// (including kubectl's `\n\t`) collapsed.
fn flatten(stderr: &str) -> String {
    let mut text = String::with_capacity(stderr.len());
    for line in stderr.lines() {
        let line = strip_klog_prefix(line);
        text.push_str(line);
        text.push(' ');
    }
    let text = text
        .replace("\\\"", "\"")
        .replace("\\n", " ")
        .replace("\\t", " ")
        .replace("\\\\", "\\");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// kubectl prefixes its messages with klog's `E1121 07:40:28.647890   21656 run.go:72] `.
fn strip_klog_prefix(line: &str) -> &str {
    let is_klog = matches!(line.chars().next(), Some('I' | 'W' | 'E' | 'F'))
        && line
            .get(1..5)
            .is_some_and(|d| d.chars().all(|c| c.is_ascii_digit()));
    match line.find("] ") {
        Some(end) if is_klog => &line[end + 2..],
        _ => line,
    }
}

/// Stage and scratch directories replaced by repository paths.
fn relative_paths(text: &str, ctx: &Context<'_>) -> String {
    let mut text = text.to_owned();
    if let Some(scratch) = ctx.scratch {
        let real = ctx.stage.root().join(scratch.path());
        for dir in [scratch.dir().to_path_buf()]
            .into_iter()
            .chain(std::fs::canonicalize(scratch.dir()).ok())
        {
            text = text.replace(&dir.display().to_string(), &real.display().to_string());
        }
    }
    for root in ctx.stage.shown_roots() {
        let root = root.display().to_string();
        text = text.replace(&format!("{root}/"), "").replace(&root, ".");
    }
    text
}

/// Tokens of `text` that are paths of the build: written in one of its
/// kustomization files, or existing in the stage.
fn safe_paths(text: &str, ctx: &Context<'_>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let separators = |c: char| c.is_whitespace() || "'\"`,;()[]{}<>=".contains(c);
    for token in text.split(separators) {
        let token = token.trim_end_matches([':', '.']).trim_start_matches("./");
        if token.is_empty() || out.iter().any(|t| t == token) {
            continue;
        }
        // A bare word that happens to name a folder (`yaml`) says nothing.
        let known = ctx.written.contains(token)
            || (token.contains(['/', '.'])
                && matches!(
                    ctx.stage.entry(token.trim_end_matches('/')),
                    Some(Entry::File | Entry::Dir)
                ));
        if known && token != "." {
            out.push(token.to_owned());
        }
        if out.len() == 6 {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn stage() -> (tempfile::TempDir, Stage) {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("apps")).unwrap();
        fs::write(dir.path().join("apps/cm.yaml"), "x").unwrap();
        let stage = Stage::new(dir.path()).unwrap();
        (dir, stage)
    }

    fn summary(stderr: &str, stage: &Stage, remotes: &[Remote]) -> Failure {
        let written = BTreeSet::from(["missing.yaml".to_owned()]);
        summarize(
            stderr,
            &Context {
                stage,
                scratch: None,
                written: &written,
                remotes,
            },
        )
    }

    #[test]
    fn content_is_withheld_and_paths_kinds_and_ids_are_kept() {
        let (_repo, stage) = stage();
        let root = stage.root().display().to_string();
        let cases = [
            (
                r#"E1205 10:08:33.404835   29566 run.go:72] "command failed" err="loading KV pairs: literal sources [canary-SECRET-1234]: invalid literal source canary-SECRET-1234, expected key=value""#.to_owned(),
                "invalid literal in a configMapGenerator or secretGenerator",
            ),
            (
                format!(r#"E1 x] "command failed" err="accumulating resources: accumulation err='accumulating resources from 'cm.yaml': missing metadata.name in object {{{{v1 ConfigMap}} {{{{ }} map[canary:x] map[]}}}}': must build at directory: '{root}/apps/cm.yaml': file is not directory""#),
                "an object has no metadata.name (apps/cm.yaml)",
            ),
            (
                format!(r#"err="accumulating resources: accumulation err='accumulating resources from 'missing.yaml': open {root}/apps/missing.yaml: no such file or directory'""#),
                "a file or folder it names does not exist (missing.yaml)",
            ),
            (
                "err=\"accumulating resources: accumulation err='merging resources from 'cm.yaml': may not add resource with an already registered id: ConfigMap.v1.[noGrp]/x.[noNs]'\"".to_owned(),
                "(ConfigMap x)",
            ),
            (
                "err=\"MalformedYAMLError: yaml: line 7: mapping values are not allowed in this context in File: cm.yaml canary-SECRET\"".to_owned(),
                "invalid YAML (line 7)",
            ),
            (
                "replace operation does not apply: doc is missing path: /data/canary-SECRET-7: missing value".to_owned(),
                "a JSON patch does not apply; the rest",
            ),
        ];
        for (stderr, want) in cases {
            let Failure::Other(line) = summary(&stderr, &stage, &[]) else {
                panic!("{stderr}")
            };
            assert!(line.contains(want), "{line}");
            assert!(!line.to_lowercase().contains("canary"), "{line}");
            assert!(!line.contains(&root), "{line}");
            assert!(line.ends_with("it may quote file content"), "{line}");
        }
    }

    #[test]
    fn a_remote_fetch_failure_is_one_line_naming_the_base() {
        let (_repo, stage) = stage();
        let url = "https://127.0.0.1:1/org/repo//x?ref=main";
        let stderr = format!(
            "E1205 run.go:72] \"command failed\" err=<\n\taccumulating resources from '{url}': Get \"{url}\": dial tcp 127.0.0.1:1: connect: connection refused\n\t: exit status 128\n >"
        );
        let remotes = [Remote {
            file: "apps/kustomization.yaml".into(),
            url: url.into(),
        }];
        assert_eq!(
            summary(&stderr, &stage, &remotes),
            Failure::Remote {
                file: "apps/kustomization.yaml".into(),
                url: url.into()
            }
        );
    }
}
