"""Process entry point for ``celery -A workers.main worker|beat``: builds the app from the environment."""

from shop import create_app

flask_app = create_app()
celery_app = flask_app.extensions["celery"]
