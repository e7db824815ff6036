-- Stripe objects the exchange creates once and reuses on every invoice, by our name for
-- them ('mva25': the 25 % MVA tax rate).
CREATE TABLE stripe_tax_rates (
    name                text PRIMARY KEY,
    stripe_tax_rate_id  text NOT NULL UNIQUE,
    created_at          timestamptz NOT NULL DEFAULT now()
);
