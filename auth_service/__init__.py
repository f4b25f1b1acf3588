"""Auth service: users, passwords, access tokens (EdDSA, JWKS) and rotating refresh tokens."""
