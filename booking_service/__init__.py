"""Booking service: bookings from held seats, their lifecycle and fares."""
