#!/usr/bin/env python3
"""Freshness: the time from the 200 of POST /api/behavior to the first
recommendation that reflects the behavior.

  freshness.py HOST:PORT --users N [--samples 200] [--cache true|false]
               [--deadline-ms 5000] [--seed 1]

One sample: pick a random user in 1..N, ask GET /api/recommend/{user}, take
the first recommended item X, POST a `buy` of X for that user (both systems
never recommend an item the user bought), then, from the moment the 200
arrives, ask for the user's recommendation again (back to back, one
connection) until X is gone. The sample is the time from that 200 to the end
of the reflecting answer; `attempts` counts the asks (1 = the very next
answer reflected it). A sample whose answer still holds X after
--deadline-ms counts as stale. Users with an empty list are skipped.

Prints one line per statistic, `key=value`, for scripts/bench. Standard
library only: one keep-alive http.client connection (no new dependencies).
Exit status 2 on bad arguments, 1 when the server cannot be reached.
"""
import argparse
import http.client
import json
import random
import sys
import time


def percentile(sorted_values, q):
    if not sorted_values:
        return float('nan')
    k = min(len(sorted_values) - 1, max(0, int(round(q / 100.0 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


class Client:
    def __init__(self, host, port):
        self.host, self.port = host, port
        self.conn = http.client.HTTPConnection(host, port, timeout=10)

    def request(self, method, path):
        try:
            self.conn.request(method, path)
            resp = self.conn.getresponse()
            body = resp.read()
        except (http.client.HTTPException, OSError):
            # One reconnect (a server may close an idle keep-alive connection).
            self.conn.close()
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
            self.conn.request(method, path)
            resp = self.conn.getresponse()
            body = resp.read()
        return resp.status, body

    def recommended(self, user, cache):
        status, body = self.request('GET', f'/api/recommend/{user}?limit=50&use_cache={cache}')
        if status != 200:
            raise RuntimeError(f'GET /api/recommend/{user}: HTTP {status}: {body[:200]!r}')
        return [r['item_id'] for r in json.loads(body)['recommendations']]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('addr', help='HOST:PORT of the server')
    ap.add_argument('--users', type=int, required=True, help='user ids are 1..N')
    ap.add_argument('--samples', type=int, default=200)
    ap.add_argument('--cache', choices=['true', 'false'], default='true')
    ap.add_argument('--deadline-ms', type=float, default=5000)
    ap.add_argument('--seed', type=int, default=1)
    a = ap.parse_args()
    host, _, port = a.addr.rpartition(':')
    if not host or not port.isdigit() or a.users < 1 or a.samples < 1:
        ap.error('need HOST:PORT, --users >= 1 and --samples >= 1')
    rnd = random.Random(a.seed)
    c = Client(host, int(port))
    try:
        c.request('GET', '/api/stats')
    except OSError as e:
        print(f'freshness.py: cannot reach {a.addr}: {e}', file=sys.stderr)
        return 1

    times, attempts, stale, skipped, errors = [], [], 0, 0, 0
    used = set()
    tries = 0
    while len(times) + stale < a.samples and tries < a.samples * 20:
        tries += 1
        user = rnd.randint(1, a.users)
        if user in used:
            continue
        try:
            recs = c.recommended(user, a.cache)
        except RuntimeError:
            errors += 1
            continue
        if not recs:
            skipped += 1
            continue
        used.add(user)
        item = recs[0]
        status, body = c.request('POST', f'/api/behavior?user_id={user}&item_id={item}&behavior_type=buy')
        if status != 200:
            errors += 1
            continue
        t0 = time.perf_counter()
        n = 0
        while True:
            n += 1
            try:
                recs = c.recommended(user, a.cache)
            except RuntimeError:
                errors += 1
                recs = [item]
            dt = (time.perf_counter() - t0) * 1000
            if item not in recs:
                times.append(dt)
                attempts.append(n)
                break
            if dt > a.deadline_ms:
                stale += 1
                break
    times.sort()
    print(f'samples={len(times)}')
    print(f'stale={stale}')
    print(f'errors={errors}')
    print(f'skipped_empty={skipped}')
    print(f'p50_ms={percentile(times, 50):.3f}')
    print(f'p99_ms={percentile(times, 99):.3f}')
    print(f'max_ms={times[-1] if times else float("nan"):.3f}')
    print(f'first_answer_fresh={sum(1 for x in attempts if x == 1)}')
    print(f'max_attempts={max(attempts) if attempts else 0}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
