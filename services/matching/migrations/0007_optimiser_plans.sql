-- Park-wide plans of the optimiser, and proposals that come from an accepted plan.
CREATE TABLE plans (
    id           uuid PRIMARY KEY,
    goal         jsonb NOT NULL,
    report       jsonb NOT NULL,
    created_by   uuid NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    accepted_by  uuid,
    accepted_at  timestamptz
);
CREATE INDEX plans_created ON plans (created_at DESC);

ALTER TABLE proposals
    ADD COLUMN origin  text NOT NULL DEFAULT 'matcher' CHECK (origin IN ('matcher', 'optimiser')),
    ADD COLUMN plan_id uuid REFERENCES plans (id);
-- One matcher proposal per pair; a plan may propose a pair again, under its own id.
ALTER TABLE proposals DROP CONSTRAINT proposals_offer_id_need_id_key;
CREATE UNIQUE INDEX proposals_matcher_pair ON proposals (offer_id, need_id)
    WHERE origin = 'matcher';
CREATE INDEX proposals_open_plan ON proposals (plan_id) WHERE status = 'proposed';
