"""Start real Celery worker and beat processes against the test database and Redis."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def process_env(database_url: str, broker_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "CELERY_"))}
    env.update(
        SHOP_PROFILE="test",
        DATABASE_URL=database_url,
        REDIS_URL=broker_url if broker_url.startswith("redis") else "",
        CELERY_BROKER_URL=broker_url,
        DATA_DIR=str(data_dir),
        SECRET_KEY="test-secret-key-of-sufficient-length-123456",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class Proc:
    """A child process (in its own process group) with its output in a file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("w")
        self.popen = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def output(self) -> str:
        return self.log_path.read_text()

    def wait_for_output(self, text: str, timeout: float = 60) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if text in self.output():
                return
            if self.popen.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"{self.name} did not print {text!r}:\n{self.output()[-3000:]}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)
        try:
            self.popen.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()
        self._log.close()


def start_worker(
    env: dict[str, str],
    log_dir: Path,
    name: str = "worker",
    concurrency: int = 2,
    queues: str = "default,payments,fulfilment,reports",
) -> Proc:
    proc = Proc(
        name,
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "workers.main",
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            str(concurrency),
            "--queues",
            queues,
            "--hostname",
            f"{name}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        env,
        log_dir,
    )
    proc.wait_for_output("ready.")
    return proc


def start_beat(env: dict[str, str], log_dir: Path, name: str = "beat") -> Proc:
    schedule = log_dir / f"{name}-schedule"
    proc = Proc(
        name,
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "workers.main",
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(schedule),
        ],
        env,
        log_dir,
    )
    proc.wait_for_output("beat: Starting")
    return proc
