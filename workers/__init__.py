"""Celery side of the shop: the Celery app bound to Flask, thin tasks, the beat schedule."""
