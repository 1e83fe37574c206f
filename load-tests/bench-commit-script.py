#!/usr/bin/env python3
"""Redis' own time for one wave commit (src/store/lua/commit_wave.lua), measured in
isolation: a 200-order wave of 200 parcels (335 random bytes each, as zstd documents are),
85 sessions, 3 shipments, committed N times into a scratch redis-server (own port and temp
dir, AOF everysec); each call's duration is read from SLOWLOG (the command's execution,
without reading its arguments off the socket). Prints the median and the minimum.

Issue 20, eighteenth session: the script before it (fe52885, `old` layout: each order's
session, risk entry key, risk time and id passed per order, grouped by the script) against
the one that takes each session's count and risk entry made by the planner (`new`):

    git show fe52885:src/store/lua/commit_wave.lua > /tmp/commit_old.lua
    git show 20a063c:src/store/lua/commit_wave.lua > /tmp/commit_new.lua
    python3 load-tests/bench-commit-script.py /tmp/commit_old.lua:old \\
        /tmp/commit_new.lua:new /tmp/commit_old.lua:old /tmp/commit_new.lua:new

Twenty-second session: the `new` layout's risk entry was a sorted-set member (count, score,
member); the script now appends the same record, with a newline, to the session's log (`log`:
count, record):

    N=1500 python3 load-tests/bench-commit-script.py /tmp/commit_new.lua:new \\
        src/store/lua/commit_wave.lua:log /tmp/commit_new.lua:new src/store/lua/commit_wave.lua:log

(N=1500: each session's set as large as in the 300,000-order surge; with the default 100 the
two do not differ by more than the runs vary.)

Twenty-third session: each shipment's parcels, added to a set before (d32984e), are now
appended to a string, one id and a newline each (same layout, same arguments):

    git show d32984e:src/store/lua/commit_wave.lua > /tmp/commit_set.lua
    N=1500 python3 load-tests/bench-commit-script.py /tmp/commit_set.lua:log \
        src/store/lua/commit_wave.lua:log /tmp/commit_set.lua:log src/store/lua/commit_wave.lua:log

Needs redis-server and the `redis` Python package (pip install redis).
"""
import os
import random
import statistics
import sys

from scratch_redis import scratch_redis

S = '{bench-hub}'
N = int(os.environ.get('N', '100'))


def commit(r, sha, layout, w):
    n = m = 200
    sessions = [(f'seller{i % 7}', f'live-{i}') for i in range(85)]
    orders = []
    for i in range(n):
        seller, label = random.choice(sessions)
        orders.append((seller, f'ORD{w:05d}{i:04d}', label, f'P-BH-20261205-{w * 200 + i:06d}',
                       1764900000000 + random.randrange(4) * 60000))
    fields = [f'{o[0]}/{o[1]}' for o in orders]
    r.hset(f'{S}:pending', mapping={f: '1' for f in fields})
    keys = [f'{S}:pending', f'{S}:fence', f'{S}:wave:W{w}', f'{S}:waves:2026-12-05']
    keys += [f'{S}:order:{o[0]}:{o[1]}' for o in orders]
    keys += [f'{S}:parcel:{o[3]}' for o in orders]
    groups = {}
    for o in orders:
        groups.setdefault((o[0], o[2]), []).append(o)
    if layout == 'old':
        keys += [f'{S}:session:{o[0]}:{o[2]}' for o in orders]
        keys += [f'{S}:srisk:{o[0]}:{o[2]}' for o in orders]
    else:
        for seller, label in groups:
            keys += [f'{S}:session:{seller}:{label}', f'{S}:srisk:{seller}:{label}']
    ships = [f'SH{k}' for k in range(3)]
    for sh in ships:
        keys += [f'{S}:shipment:{sh}', f'{S}:shipment:{sh}:plist', f'{S}:shipments:2026-12-05']
    args = ['tok', f'W{w}', 1764900000000, n, m, os.urandom(300), 1764950000000, 400, 20]
    for k in range(20):
        args += [f'SKU-{k:03d}', 20]
    for f, o in zip(fields, orders):
        args += [f, o[3]]
    for o in orders:
        args += [o[3], os.urandom(335)]
    args += [len(ships)]
    for sh in ships:
        args += [sh, 'viettelpost', 'VCN', 1764950000000, '2026-12-05']
    args += [1 + j % len(ships) for j in range(m)]
    if layout == 'old':
        for o in orders:
            args += [o[4], o[1]]
    else:
        args += [len(groups)]
        for group in groups.values():
            times = {}
            for o in group:
                times.setdefault(o[4], []).append(o[1])
            member = f'W{w}|' + ';'.join(f'{t} ' + ','.join(ids) for t, ids in times.items())
            if layout == 'log':
                args += [len(group), member + '\n']
            else:
                args += [len(group), min(times), member]
    r.slowlog_reset()
    out = r.evalsha(sha, len(keys), *keys, *args)
    if out != b'ok':
        sys.exit(f'commit refused: {out!r}')
    return next(e['duration'] for e in r.slowlog_get(10) if e['command'].startswith(b'EVALSHA'))


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    with scratch_redis('commit-bench.') as r:
        r.config_set('slowlog-log-slower-than', 0)
        for spec in sys.argv[1:]:
            path, layout = spec.rsplit(':', 1)
            r.flushall()
            r.set(f'{S}:fence', 'tok')
            sha = r.script_load(open(path).read())
            random.seed(1)
            ds = [commit(r, sha, layout, w) for w in range(N)]
            warm = ds[10:] or ds
            print(f'{path} ({layout}): median {statistics.median(warm):.0f} us, '
                  f'min {min(ds)} us per 200-order wave ({N} waves)')


if __name__ == '__main__':
    main()
