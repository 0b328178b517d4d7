"""Returns: refund requests a buyer starts (cancel a paid order, a damaged or wrong item) that staff of
the order's location approve or reject, and the staff refund use case (docs/orders.md, "Refund requests")."""
