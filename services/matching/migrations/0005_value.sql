-- Prices for the value of a proposal, and the value itself.
ALTER TABLE open_listings ADD COLUMN price_per_unit_ore bigint;
ALTER TABLE proposals ADD COLUMN value jsonb;
