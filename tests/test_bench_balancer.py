"""The scale-out benchmark's balancer (bench/balancer.py): each connection goes to the next backend in
turn, and bytes pass through unchanged both ways, large bodies included (its flow control)."""

import os
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _backend(name: str) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            out = name.encode() + b":" + body
            self.send_response(200)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _post(port: int, body: bytes, conn: socket.socket | None = None) -> tuple[socket.socket, bytes]:
    conn = conn or socket.create_connection(("127.0.0.1", port), timeout=30)
    conn.sendall(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body,
    )
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, rest = data.split(b"\r\n\r\n", 1)
    length = int(
        next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")).split(b":")[1]
    )
    while len(rest) < length:
        rest += conn.recv(65536)
    return conn, rest


def test_connections_go_round_robin_and_bytes_pass_unchanged():
    a, b = _backend("a"), _backend("b")
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "bench" / "balancer.py"),
            "--backend",
            f"127.0.0.1:{a.server_address[1]}",
            "--backend",
            f"127.0.0.1:{b.server_address[1]}",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("listening "), line
        port = int(line.split()[1])
        answers = []
        conns = []
        for i in range(4):
            conn, body = _post(port, b"hello %d" % i)
            conns.append(conn)
            answers.append(body)
        assert answers == [b"a:hello 0", b"b:hello 1", b"a:hello 2", b"b:hello 3"]
        # A kept-alive connection stays on its backend; 8 MB each way exercises the flow control.
        big = os.urandom(8 * 1024 * 1024)
        _, body = _post(port, big, conns[1])
        assert body == b"b:" + big
        for c in conns:
            c.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        a.shutdown()
        b.shutdown()
