"""Fulfilment: paid orders become picked parcels and pickups; operators ship, hand over, mark delivered."""
