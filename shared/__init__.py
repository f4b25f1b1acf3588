"""The kit every service uses: settings, app factory, database, Redis, auth, errors, events."""
