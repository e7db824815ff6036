-- Proposals may be about a resource class (heat, process water, CO2, ...).
ALTER TABLE proposals
    ALTER COLUMN ewc_code DROP NOT NULL,
    ADD COLUMN resource_class text;
