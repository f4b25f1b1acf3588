"""Payment service: payments through the mock card gateway, refunds, idempotency."""
