-- What the contracts service knows of each listing (from listings.events.v1), so that no
-- agreement asks for more than a listing has; the row is locked while an agreement is made.
CREATE TABLE listings (
    id           uuid PRIMARY KEY,
    company_id   uuid NOT NULL,
    kind         text NOT NULL,
    title        text NOT NULL,
    quantity     numeric(18, 3) NOT NULL,
    unit         text NOT NULL,
    frequency    text NOT NULL,
    available_from date,
    status       text NOT NULL,
    ewc_code     char(6),
    hazardous    boolean NOT NULL DEFAULT false,
    updated_at   timestamptz NOT NULL
);

-- Each company's legal details (from company.details_changed), for invoices and papers.
CREATE TABLE companies (
    id              uuid PRIMARY KEY,
    name            text NOT NULL,
    org_number      char(9) NOT NULL,
    street          text,
    postcode        text,
    city            text,
    country         text NOT NULL DEFAULT 'NO',
    vat_registered  boolean NOT NULL,
    bank_account    text,
    language        text NOT NULL DEFAULT 'nb',
    permits         text[] NOT NULL DEFAULT '{}',
    changed_at      timestamptz NOT NULL
);

-- A cancelled contract keeps on its listings what was delivered or awaits an answer.
ALTER TABLE contracts ADD COLUMN kept_quantity numeric(18, 3);
CREATE INDEX contracts_offer ON contracts (offer_id) WHERE status <> 'cancelled' OR kept_quantity > 0;
CREATE INDEX contracts_need ON contracts (need_id) WHERE status <> 'cancelled' OR kept_quantity > 0;
CREATE INDEX proposals_offer ON proposals (offer_id);
CREATE INDEX proposals_need ON proposals (need_id);

-- Delivery papers: who carried it, how it was measured, and for hazardous waste the data
-- of the declaration (avfallsforskriften kapittel 11).
ALTER TABLE deliveries
    ADD COLUMN carrier             jsonb,
    ADD COLUMN measurement         text,
    ADD COLUMN weighbridge_ticket  text,
    ADD COLUMN declaration         jsonb,
    ADD COLUMN confirmed_at        timestamptz;
UPDATE deliveries SET confirmed_at = answered_at WHERE status = 'confirmed';

-- Invoices as bookkeeping needs them: each seller's gapless series (invoices and credit
-- notes share it), dates, KID, and the parties as they were when it was issued.
CREATE TABLE document_series (
    company_id   uuid PRIMARY KEY,
    last_number  bigint NOT NULL
);
ALTER TABLE invoices
    DROP CONSTRAINT invoices_status_check,
    ADD CONSTRAINT invoices_status_check CHECK (
        status IN ('waiting', 'queued', 'issued', 'paid', 'payment_failed', 'void', 'credited')),
    ADD COLUMN number         bigint,
    ADD COLUMN issue_date     date,
    ADD COLUMN delivery_date  date,
    ADD COLUMN due_date       date,
    ADD COLUMN kid            text,
    ADD COLUMN vat_percent    numeric(5, 2),
    ADD COLUMN seller         jsonb,
    ADD COLUMN buyer          jsonb,
    ADD COLUMN gate_fee       boolean NOT NULL DEFAULT false,
    ADD COLUMN credited_at    timestamptz;
CREATE UNIQUE INDEX invoices_number ON invoices (payee_company_id, number);
CREATE INDEX invoices_waiting ON invoices (payee_company_id, payer_company_id)
    WHERE status = 'waiting';

CREATE TABLE credit_notes (
    id                      uuid PRIMARY KEY,
    invoice_id              uuid NOT NULL UNIQUE REFERENCES invoices (id),
    payee_company_id        uuid NOT NULL,
    number                  bigint NOT NULL,
    issue_date              date NOT NULL,
    reason                  text NOT NULL,
    net_ore                 bigint NOT NULL,
    mva_ore                 bigint NOT NULL,
    total_ore               bigint NOT NULL,
    status                  text NOT NULL DEFAULT 'queued'
                            CHECK (status IN ('queued', 'issued', 'not_needed')),
    stripe_credit_note_id   text,
    attempts                int NOT NULL DEFAULT 0,
    next_attempt_at         timestamptz NOT NULL DEFAULT now(),
    last_error              text,
    created_at              timestamptz NOT NULL DEFAULT now(),
    UNIQUE (payee_company_id, number)
);
CREATE INDEX credit_notes_due ON credit_notes (next_attempt_at) WHERE status = 'queued';

-- A delivery disputed after it was confirmed leaves the ledger, kept for the record.
ALTER TABLE impact_entries ADD COLUMN reversed_at timestamptz;
