-- Listings may name a resource class (heat, process water, CO2, ...) instead of a waste code.
ALTER TABLE open_listings
    ALTER COLUMN ewc_code DROP NOT NULL,
    ADD COLUMN resource_class text,
    ADD COLUMN resource text;
UPDATE open_listings SET resource = ewc_code;
ALTER TABLE open_listings ALTER COLUMN resource SET NOT NULL;
DROP INDEX open_listings_code_kind;
CREATE INDEX open_listings_resource_kind ON open_listings (resource, kind);

ALTER TABLE proposals
    ALTER COLUMN ewc_code DROP NOT NULL,
    ADD COLUMN resource_class text;
