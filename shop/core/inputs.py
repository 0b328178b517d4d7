"""The request-parsing guard: what a request may carry, checked once, before any parser or view sees it.

Bad input must be a clear 4xx (RFC 9457 problem+json on ``/api/`` paths, the error page elsewhere),
never a 500 from deep inside a library. Every request passes ``check_request`` (a ``before_request``
hook, the first one registered), which refuses:

- a URL longer than ``MAX_URL_LENGTH`` (414; gunicorn lets lines up to its own maximum through, see
  ``config/gunicorn.py``, and answers longer ones as problem+json itself);
- on ``/api/``, a request body that is not ``application/json``, however it is framed: a chunked body has
  no Content-Length, and used to slip past this check (415);
- a JSON body that is not JSON (400), or nested deeper than ``MAX_JSON_DEPTH`` (400: Python's parser
  raises RecursionError near 1,000 levels, and nothing the shop takes is deeper than a few);
- text no store can hold, in a JSON key or value, a query parameter, a form field or a path segment: a NUL
  character (PostgreSQL text cannot contain it) or a lone UTF-16 surrogate such as ``\\ud800`` (valid
  JSON escape, but not a Unicode character: the database driver cannot encode it). 422 with
  ``errors: [{field, message}]`` naming each field.

A view that takes a file marks itself ``@accepts_upload`` (or ``@accepts_upload("SETTING")`` naming the
setting that holds its byte limit): on ``/api/`` it then takes ``multipart/form-data`` as well as JSON,
and its body may be as large as that setting (plus the multipart envelope) instead of
``MAX_CONTENT_LENGTH``. Form fields are checked like any other; the file's bytes are the view's to judge.

A batch endpoint whose items are answered one by one (the tablets' offline sales) marks itself with
``@items_checked_one_by_one("sales")``: the guard then leaves text problems inside ``sales[i]`` to the
view, which answers that item with ``text_problems(item, prefix=...)`` and carries on with the others.
The size of a body is Flask's ``MAX_CONTENT_LENGTH`` (413), whether it is sent with a Content-Length or
chunked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from flask import Flask, current_app, request
from werkzeug.exceptions import BadRequest, RequestURITooLarge, UnsupportedMediaType

from shop.core.errors import ValidationFailed

MAX_JSON_DEPTH = 32
MAX_TEXT_PROBLEMS = 20  # listed in one answer; more would only repeat the point
# A NUL, or a UTF-16 surrogate: after json.loads a surrogate code point is always a lone one (a valid
# pair becomes the character it encodes), and percent-decoding replaces invalid UTF-8 with U+FFFD.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_ITEMS_ATTR = "_shop_items_checked_one_by_one"
_UPLOAD_ATTR = "_shop_upload_limit_setting"
UPLOAD_SLACK = 64 * 1024  # the multipart envelope and the other fields around the file
_BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")

F = TypeVar("F", bound=Callable[..., Any])


class UnstorableText(ValidationFailed):
    slug = "unstorable-text"
    title = "Text the shop cannot store"


def items_checked_one_by_one(key: str) -> Callable[[F], F]:
    """Mark a view whose body's ``key`` list holds items it answers one by one (each with its own
    result): the guard does not refuse the whole request for text problems inside one item."""

    def mark(view: F) -> F:
        setattr(view, _ITEMS_ATTR, key)
        return view

    return mark


def accepts_upload(arg: F | str = "MEDIA_MAX_UPLOAD_BYTES") -> Any:
    """Mark a view that takes a file (multipart/form-data) of up to the named setting's bytes.

    ``@accepts_upload`` uses ``MEDIA_MAX_UPLOAD_BYTES``; ``@accepts_upload("AID_IMPORT_MAX_BYTES")`` another
    limit. Place it right under the route decorator.
    """
    if callable(arg):
        setattr(arg, _UPLOAD_ATTR, "MEDIA_MAX_UPLOAD_BYTES")
        return arg

    def mark(view: F) -> F:
        setattr(view, _UPLOAD_ATTR, arg)
        return view

    return mark


def _upload_limit_setting() -> str | None:
    view = current_app.view_functions.get(request.endpoint or "")
    return getattr(view, _UPLOAD_ATTR, None)


def text_shown(text: str) -> str:
    """A field name as it can be sent back (the offending characters replaced by U+FFFD)."""
    return _UNSTORABLE.sub("\ufffd", text)


def text_problems(value: Any, *, prefix: str = "") -> list[dict[str, str]]:
    """``[{field, message}]`` for every key or string inside ``value`` a store cannot hold."""
    out = []
    for path, _text in _unstorable(value, prefix):
        out.append(
            {
                "field": text_shown(path) or "body",
                "message": "contains a NUL or an unpaired surrogate character",
            }
        )
        if len(out) >= MAX_TEXT_PROBLEMS:
            break
    return out


def _unstorable(value: Any, prefix: str) -> Iterator[tuple[str, str]]:
    """(path, text) of each unstorable key or string, walking without recursion."""
    stack: list[tuple[str, Any]] = [(prefix, value)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, str):
            if _UNSTORABLE.search(node):
                yield path, node
        elif isinstance(node, dict):
            for key, item in node.items():
                sub = f"{path}.{key}" if path else str(key)
                if _UNSTORABLE.search(key):
                    yield sub, key
                stack.append((sub, item))
        elif isinstance(node, list):
            stack.extend((f"{path}.{i}" if path else str(i), item) for i, item in enumerate(node))


def json_depth_exceeds(value: Any, limit: int) -> bool:
    """Whether ``value`` nests lists or objects deeper than ``limit`` (no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > limit:
                return True
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _url_length() -> int:
    environ = request.environ
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        return len(raw)
    query = environ.get("QUERY_STRING", "")
    return len(request.path) + (len(query) + 1 if query else 0)


def _has_body() -> bool:
    if request.content_length:
        return True
    return "chunked" in request.headers.get("Transfer-Encoding", "").lower()


def _items_key() -> str | None:
    view = current_app.view_functions.get(request.endpoint or "")
    return getattr(view, _ITEMS_ATTR, None)


def _check_json_body() -> None:
    data = request.get_data(cache=True)
    limit = request.max_content_length
    if request.content_length is None and limit is not None and len(data) >= limit:
        # A streamed (chunked) body is cut at MAX_CONTENT_LENGTH without a word; reading on past the
        # limit is what raises werkzeug's 413.
        request.stream.read(1)
    if not data:
        return
    try:
        value = json.loads(data)
    except RecursionError:
        raise BadRequest(f"the JSON body is nested too deeply (at most {MAX_JSON_DEPTH} levels)") from None
    except ValueError:  # JSONDecodeError, and UnicodeDecodeError for bytes that are not UTF-8
        raise BadRequest("The request body is not valid JSON") from None
    if json_depth_exceeds(value, MAX_JSON_DEPTH):
        raise BadRequest(f"the JSON body is nested too deeply (at most {MAX_JSON_DEPTH} levels)")
    problems = text_problems(value)
    items = _items_key()
    if items:
        inside = re.compile(rf"{re.escape(items)}\.\d+(\.|$)")
        problems = [p for p in problems if not inside.match(p["field"])]
    if problems:
        raise UnstorableText(_detail(problems), errors=problems)


def _detail(problems: list[dict[str, str]]) -> str:
    return "; ".join(f"{p['field']}: {p['message']}" for p in problems)


def _field_problems(pairs: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    """One problem per field (query parameter, form field, path segment) holding a NUL in its name or
    in any of its values."""
    bad: dict[str, str] = {}
    for name, text in pairs:
        if name is None:  # a multipart part whose name Werkzeug could not read (a line break in it)
            bad.setdefault("(unnamed)", "a form field without a readable name")
        elif _UNSTORABLE.search(name) or _UNSTORABLE.search(text or ""):
            bad.setdefault(text_shown(name), "contains a NUL character")
    return [{"field": name, "message": message} for name, message in bad.items()]


def check_request() -> None:
    """Refuse a request the shop's parsers, views or database could not take (see the module docstring)."""
    settings = current_app.extensions["settings"]
    upload = _upload_limit_setting()
    if upload:
        # Before anything reads the body (CSRF reads a form): the larger limit for upload views only.
        request.max_content_length = getattr(settings, upload) + UPLOAD_SLACK
    limit = settings.MAX_URL_LENGTH
    if _url_length() > limit:
        raise RequestURITooLarge(f"the URL is longer than {limit} characters; send long input in the body")
    problems = _field_problems(
        (name, value) for name, values in request.args.lists() for value in values
    ) + _field_problems((name, str(value)) for name, value in (request.view_args or {}).items())
    is_api = request.path.startswith("/api/")
    has_body = request.method in _BODY_METHODS and _has_body()
    if has_body and request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        problems += _field_problems(
            (name, value) for name, values in request.form.lists() for value in values
        )
    if problems:
        raise UnstorableText(_detail(problems[:MAX_TEXT_PROBLEMS]), errors=problems[:MAX_TEXT_PROBLEMS])
    if is_api and has_body:
        if upload and request.mimetype == "multipart/form-data":
            return
        if request.mimetype != "application/json":
            raise UnsupportedMediaType("send the request body as application/json")
        _check_json_body()


def init_guard(app: Flask) -> None:
    """Check every request (``check_request``) before the views' own hooks (CSRF, limits) run; the app
    factory calls this right after the request id is assigned, so refusals are logged with it."""
    app.before_request(check_request)
