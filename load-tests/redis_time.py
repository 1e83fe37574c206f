#!/usr/bin/env python3
"""Where Redis' time goes, by script and by command (issue 20, thirty-fourth session: the
waving tail is held by Redis, and `INFO commandstats` cannot tell one script from another).

    python3 load-tests/redis_time.py PORT OUT.md [TITLE]

Sets the Redis at 127.0.0.1:PORT to log every command in SLOWLOG (threshold 0; what the log held
before is cleared) and drains the log every POLL_MS (default 100) until it gets SIGTERM or
SIGINT, then writes a markdown table to OUT.md (also after a failed drain: what was counted so
far) and puts the threshold and length back. Each drain is `SLOWLOG GET -1` and `SLOWLOG
RESET` in one MULTI/EXEC, so nothing logged between the two is lost; the log holds up to
`slowlog-max-len` (set to 200,000) entries between drains, and entries lost to it are counted
(the entries' ids are consecutive; the drain's own `SLOWLOG GET`, logged after it ran and
reset with the rest, is the one id each drain expects to miss). The drain's own commands are
left out (its connections' name, `redis-time`). It writes the file named by READY_FILE, if set,
once it is logging.

SLOWLOG's duration is the command's execution, without reading it off the socket or writing
its reply. Redis 7 logs the commands a script runs too, before the script's own entry and with
the client address `?:0`: each is counted under the script that ran it (the next top-level
entry), so a script's own row includes them and its commands are listed below it. Scripts are
named by the SHA-1 of the files in src/store/lua/ (another build's scripts show as their hash;
an EVAL's body is cut short in the log, so it shows as `eval (script body)`). REPRODUCE (the
environment) is the command the report names. Logging every command slows Redis down:
compare shares within a run, not times with runs made without it. At the full surge peak
(300,000 orders) the log fills faster than it is drained (about 70 % of the entries lost, and
the waving tail twice as long as without the log): measure the peak's shape at SCALE=0.3 or
below, where nothing is lost.

Needs the `redis` Python package (pip install redis).
"""
import collections
import glob
import hashlib
import os
import signal
import sys
import time

import redis

POLL_MS = int(os.environ.get('POLL_MS', '100'))
MAX_LEN = 200_000
OWN_NAME = 'redis-time'
LUA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'src', 'store', 'lua')


def script_names():
    names = {}
    for path in glob.glob(os.path.join(LUA_DIR, '*.lua')):
        with open(path, 'rb') as f:
            names[hashlib.sha1(f.read()).hexdigest()] = os.path.basename(path)
    return names


class Tally:
    def __init__(self, names):
        self.names = names
        self.top = collections.defaultdict(lambda: [0, 0])  # name -> [calls, µs]
        self.inner = collections.defaultdict(lambda: collections.defaultdict(lambda: [0, 0]))
        self.waiting = []  # inner entries not yet claimed by their script: (command, µs)
        self.last_id = None
        self.lost = 0
        self.seen = 0

    def take(self, entries):
        # SLOWLOG GET lists the newest first.
        first = True
        for e in reversed(entries):
            entry_id, duration, args = e[0], e[2], e[3]
            addr = e[4] if len(e) > 4 else b''
            client = e[5] if len(e) > 5 else b''
            if self.last_id is not None:
                missing = entry_id - self.last_id - 1
                self.lost += max(0, missing - 1 if first else missing)
            self.last_id = entry_id
            self.seen += 1
            first = False
            if client == OWN_NAME.encode():
                continue
            cmd = args[0].decode(errors='replace').lower() if args else '?'
            if addr == b'?:0':
                self.waiting.append((cmd, duration))
                continue
            name = cmd
            if cmd in ('evalsha', 'evalsha_ro') and len(args) > 1:
                sha = args[1].decode(errors='replace').lower()
                name = f'{cmd} {self.names.get(sha, sha[:12])}'
            elif cmd in ('eval', 'eval_ro'):
                name = f'{cmd} (script body)'
            row = self.top[name]
            row[0] += 1
            row[1] += duration
            for inner_cmd, d in self.waiting:
                r = self.inner[name][inner_cmd]
                r[0] += 1
                r[1] += d
            self.waiting = []

    def markdown(self, title, seconds, reproduce):
        total = sum(v[1] for v in self.top.values()) or 1
        out = [f'# Redis time by script and command: {title}', '',
               f'SLOWLOG over {seconds:.1f} s (threshold 0, drained every {POLL_MS} ms): '
               f'{self.seen:,} entries read ({sum(v[0] for v in self.top.values()):,} '
               f'top-level), **{self.lost:,} lost** to the log\'s length (of '
               f'{self.seen + self.lost:,}; the count can be one high for a drain that found the '
               f'log full). Reproduce: `{reproduce}`.', '',
               '| script or command | calls | µs in all | µs a call | share |',
               '|---|---:|---:|---:|---:|']
        for name, (calls, us) in sorted(self.top.items(), key=lambda kv: -kv[1][1]):
            if us * 1000 < total:  # below 0.1 %
                continue
            out.append(f'| {name} | {calls:,} | {us:,} | {us / calls:,.1f} | {us / total:.1%} |')
            for c, (n, u) in sorted(self.inner[name].items(), key=lambda kv: -kv[1][1])[:6]:
                if u * 200 < us:  # below 0.5 % of its script
                    continue
                out.append(f'| · {c.upper()} (in it) | {n:,} | {u:,} | {u / n:,.1f} | '
                           f'{u / total:.1%} |')
        shown = sum(1 for v in self.top.values() if v[1] * 1000 >= total)
        if shown < len(self.top):
            out += ['', f'({len(self.top) - shown} more below 0.1 % each.)']
        return '\n'.join(out) + '\n'


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    port, out_path = int(sys.argv[1]), sys.argv[2]
    title = sys.argv[3] if len(sys.argv) > 3 else 'a run'
    reproduce = os.environ.get('REPRODUCE', 'bash load-tests/bench-redis-time.sh')
    stop = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.append(True))
    tally = Tally(script_names())
    r = redis.Redis(host='127.0.0.1', port=port, client_name=OWN_NAME)
    before = r.config_get('slowlog-*')
    started = time.monotonic()

    def drain():
        p = r.pipeline(transaction=True)
        p.execute_command('SLOWLOG', 'GET', '-1')
        p.execute_command('SLOWLOG', 'RESET')
        entries, _ = p.execute()
        tally.take(entries)

    try:
        r.config_set('slowlog-max-len', MAX_LEN)
        r.config_set('slowlog-log-slower-than', 0)
        r.slowlog_reset()
        if os.environ.get('READY_FILE'):
            with open(os.environ['READY_FILE'], 'w') as f:
                f.write('logging\n')
        while not stop:
            drain()
            time.sleep(POLL_MS / 1000)
        drain()
    finally:
        try:
            r.config_set('slowlog-log-slower-than', before.get('slowlog-log-slower-than', 10000))
            r.config_set('slowlog-max-len', before.get('slowlog-max-len', 128))
        except redis.RedisError:
            pass  # Redis stopped first: nothing to put back
        with open(out_path, 'w') as f:
            f.write(tally.markdown(title, time.monotonic() - started, reproduce))


if __name__ == '__main__':
    main()
