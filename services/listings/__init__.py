"""Listings: companies, their API keys, and the offers and needs they post."""
