"""The contracts service's domain: negotiations, contracts, deliveries, invoices and what a
listing still has. Plain Python, no I/O: each aggregate checks a change against its rules
and says what it causes (new rows, events); ``services.contracts.application`` runs that in
one transaction with the outbox."""
