"""Inventory: stock levels, lots and the append-only movement ledger that explains every number."""
