"""Producers' side of the shop: settlement of their sales, fee history, linked households, the portal."""
