#!/usr/bin/env python3
"""Asks N random users of two recd servers (GET /api/recommend/U?limit=50&
use_cache=false) and compares the answers: items, their order and their
reasons (route, because_item / because_user / category / rule) must be
identical; scores are compared as the largest relative difference (float
rounding). Standard library only.
  compare_answers.py PORT_A PORT_B USERS N SEED
"""
import json
import random
import sys
import urllib.request

KEYS_COMPARED_AS_NUMBERS = ("score", "evidence", "similarity", "factor")


def ask(port, user):
    url = f"http://127.0.0.1:{port}/api/recommend/{user}?limit=50&use_cache=false"
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.load(r)["recommendations"]


def reasons(item):
    return [tuple(sorted((k, v) for k, v in r.items() if k not in KEYS_COMPARED_AS_NUMBERS))
            for r in item["reasons"]]


def relative(x, y):
    return abs(x - y) / max(abs(x), abs(y), 1e-30)


def main():
    port_a, port_b, users, n, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    rng = random.Random(seed)
    same, worst, differing = 0, 0.0, []
    for _ in range(n):
        user = rng.randint(1, users)
        a, b = ask(port_a, user), ask(port_b, user)
        if [x["item_id"] for x in a] != [x["item_id"] for x in b] or \
                any(reasons(x) != reasons(y) for x, y in zip(a, b)):
            if not differing:  # the first difference, in full, to see its kind
                for k, (x, y) in enumerate(zip(a, b)):
                    if x["item_id"] != y["item_id"] or reasons(x) != reasons(y):
                        print(f"user {user}, first difference at rank {k}:\n  A {json.dumps(x)}\n"
                              f"  B {json.dumps(y)}", file=sys.stderr)
                        break
                else:
                    print(f"user {user}: {len(a)} against {len(b)} items", file=sys.stderr)
            differing.append(user)
            continue
        same += 1
        for x, y in zip(a, b):
            worst = max(worst, relative(x["score"], y["score"]))
            for rx, ry in zip(x["reasons"], y["reasons"]):
                for k in KEYS_COMPARED_AS_NUMBERS:
                    if k in rx:
                        worst = max(worst, relative(rx[k], ry[k]))
    print(f"{same}/{n} identical (items, order, reasons); largest relative score difference "
          f"{worst:.2g}; differing users: {differing[:20]}")


if __name__ == "__main__":
    main()
