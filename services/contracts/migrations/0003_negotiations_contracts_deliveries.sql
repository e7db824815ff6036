-- What the matcher proposed, with what a deal may start from.
ALTER TABLE proposals
    ADD COLUMN value   jsonb,
    ADD COLUMN origin  text NOT NULL DEFAULT 'matcher';

-- A proposal becomes a negotiation at the first answer of either side; its id is the
-- proposal's.
CREATE TABLE negotiations (
    id                   uuid PRIMARY KEY REFERENCES proposals (id),
    supplier_company_id  uuid NOT NULL,
    receiver_company_id  uuid NOT NULL,
    status               text NOT NULL DEFAULT 'open'
                         CHECK (status IN ('open', 'agreed', 'declined', 'expired', 'withdrawn')),
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    expires_at           timestamptz NOT NULL
);
CREATE INDEX negotiations_supplier ON negotiations (supplier_company_id, updated_at DESC);
CREATE INDEX negotiations_receiver ON negotiations (receiver_company_id, updated_at DESC);
CREATE INDEX negotiations_open_expiry ON negotiations (expires_at) WHERE status = 'open';

-- Each set of terms put on the table; the newest open one is the one to answer.
CREATE TABLE terms (
    id                    uuid PRIMARY KEY,
    negotiation_id        uuid NOT NULL REFERENCES negotiations (id),
    version               int NOT NULL,
    proposed_by           text NOT NULL CHECK (proposed_by IN ('exchange', 'supplier', 'receiver')),
    quantity              numeric(18, 3) NOT NULL CHECK (quantity > 0),
    unit                  text NOT NULL,
    price_per_unit_ore    bigint,
    delivery_from         date,
    delivery_until        date,
    transport             text NOT NULL,
    schedule              text NOT NULL,
    supplier_accepted_at  timestamptz,
    receiver_accepted_at  timestamptz,
    status                text NOT NULL DEFAULT 'open'
                          CHECK (status IN ('open', 'agreed', 'superseded', 'declined', 'expired')),
    created_at            timestamptz NOT NULL DEFAULT now(),
    UNIQUE (negotiation_id, version)
);
CREATE UNIQUE INDEX terms_one_open ON terms (negotiation_id) WHERE status = 'open';

-- The audit trail: who did what, when, with which terms. Never updated.
CREATE TABLE negotiation_steps (
    id              bigserial PRIMARY KEY,
    negotiation_id  uuid NOT NULL REFERENCES negotiations (id),
    at              timestamptz NOT NULL DEFAULT now(),
    company_id      uuid,
    actor_id        uuid,
    actor_kind      text,
    action          text NOT NULL,
    terms_id        uuid REFERENCES terms (id),
    note            text
);
CREATE INDEX negotiation_steps_of ON negotiation_steps (negotiation_id, id);

CREATE TABLE contracts (
    id                   uuid PRIMARY KEY,
    negotiation_id       uuid NOT NULL UNIQUE REFERENCES negotiations (id),
    terms_id             uuid NOT NULL REFERENCES terms (id),
    offer_id             uuid NOT NULL,
    need_id              uuid NOT NULL,
    supplier_company_id  uuid NOT NULL,
    receiver_company_id  uuid NOT NULL,
    title                text NOT NULL,
    ewc_code             char(6),
    resource_class       text,
    quantity             numeric(18, 3) NOT NULL,
    unit                 text NOT NULL,
    price_per_unit_ore   bigint NOT NULL,
    delivery_from        date,
    delivery_until       date,
    transport            text NOT NULL,
    schedule             text NOT NULL,
    value                jsonb,
    status               text NOT NULL DEFAULT 'active'
                         CHECK (status IN ('active', 'completed', 'cancelled')),
    status_reason        text,
    agreed_at            timestamptz NOT NULL DEFAULT now(),
    ended_at             timestamptz
);
CREATE INDEX contracts_supplier ON contracts (supplier_company_id, agreed_at DESC);
CREATE INDEX contracts_receiver ON contracts (receiver_company_id, agreed_at DESC);

CREATE TABLE deliveries (
    id               uuid PRIMARY KEY,
    contract_id      uuid NOT NULL REFERENCES contracts (id),
    quantity         numeric(18, 3) NOT NULL CHECK (quantity > 0),
    unit             text NOT NULL,
    delivered_on     date NOT NULL,
    weighbridge_note text,
    recorded_by      uuid NOT NULL,
    recorded_at      timestamptz NOT NULL DEFAULT now(),
    status           text NOT NULL DEFAULT 'recorded'
                     CHECK (status IN ('recorded', 'confirmed', 'disputed')),
    answered_by      uuid,
    answered_at      timestamptz,
    dispute_reason   text
);
CREATE INDEX deliveries_of ON deliveries (contract_id, delivered_on);
