"""The services of the exchange. Each is independent: it imports ``shared``, never a sibling."""
