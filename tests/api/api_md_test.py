#!/usr/bin/python3
"""docs/api.md's examples against a live recd, so they cannot rot.

Every fenced block whose info string starts with `sh test` runs with bash
against a real `recd serve --role all` (real PostgreSQL and Redis, scripts/test;
no API keys), in document order, with RECD (the public port's base URL),
RECD_ADMIN (the admin port's) and RECD_ADMIN_TOKEN set. A block makes exactly
one curl request. The rest of the info string says what the answer must be:

    ```sh test 200 success=true count=3 recommendations[0].item_id=5001 degraded! "error=a b"
    curl ...
    ```

the HTTP status first, then checks on the JSON answer: `path=value` (value as
JSON, else as text), `path?` (present), `path!` (absent), where a path is
dotted keys with [n] indexes; quote a check with spaces (shell words). Besides, the request must be an operation of
docs/openapi.yaml (or answer 404/405 with the error shape: a demonstration of
a wrong path or method) and its answer must validate against that operation's
schema for the status.

Environment: RECD_BINARY, RECD_SOURCE_DIR, RECD_TEST_POSTGRES_ADMIN_URL, RECD_TEST_REDIS_URL.
"""
import json
import os
import re
import shlex
import subprocess
import sys
import time
import urllib.parse

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import recd_server  # noqa: E402
from openapi_doc import DOC_PATH, SOURCE, find_operation, resolve, schema_errors  # noqa: E402

API_MD = os.path.join(SOURCE, "docs", "api.md")
MARK = "@@recd-api-md@@"
failures = []


def check(cond, what):
    if not cond:
        print("FAIL  " + what, flush=True)
        failures.append(what)
    return cond


def blocks(text):
    """(line number, info after `sh test`, code) of every test block."""
    out, lines, i = [], text.split("\n"), 0
    while i < len(lines):
        m = re.match(r"^```sh test\b(.*)$", lines[i])
        if m:
            start, code = i + 1, []
            i += 1
            while i < len(lines) and lines[i].strip() != "```":
                code.append(lines[i])
                i += 1
            check(i < len(lines), "docs/api.md:%d: the block is not closed" % start)
            out.append((start, shlex.split(m.group(1)), "\n".join(code)))
        i += 1
    return out


def lookup(value, path):
    """(found, value) at a path like a.b[0].c."""
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if part.startswith("["):
            n = int(part[1:-1])
            if not isinstance(value, list) or n >= len(value):
                return False, None
            value = value[n]
        else:
            if not isinstance(value, dict) or part not in value:
                return False, None
            value = value[part]
    return True, value


def run_block(doc, server, line, info, code):
    where = "docs/api.md:%d" % line
    if not check(info and re.fullmatch(r"\d{3}", info[0]), where + ": `sh test` needs a status first"):
        return
    # Debian's python3 first (python3-msgpack for the msgpack example).
    env = dict(os.environ, RECD=server.base(), RECD_ADMIN=server.base("admin"),
               RECD_ADMIN_TOKEN=server.token, PATH="/usr/bin:" + os.environ.get("PATH", ""))
    script = ('set -euo pipefail\n'
              'curl() { command curl -sS -w "\\n%s %%{http_code} %%{method} %%{url_effective}" "$@"; }\n'
              % MARK) + code
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=30)
    if not check(done.returncode == 0, "%s: the block failed (%d): %s" % (where, done.returncode, done.stderr[-500:])):
        return
    parts = done.stdout.split("\n" + MARK + " ")
    if not check(len(parts) == 2, where + ": a block makes exactly one curl request, made %d" % (len(parts) - 1)):
        return
    body, (status, method, url) = parts[0], parts[1].strip().split(" ", 2)
    check(status == info[0], "%s: status %s, documented %s: %s" % (where, status, info[0], body[:300]))
    parsed = urllib.parse.urlsplit(url)
    port = "admin" if "%s://%s" % (parsed.scheme, parsed.netloc) == server.base("admin") else "public"
    template, op = find_operation(doc, port, method, urllib.parse.unquote(parsed.path))
    answer = None
    if body.strip():
        try:
            answer = json.loads(body)
        except ValueError:
            answer = None
    if op is None:
        # Only a demonstration of 404 (no such path) or 405 (another method).
        if not check(status in ("404", "405"), "%s: %s %s is no operation of docs/openapi.yaml"
                     % (where, method, parsed.path)):
            return
        media = {"schema": {"$ref": "#/components/schemas/Error"}}
    else:
        resp = resolve(doc, op.get("responses", {}).get(status, {}))
        media = resp.get("content", {}).get("application/json")
        check(resp, "%s: status %s of %s %s is not documented" % (where, status, method, template))
    if media and "schema" in media:
        check(answer is not None, "%s: the answer is not JSON: %s" % (where, body[:200]))
        for err in schema_errors(doc, media["schema"], answer):
            check(False, "%s: %s %s: %s" % (where, method, template, err))
    for expect in info[1:]:
        if expect.endswith("?") or expect.endswith("!"):
            found, _ = lookup(answer, expect[:-1])
            check(found == expect.endswith("?"), "%s: %s %s in %s" % (
                where, expect[:-1], "missing" if expect.endswith("?") else "present", body[:300]))
            continue
        path, _, text = expect.partition("=")
        try:
            want = json.loads(text)
        except ValueError:
            want = text
        found, got = lookup(answer, path)
        check(found and got == want, "%s: %s is %s, documented %s" % (
            where, path, json.dumps(got) if found else "missing", json.dumps(want)))


def main():
    started = time.monotonic()
    with open(DOC_PATH, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    with open(API_MD, encoding="utf-8") as f:
        found = blocks(f.read())
    check(len(found) >= 10, "docs/api.md has %d `sh test` blocks" % len(found))
    server = recd_server.Server("api_md")
    try:
        for line, info, code in found:
            run_block(doc, server, line, info, code)
    finally:
        server.stop()
        if failures:
            print(server.tail(), file=sys.stderr)
    print("%s  %d blocks of docs/api.md, %d failures in %.1f s" % (
        "FAIL" if failures else "ok   ", len(found), len(failures), time.monotonic() - started), flush=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
