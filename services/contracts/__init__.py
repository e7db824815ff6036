"""Contracts: proposals become negotiations, contracts, deliveries and invoices."""
