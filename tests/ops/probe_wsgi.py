"""A WSGI app that answers 200, for starting gunicorn with the shop's config in tests."""


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
