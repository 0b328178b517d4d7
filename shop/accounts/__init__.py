"""Accounts: consumers, work-unit buyers and staff; web sessions, API tokens, roles."""
