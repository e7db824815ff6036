"""The embedded Apache Kafka: its runtime (Java, pinned jars) and the broker itself."""
