"""Notification service: mock email/SMS notifications from domain events."""
