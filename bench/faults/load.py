"""Bounded load against the API node while a fault happens, and the audit of
what PostgreSQL holds afterwards (standard library only).

Every event of a run is identifiable in user_behavior without any help from
the server: it belongs to one of the run's own users (a range of user ids no
import uses) and carries a timestamp no other event of that user has, so
(user_id, timestamp) names it. With event_id support the event_id says the
same; without it, acknowledged events are also checked by the behavior id
the 200 returned.
"""
import http.client
import json
import random
import threading
import time

KINDS = ['view', 'click', 'cart', 'buy']


class Event:
    __slots__ = ('seq', 'user', 'item', 'kind', 'ts', 'event_id', 'status', 'behavior_id',
                 't_sent', 't_done', 'retry_status')

    def __init__(self, seq, user, item, kind, ts, event_id):
        self.seq, self.user, self.item, self.kind, self.ts = seq, user, item, kind, ts
        self.event_id = event_id
        self.status = None        # HTTP status, or 'conn' (refused/reset) or 'timeout'
        self.behavior_id = None
        self.t_sent = self.t_done = None
        self.retry_status = None

    def body(self, with_event_id):
        b = {'user_id': self.user, 'item_id': self.item, 'behavior_type': self.kind,
             'timestamp': self.ts}
        if with_event_id:
            b['event_id'] = self.event_id
        return json.dumps(b)


class Client:
    """One keep-alive connection; a failed request closes it (the next one reconnects)."""

    def __init__(self, port, timeout):
        self.port, self.timeout = port, timeout
        self.conn = None

    def request(self, method, path, body=None):
        if self.conn is None:
            self.conn = http.client.HTTPConnection('127.0.0.1', self.port, timeout=self.timeout)
        try:
            hdr = {'Content-Type': 'application/json'} if body else {}
            self.conn.request(method, path, body=body, headers=hdr)
            r = self.conn.getresponse()
            return r.status, r.read()
        except TimeoutError:
            self.close()
            return 'timeout', b''
        except (OSError, http.client.HTTPException):
            self.close()
            return 'conn', b''

    def close(self):
        if self.conn:
            self.conn.close()
        self.conn = None


def post_event(client, ev, with_event_id):
    status, body = client.request('POST', '/api/behavior', ev.body(with_event_id))
    bid = None
    if status == 200:
        try:
            bid = json.loads(body).get('behavior_id')
        except ValueError:
            pass
    return status, bid


class Load:
    """Writers post tagged behaviors (paced, at most `max_events` in all);
    readers ask for recommendations; a monitor samples the API node's RSS and
    /api/stats. Stops on stop() or after `max_seconds`."""

    def __init__(self, dep, tag, user_base, users, items, with_event_id, writers=4,
                 rate_per_writer=25, max_events=6000, max_seconds=180, client_timeout=15,
                 catalog_users=1000):
        self.dep, self.tag, self.user_base, self.users, self.items = dep, tag, user_base, users, items
        self.with_event_id = with_event_id
        self.writers, self.interval = writers, 1.0 / rate_per_writer
        self.max_events, self.max_seconds, self.client_timeout = max_events, max_seconds, client_timeout
        self.catalog_users = catalog_users
        self.events = []
        self.lock = threading.Lock()
        self.stop_flag = threading.Event()
        self.ts_base = int(time.time()) - 30 * 86400
        self.rnd = random.Random(hash(tag) & 0xffff)
        self.rec = {'total': 0, 'ok': 0, 'degraded': 0, 'errors': 0, 'degraded_times': []}
        self.peak_rss_kib = 0
        self.peak_queue = None     # the behavior writer's queue depth, if /api/stats has it
        self.stats_failures = 0
        self.threads = []

    def _next_event(self):
        with self.lock:
            seq = len(self.events)
            if seq >= self.max_events:
                return None
            ev = Event(seq, self.user_base + seq % self.users, 1 + self.rnd.randrange(self.items),
                       KINDS[seq % 4], self.ts_base + seq, f'{self.tag}-{seq}')
            self.events.append(ev)
            return ev

    def _writer(self):
        c = Client(self.dep.api.http_port, self.client_timeout)
        while not self.stop_flag.is_set():
            t0 = time.time()
            ev = self._next_event()
            if ev is None:
                break
            ev.t_sent = t0
            ev.status, ev.behavior_id = post_event(c, ev, self.with_event_id)
            ev.t_done = time.time()
            if ev.status == 'conn':
                self.stop_flag.wait(0.1)  # the node is down: do not spin
            self.stop_flag.wait(max(0.0, self.interval - (time.time() - t0)))
        c.close()

    def _reader(self):
        c = Client(self.dep.api.http_port, self.client_timeout)
        rnd = random.Random(7)
        while not self.stop_flag.is_set():
            status, body = c.request('GET', f'/api/recommend/{rnd.randint(1, self.catalog_users)}?limit=10')
            self.rec['total'] += 1
            if status == 200:
                self.rec['ok'] += 1
                if b'"degraded":true' in body:
                    self.rec['degraded'] += 1
                    self.rec['degraded_times'].append(time.time())
            else:
                self.rec['errors'] += 1
                self.stop_flag.wait(0.1)
            self.stop_flag.wait(0.05)
        c.close()

    def _monitor(self):
        while not self.stop_flag.is_set():
            rss = self.dep.api_rss_kib()
            if rss:
                self.peak_rss_kib = max(self.peak_rss_kib, rss)
            status, body = self._stats()
            if status == 200:
                q = find_queue_depth(body)
                if q is not None:
                    self.peak_queue = max(self.peak_queue or 0, q)
            else:
                self.stats_failures += 1
            self.stop_flag.wait(0.5)

    def _stats(self):
        c = Client(self.dep.api.http_port, 2)
        try:
            return c.request('GET', '/api/stats')
        finally:
            c.close()

    def start(self):
        self.t_start = time.time()
        targets = [self._writer] * self.writers + [self._reader, self._monitor]
        self.threads = [threading.Thread(target=t, daemon=True) for t in targets]
        for t in self.threads:
            t.start()
        timer = threading.Timer(self.max_seconds, self.stop_flag.set)
        timer.daemon = True
        timer.start()

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(timeout=self.client_timeout + 5)

    def first_ok_after(self, t):
        """Time of the first 200 that arrived after t, or None."""
        done = [e.t_done for e in self.events if e.status == 200 and e.t_done and e.t_done >= t]
        return min(done) if done else None

    def wait_first_ok_after(self, t, timeout):
        t0 = time.time()
        while time.time() - t0 < timeout and not self.stop_flag.is_set():
            if self.first_ok_after(t) is not None:
                return True
            time.sleep(0.05)
        return False


def find_queue_depth(body):
    """The behavior writer's queue depth in /api/stats, if the server reports one."""
    try:
        j = json.loads(body)
    except ValueError:
        return None
    for path in (('behavior_queue', 'queued'),):
        v = j
        for k in path:
            v = v.get(k) if isinstance(v, dict) else None
        if isinstance(v, (int, float)):
            return int(v)
    return None


def audit(dep, load, event_id_column):
    """What PostgreSQL holds of the run's events: rows per event key and ids."""
    lo, hi = load.user_base, load.user_base + load.users - 1
    cols = 'id, user_id, extract(epoch FROM timestamp)::bigint'
    if event_id_column:
        cols += ', event_id'
    rows = dep.sql(f'SELECT {cols} FROM user_behavior WHERE user_id BETWEEN {lo} AND {hi}')
    per_key, ids, per_eid = {}, set(), {}
    for r in rows:
        ids.add(int(r[0]))
        key = (int(r[1]), int(r[2]))
        per_key[key] = per_key.get(key, 0) + 1
        if event_id_column and len(r) > 3 and r[3]:
            per_eid[r[3]] = per_eid.get(r[3], 0) + 1
    return per_key, ids, per_eid


def summarize(dep, load, mode, event_id_column, retry):
    """The figures of one scenario; retries the failed events first when `retry`."""
    evs = list(load.events)
    acked = [e for e in evs if e.status == 200]
    failed = [e for e in evs if e.status != 200 and not (isinstance(e.status, int) and e.status < 500)]
    client_err = [e for e in evs if isinstance(e.status, int) and 400 <= e.status < 500]
    per_key, ids, per_eid = audit(dep, load, event_id_column)

    def present(e):
        if event_id_column:
            return per_eid.get(e.event_id, 0) > 0
        return per_key.get((e.user, e.ts), 0) > 0

    missing = [e for e in acked if not present(e) or
               (not event_id_column and e.behavior_id is not None and e.behavior_id not in ids)]
    maybe = [e for e in failed if present(e)]
    s = {
        'sent': len(evs), 'acked': len(acked), 'missing': len(missing),
        'missing_detail': [(e.event_id, e.user, e.ts, e.behavior_id) for e in missing[:10]],
        'failed': len(failed), 'maybe_committed': len(maybe), 'client_errors': len(client_err),
        'statuses': count_statuses(evs),
        'dup_before_retry': sum(1 for n in per_key.values() if n > 1),
        'check': 'event_id' if event_id_column else 'user_id+timestamp and behavior id',
    }
    if retry and failed:
        c = Client(dep.api.http_port, 15)
        for e in failed:
            for _ in range(3):
                e.retry_status, _ = post_event(c, e, True)
                if e.retry_status == 200:
                    break
                time.sleep(0.5)
        c.close()
        per_key, ids, per_eid = audit(dep, load, event_id_column)
        s['retried'] = len(failed)
        s['retried_ok'] = sum(1 for e in failed if e.retry_status == 200)
        s['retried_missing'] = sum(1 for e in failed if not present(e))
    s['dup_after_retry'] = sum(1 for n in per_key.values() if n > 1)
    if event_id_column:
        s['dup_after_retry'] = max(s['dup_after_retry'], sum(1 for n in per_eid.values() if n > 1))
    s['rows'] = sum(per_key.values())
    return s


def count_statuses(evs):
    out = {}
    for e in evs:
        out[str(e.status)] = out.get(str(e.status), 0) + 1
    return out
