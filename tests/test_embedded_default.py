"""The README's run command, end to end on the embedded default: start, fetch the catalogue, stop."""

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _get(url: str):
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.status, r.read()


@pytest.mark.slow
def test_run_command_serves_seeded_shop_with_worker_and_beat(tmp_path):
    port = _free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "SECRET_KEY")
    }
    env.update(DATA_DIR=str(tmp_path / "var"), PORT=str(port), SHOP_PROFILE="embedded", WEB_CONCURRENCY="1")
    log = (tmp_path / "run.log").open("w+")
    proc = subprocess.Popen(
        ["bash", "scripts/run.sh"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 90
        ready = None
        while time.time() < deadline:
            try:
                ready = _get(f"http://127.0.0.1:{port}/readyz")
                break
            except OSError:
                time.sleep(0.5)
        log.seek(0)
        output = log.read()
        assert ready is not None, output
        assert ready[0] == 200
        status, body = _get(f"http://127.0.0.1:{port}/api/v1/products?per_page=50")
        products = json.loads(body)
        assert status == 200 and products["total"] == 11
        assert all(p["available"] > 0 for p in products["items"])
        status, html = _get(f"http://127.0.0.1:{port}/")
        assert status == 200 and "花牛苹果" in html.decode()
        # worker and beat started too
        deadline = time.time() + 30
        while time.time() < deadline:
            log.seek(0)
            output = log.read()
            if "celery@" in output and "beat: Starting" in output:
                break
            time.sleep(0.5)
        assert "celery@" in output and "beat: Starting" in output, output
        assert f"http://127.0.0.1:{port}/" in output
        assert (tmp_path / "var" / "shop.db").exists()
        # Demo staff passwords are random and printed once: the printed one signs the admin in.
        admin = re.search(r"demo admin\s+(admin@demo\.gangu\.local) / (\S+)", output)
        assert admin, output
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/auth/token",
            data=json.dumps({"email": admin.group(1), "password": admin.group(2)}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as r:
            assert r.status == 200 and json.loads(r.read())["token_type"] == "Bearer"
        # The signing key was made for this installation, private to its user.
        assert (tmp_path / "var" / "secret_key").stat().st_mode & 0o077 == 0
        # gunicorn's control socket is this installation's own, not one per user in $HOME.
        assert (tmp_path / "var" / "gunicorn.ctl").exists()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
