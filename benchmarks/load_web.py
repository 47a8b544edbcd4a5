"""Load on the web workbench (issue 11): N concurrent clients for T seconds against ``stemdm serve`` on
loopback, on SQLite and (when a URL is given) PostgreSQL, on the evidence API and the extraction endpoint.

The server is started the way a user starts it (``stemdm serve --db ... --port ...``) on a fresh store, with
accounts made by ``stemdm users add`` and tokens by ``stemdm users token``. Each client loops over
``GET /api/trials``, ``GET /api/trials/Zang2022`` and ``POST /api/extractions`` (a new slot each time, so
every write is a real insert through the full validation) and records latencies. Bounded: at most 64 clients
and 120 seconds; loopback only.

    .venv/bin/python benchmarks/load_web.py [--clients 8] [--seconds 15] [--pg postgresql://...]

Prints requests/s, p50/p95 latency and errors per endpoint and store (figures: docs/PERFORMANCE.md).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import httpx

MAX_CLIENTS = 64
MAX_SECONDS = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stemdm(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "stemdm", *args], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


def _start(db: str, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "stemdm", "serve", "--db", db, "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return server, base
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit(f"the server did not start: {server.stderr.read().decode()[-2000:]}")


def _client(base: str, token: str, number: int, until: float, results: dict, lock: threading.Lock) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    local: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    i = 0
    with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
        while time.monotonic() < until:
            i += 1
            week = round(1 + (number * 100_000 + i) * 1e-5, 5)  # a new slot each time, inside the follow-up
            record = {
                "trial_id": "Zang2022", "outcome_id": "hba1c", "timepoint_weeks": week,
                "timepoint_label": f"week {week}", "arm_id": "msc", "n": 40, "value_type": "final",
                "statistic": "mean_sd", "mean": 8.0, "sd": 1.0, "unit": "%",
                "source_url": "https://example.org/load", "locator": "load test",
            }  # fmt: skip
            for name, call, ok in (
                ("GET /api/trials", lambda: http.get("/api/trials"), 200),
                ("GET /api/trials/Zang2022", lambda: http.get("/api/trials/Zang2022"), 200),
                ("POST /api/extractions", lambda r=record: http.post("/api/extractions", json=r), 201),
            ):
                start = time.perf_counter()
                try:
                    status = call().status_code
                except httpx.HTTPError as error:
                    status = type(error).__name__
                local[name].append(time.perf_counter() - start)
                if status != ok:
                    errors[f"{name} -> {status}"] += 1
    with lock:
        for name, values in local.items():
            results["latency"][name].extend(values)
        for name, count in errors.items():
            results["errors"][name] += count


def run(db: str, clients: int, seconds: float, label: str) -> None:
    data = Path(tempfile.mkdtemp(prefix="stemdm-load-"))
    env = os.environ | {"STEMDM_DATA_DIR": str(data), "STEMDM_PASSWORD": "brisk pelican summit 27"}
    _stemdm("db", "upgrade", "--db", db, env=env)
    tokens = []
    for k in range(min(clients, 8)):
        _stemdm("users", "add", f"load{k}", "--role", "reviewer", "--db", db, env=env)
        tokens.append(_stemdm("users", "token", f"load{k}", "--db", db, env=env).strip().splitlines()[-1])
    server, base = _start(db, env)
    results: dict = {"latency": defaultdict(list), "errors": defaultdict(int)}
    lock = threading.Lock()
    until = time.monotonic() + seconds
    threads = [threading.Thread(target=_client, args=(base, tokens[c % len(tokens)], c, until, results, lock))
               for c in range(clients)]  # fmt: skip
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    server.terminate()
    server.wait(timeout=30)
    total = sum(len(v) for v in results["latency"].values())
    print(f"{label}: {clients} clients x {seconds:g} s: {total / elapsed:.1f} requests/s in all")
    for name, values in sorted(results["latency"].items()):
        q = statistics.quantiles(values, n=20) if len(values) > 1 else [values[0]] * 19
        print(
            f"  {name}: {len(values) / elapsed:.1f}/s, p50 {statistics.median(values) * 1000:.0f} ms, "
            f"p95 {q[18] * 1000:.0f} ms"
        )
    failed = ", ".join(f"{name}: {count}" for name, count in sorted(results["errors"].items())) or "none"
    print(f"  errors (endpoint -> status: count): {failed}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument(
        "--pg", default=os.environ.get("STEMDM_TEST_PG_URL"), help="PostgreSQL URL (emptied!)"
    )
    options = parser.parse_args()
    if not 1 <= options.clients <= MAX_CLIENTS or not 1 <= options.seconds <= MAX_SECONDS:
        raise SystemExit(f"--clients 1-{MAX_CLIENTS}, --seconds 1-{MAX_SECONDS}")
    run(str(Path(tempfile.mkdtemp(prefix="stemdm-load-")) / "load.sqlite"), options.clients, options.seconds,
        "SQLite")  # fmt: skip
    if options.pg:
        from sqlalchemy import MetaData, create_engine

        from stemdm.evidence.store import normalize_url

        engine = create_engine(normalize_url(options.pg))
        reflected = MetaData()
        reflected.reflect(engine)
        reflected.drop_all(engine)
        engine.dispose()
        run(options.pg, options.clients, options.seconds, "PostgreSQL")


if __name__ == "__main__":
    main()
