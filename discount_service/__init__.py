"""Discount service: discount codes and redemptions."""
