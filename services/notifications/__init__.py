"""Notifications: tells each company what concerns it, starting with its inbox."""
