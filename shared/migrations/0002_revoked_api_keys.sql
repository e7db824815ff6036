-- API keys revoked by listings (api_key.revoked events); the auth middleware refuses them.
CREATE TABLE revoked_api_keys (
    key_id      uuid PRIMARY KEY,
    revoked_at  timestamptz NOT NULL
);
