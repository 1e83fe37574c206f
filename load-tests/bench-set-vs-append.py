#!/usr/bin/env python3
"""Redis' own CPU and memory for a shipment's parcel ids kept as a set (SADD, as before issue
20's twenty-third session), as a set per (shipment, wave), or appended to a string (APPEND,
now: keys.rs `shipment_parcels`). W waves (default 1,500) of 200 ids over 4 shipments, one
command per shipment per wave, pipelined, into a scratch redis-server (own port and temp dir,
AOF everysec); three rounds. Prints Redis' main-thread CPU (INFO used_cpu_*_main_thread) and
used_memory over the empty dataset's per layout. Needs redis-server and the `redis` Python package.

    python3 load-tests/bench-set-vs-append.py
"""
import os

from scratch_redis import scratch_redis

WAVES, PER, SH = int(os.environ.get('W', 1500)), 200, 4


def cpu(r):
    i = r.info('cpu')
    return i['used_cpu_user_main_thread'] + i['used_cpu_sys_main_thread']


def run(mode, r):
    r.flushall()
    empty = r.info('memory')['used_memory']
    t = cpu(r)
    n = 0
    for w in range(WAVES):
        pipe = r.pipeline(transaction=False)
        for s in range(SH):
            # Shaped as the service's (`P-{site}-{YYYYMMDD}-{n}`, records.rs `make_id`).
            ids = ['P-hoa-lu-hub-20261205-%d' % (n + i + 1) for i in range(PER // SH)]
            n += PER // SH
            if mode == 'set':
                pipe.sadd('lp:{h}:sh:S%d:parcels' % s, *ids)
            elif mode == 'set per wave':
                pipe.sadd('lp:{h}:sh:S%d:parcels:W%d' % (s, w), *ids)
                pipe.sadd('lp:{h}:sh:S%d:waves' % s, 'W%d' % w)
            elif mode == 'append':
                pipe.append('lp:{h}:sh:S%d:plist' % s, '\n'.join(ids) + '\n')
            else:
                pipe.ping()
        pipe.execute()
    return cpu(r) - t, r.info('memory')['used_memory'] - empty


def main():
    with scratch_redis('set-vs-append.') as r:
        for _ in range(3):
            for mode in ['ping only', 'set', 'set per wave', 'append']:
                c, m = run(mode, r)
                print(f'{mode:12} Redis CPU {c:.3f} s, used_memory +{m / 1e6:.1f} MB, '
                      f'{m / (WAVES * PER):.0f} bytes an id ({WAVES * PER} ids)', flush=True)


if __name__ == '__main__':
    main()
