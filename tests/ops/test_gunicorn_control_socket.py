"""Each installation has its own gunicorn control socket, or none (issue #13, item 13)."""

from __future__ import annotations

import os
import runpy
import signal
import socket
import subprocess
import time
from pathlib import Path

from gunicorn.config import Config

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"
APP = "tests.ops.probe_wsgi:app"


def _gunicorn_config(monkeypatch, **env) -> Config:
    """The settings gunicorn takes from config/gunicorn.py in this environment (as its loader does)."""
    for key in ("DATA_DIR", "WEB_CONTROL_SOCKET"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    cfg = Config()
    for key, value in runpy.run_path(str(ROOT / "config" / "gunicorn.py")).items():
        if key in cfg.settings:
            cfg.set(key, value)
    return cfg


def test_the_control_socket_lives_in_the_data_directory(monkeypatch, tmp_path):
    a = _gunicorn_config(monkeypatch, DATA_DIR=str(tmp_path / "a"))
    b = _gunicorn_config(monkeypatch, DATA_DIR=str(tmp_path / "b"))
    assert a.control_socket == str(tmp_path / "a" / "gunicorn.ctl")
    assert b.control_socket == str(tmp_path / "b" / "gunicorn.ctl")
    assert not a.control_socket_disable


def test_the_control_socket_can_be_disabled_or_placed(monkeypatch, tmp_path):
    assert _gunicorn_config(monkeypatch, WEB_CONTROL_SOCKET="off").control_socket_disable
    placed = _gunicorn_config(monkeypatch, WEB_CONTROL_SOCKET=str(tmp_path / "web.ctl"))
    assert placed.control_socket == str(tmp_path / "web.ctl") and not placed.control_socket_disable
    long = _gunicorn_config(monkeypatch, DATA_DIR=str(tmp_path / ("x" * 120)))
    assert long.control_socket_disable  # a path a Unix socket cannot hold: go without, do not fail


def test_access_logs_keep_query_strings_and_referers_out(monkeypatch, tmp_path):
    """Password links carry their token in the query string (and then in the Referer)."""
    fmt = _gunicorn_config(monkeypatch, DATA_DIR=str(tmp_path)).access_log_format
    assert "%(U)s" in fmt and "%(r)s" not in fmt and "%(q)s" not in fmt and "%(f)s" not in fmt


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_two_shops_on_one_machine_each_get_their_own_socket(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    procs = []
    try:
        for name in ("a", "b"):
            env = {k: v for k, v in os.environ.items() if k not in ("WEB_CONTROL_SOCKET", "XDG_RUNTIME_DIR")}
            env.update(HOME=str(home), DATA_DIR=str(tmp_path / name), WEB_CONCURRENCY="1", WEB_THREADS="1")
            (tmp_path / name).mkdir()
            procs.append(
                subprocess.Popen(
                    [
                        str(GUNICORN),
                        "--config",
                        "config/gunicorn.py",
                        "--bind",
                        f"127.0.0.1:{_free_port()}",
                        APP,
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
        sockets = [tmp_path / "a" / "gunicorn.ctl", tmp_path / "b" / "gunicorn.ctl"]
        deadline = time.time() + 30
        while time.time() < deadline and not all(s.exists() for s in sockets):
            time.sleep(0.2)
        assert all(s.exists() for s in sockets)
        assert not (home / ".gunicorn").exists()
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=30)
