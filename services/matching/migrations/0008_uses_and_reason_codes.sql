-- Needs may accept several resources or name a use; listings say how they move and how
-- far they may go. Counterparts are found by index keys (knowledge.offer_keys and
-- need_keys) that an offer and a need share when they could match; keys_version names the
-- knowledge base the keys were computed from, so a new knowledge base re-keys the index.
ALTER TABLE open_listings
    ADD COLUMN accepts text[] NOT NULL DEFAULT '{}',
    ADD COLUMN use text,
    ADD COLUMN transport_mode text,
    ADD COLUMN max_distance_km double precision,
    ADD COLUMN keys text[] NOT NULL DEFAULT '{}',
    ADD COLUMN keys_version text NOT NULL DEFAULT '';
UPDATE open_listings SET keys = ARRAY[resource];
CREATE INDEX open_listings_keys ON open_listings USING gin (keys);
CREATE INDEX open_listings_keys_version ON open_listings (keys_version);

-- A proposal's reasons as codes with parameters, beside the English sentences.
ALTER TABLE proposals ADD COLUMN reason_details jsonb NOT NULL DEFAULT '[]';
