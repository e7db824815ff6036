-- Trades proposed by the matcher, as the two parties will negotiate them.
CREATE TABLE proposals (
    id                   uuid PRIMARY KEY,
    offer_id             uuid NOT NULL,
    need_id              uuid NOT NULL,
    supplier_company_id  uuid NOT NULL,
    receiver_company_id  uuid NOT NULL,
    ewc_code             char(6) NOT NULL,
    title                text NOT NULL,
    quantity             numeric(18, 3) NOT NULL,
    unit                 text NOT NULL,
    reasons              jsonb NOT NULL,
    status               text NOT NULL DEFAULT 'proposed',
    proposed_at          timestamptz NOT NULL,
    recorded_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX proposals_supplier ON proposals (supplier_company_id, proposed_at DESC);
CREATE INDEX proposals_receiver ON proposals (receiver_company_id, proposed_at DESC);
