"""Seat inventory service: seat maps and race-free seat holds."""
