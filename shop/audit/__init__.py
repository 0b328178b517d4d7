"""Audit log: who did what to money, stock, certificates and accounts, viewable by admins."""
