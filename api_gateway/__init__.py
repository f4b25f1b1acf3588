"""API gateway: one public entry point that routes, authenticates and rate-limits."""
