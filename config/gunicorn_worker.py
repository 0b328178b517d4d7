"""gunicorn's threaded worker, answering the request errors gunicorn decides itself as problem+json.

gunicorn refuses a request line longer than ``limit_request_line`` (8190 bytes at most) and oversized
header fields before the shop sees the request, with an HTML page. API clients get an RFC 9457 problem
instead, like every other refusal (the app refuses shorter over-long URLs itself: MAX_URL_LENGTH,
``shop.core.inputs``). Every other error is left to gunicorn.
"""

from __future__ import annotations

import json

from gunicorn import util
from gunicorn.http.errors import LimitRequestHeaders, LimitRequestLine
from gunicorn.workers.gthread import ThreadWorker

PROBLEM_BASE = "https://gangu-shop.example/problems/"  # as shop.core.errors (config imports no shop)
OWN_ANSWERS = {
    LimitRequestLine: (414, "URI Too Long", "uri-too-long", "the request line (the URL) is too long"),
    LimitRequestHeaders: (
        431,
        "Request Header Fields Too Large",
        "headers-too-large",
        "the headers are too large",
    ),
}


def problem_response(status: int, title: str, slug: str, detail: str) -> bytes:
    """A complete HTTP/1.1 answer carrying a problem document; the connection closes after it."""
    body = json.dumps(
        {"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail}
    ).encode()
    head = (
        f"HTTP/1.1 {status} {title}\r\nConnection: close\r\nContent-Type: application/problem+json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


class ProblemThreadWorker(ThreadWorker):
    def handle_error(self, req, client, addr, exc):
        answer = next((a for kind, a in OWN_ANSWERS.items() if isinstance(exc, kind)), None)
        if answer is None:
            return super().handle_error(req, client, addr, exc)
        self.log.warning("Invalid request from ip=%s: %s", (addr or ("",))[0], exc)
        try:
            util.write_nonblock(client, problem_response(*answer))
        except Exception:
            self.log.debug("Failed to send error message.")
        return None
