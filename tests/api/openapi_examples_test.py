#!/usr/bin/python3
"""docs/openapi.yaml against the OpenAPI 3.0 schema and against a live recd.

1. The document is valid OpenAPI 3.0: the specification's JSON Schema
   (Debian's openapi-specification package) through python3-jsonschema, then
   what that schema cannot see: every $ref resolves, every path template's
   parameters are declared as path parameters (and only those), operationIds
   are unique, every example validates against its schema.
2. GET /openapi.json on the live server is exactly the YAML, as JSON.
3. Every documented example runs against a live `recd serve --role all`
   (real PostgreSQL and Redis, scripts/test), in document order, with API keys
   on: each named response example is a request built from the parameter and
   body examples of the same name (or a parameter's plain `example`), sent with
   the credentials its port needs (the example's `x-credentials: none|wrong`
   changes that), and its answer must have the example's status, validate
   against that status's schema, equal the example for an error (4xx/5xx) and
   in the fields listed in `x-same` otherwise. `x-live: false` marks an example
   that needs a failing dependency (only checked against its schema). An
   operation without response examples runs once with its plain examples and
   must answer its first 2xx.

Environment: RECD_BINARY, RECD_SOURCE_DIR, RECD_TEST_POSTGRES_ADMIN_URL, RECD_TEST_REDIS_URL.
"""
import json
import os
import sys
import time
import urllib.parse

import jsonschema
import msgpack
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import recd_server  # noqa: E402
from openapi_doc import (DOC_PATH, all_refs, operations,  # noqa: E402
                         on_port, params_of, resolve, schema_errors)

OAS_SCHEMA = "/usr/share/openapi-specification/schemas/v3.0/schema.json"
API_KEY = "shop-key-0123456789abcdef"

failures = []


def check(cond, what):
    if not cond:
        print("FAIL  " + what, flush=True)
        failures.append(what)
    return cond


# --- the document -------------------------------------------------------------

def check_document(doc):
    with open(OAS_SCHEMA) as f:
        oas = json.load(f)
    errors = sorted(jsonschema.Draft4Validator(oas).iter_errors(doc), key=lambda e: list(e.path))
    for e in errors[:20]:
        check(False, "OpenAPI 3.0 schema: %s at %s" % (e.message[:300], "/".join(map(str, e.path))))
    for ref in all_refs(doc, []):
        try:
            resolve(doc, {"$ref": ref})
        except (KeyError, ValueError, TypeError):
            check(False, "unresolved $ref " + ref)
    ids = {}
    for path, item, method, op in operations(doc):
        where = "%s %s" % (method.upper(), path)
        oid = op.get("operationId")
        check(oid and oid not in ids, where + ": operationId missing or taken by " + str(ids.get(oid)))
        ids[oid] = where
        check(op.get("summary"), where + ": no summary")
        params = params_of(doc, item, op)
        in_path = {p["name"] for p in params if p["in"] == "path"}
        template = {seg[1:-1] for seg in path.split("/") if seg.startswith("{")}
        check(in_path == template, where + ": path parameters %s, template %s" % (sorted(in_path), sorted(template)))
        for p in params:
            for name, ex in list(p.get("examples", {}).items()) + ([("example", {"value": p["example"]})] if "example" in p else []):
                ex = resolve(doc, ex)
                if "schema" in p and ex["value"] is not None and not ex.get("x-invalid"):
                    for err in schema_errors(doc, p["schema"], ex["value"]):
                        check(False, "%s: parameter %s example %s: %s" % (where, p["name"], name, err))
        body = resolve(doc, op.get("requestBody", {}))
        for mt, media in body.get("content", {}).items():
            for name, ex in media.get("examples", {}).items():
                ex = resolve(doc, ex)
                if not ex.get("x-invalid") and "schema" in media:
                    for err in schema_errors(doc, media["schema"], ex["value"]):
                        check(False, "%s: body example %s (%s): %s" % (where, name, mt, err))
        for status, resp in op.get("responses", {}).items():
            resp = resolve(doc, resp)
            media = resp.get("content", {}).get("application/json")
            if not media:
                continue
            exs = dict(media.get("examples", {}))
            if "example" in media:
                exs["example"] = {"value": media["example"]}
            for name, ex in exs.items():
                ex = resolve(doc, ex)
                for err in schema_errors(doc, media["schema"], ex["value"]):
                    check(False, "%s: response %s example %s: %s" % (where, status, name, err))
    print("      the document checked: OpenAPI 3.0 schema, %d operations, refs, parameters, examples"
          % len(ids), flush=True)


# --- running the examples -----------------------------------------------------

def build_request(doc, item, op, name):
    """(path with parameters, query list, headers, body bytes, content type) for example `name`."""
    path_values, query, headers = {}, [], {}
    for p in params_of(doc, item, op):
        if name in p.get("examples", {}):
            value = resolve(doc, p["examples"][name])["value"]
        elif "default" in p.get("examples", {}):
            value = resolve(doc, p["examples"]["default"])["value"]
        elif "example" in p:
            value = p["example"]
        else:
            continue
        if value is None:  # an example that leaves this parameter out
            continue
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        if p["in"] == "path":
            path_values[p["name"]] = text
        elif p["in"] == "query":
            for v in value if isinstance(value, list) else [value]:
                query.append((p["name"], ("true" if v else "false") if isinstance(v, bool) else str(v)))
        elif p["in"] == "header":
            headers[p["name"]] = text
    body, ctype = None, None
    content = resolve(doc, op.get("requestBody", {})).get("content", {})
    for mt, media in content.items():
        if name in media.get("examples", {}):
            value = resolve(doc, media["examples"][name])["value"]
        elif "example" in media and not any(name in m.get("examples", {}) for m in content.values()):
            value = media["example"]
        else:
            continue
        ctype = mt
        if mt == "application/x-msgpack":
            body = msgpack.packb(value, use_bin_type=True)
        elif isinstance(value, str):
            body = value.encode()  # a raw body (e.g. malformed JSON) as written
        else:
            body = json.dumps(value).encode()
        break
    return path_values, query, headers, body, ctype


def send(server, port, template, method, built, credentials):
    path_values, query, headers, body, ctype = built
    path = "/".join(urllib.parse.quote(path_values.get(seg[1:-1], seg), safe="")
                    if seg.startswith("{") else seg for seg in template.split("/"))
    url = server.base(port) + path + ("?" + urllib.parse.urlencode(query) if query else "")
    headers = dict(headers)
    if ctype:
        headers["Content-Type"] = ctype
    if credentials != "none" and not (port == "public" and not path.startswith("/api/")):
        secret = server.token if port == "admin" else API_KEY
        if credentials == "wrong":
            secret = "wrong-" + secret
        if port == "admin":
            headers["Authorization"] = "Bearer " + secret
        else:
            headers["X-Api-Key"] = secret
    return recd_server.http(method.upper(), url, body, headers)


def run_examples(doc, server):
    ran = 0
    for path, item, method, op in operations(doc):
        where = "%s %s" % (method.upper(), path)
        ports = [p for p in ("public", "admin") if on_port(item, p)]
        cases = []  # (name, status, media or None, example)
        for status, resp in op["responses"].items():
            resp = resolve(doc, resp)
            media = resp.get("content", {}).get("application/json")
            for name, ex in (media or {}).get("examples", {}).items():
                cases.append((name, status, media, resolve(doc, ex)))
        if not cases:
            ok = sorted(s for s in op["responses"] if s.startswith("2"))
            check(ok, where + ": neither response examples nor a 2xx answer")
            cases = [("", ok[0], None, {})]
        live = 0
        for name, status, media, ex in cases:
            if ex.get("x-live") is False:
                continue
            live += 1
            for port in ports:
                ran += run_one(doc, server, port, path, item, method, op, name, status, media, ex)
        check(live > 0, where + ": no example runs against the live server")
    print("      %d documented examples ran against the live server" % ran, flush=True)


def run_one(doc, server, port, path, item, method, op, name, status, media, ex):
    """Sends example `name` to `port` and checks the answer; 1 if it ran."""
    got, _, raw = send(server, port, path, method, build_request(doc, item, op, name),
                       ex.get("x-credentials", ""))
    label = "%s %s (%s port) example %r" % (method.upper(), path, port, name)
    if not check(str(got) == status, "%s: status %s, documented %s: %s" % (label, got, status, raw[:300])):
        return 0
    if method == "head" or media is None:
        return 1
    try:
        answer = json.loads(raw)
    except ValueError:
        check(False, label + ": not JSON: %r" % raw[:200])
        return 0
    for err in schema_errors(doc, media["schema"], answer):
        check(False, "%s: %s (answer %s)" % (label, err, json.dumps(answer)[:300]))
    if status[0] in "45":
        check(answer == ex["value"], "%s: answered %s, documented %s"
              % (label, json.dumps(answer), json.dumps(ex["value"])))
    for field in ex.get("x-same", []):
        check(answer.get(field) == ex["value"].get(field), "%s: %s is %s, documented %s"
              % (label, field, json.dumps(answer.get(field)), json.dumps(ex["value"].get(field))))
    return 1


def main():
    started = time.monotonic()
    with open(DOC_PATH, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    check_document(doc)
    server = recd_server.Server("openapi", api_keys={"shop": API_KEY})
    try:
        status, headers, raw = recd_server.http("GET", server.base() + "/openapi.json")
        check(status == 200 and json.loads(raw) == doc,
              "GET /openapi.json is docs/openapi.yaml as JSON (status %d)" % status)
        run_examples(doc, server)
    finally:
        server.stop()
        if failures:
            print(server.tail(), file=sys.stderr)
    print("%s  %d failures in %.1f s" % ("FAIL" if failures else "ok   ", len(failures),
                                          time.monotonic() - started), flush=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
