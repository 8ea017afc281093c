-- API keys (issue 5): a key identifies the caller (X-MBX-APIKEY); its secret is stored sealed
-- (libsodium crypto_secretbox under the server key apikeys.key, hex of nonce || box) because the
-- server must recompute HMAC-SHA256 signatures with it. Permissions are INTEGER 0/1 flags;
-- ip_allow is a comma-separated list of client IPs ('' = any). Times are ms since the epoch.
CREATE TABLE api_keys (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL,
    api_key     TEXT NOT NULL UNIQUE,
    secret_box  TEXT NOT NULL,
    label       TEXT NOT NULL,
    can_read    INTEGER NOT NULL,
    can_trade   INTEGER NOT NULL,
    ip_allow    TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE INDEX api_keys_user ON api_keys (user_id, id);
