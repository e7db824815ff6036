"""Matching: keeps an index of open listings and proposes trades between offers and needs."""
