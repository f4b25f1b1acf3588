"""Ticket service: e-tickets and GST invoices."""
