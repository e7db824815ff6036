"""The ``symbiosis`` command: runs the exchange, embedded or against real servers."""
