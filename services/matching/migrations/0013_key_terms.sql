-- What a key row keeps of its listing so that a lookup reads counterparts in the order of
-- what a pair with each could at best be worth, and stops once the rest cannot make the
-- cut (``domain.terms_of``): its window; its resource and (a need) its use; the dimension
-- of its unit and those its quantity converts to; its quantity and price in the base unit
-- of that dimension; its reach; and for an offer the CO2e one base unit avoids by use.
-- They are computed in Python: the listings indexed before are re-keyed when the matcher
-- starts.
ALTER TABLE open_listing_keys
    ADD COLUMN available_from date,
    ADD COLUMN available_until date,
    ADD COLUMN resource text,
    ADD COLUMN use text,
    ADD COLUMN dimension text,
    ADD COLUMN dimensions text[],
    ADD COLUMN amount double precision,
    ADD COLUMN price_ore double precision,
    ADD COLUMN reach_km double precision,
    ADD COLUMN co2e_any double precision,
    ADD COLUMN co2e_uses text[],
    ADD COLUMN co2e_rates double precision[];
UPDATE open_listings SET keys_version = '';
ALTER TABLE open_listing_keys
    ADD COLUMN quality_properties text[],
    ADD COLUMN quality_units text[],
    ADD COLUMN quality_low double precision[],
    ADD COLUMN quality_high double precision[];
-- A lookup reads every row of its keys and kind (within the box around its site): with
-- the columns it reads in the index, it does not visit the table, whose rows of one key
-- lie scattered across it. That needs the visibility map kept current: vacuumed sooner.
CREATE INDEX open_listing_keys_lookup ON open_listing_keys (key, kind, latitude, longitude)
    INCLUDE (listing_id, company_id, available_from, available_until, resource, use,
             dimension, dimensions, amount, price_ore, reach_km, co2e_any, co2e_uses,
             co2e_rates, quality_properties, quality_units, quality_low, quality_high);
DROP INDEX open_listing_keys_site;
ALTER TABLE open_listing_keys SET (
    autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_insert_scale_factor = 0.02);
