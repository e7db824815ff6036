-- Each person reads the exchange, and its e-mails, in Norwegian bokmål or English.
ALTER TABLE people
    ADD COLUMN language text NOT NULL DEFAULT 'nb' CHECK (language IN ('nb', 'en'));
