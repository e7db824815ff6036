-- Offers and needs as practitioners describe them: resource, stream, window, quality,
-- place, transport and price; remaining quantity for reservations; a text search column.
ALTER TABLE listings
    ALTER COLUMN ewc_code DROP NOT NULL,
    ALTER COLUMN hazardous SET DEFAULT false,
    ALTER COLUMN status SET DEFAULT 'draft',
    ADD COLUMN resource_class     text,
    ADD COLUMN frequency          text NOT NULL DEFAULT 'once'
                                  CHECK (frequency IN ('once', 'weekly', 'monthly', 'yearly')),
    ADD COLUMN available_from     date NOT NULL DEFAULT current_date,
    ADD COLUMN available_until    date,
    ADD COLUMN quality            jsonb NOT NULL DEFAULT '[]'::jsonb,
    ADD COLUMN plot               text,
    ADD COLUMN latitude           double precision CHECK (latitude BETWEEN -90 AND 90),
    ADD COLUMN longitude          double precision CHECK (longitude BETWEEN -180 AND 180),
    ADD COLUMN transport          text NOT NULL DEFAULT 'either'
                                  CHECK (transport IN ('supplier', 'receiver', 'either')),
    ADD COLUMN price_per_unit_ore bigint,
    ADD COLUMN remaining_quantity numeric(18, 3),
    ADD COLUMN dimension          text,
    ADD COLUMN quantity_base      numeric(30, 6),
    ADD COLUMN internal_note      text NOT NULL DEFAULT '',
    ADD COLUMN updated_at         timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN search             tsvector GENERATED ALWAYS AS
                                  (to_tsvector('simple', title || ' ' || description)) STORED;

UPDATE listings SET
    remaining_quantity = quantity,
    dimension = CASE WHEN unit IN ('t', 'kg') THEN 'mass' WHEN unit IN ('MWh', 'kWh') THEN 'energy'
                     WHEN unit = 'm3' THEN 'volume' ELSE 'count' END,
    quantity_base = quantity * CASE unit WHEN 't' THEN 1000 WHEN 'MWh' THEN 1000 ELSE 1 END;

ALTER TABLE listings
    ALTER COLUMN remaining_quantity SET NOT NULL,
    ALTER COLUMN dimension SET NOT NULL,
    ALTER COLUMN quantity_base SET NOT NULL,
    ADD CONSTRAINT listings_one_resource CHECK ((ewc_code IS NULL) <> (resource_class IS NULL)),
    ADD CONSTRAINT listings_window CHECK (available_until IS NULL OR available_until >= available_from),
    ADD CONSTRAINT listings_remaining CHECK (remaining_quantity >= 0 AND remaining_quantity <= quantity);

DROP INDEX listings_open_code;
CREATE INDEX listings_browse ON listings (status, created_at DESC, id);
CREATE INDEX listings_code ON listings (status, ewc_code, created_at DESC, id);
CREATE INDEX listings_class ON listings (status, resource_class, created_at DESC, id);
CREATE INDEX listings_text ON listings USING gin (search);
CREATE INDEX listings_place ON listings (status, latitude, longitude) WHERE latitude IS NOT NULL;
CREATE INDEX listings_amount ON listings (status, dimension, quantity_base, id);
CREATE INDEX listings_company_browse ON listings (company_id, created_at DESC, id);

-- Quantities reserved by agreed contracts, one row per contract and listing.
CREATE TABLE reservations (
    contract_id  uuid NOT NULL,
    listing_id   uuid NOT NULL REFERENCES listings (id),
    quantity     numeric(18, 3) NOT NULL CHECK (quantity > 0),
    reserved_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (contract_id, listing_id)
);
