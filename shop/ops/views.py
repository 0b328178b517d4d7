"""/healthz, /readyz and /metrics."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify
from prometheus_client import CONTENT_TYPE_LATEST

from shop.core.errors import problem
from shop.ops.metrics import render_metrics
from shop.ops.services import check_broker, check_database, metrics_allowed

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    db_ok, db_detail = check_database()
    broker_ok, broker_detail = check_broker()
    checks = {"database": db_detail, "broker": broker_detail}
    if db_ok and broker_ok:
        return jsonify(status="ready", checks=checks)
    failing = [name for name, ok in (("database", db_ok), ("broker", broker_ok)) if not ok]
    return problem(503, "Not ready", f"unreachable: {', '.join(failing)}", slug="not-ready", checks=checks)


@bp.get("/metrics")
def metrics():
    # Order counts and aid totals are not public: only configured addresses or the metrics token.
    if not metrics_allowed():
        return Response("metrics are not available to this client\n", status=403, mimetype="text/plain")
    return Response(render_metrics(current_app), mimetype=CONTENT_TYPE_LATEST)
