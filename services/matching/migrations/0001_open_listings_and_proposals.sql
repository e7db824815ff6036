-- The matcher's own index of open listings, built from listings.events.v1.
CREATE TABLE open_listings (
    listing_id  uuid PRIMARY KEY,
    company_id  uuid NOT NULL,
    kind        text NOT NULL,
    ewc_code    char(6) NOT NULL,
    title       text NOT NULL,
    quantity    numeric(18, 3) NOT NULL,
    unit        text NOT NULL,
    indexed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX open_listings_code_kind ON open_listings (ewc_code, kind);

CREATE TABLE proposals (
    id                   uuid PRIMARY KEY,
    offer_id             uuid NOT NULL,
    need_id              uuid NOT NULL,
    supplier_company_id  uuid NOT NULL,
    receiver_company_id  uuid NOT NULL,
    ewc_code             char(6) NOT NULL,
    quantity             numeric(18, 3) NOT NULL,
    unit                 text NOT NULL,
    reasons              jsonb NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (offer_id, need_id)
);
CREATE INDEX proposals_supplier ON proposals (supplier_company_id);
CREATE INDEX proposals_receiver ON proposals (receiver_company_id);
