-- Whether each company shares its prices and terms with partners (from company.changed),
-- as contracts knows it, to say so in contract.agreed: the partner feed reads that event and
-- company.changed on different partitions, and would otherwise go by whichever it read first.
CREATE TABLE partner_sharing (
    company_id                 uuid PRIMARY KEY,
    share_terms_with_partners  boolean NOT NULL,
    changed_at                 timestamptz NOT NULL
);
