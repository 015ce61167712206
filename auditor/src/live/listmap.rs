//! List semantics: how the API server merges each list of an object, so the
//! diff compares lists the way server-side apply does.
//!
//! Kubernetes declares, per list, `x-kubernetes-list-type`: `atomic` (the
//! list is one value: replaced whole, owned whole), `set` (unique scalars),
//! or `map` with `x-kubernetes-list-map-keys` (items identified by their key
//! fields, each owned on its own). Without a list type, a list with
//! `x-kubernetes-patch-strategy: merge` is keyed by its
//! `x-kubernetes-patch-merge-key` (a set when it has none) and any other list
//! is atomic: the server's own conversion, kubernetes/kube-openapi
//! `pkg/schemaconv/smd.go` (`VisitArray`), which managedFields follow.
//!
//! Sources, in the order the diff asks them (see [`ListSemantics`]):
//! 1. the server's OpenAPI v3 documents of the group versions the audit
//!    reads ([`SchemaGraph::from_openapi_v3`], fetched once per run or read
//!    from a snapshot that recorded them);
//! 2. the built-in table of the Kubernetes kinds, generated from the
//!    Kubernetes v1.36.0 OpenAPI definitions by
//!    `auditor/data/list-semantics/generate.py` and checked in as
//!    `kubernetes.json` ([`ListSemantics::builtin`]);
//! 3. CustomResourceDefinitions (`openAPIV3Schema`), from Git or live
//!    ([`SchemaGraph::from_crd`]); a CRD list without a list type is atomic,
//!    as the apiextensions structural schema defines it.
//!
//! Only a list no source describes (a field outside every schema, a
//! `x-kubernetes-preserve-unknown-fields` subtree, a kind with no schema at
//! all) is left to the diff's guess (items with unique `name`s are keyed by
//! name); a list a schema declares is never guessed about.
//!
//! A schema is a graph ([`SchemaGraph`]): nodes with fields, map values and
//! list items, references resolved to indices when it is built (types refer
//! to each other and to themselves, e.g. a CRD's `JSONSchemaProps`). The diff
//! walks it beside the object with a [`Cursor`], one step per field or item,
//! without building path strings.

use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

/// How the server merges a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListType {
    /// One value: compared and owned whole.
    Atomic,
    /// Unique scalars: compared as a set.
    Set,
    /// Items identified by these key fields.
    Map(Vec<String>),
}

/// One node of a schema graph.
#[derive(Debug, Clone, Default)]
struct Node {
    fields: HashMap<String, usize>,
    /// `additionalProperties`: every value of a map.
    values: Option<usize>,
    /// The items of a list.
    items: Option<usize>,
    /// Set when the node is a list.
    list: Option<ListType>,
}

/// The schemas of one source: nodes, and the root node of each kind.
#[derive(Debug, Default)]
pub struct SchemaGraph {
    nodes: Vec<Node>,
    kinds: HashMap<(String, String), usize>,
    object_meta: Option<usize>,
}

/// A place in a schema graph, moved along with the object being compared.
#[derive(Debug, Clone, Copy)]
pub struct Cursor<'a> {
    graph: &'a SchemaGraph,
    node: usize,
}

impl<'a> Cursor<'a> {
    fn at(self, node: usize) -> Cursor<'a> {
        Cursor {
            graph: self.graph,
            node,
        }
    }

    fn node(self) -> &'a Node {
        &self.graph.nodes[self.node]
    }

    /// The schema of field `name` of this object (or of any value, for a
    /// map); `None` when the schema says nothing of it.
    pub fn field(self, name: &str) -> Option<Cursor<'a>> {
        let node = self.node();
        node.fields
            .get(name)
            .or(node.values.as_ref())
            .map(|&n| self.at(n))
    }

    /// The schema of this list's items.
    pub fn item(self) -> Option<Cursor<'a>> {
        self.node().items.map(|n| self.at(n))
    }

    /// This list's type; `None` when the node is not a list.
    pub fn list_type(self) -> Option<&'a ListType> {
        self.node().list.as_ref()
    }
}

/// Every source of list semantics for one diff, asked in order: the first
/// that knows a kind answers for all of that kind's lists.
#[derive(Debug, Clone, Default)]
pub struct ListSemantics {
    graphs: Vec<Arc<SchemaGraph>>,
}

/// The generated table (see the module docs).
const BUILTIN_TABLE: &str = include_str!("../../data/list-semantics/kubernetes.json");

static BUILTIN: LazyLock<Arc<SchemaGraph>> = LazyLock::new(|| {
    let table: Value = serde_json::from_str(BUILTIN_TABLE).expect("the built-in table is JSON");
    Arc::new(SchemaGraph::from_table(&table))
});

impl ListSemantics {
    /// Only the built-in table of Kubernetes kinds.
    pub fn builtin() -> ListSemantics {
        ListSemantics {
            graphs: vec![BUILTIN.clone()],
        }
    }

    /// Ask `graph` after the sources already here.
    pub fn push(&mut self, graph: Arc<SchemaGraph>) {
        self.graphs.push(graph);
    }

    /// Ask every source of `other` after the ones here.
    pub fn extend(&mut self, other: &ListSemantics) {
        self.graphs.extend(other.graphs.iter().cloned());
    }

    /// Whether no source is here.
    pub fn is_empty(&self) -> bool {
        self.graphs.is_empty()
    }

    /// Whether some source describes `(group, kind)`.
    pub fn knows(&self, group: &str, kind: &str) -> bool {
        self.root(group, kind).is_some()
    }

    /// The schema of an object of `(group, kind)`, from the first source
    /// that has one.
    pub fn root(&self, group: &str, kind: &str) -> Option<Cursor<'_>> {
        let key = (group.to_owned(), kind.to_owned());
        self.graphs.iter().find_map(|g| {
            g.kinds.get(&key).map(|&node| Cursor {
                graph: g.as_ref(),
                node,
            })
        })
    }

    /// The schema of `metadata` (ObjectMeta), common to every kind; custom
    /// resources' schemas leave it to the server, which uses this one.
    pub fn object_meta(&self) -> Option<Cursor<'_>> {
        self.graphs
            .iter()
            .map(AsRef::as_ref)
            .chain(std::iter::once(BUILTIN.as_ref()))
            .find_map(|g| g.object_meta.map(|node| Cursor { graph: g, node }))
    }
}

impl SchemaGraph {
    /// Kinds this graph describes.
    pub fn kinds(&self) -> impl Iterator<Item = (&str, &str)> {
        self.kinds.keys().map(|(g, k)| (g.as_str(), k.as_str()))
    }

    fn push(&mut self, node: Node) -> usize {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    /// The generated table: `{"kinds": {"<group>/<Kind>": type}, "types":
    /// {type: node}, "objectMeta": type}`, a node being `{"f": {field:
    /// node}, "m": node, "i": node, "l": "atomic" | "set" | [keys]}` or a
    /// type name.
    fn from_table(table: &Value) -> SchemaGraph {
        let empty = Map::new();
        let types = table["types"].as_object().unwrap_or(&empty);
        let mut graph = SchemaGraph::default();
        let names = graph.reserve(types.keys());
        for (name, node) in types {
            let converted = graph.table_node(node, &names);
            graph.nodes[names[name.as_str()]] = converted;
        }
        for (key, name) in table["kinds"].as_object().unwrap_or(&empty) {
            let (Some((group, kind)), Some(&node)) = (
                key.split_once('/'),
                name.as_str().and_then(|n| names.get(n)),
            ) else {
                continue;
            };
            graph
                .kinds
                .insert((group.to_owned(), kind.to_owned()), node);
        }
        graph.object_meta = table["objectMeta"]
            .as_str()
            .and_then(|n| names.get(n))
            .copied();
        graph
    }

    /// One empty node per name, for references to resolve to.
    fn reserve<'n>(&mut self, names: impl Iterator<Item = &'n String>) -> HashMap<&'n str, usize> {
        names
            .map(|name| (name.as_str(), self.push(Node::default())))
            .collect()
    }

    fn table_node(&mut self, value: &Value, names: &HashMap<&str, usize>) -> Node {
        let mut node = Node::default();
        let link = |graph: &mut SchemaGraph, v: &Value| -> Option<usize> {
            match v {
                Value::String(name) => names.get(name.as_str()).copied(),
                Value::Object(_) => {
                    let child = graph.table_node(v, names);
                    Some(graph.push(child))
                }
                _ => None,
            }
        };
        if let Some(fields) = value.get("f").and_then(Value::as_object) {
            for (name, child) in fields {
                if let Some(n) = link(self, child) {
                    node.fields.insert(name.clone(), n);
                }
            }
        }
        node.values = value.get("m").and_then(|v| link(self, v));
        node.items = value.get("i").and_then(|v| link(self, v));
        node.list = value.get("l").and_then(|l| match l {
            Value::String(s) if s == "set" => Some(ListType::Set),
            Value::String(_) => Some(ListType::Atomic),
            Value::Array(keys) => Some(ListType::Map(
                keys.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
            )),
            _ => None,
        });
        node
    }

    /// The schemas of an OpenAPI v3 document as the API server serves it
    /// (`GET /openapi/v3/apis/<group>/<version>`): every schema of
    /// `components.schemas`, and each kind its
    /// `x-kubernetes-group-version-kind` names (a kind named by several
    /// schemas, such as `DeleteOptions`, is not a root).
    pub fn from_openapi_v3(doc: &Value) -> SchemaGraph {
        let empty = Map::new();
        let schemas = doc
            .pointer("/components/schemas")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let mut graph = SchemaGraph::default();
        let names = graph.reserve(schemas.keys());
        // A schema that is only a reference takes its target's node once
        // every schema is built (chains of references resolved in turn).
        let mut aliases = Vec::new();
        for (name, schema) in schemas {
            let index = names[name.as_str()];
            match ref_target(schema).and_then(|r| names.get(r)) {
                Some(&target) => aliases.push((index, target)),
                None => graph.nodes[index] = graph.schema_node(schema, &names, 0),
            }
        }
        for _ in 0..aliases.len() {
            for &(index, target) in &aliases {
                graph.nodes[index] = graph.nodes[target].clone();
            }
        }
        for (name, schema) in schemas {
            let gvks = schema
                .get("x-kubernetes-group-version-kind")
                .and_then(Value::as_array);
            let [gvk] = gvks.map(Vec::as_slice).unwrap_or_default() else {
                continue;
            };
            let group = gvk.get("group").and_then(Value::as_str).unwrap_or("");
            let Some(kind) = gvk.get("kind").and_then(Value::as_str) else {
                continue;
            };
            if kind.ends_with("List") && schema.pointer("/properties/items").is_some() {
                continue;
            }
            graph
                .kinds
                .insert((group.to_owned(), kind.to_owned()), names[name.as_str()]);
            if graph.object_meta.is_none()
                && let Some(meta) = schema.pointer("/properties/metadata")
            {
                graph.object_meta = ref_target(meta).and_then(|r| names.get(r)).copied();
            }
        }
        graph
    }

    /// The schemas of a CustomResourceDefinition (`spec.versions[].schema.
    /// openAPIV3Schema`), one root per kind: the storage version's, else the
    /// first served one's.
    pub fn from_crd(crd: &Value) -> Option<SchemaGraph> {
        let spec = crd.get("spec")?;
        let group = spec.get("group")?.as_str()?;
        let kind = spec.pointer("/names/kind")?.as_str()?;
        let versions = spec.get("versions")?.as_array()?;
        let chosen = versions
            .iter()
            .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
            .or_else(|| versions.first())?;
        let schema = chosen.pointer("/schema/openAPIV3Schema")?;
        let mut graph = SchemaGraph::default();
        let root = graph.schema_node(schema, &HashMap::new(), 0);
        let root = graph.push(root);
        graph
            .kinds
            .insert((group.to_owned(), kind.to_owned()), root);
        Some(graph)
    }

    /// An OpenAPI schema as a node: `$ref` (also wrapped in a one-element
    /// `allOf`, as v3 documents write referenced fields), `properties`,
    /// `additionalProperties`, `items` and the list extensions.
    fn schema_node(&mut self, schema: &Value, names: &HashMap<&str, usize>, depth: usize) -> Node {
        let mut node = Node::default();
        // A CRD schema is a tree, deep but finite; the bound only guards
        // against a pathological document.
        if depth > 64 {
            return node;
        }
        let link = |graph: &mut SchemaGraph, v: &Value| -> usize {
            match ref_target(v).and_then(|r| names.get(r)) {
                Some(&target) => target,
                None => {
                    let child = graph.schema_node(v, names, depth + 1);
                    graph.push(child)
                }
            }
        };
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            for (name, prop) in props {
                let n = link(self, prop);
                node.fields.insert(name.clone(), n);
            }
        }
        if let Some(extra) = schema.get("additionalProperties").filter(|v| v.is_object()) {
            node.values = Some(link(self, extra));
        }
        let is_array = schema.get("type").and_then(Value::as_str) == Some("array")
            || schema.get("items").is_some();
        if is_array {
            node.list = Some(declared_list_type(schema));
            if let Some(items) = schema.get("items").filter(|v| v.is_object()) {
                node.items = Some(link(self, items));
            }
        }
        node
    }
}

/// The schema a `$ref` (or a one-element `allOf` of one) points to, by name.
fn ref_target(schema: &Value) -> Option<&str> {
    let reference = schema.get("$ref").and_then(Value::as_str).or_else(|| {
        match schema
            .get("allOf")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
        {
            Some([only]) => only.get("$ref").and_then(Value::as_str),
            _ => None,
        }
    })?;
    reference.rsplit('/').next()
}

/// kubernetes/kube-openapi `pkg/schemaconv/smd.go` (`VisitArray`): the list
/// type decides; without it `x-kubernetes-patch-strategy: merge` keys the
/// list by its patch merge key (a set without one); any other list is atomic.
fn declared_list_type(schema: &Value) -> ListType {
    let text = |key: &str| schema.get(key).and_then(Value::as_str);
    match text("x-kubernetes-list-type") {
        Some("set") => return ListType::Set,
        Some("map") => {
            let keys = schema
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|keys| {
                    keys.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            return if keys.is_empty() {
                ListType::Atomic
            } else {
                ListType::Map(keys)
            };
        }
        Some(_) => return ListType::Atomic,
        None => {}
    }
    let merge = text("x-kubernetes-patch-strategy")
        .is_some_and(|s| s.split(',').any(|p| p.trim() == "merge"));
    match (merge, text("x-kubernetes-patch-merge-key")) {
        (true, Some(key)) => ListType::Map(vec![key.to_owned()]),
        (true, None) => ListType::Set,
        (false, _) => ListType::Atomic,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn list_at<'a>(
        sem: &'a ListSemantics,
        group: &str,
        kind: &str,
        path: &[&str],
    ) -> Option<&'a ListType> {
        let mut cursor = sem.root(group, kind)?;
        for step in path {
            cursor = if *step == "[]" {
                cursor.item()?
            } else {
                cursor.field(step)?
            };
        }
        cursor.list_type()
    }

    fn map(keys: &[&str]) -> ListType {
        ListType::Map(keys.iter().map(|k| (*k).to_owned()).collect())
    }

    #[test]
    fn builtin_table_keys_containers_env_and_ports() {
        let sem = ListSemantics::builtin();
        let pod = ["spec", "template", "spec", "containers"];
        assert_eq!(
            list_at(&sem, "apps", "Deployment", &pod),
            Some(&map(&["name"]))
        );
        let env = ["spec", "template", "spec", "containers", "[]", "env"];
        assert_eq!(
            list_at(&sem, "apps", "Deployment", &env),
            Some(&map(&["name"]))
        );
        let ports = ["spec", "template", "spec", "containers", "[]", "ports"];
        assert_eq!(
            list_at(&sem, "apps", "Deployment", &ports),
            Some(&map(&["containerPort", "protocol"]))
        );
        assert_eq!(
            list_at(&sem, "", "Service", &["spec", "ports"]),
            Some(&map(&["port", "protocol"]))
        );
        let cron = [
            "spec",
            "jobTemplate",
            "spec",
            "template",
            "spec",
            "containers",
        ];
        assert_eq!(
            list_at(&sem, "batch", "CronJob", &cron),
            Some(&map(&["name"]))
        );
    }

    #[test]
    fn builtin_table_knows_atomic_lists() {
        let sem = ListSemantics::builtin();
        let rbac = "rbac.authorization.k8s.io";
        assert_eq!(
            list_at(&sem, rbac, "RoleBinding", &["subjects"]),
            Some(&ListType::Atomic)
        );
        assert_eq!(
            list_at(&sem, rbac, "ClusterRole", &["rules"]),
            Some(&ListType::Atomic)
        );
        let args = ["spec", "template", "spec", "containers", "[]", "args"];
        assert_eq!(
            list_at(&sem, "apps", "Deployment", &args),
            Some(&ListType::Atomic)
        );
        let ingress = ["spec", "ingress"];
        assert_eq!(
            list_at(&sem, "networking.k8s.io", "NetworkPolicy", &ingress),
            Some(&ListType::Atomic)
        );
        let meta = sem.object_meta().unwrap();
        assert_eq!(
            meta.field("finalizers").unwrap().list_type(),
            Some(&ListType::Set)
        );
        assert_eq!(
            meta.field("ownerReferences").unwrap().list_type(),
            Some(&map(&["uid"]))
        );
    }

    #[test]
    fn openapi_v3_documents_follow_references_and_patch_strategy() {
        let doc = json!({"components": {"schemas": {
            "io.example.v1.Widget": {
                "x-kubernetes-group-version-kind": [{"group": "example.io", "version": "v1", "kind": "Widget"}],
                "properties": {
                    "metadata": {"allOf": [{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}]},
                    "spec": {"allOf": [{"$ref": "#/components/schemas/io.example.v1.WidgetSpec"}], "default": {}}}},
            "io.example.v1.WidgetSpec": {"properties": {
                "parts": {"type": "array", "items": {"$ref": "#/components/schemas/io.example.v1.WidgetSpec"},
                          "x-kubernetes-patch-strategy": "merge", "x-kubernetes-patch-merge-key": "id"},
                "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-patch-strategy": "merge"},
                "rules": {"type": "array", "items": {"type": "object"}},
                "labels": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"},
                           "x-kubernetes-list-type": "set"}}}},
            "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta": {"properties": {
                "finalizers": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"}}}
        }}});
        let mut sem = ListSemantics::default();
        sem.push(Arc::new(SchemaGraph::from_openapi_v3(&doc)));
        let w = |path: &[&str]| list_at(&sem, "example.io", "Widget", path).cloned();
        assert_eq!(w(&["spec", "parts"]), Some(map(&["id"])));
        assert_eq!(
            w(&["spec", "parts", "[]", "parts"]),
            Some(map(&["id"])),
            "recursive"
        );
        assert_eq!(w(&["spec", "tags"]), Some(ListType::Set));
        assert_eq!(w(&["spec", "rules"]), Some(ListType::Atomic));
        assert_eq!(w(&["spec", "labels", "anything"]), Some(ListType::Set));
        assert_eq!(w(&["metadata", "finalizers"]), Some(ListType::Set));
    }

    #[test]
    fn crd_schemas_default_lists_to_atomic() {
        let crd = json!({"spec": {"group": "example.io", "names": {"kind": "Gadget"},
            "versions": [{"name": "v1", "storage": true, "schema": {"openAPIV3Schema": {
                "type": "object", "properties": {"spec": {"type": "object", "properties": {
                    "hosts": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
                    "routes": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["host", "path"],
                               "items": {"type": "object"}}}}}}}}]}});
        let mut sem = ListSemantics::default();
        sem.push(Arc::new(SchemaGraph::from_crd(&crd).unwrap()));
        assert_eq!(
            list_at(&sem, "example.io", "Gadget", &["spec", "hosts"]),
            Some(&ListType::Atomic)
        );
        assert_eq!(
            list_at(&sem, "example.io", "Gadget", &["spec", "routes"]),
            Some(&map(&["host", "path"]))
        );
    }
}
