-- Counterparts are looked up by resource, kind and a bounding box around the site.
CREATE INDEX open_listings_resource_kind_site
    ON open_listings (resource, kind, latitude, longitude);
DROP INDEX open_listings_resource_kind;
