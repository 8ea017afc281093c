-- Watchlists (issue 6): a user's named lists of markets. `markets` holds the market names in the
-- user's order, comma-separated ("BTC-USDT,ETH-USDT"); names never contain a comma.
CREATE TABLE watchlists (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL,
    name       TEXT NOT NULL,
    markets    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX watchlists_user ON watchlists (user_id, id);
