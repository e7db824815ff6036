CREATE TABLE companies (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    org_number  char(9) NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- API keys are signed tokens shown once; only their id is kept, to list and revoke them.
CREATE TABLE api_keys (
    id          uuid PRIMARY KEY,
    company_id  uuid NOT NULL REFERENCES companies (id),
    label       text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE INDEX api_keys_company ON api_keys (company_id);

CREATE TABLE listings (
    id           uuid PRIMARY KEY,
    company_id   uuid NOT NULL REFERENCES companies (id),
    kind         text NOT NULL CHECK (kind IN ('offer', 'need')),
    ewc_code     char(6) NOT NULL,
    hazardous    boolean NOT NULL,
    title        text NOT NULL,
    description  text NOT NULL DEFAULT '',
    quantity     numeric(18, 3) NOT NULL CHECK (quantity > 0),
    unit         text NOT NULL CHECK (unit IN ('t', 'kg', 'm3', 'MWh', 'kWh', 'pieces')),
    status       text NOT NULL DEFAULT 'open'
                 CHECK (status IN ('draft', 'open', 'reserved', 'closed', 'withdrawn')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX listings_company ON listings (company_id, created_at DESC);
CREATE INDEX listings_open_code ON listings (ewc_code, kind) WHERE status = 'open';
