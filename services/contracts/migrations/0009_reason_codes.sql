-- Reasons in the reader's language: why a contract ended or runs again, and why an invoice
-- was credited, as a code with its parameters ({"code": ..., "params": {...}}, the catalogue
-- in shared/reasons.py) beside what a person typed (a cancellation's or a dispute's reason),
-- kept apart so that the portal says the exchange's part in the page's language and the
-- person's words as written. Rows made before keep only their English text (NULL here).
ALTER TABLE contracts
    ADD COLUMN status_reason_detail jsonb,
    ADD COLUMN status_reason_typed  text;

ALTER TABLE credit_notes
    ADD COLUMN reason_detail jsonb,
    ADD COLUMN reason_typed  text;
