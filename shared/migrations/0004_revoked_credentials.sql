-- Credentials refused before they run out (shared/revocations.py): people who were
-- disabled (every token of theirs) and single access tokens ended by signing out.
-- Revoked API keys stay in revoked_api_keys.
CREATE TABLE revoked_credentials (
    credential_id  uuid PRIMARY KEY,  -- a person's id, or an access token's id (jti)
    kind           text NOT NULL CHECK (kind IN ('person', 'access_token')),
    revoked_at     timestamptz NOT NULL,
    expires_at     timestamptz  -- after this it can be forgotten (a token's own expiry)
);
