-- A company's standing with the park office (services/listings/standing.py): registered,
-- verified by a park administrator, or suspended with the reason its people are shown.
-- verified_at stays when a verified company is suspended, so that reinstating it makes it
-- verified again.
ALTER TABLE companies
    ADD COLUMN status text NOT NULL DEFAULT 'registered'
        CHECK (status IN ('registered', 'verified', 'suspended')),
    ADD COLUMN status_reason text,
    ADD COLUMN status_changed_at timestamptz,
    ADD COLUMN status_changed_by uuid,
    ADD COLUMN verified_at timestamptz;

-- When each person last signed in (the park's people page).
ALTER TABLE people ADD COLUMN last_signed_in_at timestamptz;
CREATE INDEX people_by_name ON people (lower(name), id);
