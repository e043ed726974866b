"""A real `recd serve --role all` for the API document tests: a fresh database
on the test PostgreSQL (scripts/test exports RECD_TEST_POSTGRES_ADMIN_URL and
RECD_TEST_REDIS_URL), a small synthetic shop, both ports chosen by the kernel,
an admin token and optionally API keys. Waits on conditions with a deadline,
never on sleeps that decide a result.
"""
import os
import re
import secrets
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

RECD = os.environ["RECD_BINARY"]
PG_ADMIN = os.environ["RECD_TEST_POSTGRES_ADMIN_URL"]
REDIS = os.environ["RECD_TEST_REDIS_URL"]
WAIT = 30  # seconds the server may take to start


def psql(url, sql):
    out = subprocess.run(["psql", url, "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
                         check=True, capture_output=True, text=True)
    return out.stdout.strip()


def db_url(name):
    parts = urllib.parse.urlsplit(PG_ADMIN)
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


def http(method, url, body=None, headers=None, timeout=10):
    """(status, headers, raw body) of one request; never raises on an HTTP status."""
    req = urllib.request.Request(url, method=method, data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


class Serving:
    """`recd serve --role all` with `env`, its output in `log_path`, both ports
    chosen by the kernel (read back from its log); returns once /readyz on the
    admin port answers 200, or raises with the log's tail. stop() ends it."""

    def __init__(self, env, log_path, wait=WAIT):
        env = dict(env, RECD_HTTP_ADDR="127.0.0.1:0", RECD_ADMIN_ADDR="127.0.0.1:0")
        self.log_path = log_path
        self.log = open(log_path, "w+")
        self.proc = subprocess.Popen([RECD, "serve", "--role", "all"], env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        self.port = self.admin = None
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and not (self.port and self.admin):
            text = open(log_path).read()
            m = re.search(r"HTTP on [\d.]+:(\d+)", text)
            a = re.search(r"admin on [\d.]+:(\d+)", text)
            self.port = int(m.group(1)) if m else None
            self.admin = int(a.group(1)) if a else None
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        if not (self.port and self.admin):
            raise RuntimeError("recd did not start:\n" + self.tail())
        while time.monotonic() < deadline:
            try:
                if http("GET", "http://127.0.0.1:%d/readyz" % self.admin)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("recd not ready:\n" + self.tail())

    def tail(self):
        return open(self.log_path).read()[-3000:]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Server:
    """Starts on construction; stop() ends it and drops its database."""

    def __init__(self, name, users=200, items=100, events=3000, api_keys=None):
        self.token = "admin-" + secrets.token_hex(12)
        self.dir = tempfile.mkdtemp(prefix="recd-api-")
        self.db = "recd_%s_%d" % (name, os.getpid())
        psql(PG_ADMIN, 'DROP DATABASE IF EXISTS "%s"' % self.db)
        psql(PG_ADMIN, 'CREATE DATABASE "%s"' % self.db)
        self.url = db_url(self.db)
        env = dict(os.environ, RECD_POSTGRES_URL=self.url, RECD_REDIS_URL=REDIS)
        run = lambda *a: subprocess.run([RECD, *a], check=True, env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE)
        run("migrate", "--partitions", "8")
        run("import", "synthetic", "--users", str(users), "--items", str(items), "--events",
            str(events), "--seed", "7")
        env.update(RECD_ADMIN_TOKEN=self.token, RECD_CLUSTER_SHARDS="2")
        self.api_keys = api_keys or {}
        if self.api_keys:
            path = os.path.join(self.dir, "api_keys")
            with open(path, "w") as f:
                f.write("".join("%s:%s\n" % kv for kv in self.api_keys.items()))
            env["RECD_HTTP_API_KEYS_FILE"] = path
        self.serving = Serving(env, os.path.join(self.dir, "serve.log"))
        self.port, self.admin = self.serving.port, self.serving.admin

    def base(self, port="public"):
        return "http://127.0.0.1:%d" % (self.admin if port == "admin" else self.port)

    def tail(self):
        return self.serving.tail()

    def stop(self):
        self.serving.stop()
        try:
            psql(PG_ADMIN, 'DROP DATABASE IF EXISTS "%s"' % self.db)
        except subprocess.CalledProcessError:
            pass
