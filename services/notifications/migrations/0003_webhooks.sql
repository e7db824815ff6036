-- Webhook endpoints of companies and partners (services/notifications/webhooks.py).
-- An endpoint belongs to one company, or to one partner API key.
CREATE TABLE webhook_endpoints (
    id                          uuid PRIMARY KEY,
    company_id                  uuid,
    partner_key_id              uuid,
    url                         text NOT NULL,
    event_types                 text[] NOT NULL,
    description                 text,
    -- Stored as given: signing needs the secret itself (see docs/webhooks.md).
    secret                      text NOT NULL,
    previous_secret             text,
    previous_secret_expires_at  timestamptz,
    status                      text NOT NULL DEFAULT 'active'
                                CHECK (status IN ('active', 'paused')),
    paused_reason               text,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now(),
    CHECK ((company_id IS NULL) <> (partner_key_id IS NULL))
);
CREATE INDEX webhook_endpoints_company ON webhook_endpoints (company_id)
    WHERE company_id IS NOT NULL;
CREATE INDEX webhook_endpoints_partner ON webhook_endpoints (partner_key_id)
    WHERE partner_key_id IS NOT NULL;

-- One delivery per event and endpoint, made in the consumer's transaction; `body` is the
-- event's CloudEvents JSON, the same bytes for every attempt.
CREATE TABLE webhook_deliveries (
    id               uuid PRIMARY KEY,
    endpoint_id      uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id         uuid NOT NULL,
    event_type       text NOT NULL,
    body             bytea NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         int NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    completed_at     timestamptz,
    UNIQUE (event_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, endpoint_id)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (endpoint_id, created_at DESC, id DESC);

-- Every attempt of a delivery: written when it starts, completed when it ends (an attempt
-- a crash cut short is marked interrupted by the next worker to take the endpoint).
CREATE TABLE webhook_attempts (
    delivery_id  uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    number       int NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    duration_ms  int,
    status_code  int,
    error        text,
    PRIMARY KEY (delivery_id, number)
);
CREATE INDEX webhook_attempts_unfinished ON webhook_attempts (delivery_id)
    WHERE finished_at IS NULL;
