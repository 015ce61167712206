#!/usr/bin/env python3
"""Generate flotilla's built-in table of list semantics from a Kubernetes
OpenAPI document.

    python3 generate.py SCHEMA.json VERSION > kubernetes.json

SCHEMA.json is any of: the Kubernetes repository's
`api/openapi-spec/swagger.json` (`definitions`), one of its
`api/openapi-spec/v3/*.json` documents (`components.schemas`), or the JSON
Schema bundle `_definitions.json` (`$defs`) that the PyPI package
kubernetes-validate ships per Kubernetes release
(`kubernetes_validate/kubernetes-json-schema/v<VERSION>-local/_definitions.json`,
converted from that release's swagger.json). The checked-in table was made
from kubernetes-validate 1.37.0's v1.36.0 bundle:

    pip download --no-deps kubernetes-validate==1.37.0
    unzip kubernetes_validate-1.37.0-py3-none-any.whl \
        'kubernetes_validate/kubernetes-json-schema/v1.36.0-local/_definitions.json'
    python3 generate.py .../_definitions.json v1.36.0 > kubernetes.json

The list rules are the API server's own, as kube-openapi converts OpenAPI
into the structured-merge-diff schema that server-side apply and
managedFields use (kubernetes/kube-openapi, pkg/schemaconv/smd.go,
`VisitArray`): `x-kubernetes-list-type` decides (`atomic`, `set`, `map`
with `x-kubernetes-list-map-keys`); without it, `x-kubernetes-patch-strategy:
merge` makes the list associative, keyed by `x-kubernetes-patch-merge-key`
(a set when there is no key); any other list is atomic.

Output: `kinds` maps `<group>/<Kind>` (core: `/Pod`) to the type name of the
kind's preferred version (GA before beta before alpha, higher first);
`types` holds every type that leads to a list, pruned to the fields that
do. A node is `{"f": {field: node}, "m": node, "i": node, "l": list}`
(fields, map values, list items, the list's type: `"atomic"`, `"set"` or
the map keys); a node may be a type name (a reference).
"""

import json
import re
import sys


def definitions(doc):
    for path in (("definitions",), ("components", "schemas"), ("$defs",)):
        node = doc
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict):
            return node
    sys.exit("no definitions, components.schemas or $defs in the document")


def ref_name(ref):
    return re.sub(r"^#/(definitions|components/schemas|\$defs)/", "", ref)


def list_type(schema):
    """kube-openapi pkg/schemaconv/smd.go, VisitArray."""
    kind = schema.get("x-kubernetes-list-type")
    if kind == "set":
        return "set"
    if kind == "map":
        return list(schema.get("x-kubernetes-list-map-keys") or [])
    if kind is not None:
        return "atomic"
    if schema.get("x-kubernetes-patch-strategy", "").split(",").count("merge"):
        key = schema.get("x-kubernetes-patch-merge-key")
        return [key] if key else "set"
    return "atomic"


def convert(schema):
    """A node (dict), a reference (str), or None when nothing below is a list."""
    if not isinstance(schema, dict):
        return None
    if "$ref" in schema:
        return ref_name(schema["$ref"])
    for combinator in ("allOf", "oneOf", "anyOf"):
        parts = [convert(p) for p in schema.get(combinator) or []]
        parts = [p for p in parts if p is not None]
        if len(parts) == 1 and not schema.get("properties") and "items" not in schema:
            return parts[0]
    node = {}
    fields = {}
    for name, prop in (schema.get("properties") or {}).items():
        child = convert(prop)
        if child is not None:
            fields[name] = child
    if fields:
        node["f"] = fields
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        child = convert(extra)
        if child is not None:
            node["m"] = child
    if "items" in schema or schema.get("type") in ("array", ["array", "null"]):
        node["l"] = list_type(schema)
        child = convert(schema.get("items"))
        if child is not None:
            node["i"] = child
    return node or None


def version_rank(version):
    """Kubernetes version priority: v2 > v1 > v2beta1 > v1beta2 > v1alpha1."""
    m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not m:
        return (0, 0, 0)
    stage = {"alpha": 1, "beta": 2, None: 3}[m.group(2)]
    return (stage, int(m.group(1)), int(m.group(3) or 0))


def main():
    path, version = sys.argv[1], sys.argv[2]
    with open(path, encoding="utf-8") as f:
        defs = definitions(json.load(f))
    types = {name: convert(schema) for name, schema in defs.items()}

    # Keep the types that lead to a list, through references, to a fixpoint.
    def leads(node, useful):
        if node is None:
            return False
        if isinstance(node, str):
            return node in useful
        return (
            "l" in node
            or any(leads(c, useful) for c in node.get("f", {}).values())
            or leads(node.get("m"), useful)
            or leads(node.get("i"), useful)
        )

    useful = set()
    while True:
        grown = {n for n, t in types.items() if n not in useful and leads(t, useful)}
        if not grown:
            break
        useful |= grown

    def prune(node):
        if node is None or isinstance(node, str):
            return node if node in useful else None
        out = {}
        fields = {k: prune(v) for k, v in node.get("f", {}).items()}
        fields = {k: v for k, v in fields.items() if v is not None}
        if fields:
            out["f"] = dict(sorted(fields.items()))
        for key in ("m", "i"):
            child = prune(node.get(key))
            if child is not None:
                out[key] = child
        if "l" in node:
            out["l"] = node["l"]
        return out or None

    kinds = {}
    for name, schema in defs.items():
        gvks = schema.get("x-kubernetes-group-version-kind") or []
        if len(gvks) != 1 or name.endswith("List"):
            continue
        gvk = gvks[0]
        key = f"{gvk.get('group', '')}/{gvk['kind']}"
        rank = version_rank(gvk["version"])
        if key not in kinds or rank > kinds[key][0]:
            kinds[key] = (rank, name)
    roots = {k: v[1] for k, v in sorted(kinds.items()) if v[1] in useful}
    meta = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

    # Only what the kinds reach (and ObjectMeta, which custom resources share).
    reachable = set()
    stack = list(roots.values()) + [meta]

    def refs(node):
        if node is None:
            return
        if isinstance(node, str):
            yield node
            return
        for child in node.get("f", {}).values():
            yield from refs(child)
        for key in ("m", "i"):
            yield from refs(node.get(key))

    while stack:
        name = stack.pop()
        if name in reachable or name not in useful:
            continue
        reachable.add(name)
        stack.extend(refs(prune(types[name])))

    out = {
        "$comment": (
            f"Generated by generate.py from the Kubernetes {version} OpenAPI definitions; do not edit. "
            "List semantics of the built-in kinds, as the API server's server-side apply reads them."
        ),
        "kubernetes": version,
        "objectMeta": meta,
        "kinds": roots,
        "types": {name: prune(types[name]) for name in sorted(reachable)},
    }
    json.dump(out, sys.stdout, indent=None, separators=(",", ":"), sort_keys=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
