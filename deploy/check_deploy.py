#!/usr/bin/env python3
"""Checks the Dockerfile and deploy/ without a Docker engine (run by scripts/check-dockerfile).

Dockerfile: multi-stage; every COPY source exists in the build context and is not excluded
by .dockerignore; every workspace member's Cargo.toml and sources, every declared target
([[bin]], [[bench]], [lib]) and every file the sources include (include_str!/include_bytes!)
are copied into the build stage; the build image's Rust is at least the highest
rust-version of the locked dependencies built on Linux (cargo metadata); the runtime stage
runs as a non-root user, has a HEALTHCHECK on /healthz, installs redis-server.

deploy/compose.yaml: Redis with AOF and a volume; two or more livepack services built from
the Dockerfile; every bind-mounted host path exists; depends_on and named volumes resolve;
the proxy config routes /v1/ingest with the WebSocket Upgrade headers to the livepack
services; Prometheus scrapes them and its rule files are mounted from config/prometheus/;
Grafana is provisioned from config/grafana/ with the datasource uid the dashboard uses.
"""

import fnmatch
import json
import os
import re
import subprocess
import sys
import tomllib

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
DEPLOY = os.path.join(ROOT, "deploy")
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def dockerfile_instructions(path):
    """(instruction, args) pairs: comments dropped, continuation lines joined."""
    out, cur = [], ""
    for raw in open(path, encoding="utf-8"):
        line = raw.rstrip("\n")
        if not cur and line.lstrip().startswith("#"):
            continue
        if line.endswith("\\"):
            cur += line[:-1] + " "
            continue
        cur += line
        if cur.strip():
            word, _, rest = cur.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
        cur = ""
    return out


def dockerignore():
    path = os.path.join(ROOT, ".dockerignore")
    if not os.path.exists(path):
        return []
    pats = [l.strip() for l in open(path) if l.strip() and not l.startswith("#")]
    return [p.rstrip("/") for p in pats]


def ignored(rel, pats):
    for p in pats:
        p = p.removeprefix("**/")
        parts = rel.split("/")
        for i in range(1, len(parts) + 1):
            if fnmatch.fnmatch("/".join(parts[:i]), p) or fnmatch.fnmatch(parts[i - 1], p):
                return True
    return False


def covered(rel, copied):
    return any(rel == c or rel.startswith(c.rstrip("/") + "/") for c in copied)


def check_dockerfile():
    ins = dockerfile_instructions(os.path.join(ROOT, "Dockerfile"))
    froms = [a for i, a in ins if i == "FROM"]
    check(len(froms) >= 2, "Dockerfile is multi-stage")
    stages, stage = {}, None
    for i, a in ins:
        if i == "FROM":
            parts = re.split(r"\s+[Aa][Ss]\s+", a)
            stage = parts[1] if len(parts) > 1 else f"stage{len(stages)}"
            stages[stage] = []
        stages[stage].append((i, a))
    build = list(stages.values())[0]
    runtime = list(stages.values())[-1]
    pats = dockerignore()
    copied = []
    for i, a in build:
        if i != "COPY":
            continue
        words = [w for w in a.split() if not w.startswith("--")]
        for src in words[:-1]:
            rel = os.path.normpath(src).removeprefix("./")
            check(os.path.exists(os.path.join(ROOT, rel)), f"COPY source exists: {src}")
            check(not ignored(rel, pats), f"COPY source not excluded by .dockerignore: {src}")
            copied.append(rel)
    for i, a in runtime:
        if i == "COPY" and "--from=" not in a:
            for src in a.split()[:-1]:
                check(os.path.exists(os.path.join(ROOT, src)), f"runtime COPY source exists: {src}")
    root_manifest = tomllib.load(open(os.path.join(ROOT, "Cargo.toml"), "rb"))
    check(covered("Cargo.lock", copied), "Cargo.lock copied (--locked)")
    for member in root_manifest.get("workspace", {}).get("members", []):
        base = os.path.normpath(member)
        manifest = "Cargo.toml" if base == "." else f"{base}/Cargo.toml"
        check(covered(manifest, copied), f"workspace member manifest copied: {manifest}")
        m = tomllib.load(open(os.path.join(ROOT, manifest), "rb"))
        targets = [m.get("lib", {}).get("path")] if "lib" in m else []
        for kind in ("bin", "bench"):
            targets += [t.get("path") for t in m.get(kind, [])]
        srcdir = "src" if base == "." else f"{base}/src"
        check(covered(srcdir, copied), f"sources copied: {srcdir}")
        for t in filter(None, targets):
            rel = os.path.normpath(os.path.join(base, t))
            check(covered(rel, copied), f"declared target copied: {rel}")
    for dirpath, _, files in os.walk(os.path.join(ROOT, "src")):
        for f in files:
            if not f.endswith(".rs"):
                continue
            text = open(os.path.join(dirpath, f), encoding="utf-8").read()
            for inc in re.findall(r'include_(?:str|bytes)!\("([^"]+)"\)', text):
                rel = os.path.relpath(os.path.normpath(os.path.join(dirpath, inc)), ROOT)
                check(covered(rel, copied), f"compiled-in file copied: {rel}")
    # The Rust toolchain of the build stage versus the dependencies' rust-version.
    image = build[0][1].split()[0]
    m = re.search(r"rust:(\d+)\.(\d+)", image)
    check(m is not None, f"build stage uses a versioned rust image ({image})")
    need = max_rust_version()
    if m and need:
        have = (int(m.group(1)), int(m.group(2)))
        check(have >= need[0], f"{image} >= rust {need[0][0]}.{need[0][1]} needed by {need[1]}")
    run_text = " ".join(a for i, a in runtime)
    user = [a for i, a in runtime if i == "USER"]
    check(bool(user) and user[-1] not in ("root", "0"), "runtime runs as a non-root user")
    hc = [a for i, a in runtime if i == "HEALTHCHECK"]
    check(bool(hc) and "/healthz" in hc[0], "HEALTHCHECK on /healthz")
    check("redis-server" in run_text, "runtime has redis-server (embedded mode)")
    check("LIVEPACK__" in run_text, "configured by LIVEPACK__ environment variables")


def max_rust_version():
    """(version, package) of the highest rust-version among Linux dependencies."""
    try:
        out = subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--locked",
             "--filter-platform", "x86_64-unknown-linux-gnu"],
            cwd=ROOT, capture_output=True, text=True, check=True, timeout=300,
        ).stdout
    except (OSError, subprocess.SubprocessError) as e:
        print(f"skip rust-version check: cargo metadata failed ({e})")
        return None
    meta = json.loads(out)
    live = {n["id"] for n in meta["resolve"]["nodes"]}
    best = None
    for p in meta["packages"]:
        rv = p.get("rust_version")
        if p["id"] in live and rv:
            v = tuple(int(x) for x in rv.split(".")[:2])
            if best is None or v > best[0]:
                best = (v, f'{p["name"]} {p["version"]}')
    return best


def bind_mounts(service):
    for v in service.get("volumes", []):
        src = v.split(":")[0] if isinstance(v, str) else v.get("source", "")
        if src.startswith((".", "/")):
            yield src


def check_compose():
    compose = yaml.safe_load(open(os.path.join(DEPLOY, "compose.yaml")))
    services = compose["services"]
    volumes = set((compose.get("volumes") or {}).keys())
    for name, s in services.items():
        for src in bind_mounts(s):
            check(os.path.exists(os.path.join(DEPLOY, src)), f"{name}: mounted path exists: {src}")
        for v in s.get("volumes", []):
            src = v.split(":")[0]
            if not src.startswith((".", "/")):
                check(src in volumes, f"{name}: named volume declared: {src}")
        deps = s.get("depends_on", [])
        for d in deps if isinstance(deps, list) else deps.keys():
            check(d in services, f"{name}: depends_on {d} exists")
        if "build" in s:
            b = s["build"]
            ctx = os.path.join(DEPLOY, b["context"])
            check(os.path.exists(os.path.join(ctx, b.get("dockerfile", "Dockerfile"))),
                  f"{name}: build context and Dockerfile exist")
    redis = services.get("redis", {})
    cmd = " ".join(redis.get("command", []))
    check("--appendonly yes" in cmd, "redis: AOF on")
    check(any(v.endswith(":/data") for v in redis.get("volumes", [])), "redis: /data on a volume")
    lp = {n: s for n, s in services.items() if "build" in s}
    check(len(lp) >= 2, f"two or more livepack instances: {sorted(lp)}")
    for n, s in lp.items():
        env = s.get("environment", {})
        check(env.get("LIVEPACK__REDIS__URL", "").startswith("redis://redis:"),
              f"{n}: LIVEPACK__REDIS__URL points at the redis service")
    check_config_env(next(iter(lp.values())).get("environment", {}))
    check_nginx(services, lp)
    check_prometheus(services, lp)
    check_grafana(services)


def check_config_env(env):
    """The service accepts the compose environment (check-config, when the binary is built)."""
    for b in ("target/debug/livepack", "target/release/livepack"):
        binary = os.path.join(ROOT, b)
        if os.path.exists(binary):
            full = {k: v for k, v in os.environ.items() if not k.startswith("LIVEPACK")}
            full.update({k: str(v) for k, v in env.items()})
            r = subprocess.run([binary, "check-config"], env=full, capture_output=True,
                               text=True, timeout=60)
            check(r.returncode == 0, f"livepack check-config accepts the compose environment "
                                     f"({(r.stdout + r.stderr).strip().splitlines()[:1]})")
            return
    print("skip check-config: no livepack binary built")


def check_nginx(services, lp):
    proxy = [s for s in services.values() if "nginx" in s.get("image", "")]
    check(len(proxy) == 1, "a proxy service (nginx)")
    conf = open(os.path.join(DEPLOY, "nginx.conf")).read()
    ups = re.findall(r"server\s+([\w.-]+):(\d+)", conf)
    check({h for h, _ in ups} == set(lp), f"nginx upstream lists the livepack services: {ups}")
    for n, s in lp.items():
        port = s["environment"].get("LIVEPACK__SERVER__LISTEN", "").rsplit(":", 1)[-1]
        check(all(p == port for h, p in ups if h == n), f"nginx reaches {n} on its listen port")
    m = re.search(r"location\s+=?\s*/v1/ingest\s*\{([^}]*)\}", conf)
    check(m is not None, "nginx: a location for /v1/ingest")
    if m:
        body = m.group(1)
        check("proxy_http_version 1.1" in body, "ingest: HTTP/1.1 to the upstream")
        check(re.search(r"proxy_set_header\s+Upgrade\s+\$http_upgrade", body) is not None,
              "ingest: Upgrade header passed")
        check(re.search(r"proxy_set_header\s+Connection\s+\$connection_upgrade", body) is not None
              and "map $http_upgrade $connection_upgrade" in conf, "ingest: Connection: upgrade")
        t = re.search(r"proxy_read_timeout\s+(\d+)s", body)
        check(t is not None and int(t.group(1)) > 120, "ingest: read timeout above the 120 s idle ping")
    check(conf.count("{") == conf.count("}"), "nginx.conf braces balance")


def check_prometheus(services, lp):
    prom = services.get("prometheus", {})
    mounts = {v.split(":")[1]: v.split(":")[0] for v in prom.get("volumes", [])}
    check("/etc/prometheus/prometheus.yml" in mounts, "prometheus: config mounted")
    cfg = yaml.safe_load(open(os.path.join(DEPLOY, mounts["/etc/prometheus/prometheus.yml"])))
    targets = [t for sc in cfg["scrape_configs"] for s in sc["static_configs"] for t in s["targets"]]
    for n, s in lp.items():
        port = s["environment"].get("LIVEPACK__SERVER__ADMIN_LISTEN", "").rsplit(":", 1)[-1]
        check(f"{n}:{port}" in targets, f"prometheus scrapes {n}:{port}")
    for rule in cfg.get("rule_files", []):
        host = None
        for cont, src in mounts.items():
            if rule.startswith(cont.rstrip("/") + "/"):
                host = os.path.join(DEPLOY, src, rule[len(cont.rstrip("/")) + 1:])
        check(host is not None and os.path.exists(host), f"prometheus rule file mounted: {rule}")
        check(host is not None and "config/prometheus" in os.path.relpath(host, ROOT),
              "rules come from config/prometheus/")


def check_grafana(services):
    g = services.get("grafana", {})
    srcs = [v.split(":")[0] for v in g.get("volumes", [])]
    check(any("config/grafana/dashboards" in s for s in srcs), "grafana: dashboards from config/grafana/")
    check(any("config/grafana/provisioning" in s for s in srcs),
          "grafana: provisioning from config/grafana/")
    ds = yaml.safe_load(open(os.path.join(DEPLOY, "grafana", "datasource.yaml")))
    uid = ds["datasources"][0]["uid"]
    dash = open(os.path.join(ROOT, "config", "grafana", "dashboards", "livepack.json")).read()
    check(f'"uid": "{uid}"' in dash or f'"uid":"{uid}"' in dash,
          f"the dashboard uses the provisioned datasource uid {uid}")
    check("prometheus:9090" in ds["datasources"][0]["url"], "datasource points at the compose Prometheus")


def main():
    check_dockerfile()
    check_compose()
    print(f"\n{len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
