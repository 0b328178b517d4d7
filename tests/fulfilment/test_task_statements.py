"""Statement and transaction budget of the two fulfilment tasks, run the way a worker runs them (the task
base class with the outbox message's id in its headers), counted by SQLAlchemy hooks, not timed.

Each task's database work is: one pool checkout (its pre-ping), the step's own transaction (which also
marks its outbox message seen and completed), and one small transaction marking the next message sent
after publishing it. The budgets keep the count from growing unnoticed between benchmark runs.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from shop.core.db import db
from shop.core.models import OutboxMessage
from tests.fulfilment.helpers import SHIP, Counts, operator, order, paid_order, run_message
from tests.orders.helpers import buyer

# (statements, commits, pool checkouts) per task for a two-line order, as measured when written. Before the
# step's own transaction carried the outbox bookkeeping: 32 statements (pick), 19 (pickup hand-over) and
# 4 commits (seen, the step, the next message sent, completed) and 5 checkouts, each a pre-ping, per task.
# The pick counts two statements more than a lone order needs (20): it reads its own message and looks for
# other paid orders to take with it (tests/fulfilment/test_batch_pick.py has the budget of a batch).
BUDGETS = {
    "shop.fulfilment.fulfil_order": (22, 2, 1),
    "shop.fulfilment.prepare_handover": (16, 2, 1),
}


def _message(order_id: int, task: str) -> int:
    db.session.rollback()
    msg = db.session.scalar(
        select(OutboxMessage)
        .where(OutboxMessage.task == task, OutboxMessage.payload["order_id"].as_integer() == order_id)
        .order_by(OutboxMessage.id.desc())
    )
    assert msg is not None and msg.sent_at is not None and msg.completed_at is None
    found = msg.id
    db.session.rollback()
    return found


def run_as_worker(app, task: str, order_id: int) -> tuple[object, Counts]:
    """Run ``task`` for the order's open message as a worker would, and check it completed."""
    msg_id = _message(order_id, task)
    result, counts = run_message(app, msg_id)
    assert db.session.get(OutboxMessage, msg_id).seen_by == "budget@host"
    db.session.rollback()
    return result, counts


@pytest.mark.parametrize("delivery", ["pickup", "ship"])
def test_fulfilment_tasks_stay_within_their_budgets(queued, delivery):
    staff = operator()
    lines = [("CHL-LINE-500G", 2), ("APL-HN-5KG", 1)]
    order_id = paid_order(buyer(), staff, lines=lines, **({"delivery": SHIP} if delivery == "ship" else {}))
    outcome, pick = run_as_worker(queued, "shop.fulfilment.fulfil_order", order_id)
    assert outcome == "picked"
    outcome, handover = run_as_worker(queued, "shop.fulfilment.prepare_handover", order_id)
    assert outcome in ("ready for pickup", "awaiting dispatch")
    assert order(order_id).status in ("ready_for_pickup", "fulfilling")
    for name, counts in (
        ("shop.fulfilment.fulfil_order", pick),
        ("shop.fulfilment.prepare_handover", handover),
    ):
        got = (len(counts.statements), counts.commits, counts.checkouts)
        print(f"SQL_COUNT {name} ({delivery})={got}")
        statements, commits, checkouts = BUDGETS[name]
        assert got[0] <= statements, "\n".join(counts.statements)
        assert got[1] <= commits and got[2] <= checkouts, (got, "\n".join(counts.statements))
