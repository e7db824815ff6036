-- What the matcher checks besides the resource: windows, quality and the site.
ALTER TABLE open_listings
    ADD COLUMN available_from   date,
    ADD COLUMN available_until  date,
    ADD COLUMN quality          jsonb NOT NULL DEFAULT '[]'::jsonb,
    ADD COLUMN latitude         double precision,
    ADD COLUMN longitude        double precision;
