"""Reading docs/openapi.yaml: $refs, OpenAPI schemas as JSON Schema, operations
and the operation a request hits. Shared by the API document tests."""
import os

import jsonschema

SOURCE = os.environ.get("RECD_SOURCE_DIR",
                        os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DOC_PATH = os.path.join(SOURCE, "docs", "openapi.yaml")
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
PUBLIC_URL, ADMIN_URL = "http://127.0.0.1:8080", "http://127.0.0.1:9090"


def resolve(doc, node):
    """Follows $ref (local ones only) until a node without one."""
    seen = set()
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if ref in seen or not ref.startswith("#/"):
            raise ValueError("bad $ref " + ref)
        seen.add(ref)
        node = doc
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def all_refs(node, out):
    if isinstance(node, dict):
        if "$ref" in node and isinstance(node["$ref"], str):
            out.append(node["$ref"])
        for v in node.values():
            all_refs(v, out)
    elif isinstance(node, list):
        for v in node:
            all_refs(v, out)
    return out


def json_schema(doc, schema):
    """An OpenAPI 3.0 schema object as a JSON Schema (draft 4) validator's input:
    $refs inlined, `nullable` as a null type, OpenAPI-only keywords dropped."""
    schema = resolve(doc, schema)
    if isinstance(schema, list):
        return [json_schema(doc, s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for k, v in schema.items():
        if k in ("nullable", "example", "discriminator", "readOnly", "writeOnly", "xml",
                 "externalDocs", "deprecated") or k.startswith("x-"):
            continue
        if k == "properties":
            out[k] = {name: json_schema(doc, s) for name, s in v.items()}
        elif k in ("items", "not", "additionalProperties") and isinstance(v, dict):
            out[k] = json_schema(doc, v)
        elif k in ("allOf", "anyOf", "oneOf"):
            out[k] = [json_schema(doc, s) for s in v]
        else:
            out[k] = v
    if schema.get("nullable"):
        out = {"anyOf": [out, {"type": "null"}]}
    return out


def schema_errors(doc, schema, value):
    v = jsonschema.Draft4Validator(json_schema(doc, schema))
    return ["%s at %s" % (e.message, "/".join(map(str, e.absolute_path)) or "top")
            for e in v.iter_errors(value)]


def operations(doc):
    for path, item in doc["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, item, method, item[method]


def params_of(doc, item, op):
    """The operation's parameters (path-level ones unless overridden), resolved."""
    merged = {}
    for p in item.get("parameters", []) + op.get("parameters", []):
        p = resolve(doc, p)
        merged[(p["name"], p["in"])] = p
    return list(merged.values())


def on_port(item, port):
    """True if the path item is served on `port` ("public" or "admin"): a path
    item without `servers` is on the public port only."""
    urls = [s["url"] for s in item.get("servers", [])]
    if not urls:
        return port == "public"
    return (PUBLIC_URL if port == "public" else ADMIN_URL) in urls


def fits(template, path):
    """True if `path` fits the path template (a {name} segment matches any one segment)."""
    want, got = template.split("/"), path.split("/")
    return len(want) == len(got) and all(w == g or (w.startswith("{") and w.endswith("}"))
                                         for w, g in zip(want, got))


def find_operation(doc, port, method, path):
    """(template, operation) that `method path` on `port` hits, or (None, None)."""
    for template, item, m, op in operations(doc):
        if m == method.lower() and on_port(item, port) and fits(template, path):
            return template, op
    return None, None
