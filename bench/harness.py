"""Shared machinery for the benchmarks: servers in the production profile, wrk runs, RSS, SQL counts."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
VENV_BIN = ROOT / ".venv" / "bin"


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def production_env(database_url: str, redis_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "CELERY_"))}
    env.update(
        SHOP_PROFILE="production",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        SECRET_KEY="bench-" + "k" * 40,
        SESSION_COOKIE_SECURE="true",
        RATELIMIT_ENABLED="false",
        DATA_DIR=str(data_dir),
        WEB_ACCESS_LOG="",  # access logging to a pipe would cost CPU the figures should not include
        LOG_LEVEL="WARNING",
        # As in config/production.env: without it every gthread thread gets its own malloc arena and a
        # web worker's RSS grows by tens of MB under load.
        MALLOC_ARENA_MAX="2",
        # Also as in config/production.env: blocks of 1 MiB and more (an argon2 hash takes 19 MiB) are
        # mmapped and returned on free, instead of glibc raising its threshold and keeping them.
        MALLOC_MMAP_THRESHOLD_="1048576",
    )
    env.update(extra)
    return env


@dataclass
class Server:
    proc: subprocess.Popen
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pids(self) -> list[int]:
        """The master and its worker processes."""
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout
        return [self.proc.pid, *[int(p) for p in out.split()]]

    def stop(self) -> None:
        stop_process(self.proc)


def stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def start_gunicorn(
    env: dict[str, str], log_dir: Path, *, workers: int, threads: int, name: str = "web"
) -> Server:
    port = free_port()
    log = log_dir / f"{name}.log"
    env = {**env, "WEB_CONCURRENCY": str(workers), "WEB_THREADS": str(threads)}
    proc = subprocess.Popen(
        [
            str(VENV_BIN / "gunicorn"),
            "--config",
            "config/gunicorn.py",
            "--bind",
            f"127.0.0.1:{port}",
            "--access-logfile",
            "/dev/null",
            "bench.app:create_bench_app()",
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = Server(proc, port, log)
    wait_http(server.base + "/healthz", proc, log)
    return server


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer:\n{log.read_text()[-3000:]}")


def wrk(
    url: str,
    *,
    connections: int,
    seconds: int,
    script: str = "get.lua",
    threads: int = 2,
    env_extra: dict[str, str] | None = None,
    timeout: int | None = None,
) -> dict:
    """Run wrk against ``url``; return its JSON summary (rps, p50/p90/p99 in microseconds, errors).

    wrk leaves requests slower than its timeout (2 s unless ``timeout`` is given) out of the latency
    figures and counts them as errors: give a longer one where slow answers are expected.
    """
    env = {**os.environ, "WRK_REPORT": str(BENCH / "report.lua"), **(env_extra or {})}
    out = subprocess.run(
        [
            "wrk",
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{seconds}s",
            "--latency",
            *(["--timeout", f"{timeout}s"] if timeout else []),
            "-s",
            str(BENCH / script),
            url,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=seconds + (timeout or 0) + 60,
    )
    m = re.search(r"WRK_JSON (\{.*\})", out.stdout)
    if not m:
        raise RuntimeError(f"wrk gave no summary:\n{out.stdout}\n{out.stderr}")
    return json.loads(m.group(1))


def peak_rss_mb(pid: int) -> float:
    """Peak resident set size (VmHWM) of a process, in MB."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return 0.0
    m = re.search(r"VmHWM:\s+(\d+) kB", text)
    return int(m.group(1)) / 1024 if m else 0.0


def current_rss_mb(pid: int) -> float:
    """Resident set size (VmRSS) of a process now, in MB."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return 0.0
    m = re.search(r"VmRSS:\s+(\d+) kB", text)
    return int(m.group(1)) / 1024 if m else 0.0


def http_json(
    method: str, url: str, body: dict | None = None, headers: dict | None = None
) -> tuple[int, dict, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"{}"), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}"), dict(e.headers)


@dataclass
class Row:
    scenario: str
    figure: str
    value: float
    unit: str
    baseline: str = ""
    baseline_value: float | None = None
    target: str = ""
    notes: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline_value:
            return self.value / self.baseline_value
        return None


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    def add(self, row: Row) -> None:
        self.rows.append(row)
        ratio = f"{row.ratio:.2f}" if row.ratio is not None else "-"
        base = f"{row.baseline} {row.baseline_value:,.1f}" if row.baseline_value is not None else "-"
        print(
            f"  {row.scenario:<22} {row.figure:<34} {row.value:>12,.1f} {row.unit:<8} | {base:<40} ratio {ratio}"
            f"  {row.target}",
            flush=True,
        )

    def markdown(self) -> str:
        lines = [
            "| scenario | figure | value | baseline (same run) | ratio | target | notes |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in self.rows:
            ratio = f"{r.ratio:.2f}" if r.ratio is not None else ""
            base = f"{r.baseline}: {r.baseline_value:,.1f}" if r.baseline_value is not None else ""
            lines.append(
                f"| {r.scenario} | {r.figure} | {r.value:,.1f} {r.unit} | {base} | {ratio} | {r.target} | {r.notes} |"
            )
        return "\n".join(lines)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps(
                {"meta": self.meta, "rows": [r.__dict__ | {"ratio": r.ratio} for r in self.rows]},
                indent=2,
                default=str,
            )
        )


def python() -> str:
    return str(VENV_BIN / "python") if (VENV_BIN / "python").exists() else sys.executable


def start_celery(
    env: dict[str, str],
    log_dir: Path,
    *,
    concurrency: int,
    queues: str = "default,payments,fulfilment,reports",
    name: str = "",
    hostname: str = "",
) -> subprocess.Popen:
    """A Celery worker in the production profile (prefork, ``concurrency`` processes) running the shop's
    tasks and the no-op baseline (``bench/worker.py``); wait until ready. Workers started side by side
    need a ``hostname`` each (``<name>@%h``, as in production): the shop keys worker heartbeats by it."""
    log = log_dir / f"{name or 'celery'}-{concurrency}.log"
    proc = subprocess.Popen(
        [
            str(VENV_BIN / "celery"),
            "-A",
            "bench.worker",
            "worker",
            "--loglevel",
            "INFO",
            "--queues",
            queues,
            "--concurrency",
            str(concurrency),
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            *(["--hostname", hostname] if hostname else []),
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.time() + 90
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"celery exited:\n{log.read_text()[-3000:]}")
        if " ready." in log.read_text():
            return proc
        time.sleep(0.2)
    stop_process(proc)
    raise RuntimeError(f"celery did not get ready:\n{log.read_text()[-3000:]}")


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def wait_drained(redis_url: str, queue: str, total: int, timeout: float = 600) -> float:
    """Seconds from the first message taken off ``queue`` until it is empty (polled every 5 ms)."""
    import redis

    r = redis.Redis.from_url(redis_url)
    deadline = time.time() + timeout
    started = None
    while time.time() < deadline:
        n = r.llen(queue)
        now = time.perf_counter()
        if started is None and n < total:
            started = now
        if started is not None and n == 0:
            return now - started
        time.sleep(0.005)
    raise RuntimeError(f"{queue} not drained in {timeout} s ({r.llen(queue)} left)")


@dataclass
class Drain:
    concurrency: int
    tasks: int
    seconds: float
    main_rss_mb: float
    child_rss_mb: float

    @property
    def rate(self) -> float:
        return self.tasks / self.seconds


def noop_drain(
    celery_app, env: dict[str, str], log_dir: Path, redis_url: str, *, tasks: int, concurrency: int
) -> Drain:
    """Queue ``tasks`` no-op tasks on ``fulfilment``, start a worker on that queue and time the drain."""
    with celery_app.producer_or_acquire() as producer:
        for i in range(tasks):
            celery_app.send_task("bench.noop", args=[i], queue="fulfilment", producer=producer)
    proc = start_celery(env, log_dir, concurrency=concurrency, queues="fulfilment")
    try:
        secs = wait_drained(redis_url, "fulfilment", tasks)
        child = max([peak_rss_mb(p) for p in children(proc.pid)] or [0.0])
        main = peak_rss_mb(proc.pid)
    finally:
        stop_process(proc)
    return Drain(concurrency, tasks, secs, main, child)


def py_spy(
    pid: int, out: Path, *, seconds: int | None = None, subprocesses: bool = False, rate: int = 100
) -> subprocess.Popen:
    """Record ``pid`` with py-spy (idle samples included: waiting on PostgreSQL shows) as collapsed stacks.

    Without ``seconds`` it records until sent SIGINT.
    """
    return subprocess.Popen(
        [
            str(VENV_BIN / "py-spy"),
            "record",
            "--pid",
            str(pid),
            *(["--duration", str(seconds)] if seconds else []),
            *(["--subprocesses"] if subprocesses else []),
            "--idle",
            "--rate",
            str(rate),
            "--format",
            "raw",
            "--output",
            str(out),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
