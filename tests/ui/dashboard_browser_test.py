#!/usr/bin/python3
"""The admin dashboard (/ui) in a real headless browser against a real recd.

Starts `recd serve --role all` on loopback with the test PostgreSQL and Redis
(scripts/test), a small synthetic shop with computed jobs and a real
`recd eval` report, then drives Debian's chromium through chromedriver
(python3-selenium) as an operator would: enter the admin token, read the
cluster map, watch serving figures move under a light load, run a job with the
button and see its run published, ask for a user's recommendations and an
item's neighbours. Every figure checked is compared with what recd's own
endpoints answer. The browser's console must stay free of errors. Screenshots
go to $RECD_UI_SCREENSHOTS (default: ./ui-screenshots).

Environment: RECD_BINARY, RECD_TEST_POSTGRES_ADMIN_URL, RECD_TEST_REDIS_URL.
Waits are on conditions (with a deadline that fails the test), never sleeps
that decide a result.
"""
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "api"))
from recd_server import Serving  # noqa: E402  (the shared `recd serve` start-up)

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

RECD = os.environ["RECD_BINARY"]
PG_ADMIN = os.environ["RECD_TEST_POSTGRES_ADMIN_URL"]
REDIS = os.environ["RECD_TEST_REDIS_URL"]
SHOTS = os.path.abspath(os.environ.get("RECD_UI_SCREENSHOTS", "ui-screenshots"))
TOKEN = "ui-" + secrets.token_hex(16)
WAIT = 30  # seconds any one condition may take before the test fails

failures = []


def check(cond, what):
    print(("ok    " if cond else "FAIL  ") + what, flush=True)
    if not cond:
        failures.append(what)


def db_url(name):
    parts = urllib.parse.urlsplit(PG_ADMIN)
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


def psql(sql):
    subprocess.run(["psql", PG_ADMIN, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql], check=True,
                   stdout=subprocess.DEVNULL)


def recd(*args, env=None, url=None):
    e = dict(os.environ, RECD_POSTGRES_URL=url, RECD_REDIS_URL=REDIS, **(env or {}))
    subprocess.run([RECD, *args], check=True, env=e, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


def http(method, port, path, token=None, body=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method, data=body)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def start_server(url, eval_report):
    """`recd serve --role all` on the shop (tests/api/recd_server.py's Serving),
    with the eval report for the quality page and a 1 s run watcher."""
    env = dict(os.environ, RECD_POSTGRES_URL=url, RECD_REDIS_URL=REDIS, RECD_ADMIN_TOKEN=TOKEN,
               RECD_ADMIN_EVAL_REPORT=eval_report, RECD_CLUSTER_SHARDS="2",
               RECD_JOBS_POLL_SECONDS="1")
    return Serving(env, os.path.join(SHOTS, "recd-serve.log"), wait=WAIT)


def ids(url, sql):
    out = subprocess.run(["psql", url, "-Atc", sql], check=True, capture_output=True, text=True)
    return out.stdout.split()


class Load(threading.Thread):
    """A light, steady load on the public port: recommendations and views, by
    existing users of existing items (so the counts the page shows stay put)."""

    def __init__(self, port, users, items):
        super().__init__(daemon=True)
        self.port, self.users, self.items = port, users, items
        self.stop, self.sent = threading.Event(), 0

    def run(self):
        i = 0
        while not self.stop.is_set():
            i += 1
            user = self.users[i % len(self.users)]
            http("GET", self.port, "/api/recommend/%s?limit=10" % user)
            if i % 5 == 0:
                http("POST", self.port, "/api/behavior?user_id=%s&item_id=%s&behavior_type=view"
                     % (user, self.items[(i * 7) % len(self.items)]))
            self.sent += 1
            self.stop.wait(0.01)


def wait_for(driver, what, cond):
    try:
        return WebDriverWait(driver, WAIT, poll_frequency=0.2,
                             ignored_exceptions=(StaleElementReferenceException,)).until(lambda d: cond(d))
    except TimeoutException:
        check(False, what + " (not within %d s)" % WAIT)
        return None


def text(driver, css):
    """The element's text, "" if absent or replaced meanwhile (the page re-renders every 2.5 s)."""
    try:
        found = driver.find_elements(By.CSS_SELECTOR, css)
        return found[0].text if found else ""
    except StaleElementReferenceException:
        return ""


def shoot(driver, name, element_id=None):
    path = os.path.join(SHOTS, name + ".png")
    if element_id:
        driver.find_element(By.ID, element_id).screenshot(path)
    else:
        driver.save_screenshot(path)
    print("      screenshot " + path, flush=True)


def main():
    os.makedirs(SHOTS, exist_ok=True)
    started = time.monotonic()
    name = "recd_ui_%d" % os.getpid()
    eval_name = name + "_eval"
    psql('CREATE DATABASE "%s"' % name)
    psql('CREATE DATABASE "%s"' % eval_name)
    server = load = driver = None
    try:
        url, eval_url = db_url(name), db_url(eval_name)
        recd("migrate", "--partitions", "16", url=url)
        # Dense enough that the seed's item Jaccard (at least 5 common buy/cart
        # users) publishes rows: at 6,000 events over 150 items it published none.
        recd("import", "synthetic", "--users", "300", "--items", "100", "--events", "20000",
             "--seed", "3", url=url)
        recd("compute", "--shards", "2", url=url)
        report = os.path.join(SHOTS, "eval.json")
        recd("migrate", "--partitions", "16", url=eval_url)
        recd("eval", "synthetic", "--users", "200", "--items", "100", "--events", "4000",
             "--json", report, url=eval_url)
        print("      data and eval ready after %.1f s" % (time.monotonic() - started), flush=True)

        server = start_server(url, report)
        load = Load(server.port, ids(url, "SELECT user_id FROM users ORDER BY user_id LIMIT 150"),
                    ids(url, "SELECT item_id FROM items ORDER BY item_id LIMIT 120"))
        load.start()

        opts = webdriver.ChromeOptions()
        opts.binary_location = "/usr/bin/chromium"
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                    "--window-size=1280,2400", "--no-first-run", "--disable-extensions"):
            opts.add_argument(arg)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
        admin = "http://127.0.0.1:%d" % server.admin

        # The page asks for the token; nothing is fetched without it.
        driver.get(admin + "/ui")
        wait_for(driver, "the token form shows", lambda d: d.find_element(By.ID, "login").is_displayed())
        check(not driver.find_element(By.ID, "panels").is_displayed(), "no panel before the token")
        shoot(driver, "dashboard-login")
        driver.find_element(By.ID, "token-input").send_keys(TOKEN)
        driver.find_element(By.CSS_SELECTOR, "#login button[type=submit]").click()

        # Cluster: the figures recd's own endpoints give.
        status, cluster = http("GET", server.admin, "/admin/cluster", TOKEN)
        check(status == 200, "/admin/cluster answers")
        wait_for(driver, "the cluster tiles show the epoch",
                 lambda d: text(d, "[data-figure=epoch] .value") == str(cluster["epoch"]))
        check(text(driver, "[data-figure=partitions] .value") == str(cluster["partitions"]),
              "partitions tile = %d" % cluster["partitions"])
        check(text(driver, "[data-figure=shards] .value") == "2 / 2", "shards alive tile = 2 / 2")
        cells = driver.find_elements(By.CSS_SELECTOR, "#partition-map span")
        check(len(cells) == cluster["partitions"], "one partition cell per partition")
        rows = driver.find_elements(By.CSS_SELECTOR, "#shard-table tbody tr")
        check(len(rows) == len(cluster["shards"]), "one row per shard")
        _, stats = http("GET", server.admin, "/admin/stats", TOKEN)
        check(text(driver, "[data-figure=users] .value") == str(stats["user_count"]),
              "users tile = %d (/admin/stats)" % stats["user_count"])
        check("ready" in text(driver, "#health"), "health pill says ready")

        # Serving: the sampled figures move under the load.
        wait_for(driver, "a serving point with recommendations per second > 0",
                 lambda d: re.match(r"^[0-9.]+k?$", text(d, "[data-figure=rps] .value"))
                 and float(text(d, "[data-figure=rps] .value").rstrip("k")) > 0)
        _, serving = http("GET", server.admin, "/admin/serving", TOKEN)
        check(len(serving["points"]) >= 1 and serving["points"][-1]["recommend_per_s"] > 0,
              "/admin/serving has a point with traffic")
        check(len(driver.find_elements(By.CSS_SELECTOR, "#chart-rps path[data-series=recommend]")) == 1,
              "the requests chart draws the recommend series")
        latency = text(driver, "[data-figure=latency] .value")
        check(re.match(r"^[0-9.]+ / [0-9.]+ / [0-9.]+$", latency) is not None,
              "latency tile shows p50 / p95 / p99 (%s)" % latency)
        check(text(driver, "[data-figure=cache] .value").endswith("%"), "cache hit ratio shown")

        # Quality: the eval report's models.
        wait_for(driver, "the quality table lists recd",
                 lambda d: any(td.text == "recd" for td in d.find_elements(By.CSS_SELECTOR, "#quality-body td")))

        # RECD_UI_SCREENSHOT_SECONDS=N (docs/img, never CI): N more seconds of
        # load first, so that the charts hold more than a point or two.
        extra = float(os.environ.get("RECD_UI_SCREENSHOT_SECONDS", "0"))
        if extra > 0:
            time.sleep(extra)
        shoot(driver, "dashboard-overview")
        shoot(driver, "dashboard-cluster", "cluster")
        shoot(driver, "dashboard-serving", "serving")
        shoot(driver, "dashboard-quality", "quality")

        # Jobs: the button runs one and its run shows up published.
        _, jobs = http("GET", server.admin, "/admin/jobs", TOKEN)
        before = max([r["run_id"] for r in jobs["runs"]] or [0])
        check(before >= 3, "the three computed runs are listed (newest run %d)" % before)
        Select(driver.find_element(By.ID, "job-kind")).select_by_value("item_similarity")
        driver.find_element(By.ID, "run-job").click()

        def new_run(d):
            for row in d.find_elements(By.CSS_SELECTOR, "#runs-table tbody tr[data-run]"):
                tds = row.find_elements(By.TAG_NAME, "td")
                cells = [c.text for c in tds]
                if int(cells[0]) > before and cells[1] == "item_similarity" and cells[2] == "published":
                    return cells + [tds[5].get_attribute("data-rows")]
            return None
        cells = wait_for(driver, "the run started by the button is published", new_run)
        if cells:
            _, jobs = http("GET", server.admin, "/admin/jobs", TOKEN)
            run = [r for r in jobs["runs"] if r["run_id"] == int(cells[0])][0]
            check(run["status"] == "published" and run["kind"] == "item_similarity",
                  "job_runs holds run %s as a published item_similarity run" % cells[0])
            check(cells[7] == str(run["rows"]) and cells[5] != "",
                  "rows column %s (%s) = %d rows" % (cells[5], cells[7], run["rows"]))
        check(re.search(r"item_similarity: (started|finished)", text(driver, "#job-message")) is not None,
              "the button's message names the run's state (%s)" % text(driver, "#job-message"))
        shoot(driver, "dashboard-jobs", "jobs")

        # Try it: the recommendations of the user with the most behaviors, with
        # reasons, and an item's neighbours.
        user = ids(url, "SELECT user_id FROM user_behavior GROUP BY user_id "
                        "ORDER BY count(*) DESC, user_id LIMIT 1")[0]
        box = driver.find_element(By.ID, "try-user")
        box.clear()
        box.send_keys(user)
        driver.find_element(By.CSS_SELECTOR, "#try-form button[type=submit]").click()
        wait_for(driver, "recommendations listed with reasons",
                 lambda d: len(d.find_elements(By.CSS_SELECTOR, "#try-results li .reasons")) >= 5)
        reasons = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#try-results li .reasons")]
        check(all(r for r in reasons), "every recommended item says why")
        check(any("item CF" in r or "user CF" in r or "vector" in r for r in reasons),
              "personal routes among the reasons")
        def shown_items(d):
            return [e.get_attribute("data-item")
                    for e in d.find_elements(By.CSS_SELECTOR, "#similar-results li[data-item]")]
        # The first item's neighbours show at once (or the note that it has none);
        # clicking a recommended item that has published neighbours lists them,
        # in the order of the published rows.
        items = [e.get_attribute("data-item") for e in driver.find_elements(By.CSS_SELECTOR, "#try-results li")]
        neighbours = {}
        for item in items:
            _, body = http("GET", server.admin, "/admin/similar/%s?limit=10" % item, TOKEN)
            neighbours[item] = [str(n["item_id"]) for n in body["neighbours"]]
        if neighbours[items[0]]:
            wait_for(driver, "the first item's neighbours are listed",
                     lambda d: shown_items(d) == neighbours[items[0]])
        else:
            wait_for(driver, "the first item's lack of neighbours is said",
                     lambda d: "no published neighbours" in text(d, "#similar-results"))
        with_rows = [i for i in items if neighbours[i]]
        check(bool(with_rows), "a recommended item has published neighbours")
        if with_rows:
            item = with_rows[-1]
            driver.find_element(By.CSS_SELECTOR, '#try-results li[data-item="%s"] button' % item).click()
            wait_for(driver, "clicking item %s lists its neighbours" % item,
                     lambda d: shown_items(d) == neighbours[item] and ("item %s " % item) in text(d, "#similar-of"))
            check(shown_items(driver) == neighbours[item],
                  "neighbours of item %s in the order of the published item_similarity rows" % item)
        shoot(driver, "dashboard-try", "try")

        # The console stayed clean throughout.
        errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
        check(not errors, "no console errors: %s" % errors)
        # Every request the page sent: the token only ever in the header of
        # /admin/* requests, never in a URL, and no cookie at all.
        sent = []
        for entry in driver.get_log("performance"):
            msg = json.loads(entry["message"])["message"]
            if msg["method"] == "Network.requestWillBeSent":
                sent.append(msg["params"]["request"])
        admin_calls = [r for r in sent if urllib.parse.urlsplit(r["url"]).path.startswith("/admin/")]
        check(len(admin_calls) >= 10, "the page called the admin endpoints (%d requests)" % len(admin_calls))
        check(all(TOKEN not in r["url"] for r in sent), "the token is in no URL")
        check(all(r["headers"].get("Authorization") == "Bearer " + TOKEN for r in admin_calls),
              "every /admin/ request carries the bearer header")
        check(all("Cookie" not in r["headers"] for r in sent) and not driver.get_cookies(),
              "no cookie")
        print("      dashboard test took %.1f s" % (time.monotonic() - started), flush=True)
    finally:
        if load:
            load.stop.set()
            load.join(timeout=10)
        if driver:
            driver.quit()
        if server:
            server.stop()
        for n in (name, eval_name):
            psql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % n)
    if failures:
        print("%d checks failed; recd's log: %s" % (len(failures), server.log_path if server else "-"))
        sys.exit(1)


if __name__ == "__main__":
    main()
