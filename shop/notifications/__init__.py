"""Notifications to buyers and staff through a pluggable sender (stored on the embedded default, SMTP in
production), always sent from a task after the commit that caused them."""
