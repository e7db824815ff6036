-- Sign-in throttling (services/listings/throttling.py): recent failed sign-ins per
-- account (its lower-cased e-mail, whether or not such an account exists) and per client
-- address. An attempt counts as failed until it succeeds.
CREATE TABLE sign_in_throttle (
    scope     text NOT NULL CHECK (scope IN ('account', 'address')),
    key       text NOT NULL,
    failures  int NOT NULL DEFAULT 0,
    last_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);

-- The audit log: who did what, when and from where. Written in the transaction of what
-- it records; read by park administrators (GET /audit-log).
CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    action      text NOT NULL,
    actor_id    uuid,
    actor_kind  text CHECK (actor_kind IN ('person', 'api_key')),
    company_id  uuid,
    subject_id  uuid,
    client      text,
    details     jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_newest ON audit_log (at DESC, id DESC);
CREATE INDEX audit_log_company ON audit_log (company_id, at DESC, id DESC);
