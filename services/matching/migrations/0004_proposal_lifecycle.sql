-- A proposal is open until a change to either listing makes it no longer hold, or until
-- it expires unanswered.
ALTER TABLE proposals
    ADD COLUMN status        text NOT NULL DEFAULT 'proposed'
                             CHECK (status IN ('proposed', 'retracted', 'expired')),
    ADD COLUMN retracted_at  timestamptz,
    ADD COLUMN retract_reason text;
CREATE INDEX proposals_offer_open ON proposals (offer_id) WHERE status = 'proposed';
CREATE INDEX proposals_need_open ON proposals (need_id) WHERE status = 'proposed';
CREATE INDEX proposals_open_age ON proposals (created_at) WHERE status = 'proposed';
