-- A company's permit to receive hazardous waste, as it states it, and whether a park
-- administrator has verified it (services/listings/accounts.py). Needs for hazardous List
-- of Waste codes require a verified permit that covers the code and has not run out.
CREATE TABLE permits (
    company_id       uuid PRIMARY KEY REFERENCES companies (id),
    number           text NOT NULL,
    authority        text NOT NULL,
    valid_until      date NOT NULL,
    waste_codes      char(6)[] NOT NULL,
    status           text NOT NULL DEFAULT 'stated'
                     CHECK (status IN ('stated', 'verified', 'rejected')),
    stated_at        timestamptz NOT NULL DEFAULT now(),
    stated_by        uuid,
    reviewed_at      timestamptz,
    reviewed_by      uuid,
    rejection_reason text
);
CREATE INDEX permits_to_review ON permits (stated_at) WHERE status = 'stated';

-- The codes companies declared before were never checked: they are not carried over, and
-- a company states its permit again to have it verified.
ALTER TABLE companies DROP COLUMN permits;
