"""Cross-domain plumbing: database and unit of work, problem+json errors, the API object, idempotency."""
