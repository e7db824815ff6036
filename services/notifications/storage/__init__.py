"""All SQL of the notifications service, one module per area: ``inbox`` (the notes),
``email`` (the e-mail queue), ``people`` (the directory and its e-mail preferences),
``webhooks`` (endpoints, deliveries and their attempts) and ``queues`` (for the metrics).
Callers import the module they need; nothing is re-exported here."""
