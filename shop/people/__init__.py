"""People: the admins' pages and API for staff and producer accounts (use cases in shop.accounts.people)."""
