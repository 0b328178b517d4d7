"""Process entry point for the benchmark's workers (``celery -A bench.worker worker``): the shop's tasks
plus the no-op baseline, on the bench app built from the environment."""

from bench.app import create_bench_app

flask_app = create_bench_app()
celery_app = flask_app.extensions["celery"]
