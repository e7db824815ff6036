-- Stripe's ids are unique at Stripe, but stripe-mock answers every create with the same
-- fixture id; our own keys (invoice id, company id) identify the rows, and webhooks find
-- an invoice by its metadata first. Keep the ids indexed, not unique.
ALTER TABLE invoices DROP CONSTRAINT invoices_stripe_invoice_id_key;
CREATE INDEX invoices_stripe_invoice ON invoices (stripe_invoice_id);
ALTER TABLE billing_accounts DROP CONSTRAINT billing_accounts_stripe_customer_id_key;
ALTER TABLE billing_accounts DROP CONSTRAINT billing_accounts_stripe_account_id_key;
