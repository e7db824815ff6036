"""What every service of the Viken Park symbiosis exchange uses once.

Settings, the event envelope and payloads, Kafka and PostgreSQL plumbing (outbox,
relay, idempotent consumer, dead-letter routing, migrations), authentication and
HTTP problem details. Services import this package; they never import each other.
"""
