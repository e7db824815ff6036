-- Whom to e-mail: the people of each company, from listings.events.v1 (person.changed).
CREATE TABLE people (
    person_id   uuid PRIMARY KEY,
    company_id  uuid,
    email       text NOT NULL,
    name        text NOT NULL,
    language    text NOT NULL CHECK (language IN ('nb', 'en')),
    role        text NOT NULL,
    status      text NOT NULL CHECK (status IN ('invited', 'active', 'disabled')),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX people_active ON people (company_id) WHERE status = 'active';

-- Which event types reach a person by e-mail: the person's own choice, else the company's
-- default, else yes. A person may ask for one daily digest instead of single e-mails.
CREATE TABLE person_email_preferences (
    person_id   uuid NOT NULL,
    event_type  text NOT NULL,
    enabled     boolean NOT NULL,
    PRIMARY KEY (person_id, event_type)
);
CREATE TABLE company_email_preferences (
    company_id  uuid NOT NULL,
    event_type  text NOT NULL,
    enabled     boolean NOT NULL,
    PRIMARY KEY (company_id, event_type)
);
CREATE TABLE email_digests (
    person_id   uuid PRIMARY KEY,
    daily       boolean NOT NULL
);

-- One e-mail per event and person, whatever is redelivered; sent by a worker.
CREATE TABLE emails (
    id               uuid PRIMARY KEY,
    event_id         uuid NOT NULL,
    event_type       text NOT NULL,
    person_id        uuid NOT NULL,
    company_id       uuid NOT NULL,
    to_address       text NOT NULL,
    language         text NOT NULL,
    subject          text NOT NULL,
    body             text NOT NULL,
    status           text NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'digest', 'sent', 'failed')),
    attempts         int NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz,
    UNIQUE (event_id, person_id)
);
CREATE INDEX emails_due ON emails (next_attempt_at) WHERE status = 'queued';
CREATE INDEX emails_digest ON emails (person_id, created_at) WHERE status = 'digest';
