"""A scratch redis-server for the Python benchmarks: its own free port and temporary
directory, AOF on (appendfsync everysec), stopped and removed on exit.

    with scratch_redis('commit-bench.') as r:
        r.ping()
"""
import contextlib
import shutil
import socket
import subprocess
import tempfile
import time

import redis


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def scratch_redis(prefix):
    tmp = tempfile.mkdtemp(prefix=prefix)
    port = free_port()
    server = subprocess.Popen(['redis-server', '--port', str(port), '--bind', '127.0.0.1',
                               '--dir', tmp, '--save', '', '--appendonly', 'yes',
                               '--appendfsync', 'everysec'], stdout=subprocess.DEVNULL)
    try:
        r = redis.Redis(port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                r.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield r
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(tmp, ignore_errors=True)
