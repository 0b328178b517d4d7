"""The real server: an over-long URL on an /api path is a problem+json 414, never gunicorn's HTML page
(issue #13, item 7). Lines up to gunicorn's maximum reach the app (MAX_URL_LENGTH); longer ones are
answered by the worker class in config/gunicorn_worker.py."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.workers.support import process_env

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _raw_get(port: int, target: str) -> tuple[int, dict, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


@pytest.fixture
def gunicorn(app, tmp_path):
    settings = app.extensions["settings"]
    port = _free_port()
    env = process_env(
        settings.DATABASE_URL, settings.REDIS_URL, tmp_path, WEB_CONCURRENCY="1", WEB_THREADS="2"
    )
    log = (tmp_path / "web.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "config/gunicorn.py", "--bind", f"127.0.0.1:{port}",
         "shop:create_app()"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.time() + 60
        while True:
            try:
                if _raw_get(port, "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None and time.time() < deadline, (tmp_path / "web.log").read_text()
            time.sleep(0.3)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@pytest.mark.parametrize("length", [5_000, 20_000])
def test_an_over_long_api_url_is_a_problem(gunicorn, length):
    status, headers, body = _raw_get(gunicorn, "/api/v1/products?q=" + "x" * length)
    assert status == 414
    assert headers["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["status"] == 414 and problem["type"].startswith("https://")


def test_ordinary_urls_still_work(gunicorn):
    status, _headers, body = _raw_get(gunicorn, "/api/v1/products?q=" + "x" * 50)
    assert status == 200 and json.loads(body)["total"] == 0
