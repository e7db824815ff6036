-- The companies of the park as partners may know them (from company.changed), and
-- whether each lets partners see its prices and terms on partners.events.v1.
CREATE TABLE companies (
    company_id                 uuid PRIMARY KEY,
    name                       text NOT NULL,
    org_number                 text NOT NULL,
    share_terms_with_partners  boolean NOT NULL DEFAULT false,
    changed_at                 timestamptz NOT NULL
);
