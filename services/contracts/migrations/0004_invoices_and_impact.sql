-- Invoices of confirmed deliveries, issued through Stripe by a worker that retries with
-- the same idempotency keys until Stripe has them.
CREATE TABLE invoices (
    id                  uuid PRIMARY KEY,
    delivery_id         uuid NOT NULL UNIQUE REFERENCES deliveries (id),
    contract_id         uuid NOT NULL REFERENCES contracts (id),
    payer_company_id    uuid NOT NULL,
    payee_company_id    uuid NOT NULL,
    description         text NOT NULL,
    quantity            numeric(18, 3) NOT NULL,
    unit                text NOT NULL,
    unit_price_ore      bigint NOT NULL CHECK (unit_price_ore > 0),
    net_ore             bigint NOT NULL,
    mva_ore             bigint NOT NULL,
    total_ore           bigint NOT NULL,
    platform_fee_ore    bigint NOT NULL,
    status              text NOT NULL DEFAULT 'queued'
                        CHECK (status IN ('queued', 'issued', 'paid', 'payment_failed', 'void')),
    attempts            int NOT NULL DEFAULT 0,
    next_attempt_at     timestamptz NOT NULL DEFAULT now(),
    last_error          text,
    stripe_invoice_id   text UNIQUE,
    created_at          timestamptz NOT NULL DEFAULT now(),
    issued_at           timestamptz,
    paid_at             timestamptz
);
CREATE INDEX invoices_due ON invoices (next_attempt_at) WHERE status = 'queued';
CREATE INDEX invoices_payer ON invoices (payer_company_id, created_at DESC);
CREATE INDEX invoices_payee ON invoices (payee_company_id, created_at DESC);

-- Each company's Stripe objects: a customer to invoice, a connected account to pay out to.
CREATE TABLE billing_accounts (
    company_id          uuid PRIMARY KEY,
    stripe_customer_id  text UNIQUE,
    stripe_account_id   text UNIQUE
);

-- Stripe webhook events applied, so a replay changes nothing.
CREATE TABLE stripe_events (
    id           text PRIMARY KEY,
    type         text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now()
);

-- The impact ledger: one row per confirmed delivery, for the park (never per party, so
-- nothing is counted twice), with the factors and their sources.
CREATE TABLE impact_entries (
    delivery_id           uuid PRIMARY KEY REFERENCES deliveries (id),
    contract_id           uuid NOT NULL REFERENCES contracts (id),
    supplier_company_id   uuid NOT NULL,
    receiver_company_id   uuid NOT NULL,
    resource              text NOT NULL,
    delivered_on          date NOT NULL,
    quantity              numeric(18, 3) NOT NULL,
    unit                  text NOT NULL,
    tonnes_diverted       numeric(18, 3),
    water_m3              numeric(18, 3),
    energy_mwh            numeric(18, 3),
    co2e_avoided_kg       numeric(18, 3),
    transport_kg_co2e     numeric(18, 3),
    amount_ore            bigint NOT NULL,
    supplier_gain_ore     bigint,
    receiver_gain_ore     bigint,
    factors               jsonb NOT NULL,
    basis                 text NOT NULL,
    recorded_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX impact_entries_day ON impact_entries (delivered_on);
