-- What invoices need of a company besides its name, number and address: whether it is in
-- Merverdiavgiftsregisteret, the account it is paid to, and the language of its documents.
ALTER TABLE companies
    ADD COLUMN vat_registered  boolean NOT NULL DEFAULT true,
    ADD COLUMN bank_account    text,
    ADD COLUMN language        text NOT NULL DEFAULT 'nb' CHECK (language IN ('nb', 'en')),
    -- when its details were last told to the other services (company.changed); companies
    -- registered before that event existed are told once by a background job
    ADD COLUMN announced_at    timestamptz;

-- A contract's reservation period by period (one row, period 0001-01-01, for a one-off
-- listing): a stream reserves in the weeks, months or years it delivers in.
CREATE TABLE reservation_periods (
    contract_id  uuid NOT NULL,
    listing_id   uuid NOT NULL,
    period       date NOT NULL,
    quantity     numeric(18, 3) NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (contract_id, listing_id, period),
    FOREIGN KEY (contract_id, listing_id) REFERENCES reservations (contract_id, listing_id)
);
INSERT INTO reservation_periods (contract_id, listing_id, period, quantity)
    SELECT contract_id, listing_id, date '0001-01-01', quantity FROM reservations;
CREATE INDEX reservation_periods_listing ON reservation_periods (listing_id, period);
