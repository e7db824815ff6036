-- A listing whose window ends soon is announced once (`listing.expiring`); the date it was
-- announced for is kept, so extending the window allows a new warning later.
ALTER TABLE listings ADD COLUMN expiry_warned_for date;
CREATE INDEX listings_ending ON listings (available_until) WHERE status = 'open';
