"""The kit every service uses: settings, app factory, database, Redis, auth, errors, events."""

# Registers the `{name:id}` path convertor before any service defines a route with it.
from shared import ids as _ids  # noqa: F401
