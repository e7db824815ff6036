-- The key rows that may be traded beyond the road's 100 km (their own reach is longer, or
-- unknown), in an index of their own: a lookup whose reach is longer (a need that sets no
-- distance keeps 1,000 km) reads the rows of the usual reach within 100 km of its site from
-- open_listing_keys_lookup, and only these within its whole reach
-- (``storage._ranked_sql``, whose far part repeats this predicate word for word).
CREATE INDEX open_listing_keys_far ON open_listing_keys (key, kind, latitude)
    INCLUDE (longitude, listing_id, company_id, available_from, available_until, resource,
             use, dimension, dimensions, amount, price_ore, reach_km, co2e_any, co2e_uses,
             co2e_rates, quality_properties, quality_units, quality_low, quality_high)
    WHERE reach_km > 100 OR reach_km IS NULL;
