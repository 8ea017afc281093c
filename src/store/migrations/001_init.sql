-- Coinage schema v1. Amounts are integers in minor units (see config/markets.json scales);
-- times are ms since the Unix epoch (UTC).
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'trader', 'viewer', 'house')),
    created_at    INTEGER NOT NULL
);

CREATE TABLE refresh_tokens (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL,
    family     TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    revoked_at INTEGER
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family);

-- total = sum of the account's postings; held = what open orders reserve; available = total - held.
CREATE TABLE balances (
    user_id INTEGER NOT NULL,
    asset   TEXT NOT NULL,
    total   INTEGER NOT NULL,
    held    INTEGER NOT NULL,
    PRIMARY KEY (user_id, asset)
);

CREATE TABLE journal_entries (
    id      INTEGER PRIMARY KEY,
    kind    TEXT NOT NULL,
    ref_id  INTEGER NOT NULL,
    ts      INTEGER NOT NULL
);

CREATE TABLE postings (
    entry_id INTEGER NOT NULL,
    user_id  INTEGER NOT NULL,
    asset    TEXT NOT NULL,
    amount   INTEGER NOT NULL
);
CREATE INDEX postings_user ON postings (user_id, entry_id);
CREATE INDEX postings_entry ON postings (entry_id);

CREATE TABLE orders (
    id              INTEGER PRIMARY KEY,
    user_id         INTEGER NOT NULL,
    market          TEXT NOT NULL,
    side            TEXT NOT NULL,
    type            TEXT NOT NULL,
    time_in_force   TEXT NOT NULL,
    status          TEXT NOT NULL,
    reason          TEXT,
    price           INTEGER NOT NULL,
    quantity        INTEGER NOT NULL,
    filled          INTEGER NOT NULL,
    quote_filled    INTEGER NOT NULL,
    fee_total       INTEGER NOT NULL,
    hold            INTEGER NOT NULL,
    seq             INTEGER NOT NULL,
    client_order_id TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX orders_user ON orders (user_id, id);
CREATE INDEX orders_open ON orders (status) WHERE status IN ('new', 'partially_filled');

CREATE TABLE fills (
    id             INTEGER PRIMARY KEY,
    market         TEXT NOT NULL,
    price          INTEGER NOT NULL,
    quantity       INTEGER NOT NULL,
    quote_quantity INTEGER NOT NULL,
    taker_side     TEXT NOT NULL,
    taker_order_id INTEGER NOT NULL,
    maker_order_id INTEGER NOT NULL,
    taker_user_id  INTEGER NOT NULL,
    maker_user_id  INTEGER NOT NULL,
    taker_fee      INTEGER NOT NULL,
    maker_fee      INTEGER NOT NULL,
    ts             INTEGER NOT NULL
);
CREATE INDEX fills_taker ON fills (taker_user_id, id);
CREATE INDEX fills_maker ON fills (maker_user_id, id);
CREATE INDEX fills_market ON fills (market, id);

CREATE TABLE candles (
    market       TEXT NOT NULL,
    interval     TEXT NOT NULL,
    open_time    INTEGER NOT NULL,
    open         INTEGER NOT NULL,
    high         INTEGER NOT NULL,
    low          INTEGER NOT NULL,
    close        INTEGER NOT NULL,
    volume       INTEGER NOT NULL,
    quote_volume INTEGER NOT NULL,
    source       TEXT NOT NULL,
    PRIMARY KEY (market, interval, open_time)
);

CREATE TABLE idempotency (
    user_id      INTEGER NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       INTEGER NOT NULL,
    response     TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (user_id, key)
);

CREATE TABLE history_imports (
    market   TEXT NOT NULL,
    interval TEXT NOT NULL,
    path     TEXT NOT NULL,
    rows     INTEGER NOT NULL,
    first_ms INTEGER NOT NULL,
    last_ms  INTEGER NOT NULL,
    PRIMARY KEY (market, interval)
);
