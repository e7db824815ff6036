-- Responses to POSTs sent with an Idempotency-Key header, replayed when the key returns.
CREATE TABLE idempotency_keys (
    owner          text NOT NULL,
    key            text NOT NULL,
    request_hash   text NOT NULL,
    status_code    integer,
    content_type   text,
    body           bytea,
    created_at     timestamptz NOT NULL DEFAULT now(),
    completed_at   timestamptz,
    PRIMARY KEY (owner, key)
);
