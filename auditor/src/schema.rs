//! A small structural validator for custom resources, driven by the
//! `openAPIV3Schema` of their CustomResourceDefinitions.
//!
//! flotilla renders and previews objects of CRD kinds (Flux, Secrets Store
//! CSI, Gatekeeper, Traefik) without an API server at hand. This module
//! gives the same answer `kubectl apply --validate=strict` would give for the
//! structural part of the schema: unknown fields, wrong types, missing
//! required fields, values outside an `enum`, and (where the regex compiles
//! in Rust's dialect) `pattern`. CEL rules (`x-kubernetes-validations`) are
//! not evaluated: they need a CEL runtime and are rarely what a typo breaks.
//!
//! Every error names the JSON path of the offending value
//! (`.spec.sourceRef.kidn`), so a renderer bug or a hand edit can be found
//! without reading the schema.
//!
//! Metadata is checked by round-tripping it through the typed
//! [`ObjectMeta`]: CRD schemas only say `metadata: {type: object}` and leave
//! the rest to the API server, which we stand in for here.
//!
//! Schemas are read through k8s-openapi's typed [`JSONSchemaProps`] (the
//! API's own `apiextensions.k8s.io/v1` type), so a schema of the wrong
//! shape is a malformed CRD rather than a silently weaker check.
//!
//! Why hand-written: no maintained crate validates against a Kubernetes
//! *structural* schema. Checked on crates.io: `jsonschema` (0.61) validates
//! JSON Schema drafts 4 to 2020-12, which OpenAPI v3 CRD schemas are not
//! quite (`nullable`, no `$ref`), and it knows none of the `x-kubernetes-*`
//! extensions that change the answer here (`preserve-unknown-fields`,
//! `int-or-string`, `embedded-resource`); `kube`'s `schema` module only
//! generates schemas. The rules follow the API server's structural-schema
//! validation, kubernetes/apiextensions-apiserver
//! `pkg/apiserver/schema` (`validation.go`, `pruning/algorithm.go`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use regex::Regex;
use serde::Deserialize;
use serde_json::Value;

/// Why loading CRD schemas failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file or directory could not be read.
    #[error("cannot read {path}")]
    Read {
        /// What was read.
        path: PathBuf,
        /// The I/O failure.
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid YAML.
    #[error("cannot parse {path} as yaml")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's complaint (carries line and column).
        #[source]
        source: Box<serde_saphyr::Error>,
    },
    /// A CustomResourceDefinition lacks a part every CRD must have.
    #[error("{path}: document {document}: customresourcedefinition has no {field}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// Index of the YAML document in the file (0-based).
        document: usize,
        /// The missing field, e.g. `spec.group`.
        field: &'static str,
    },
}

/// One way an object breaks its schema, at one JSON path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct SchemaError {
    /// JSON path of the offending value, `.` for the object itself,
    /// e.g. `.spec.ref.branch` or `.spec.dependsOn[0].name`.
    pub path: String,
    /// What is wrong there.
    pub problem: Problem,
}

/// What is wrong at a [`SchemaError::path`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// No loaded CRD serves this `apiVersion` and `kind`.
    #[error("no schema for {api_version} {kind}")]
    UnknownKind {
        /// The object's `apiVersion`.
        api_version: String,
        /// The object's `kind`.
        kind: String,
    },
    /// A field the schema does not declare (strict validation).
    #[error("unknown field {0:?}")]
    UnknownField(String),
    /// A required field is absent.
    #[error("missing required field {0:?}")]
    MissingField(String),
    /// The value has the wrong JSON type.
    #[error("expected {expected}, found {found}")]
    WrongType {
        /// What the schema asks for (`string`, `integer`, `int-or-string`, …).
        expected: String,
        /// What the object has.
        found: &'static str,
    },
    /// The value is not one of the schema's `enum` values.
    #[error("value {value} is not one of {allowed}")]
    NotInEnum {
        /// The value, as JSON.
        value: String,
        /// The allowed values, as a JSON array.
        allowed: String,
    },
    /// A string does not match the schema's `pattern`.
    #[error("value {value:?} does not match pattern {pattern:?}")]
    Pattern {
        /// The string.
        value: String,
        /// The regular expression.
        pattern: String,
    },
    /// A number, string or list is outside the schema's bounds
    /// (`minimum`/`maximum`, `minLength`/`maxLength`, `minItems`/`maxItems`,
    /// or the range of `format: int32`).
    #[error("{0}")]
    OutOfBounds(String),
    /// `metadata` has a field `ObjectMeta` does not know, or a wrong type.
    #[error("invalid metadata: {0}")]
    Metadata(String),
}

/// The schemas of every served version of a set of CRDs, keyed by
/// `apiVersion` and `kind`.
#[derive(Debug, Default)]
pub struct CrdSchemas {
    kinds: BTreeMap<(String, String), Node>,
}

impl CrdSchemas {
    /// No schemas: every object is an [`Problem::UnknownKind`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Load every CRD in `path`: a YAML file (multi-document streams are
    /// fine) or a directory, whose `*.yaml`/`*.yml` files are read in name
    /// order. Documents that are not CustomResourceDefinitions are skipped,
    /// so a directory of mixed manifests can be pointed at as is.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, LoadError> {
        let mut schemas = Self::new();
        schemas.add_path(path)?;
        Ok(schemas)
    }

    /// Add the CRDs of a file or directory, as [`CrdSchemas::load`] reads them.
    pub fn add_path(&mut self, path: impl AsRef<Path>) -> Result<(), LoadError> {
        for file in yaml_files(path.as_ref())? {
            self.add_file(&file)?;
        }
        Ok(())
    }

    /// Add the CRDs of one YAML file.
    pub fn add_file(&mut self, path: &Path) -> Result<(), LoadError> {
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
            path: path.to_owned(),
            source,
        })?;
        let docs: Vec<Value> =
            serde_saphyr::from_multiple(&text).map_err(|source| LoadError::Parse {
                path: path.to_owned(),
                source: Box::new(source),
            })?;
        for (document, crd) in docs.iter().enumerate() {
            self.add_crd(crd).map_err(|field| LoadError::Malformed {
                path: path.to_owned(),
                document,
                field,
            })?;
        }
        Ok(())
    }

    /// Add one CustomResourceDefinition given as JSON. Anything that is not
    /// a CRD is ignored; a CRD missing a part is reported by field name.
    pub fn add_crd(&mut self, crd: &Value) -> Result<(), &'static str> {
        if crd.get("kind").and_then(Value::as_str) != Some("CustomResourceDefinition") {
            return Ok(());
        }
        let spec = crd.get("spec").ok_or("spec")?;
        let group = str_at(spec, "group").ok_or("spec.group")?;
        let kind = spec
            .get("names")
            .and_then(|n| str_at(n, "kind"))
            .ok_or("spec.names.kind")?;
        let versions = spec
            .get("versions")
            .and_then(Value::as_array)
            .ok_or("spec.versions")?;
        for version in versions {
            if version.get("served").and_then(Value::as_bool) == Some(false) {
                continue;
            }
            let name = str_at(version, "name").ok_or("spec.versions[].name")?;
            let field = "spec.versions[].schema.openAPIV3Schema";
            let schema = version
                .get("schema")
                .and_then(|s| s.get("openAPIV3Schema"))
                .ok_or(field)?;
            // Read through the API's own type: a schema that does not
            // deserialise as one is as malformed as a missing one.
            let schema = JSONSchemaProps::deserialize(schema).map_err(|_| field)?;
            self.add_schema(&format!("{group}/{name}"), kind, &schema);
        }
        Ok(())
    }

    /// Add the schema of one `apiVersion`/`kind` directly, e.g. one built
    /// from a Gatekeeper ConstraintTemplate's parameter schema.
    pub fn add_schema(
        &mut self,
        api_version: &str,
        kind: &str,
        open_api_v3_schema: &JSONSchemaProps,
    ) {
        self.kinds.insert(
            (api_version.to_owned(), kind.to_owned()),
            Node::parse(open_api_v3_schema),
        );
    }

    /// Whether a schema for `api_version`/`kind` is loaded.
    pub fn contains(&self, api_version: &str, kind: &str) -> bool {
        self.kinds
            .contains_key(&(api_version.to_owned(), kind.to_owned()))
    }

    /// Check `obj` against the schema of its `apiVersion` and `kind`.
    /// Returns every problem found, in document order.
    pub fn validate(&self, obj: &Value) -> Result<(), Vec<SchemaError>> {
        let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
        let Some(root) = self.kinds.get(&(api_version.to_owned(), kind.to_owned())) else {
            return Err(vec![SchemaError {
                path: ".".to_owned(),
                problem: Problem::UnknownKind {
                    api_version: api_version.to_owned(),
                    kind: kind.to_owned(),
                },
            }]);
        };
        let mut errors = Vec::new();
        let mut path = String::new();
        check_resource(root, obj, &mut path, &mut errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// `path` itself if it is a file, else its YAML files in name order.
fn yaml_files(path: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let read_err = |source| LoadError::Read {
        path: path.to_owned(),
        source,
    };
    if !path.metadata().map_err(read_err)?.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(read_err)? {
        let file = entry.map_err(read_err)?.path();
        let ext = file.extension().and_then(|e| e.to_str());
        if matches!(ext, Some("yaml" | "yml")) {
            files.push(file);
        }
    }
    files.sort();
    Ok(files)
}

/// What a schema node allows for fields it does not list.
#[derive(Debug)]
enum Extra {
    /// Nothing: unknown fields are errors (structural default).
    Forbidden,
    /// Anything (`x-kubernetes-preserve-unknown-fields` or
    /// `additionalProperties: true`).
    Anything,
    /// Map values checked against one schema (`additionalProperties: {…}`).
    Schema(Box<Node>),
}

/// One parsed schema node: only the parts that decide validity.
#[derive(Debug)]
struct Node {
    ty: Option<String>,
    properties: BTreeMap<String, Node>,
    required: Vec<String>,
    items: Option<Box<Node>>,
    extra: Extra,
    enumeration: Vec<Value>,
    int_or_string: bool,
    embedded_resource: bool,
    nullable: bool,
    format: Option<String>,
    /// `None` when absent; `Some(None)` when the pattern does not compile in
    /// Rust's regex dialect (lookaround, backreferences) and is skipped.
    pattern: Option<(String, Option<Regex>)>,
    bounds: Bounds,
}

#[derive(Debug, Default)]
struct Bounds {
    minimum: Option<f64>,
    maximum: Option<f64>,
    min_length: Option<u64>,
    max_length: Option<u64>,
    min_items: Option<u64>,
    max_items: Option<u64>,
}

impl Node {
    fn parse(s: &JSONSchemaProps) -> Node {
        let flag = |value: Option<bool>| value == Some(true);
        let properties = s
            .properties
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), Node::parse(v)))
            .collect();
        let extra = match &s.additional_properties {
            _ if flag(s.x_kubernetes_preserve_unknown_fields) => Extra::Anything,
            Some(JSONSchemaPropsOrBool::Bool(true)) => Extra::Anything,
            Some(JSONSchemaPropsOrBool::Schema(schema)) => {
                Extra::Schema(Box::new(Node::parse(schema)))
            }
            _ => Extra::Forbidden,
        };
        let pattern = s.pattern.as_ref().map(|p| (p.clone(), Regex::new(p).ok()));
        // A negative count bounds nothing (the API server rejects it).
        let count = |value: Option<i64>| value.and_then(|n| u64::try_from(n).ok());
        Node {
            ty: s.type_.clone(),
            properties,
            required: s.required.clone().unwrap_or_default(),
            items: s.items.as_ref().map(|items| {
                Box::new(match items {
                    JSONSchemaPropsOrArray::Schema(schema) => Node::parse(schema),
                    // Not structural (a tuple of schemas): nothing is
                    // known about the items' shape.
                    JSONSchemaPropsOrArray::Schemas(_) => Node::parse(&JSONSchemaProps::default()),
                })
            }),
            extra,
            enumeration: s.enum_.iter().flatten().map(|v| v.0.clone()).collect(),
            int_or_string: flag(s.x_kubernetes_int_or_string),
            embedded_resource: flag(s.x_kubernetes_embedded_resource),
            nullable: flag(s.nullable),
            format: s.format.clone(),
            pattern,
            bounds: Bounds {
                minimum: s.minimum,
                maximum: s.maximum,
                min_length: count(s.min_length),
                max_length: count(s.max_length),
                min_items: count(s.min_items),
                max_items: count(s.max_items),
            },
        }
    }
}

fn push(errors: &mut Vec<SchemaError>, path: &str, problem: Problem) {
    let path = if path.is_empty() { "." } else { path };
    errors.push(SchemaError {
        path: path.to_owned(),
        problem,
    });
}

/// A whole resource (the CRD root or an embedded resource): `apiVersion`,
/// `kind` and `metadata` are implied even when the schema does not list
/// them, and metadata is checked as `ObjectMeta`.
fn check_resource(node: &Node, obj: &Value, path: &mut String, errors: &mut Vec<SchemaError>) {
    let Some(map) = obj.as_object() else {
        return check(node, obj, path, errors);
    };
    if let Some(meta) = map.get("metadata") {
        check_metadata(meta, path, errors);
    }
    let rest: serde_json::Map<String, Value> = map
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "apiVersion" | "kind" | "metadata"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    check_object(node, &rest, path, errors);
}

/// Round-trip `metadata` through `ObjectMeta`: a field that does not
/// survive is unknown or mistyped.
fn check_metadata(meta: &Value, path: &str, errors: &mut Vec<SchemaError>) {
    let at = format!("{path}.metadata");
    match serde_json::from_value::<ObjectMeta>(meta.clone()) {
        Err(e) => push(errors, &at, Problem::Metadata(e.to_string())),
        Ok(typed) => {
            let back = serde_json::to_value(&typed).unwrap_or(Value::Null);
            let Some(fields) = meta.as_object() else {
                return;
            };
            for (key, value) in fields {
                if !value.is_null() && back.get(key).is_none() {
                    push(errors, &at, Problem::UnknownField(key.clone()));
                }
            }
        }
    }
}

fn check(node: &Node, v: &Value, path: &mut String, errors: &mut Vec<SchemaError>) {
    if v.is_null() {
        if !node.nullable {
            push(errors, path, wrong_type(node, v));
        }
        return;
    }
    if !node.enumeration.is_empty() && !node.enumeration.contains(v) {
        let problem = Problem::NotInEnum {
            value: v.to_string(),
            allowed: Value::Array(node.enumeration.clone()).to_string(),
        };
        push(errors, path, problem);
    }
    if node.int_or_string {
        if !(v.is_string() || is_integer(v)) {
            push(errors, path, wrong_type(node, v));
        }
        return;
    }
    match node.ty.as_deref() {
        Some("object") => match v.as_object() {
            Some(_) if node.embedded_resource => check_resource(node, v, path, errors),
            Some(map) => check_object(node, map, path, errors),
            None => push(errors, path, wrong_type(node, v)),
        },
        Some("array") => match v.as_array() {
            Some(items) => check_array(node, items, path, errors),
            None => push(errors, path, wrong_type(node, v)),
        },
        Some("string") => match v.as_str() {
            Some(s) => check_string(node, s, path, errors),
            None => push(errors, path, wrong_type(node, v)),
        },
        Some("integer") if is_integer(v) => check_number(node, v, path, errors),
        Some("number") if v.is_number() => check_number(node, v, path, errors),
        Some("boolean") if v.is_boolean() => {}
        Some("integer" | "number" | "boolean") => push(errors, path, wrong_type(node, v)),
        // No type: only reachable under preserve-unknown-fields or in
        // value-validation branches; anything goes.
        _ => {}
    }
}

fn check_object(
    node: &Node,
    map: &serde_json::Map<String, Value>,
    path: &mut String,
    errors: &mut Vec<SchemaError>,
) {
    for field in &node.required {
        if !map.contains_key(field) {
            push(errors, path, Problem::MissingField(field.clone()));
        }
    }
    for (key, value) in map {
        let len = path.len();
        path.push('.');
        path.push_str(key);
        match (node.properties.get(key), &node.extra) {
            (Some(child), _) => check(child, value, path, errors),
            (None, Extra::Schema(child)) => check(child, value, path, errors),
            (None, Extra::Anything) => {}
            (None, Extra::Forbidden) => {
                path.truncate(len);
                push(errors, path, Problem::UnknownField(key.clone()));
            }
        }
        path.truncate(len);
    }
}

fn check_array(node: &Node, items: &[Value], path: &mut String, errors: &mut Vec<SchemaError>) {
    let n = items.len() as u64;
    if node.bounds.min_items.is_some_and(|min| n < min)
        || node.bounds.max_items.is_some_and(|max| n > max)
    {
        push(errors, path, Problem::OutOfBounds(format!("{n} items")));
    }
    let Some(item) = &node.items else {
        return;
    };
    for (i, value) in items.iter().enumerate() {
        let len = path.len();
        path.push_str(&format!("[{i}]"));
        check(item, value, path, errors);
        path.truncate(len);
    }
}

fn check_string(node: &Node, s: &str, path: &str, errors: &mut Vec<SchemaError>) {
    let n = s.chars().count() as u64;
    if node.bounds.min_length.is_some_and(|min| n < min)
        || node.bounds.max_length.is_some_and(|max| n > max)
    {
        push(errors, path, Problem::OutOfBounds(format!("length {n}")));
    }
    if let Some((pattern, Some(re))) = &node.pattern
        && !re.is_match(s)
    {
        let problem = Problem::Pattern {
            value: s.to_owned(),
            pattern: pattern.clone(),
        };
        push(errors, path, problem);
    }
}

fn check_number(node: &Node, v: &Value, path: &str, errors: &mut Vec<SchemaError>) {
    let x = v.as_f64().unwrap_or(0.0);
    let (lo, hi) = match node.format.as_deref() {
        Some("int32") => (f64::from(i32::MIN), f64::from(i32::MAX)),
        _ => (f64::MIN, f64::MAX),
    };
    let below = node.bounds.minimum.is_some_and(|min| x < min) || x < lo;
    let above = node.bounds.maximum.is_some_and(|max| x > max) || x > hi;
    if below || above {
        push(errors, path, Problem::OutOfBounds(format!("value {v}")));
    }
}

fn is_integer(v: &Value) -> bool {
    v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0)
}

fn wrong_type(node: &Node, v: &Value) -> Problem {
    let expected = if node.int_or_string {
        "int-or-string".to_owned()
    } else {
        node.ty.clone().unwrap_or_else(|| "a value".to_owned())
    };
    Problem::WrongType {
        expected,
        found: json_type(v),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

impl fmt::Display for CrdSchemas {
    /// The loaded kinds, one `apiVersion kind` per line (for diagnostics).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (api_version, kind) in self.kinds.keys() {
            writeln!(f, "{api_version} {kind}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CRDS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/crds");

    fn schemas() -> CrdSchemas {
        CrdSchemas::load(CRDS).expect("shared crds load")
    }

    fn git_repository() -> Value {
        json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": "flux-system", "namespace": "flux-system"},
            "spec": {"interval": "1m", "ref": {"branch": "main"}, "url": "ssh://git@example.com/x"}
        })
    }

    fn problems(obj: &Value) -> Vec<String> {
        match schemas().validate(obj) {
            Ok(()) => Vec::new(),
            Err(errors) => errors.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn a_valid_git_repository_passes() {
        assert_eq!(problems(&git_repository()), Vec::<String>::new());
    }

    #[test]
    fn unknown_and_misspelled_fields_are_named_by_path() {
        let mut obj = git_repository();
        obj["spec"]["ref"]["brnach"] = json!("main");
        obj["metadata"]["lables"] = json!({});
        assert_eq!(
            problems(&obj),
            vec![
                ".metadata: unknown field \"lables\"".to_owned(),
                ".spec.ref: unknown field \"brnach\"".to_owned(),
            ]
        );
    }

    #[test]
    fn missing_required_wrong_type_enum_and_pattern_are_reported() {
        let obj = json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "x"},
            "spec": {"interval": "ten minutes", "prune": "yes",
                     "sourceRef": {"kind": "Helm", "name": "flux-system"}}
        });
        let got = problems(&obj);
        assert!(
            got.iter().any(|e| e.starts_with(".spec.interval: value")),
            "{got:?}"
        );
        assert!(
            got.contains(&".spec.prune: expected boolean, found string".to_owned()),
            "{got:?}"
        );
        assert!(
            got.iter()
                .any(|e| e.starts_with(".spec.sourceRef.kind: value \"Helm\"")),
            "{got:?}"
        );
    }

    #[test]
    fn int_or_string_and_free_form_maps_are_accepted() {
        let obj = json!({
            "apiVersion": "secrets-store.csi.x-k8s.io/v1",
            "kind": "SecretProviderClass",
            "metadata": {"name": "x", "namespace": "y"},
            "spec": {"provider": "azure", "parameters": {"anything": "goes"}}
        });
        assert_eq!(problems(&obj), Vec::<String>::new());
    }

    #[test]
    fn kinds_without_a_crd_are_unknown() {
        let got = problems(&json!({"apiVersion": "v1", "kind": "ConfigMap"}));
        assert_eq!(got, vec![".: no schema for v1 ConfigMap".to_owned()]);
    }

    #[test]
    fn map_values_and_list_items_are_checked_with_indexed_paths() {
        let crd = json!({
            "kind": "CustomResourceDefinition",
            "spec": {"group": "example.com", "names": {"kind": "Thing"}, "versions": [
                {"name": "v1", "served": true, "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {"spec": {"type": "object", "properties": {
                        "limits": {"type": "object", "additionalProperties": {"type": "integer", "format": "int32"}},
                        "items": {"type": "array", "items": {"type": "object", "required": ["name"],
                            "properties": {"name": {"type": "string", "minLength": 1}}}},
                    }}},
                }}},
                {"name": "v0", "served": false, "schema": {"openAPIV3Schema": {"type": "object"}}},
            ]},
        });
        let mut schemas = CrdSchemas::new();
        schemas.add_crd(&crd).expect("valid crd");
        assert!(schemas.contains("example.com/v1", "Thing"));
        assert!(!schemas.contains("example.com/v0", "Thing"));
        let obj = json!({
            "apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "t"},
            "spec": {"limits": {"cpu": 4, "memory": 5_000_000_000_u64}, "items": [{"name": "a"}, {"nmae": ""}]},
        });
        let got: Vec<String> = schemas
            .validate(&obj)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            got,
            vec![
                ".spec.limits.memory: value 5000000000".to_owned(),
                ".spec.items[1]: missing required field \"name\"".to_owned(),
                ".spec.items[1]: unknown field \"nmae\"".to_owned(),
            ]
        );
    }

    /// A schema the API's own type cannot read (`required` as a string,
    /// not a list) is a malformed CRD, named by field; it was once read
    /// leniently and its `required` silently dropped.
    #[test]
    fn a_schema_of_the_wrong_shape_is_a_malformed_crd() {
        let crd = json!({
            "kind": "CustomResourceDefinition",
            "spec": {"group": "example.com", "names": {"kind": "Thing"}, "versions": [
                {"name": "v1", "served": true, "schema": {"openAPIV3Schema": {
                    "type": "object", "required": "spec",
                }}},
            ]},
        });
        let mut schemas = CrdSchemas::new();
        assert_eq!(
            schemas.add_crd(&crd),
            Err("spec.versions[].schema.openAPIV3Schema")
        );
        assert!(!schemas.contains("example.com/v1", "Thing"));
    }
}
