-- A need may accept several resources or name a use (then it may name no resource); a
-- listing says how it moves and how far it may go.
ALTER TABLE listings
    ADD COLUMN accepts         text[] NOT NULL DEFAULT '{}',
    ADD COLUMN use             text,
    ADD COLUMN transport_mode  text CHECK (transport_mode IN ('road', 'pipe', 'ship', 'rail')),
    ADD COLUMN max_distance_km double precision CHECK (max_distance_km > 0),
    DROP CONSTRAINT listings_one_resource,
    ADD CONSTRAINT listings_one_resource CHECK (
        (ewc_code IS NULL AND resource_class IS NULL AND use IS NOT NULL AND kind = 'need')
        OR ((ewc_code IS NULL) <> (resource_class IS NULL))
    );
CREATE INDEX listings_use ON listings (status, use, created_at DESC, id) WHERE use IS NOT NULL;
