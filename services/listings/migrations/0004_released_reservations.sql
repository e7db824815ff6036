-- A cancelled contract gives back what it did not take.
ALTER TABLE reservations ADD COLUMN released_quantity numeric(18, 3) NOT NULL DEFAULT 0;
