-- What a company lets partners see (prices and terms of its listings and contracts), and
-- the Kafka credentials park administrators issue to partners (the password is never kept:
-- the broker holds its SCRAM verifier; revoking removes it and the partner's ACLs).
ALTER TABLE companies ADD COLUMN share_terms_with_partners boolean NOT NULL DEFAULT false;

CREATE TABLE partner_credentials (
    id          uuid PRIMARY KEY,
    label       text NOT NULL,
    username    text NOT NULL UNIQUE,
    created_by  uuid,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
