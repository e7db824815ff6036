CREATE TABLE inbox (
    id           uuid PRIMARY KEY,
    company_id   uuid NOT NULL,
    event_id     uuid NOT NULL,
    event_type   text NOT NULL,
    subject_id   text NOT NULL,
    title        text NOT NULL,
    body         text NOT NULL,
    link         text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    read_at      timestamptz,
    UNIQUE (event_id, company_id)
);
CREATE INDEX inbox_company ON inbox (company_id, (read_at IS NULL) DESC, created_at DESC);
