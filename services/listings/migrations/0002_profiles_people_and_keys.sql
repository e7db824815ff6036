-- What a company tells the park about itself.
ALTER TABLE companies
    ADD COLUMN nace_codes      text[] NOT NULL DEFAULT '{}',
    ADD COLUMN address         jsonb,
    ADD COLUMN plot            text,
    ADD COLUMN latitude        double precision CHECK (latitude BETWEEN -90 AND 90),
    ADD COLUMN longitude       double precision CHECK (longitude BETWEEN -180 AND 180),
    ADD COLUMN contact         jsonb,
    ADD COLUMN permits         char(6)[] NOT NULL DEFAULT '{}',
    ADD COLUMN updated_at      timestamptz NOT NULL DEFAULT now();

-- People sign in with e-mail and password (argon2 hash). Park administrators belong to no
-- company. An invited person has no password until they accept the invitation.
CREATE TABLE people (
    id                    uuid PRIMARY KEY,
    company_id            uuid REFERENCES companies (id),
    email                 text NOT NULL,
    name                  text NOT NULL,
    role                  text NOT NULL CHECK (role IN ('member', 'admin', 'park_admin')),
    password_hash         text,
    invitation_hash       text UNIQUE,
    invitation_expires_at timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    disabled_at           timestamptz,
    CHECK ((role = 'park_admin') = (company_id IS NULL))
);
CREATE UNIQUE INDEX people_email ON people (lower(email));
CREATE INDEX people_company ON people (company_id);

-- Keys of a company act as its admin; partner keys (no company) may only read.
ALTER TABLE api_keys
    ALTER COLUMN company_id DROP NOT NULL,
    ADD COLUMN role       text NOT NULL DEFAULT 'admin' CHECK (role IN ('admin', 'partner')),
    ADD COLUMN created_by uuid,
    ADD CONSTRAINT api_keys_partner_has_no_company CHECK ((role = 'partner') = (company_id IS NULL));
