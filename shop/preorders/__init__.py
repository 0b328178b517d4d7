"""Harvest pre-orders (认购): campaigns, pledges, and filling them from the harvest."""
