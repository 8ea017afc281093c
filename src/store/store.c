#include "store/store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"

#define STORE_MAX_PENDING 8

struct store {
    struct db *db;
    const struct config *cfg;
    struct store_hooks hooks;
    pthread_mutex_t mu;
    pthread_cond_t cv;    /* batches queued / stop */
    pthread_cond_t space; /* room in the queue */
    struct batch **q;
    size_t head, n;
    bool running, started;
    long fail_after; /* test hook: commits left before an injected failure; -1 = never */
    volatile bool failed;
    pthread_t thread;
};

const char *store_side_name(int side)
{
    return side == SIDE_BUY ? "buy" : "sell";
}

static const char *const type_names[] = {"limit",           "market",      "stop_loss",
                                         "stop_loss_limit", "take_profit", "take_profit_limit"};
static const char *const stp_names[] = {"expire_maker", "expire_taker", "expire_both"};

const char *store_type_name(int type)
{
    return (type >= 0 && type <= ORDER_TAKE_PROFIT_LIMIT) ? type_names[type] : "limit";
}

const char *store_stp_name(int stp)
{
    return (stp >= 0 && stp <= STP_EXPIRE_BOTH) ? stp_names[stp] : "expire_maker";
}

int store_stp_parse(const char *s)
{
    for (int i = 0; s && i <= STP_EXPIRE_BOTH; i++)
        if (!strcmp(s, stp_names[i]))
            return i;
    return -1;
}

const char *store_tif_name(int tif)
{
    return tif == TIF_IOC ? "ioc" : tif == TIF_FOK ? "fok" : "gtc";
}

int store_side_parse(const char *s)
{
    return !s ? -1 : !strcmp(s, "buy") ? SIDE_BUY : !strcmp(s, "sell") ? SIDE_SELL : -1;
}

int store_type_parse(const char *s)
{
    for (int i = 0; s && i <= ORDER_TAKE_PROFIT_LIMIT; i++)
        if (!strcmp(s, type_names[i]))
            return i;
    return -1;
}

int store_tif_parse(const char *s)
{
    if (!s)
        return -1;
    if (!strcmp(s, "gtc"))
        return TIF_GTC;
    if (!strcmp(s, "ioc"))
        return TIF_IOC;
    if (!strcmp(s, "fok"))
        return TIF_FOK;
    return -1;
}

int store_status_parse(const char *s)
{
    for (int i = 0; i <= ORDER_EXPIRED; i++)
        if (s && !strcmp(s, order_status_name(i)))
            return i;
    return -1;
}

const char *entry_kind_name(int kind)
{
    switch (kind) {
    case ENTRY_DEPOSIT:
        return "deposit";
    case ENTRY_WITHDRAWAL:
        return "withdrawal";
    case ENTRY_TRADE:
        return "trade";
    case ENTRY_HOUSE_FUNDING:
        return "house_funding";
    }
    return "unknown";
}

struct store *store_new(struct db *db, const struct config *cfg, struct store_hooks hooks)
{
    struct store *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->q = calloc(STORE_MAX_PENDING, sizeof(*s->q));
    if (!s->q) {
        free(s);
        return NULL;
    }
    /* Fail-stop: a writer that lost its connection must not carry on with a new one. Whether
     * the batch in flight committed is known only after a restart's recovery, and later batches
     * were built by an engine that ran ahead of the failed one. */
    db_set_reconnect(db, false);
    s->db = db;
    s->cfg = cfg;
    s->fail_after = -1;
    s->hooks = hooks;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_cond_init(&s->space, NULL);
    return s;
}

void store_free(struct store *s)
{
    if (!s)
        return;
    store_stop(s);
    free(s->q);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    pthread_cond_destroy(&s->space);
    free(s);
}

bool store_failed(const struct store *s)
{
    return s->failed;
}

void store_fail_after(struct store *s, long commits)
{
    s->fail_after = commits;
}

static const int64_t candle_ms[] = {60000, 300000, 900000, 3600000, 14400000, 86400000};
static const char *const candle_names[] = {"1m", "5m", "15m", "1h", "4h", "1d"};

static enum cg_err write_fill(struct store *s, const struct fill *f)
{
    static const char *sql_fill =
        "INSERT INTO fills (id, market, price, quantity, quote_quantity, taker_side, "
        "taker_order_id, maker_order_id, taker_user_id, maker_user_id, taker_fee, maker_fee, ts) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)";
    static const char *sql_candle =
        "INSERT INTO candles (market, interval, open_time, open, high, low, close, volume, "
        "quote_volume, source) VALUES (?,?,?,?,?,?,?,?,?,'coinage') "
        "ON CONFLICT (market, interval, open_time) DO UPDATE SET high = CASE WHEN excluded.high > "
        "candles.high THEN excluded.high ELSE candles.high END, low = CASE WHEN excluded.low < "
        "candles.low THEN excluded.low ELSE candles.low END, close = excluded.close, "
        "volume = candles.volume + excluded.volume, "
        "quote_volume = candles.quote_volume + excluded.quote_volume";
    const char *market = s->cfg->markets[f->market].name;
    struct db_stmt *st = db_prepare(s->db, sql_fill);
    if (!st)
        return CG_ESTORE;
    db_bind_int64(st, 1, (int64_t)f->id);
    db_bind_text(st, 2, market);
    db_bind_int64(st, 3, f->price);
    db_bind_int64(st, 4, f->quantity);
    db_bind_int64(st, 5, f->quote_quantity);
    db_bind_text(st, 6, store_side_name(f->taker_side));
    db_bind_int64(st, 7, (int64_t)f->taker_order_id);
    db_bind_int64(st, 8, (int64_t)f->maker_order_id);
    db_bind_int64(st, 9, (int64_t)f->taker_user_id);
    db_bind_int64(st, 10, (int64_t)f->maker_user_id);
    db_bind_int64(st, 11, f->taker_fee);
    db_bind_int64(st, 12, f->maker_fee);
    db_bind_int64(st, 13, f->ts);
    if (db_step(st) != DB_DONE)
        return CG_ESTORE;
    for (size_t i = 0; i < sizeof(candle_ms) / sizeof(candle_ms[0]); i++) {
        st = db_prepare(s->db, sql_candle);
        if (!st)
            return CG_ESTORE;
        db_bind_text(st, 1, market);
        db_bind_text(st, 2, candle_names[i]);
        db_bind_int64(st, 3, f->ts - f->ts % candle_ms[i]);
        db_bind_int64(st, 4, f->price);
        db_bind_int64(st, 5, f->price);
        db_bind_int64(st, 6, f->price);
        db_bind_int64(st, 7, f->price);
        db_bind_int64(st, 8, f->quantity);
        db_bind_int64(st, 9, f->quote_quantity);
        if (db_step(st) != DB_DONE)
            return CG_ESTORE;
    }
    return CG_OK;
}

static enum cg_err write_order(struct store *s, const struct order *o)
{
    static const char *sql =
        "INSERT INTO orders (id, user_id, market, side, type, time_in_force, status, "
        "reason, price, quantity, filled, quote_filled, fee_total, hold, seq, client_order_id, "
        "created_at, updated_at, stop_price, quote_quantity, post_only, stp, triggered) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (id) DO UPDATE SET "
        "user_id = excluded.user_id, market = excluded.market, side = excluded.side, "
        "type = excluded.type, time_in_force = excluded.time_in_force, status = excluded.status, "
        "reason = excluded.reason, price = excluded.price, quantity = excluded.quantity, "
        "filled = excluded.filled, quote_filled = excluded.quote_filled, "
        "fee_total = excluded.fee_total, hold = excluded.hold, seq = excluded.seq, "
        "client_order_id = excluded.client_order_id, created_at = excluded.created_at, "
        "updated_at = excluded.updated_at, stop_price = excluded.stop_price, "
        "quote_quantity = excluded.quote_quantity, post_only = excluded.post_only, "
        "stp = excluded.stp, triggered = excluded.triggered";
    struct db_stmt *st = db_prepare(s->db, sql);
    if (!st)
        return CG_ESTORE;
    db_bind_int64(st, 1, (int64_t)o->id);
    db_bind_int64(st, 2, (int64_t)o->user_id);
    db_bind_text(st, 3, s->cfg->markets[o->market].name);
    db_bind_text(st, 4, store_side_name(o->side));
    db_bind_text(st, 5, store_type_name(o->type));
    db_bind_text(st, 6, store_tif_name(o->tif));
    db_bind_text(st, 7, order_status_name(o->status));
    db_bind_text(st, 8, order_reason_name(o->reason));
    db_bind_int64(st, 9, o->price);
    db_bind_int64(st, 10, o->quantity);
    db_bind_int64(st, 11, o->filled);
    db_bind_int64(st, 12, o->quote_filled);
    db_bind_int64(st, 13, o->fee_total);
    db_bind_int64(st, 14, o->hold);
    db_bind_int64(st, 15, (int64_t)o->seq);
    db_bind_text(st, 16, o->client_order_id[0] ? o->client_order_id : NULL);
    db_bind_int64(st, 17, o->created_at);
    db_bind_int64(st, 18, o->updated_at);
    db_bind_int64(st, 19, o->stop_price);
    db_bind_int64(st, 20, o->quote_quantity);
    db_bind_int64(st, 21, o->post_only);
    db_bind_text(st, 22, store_stp_name(o->stp));
    db_bind_int64(st, 23, o->triggered);
    return db_step(st) == DB_DONE ? CG_OK : CG_ESTORE;
}

static enum cg_err write_entry(struct store *s, const struct journal_entry *je)
{
    static const char *sql_e =
        "INSERT INTO journal_entries (id, kind, ref_id, ts) VALUES (?,?,?,?)";
    static const char *sql_p =
        "INSERT INTO postings (entry_id, user_id, asset, amount) VALUES (?,?,?,?)";
    struct db_stmt *st = db_prepare(s->db, sql_e);
    if (!st)
        return CG_ESTORE;
    db_bind_int64(st, 1, (int64_t)je->id);
    db_bind_text(st, 2, entry_kind_name(je->kind));
    db_bind_int64(st, 3, (int64_t)je->ref_id);
    db_bind_int64(st, 4, je->ts);
    if (db_step(st) != DB_DONE)
        return CG_ESTORE;
    for (uint32_t i = 0; i < je->n; i++) {
        st = db_prepare(s->db, sql_p);
        if (!st)
            return CG_ESTORE;
        db_bind_int64(st, 1, (int64_t)je->id);
        db_bind_int64(st, 2, (int64_t)je->p[i].user_id);
        db_bind_text(st, 3, s->cfg->assets[je->p[i].asset].symbol);
        db_bind_int64(st, 4, je->p[i].amount);
        if (db_step(st) != DB_DONE)
            return CG_ESTORE;
    }
    return CG_OK;
}

static enum cg_err write_meta(struct store *s, const char *key, uint64_t v)
{
    static const char *sql =
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET "
        "value = excluded.value";
    struct db_stmt *st = db_prepare(s->db, sql);
    if (!st)
        return CG_ESTORE;
    db_bind_text(st, 1, key);
    db_bind_int64(st, 2, (int64_t)v);
    return db_step(st) == DB_DONE ? CG_OK : CG_ESTORE;
}

static bool batch_has_writes(const struct batch *b)
{
    if (b->orders.n || b->fills.n || b->entries.n || b->balances.n)
        return true;
    for (size_t i = 0; i < b->results.n; i++)
        if (b->results.v[i].idem_key[0])
            return true;
    return false;
}

static enum cg_err write_batch(struct store *s, struct batch *b)
{
    static const char *sql_bal =
        "INSERT INTO balances (user_id, asset, total, held) VALUES (?,?,?,?) ON CONFLICT "
        "(user_id, asset) DO UPDATE SET total = excluded.total, held = excluded.held";
    static const char *sql_idem =
        "INSERT INTO idempotency (user_id, key, request_hash, status, response, "
        "created_at) VALUES (?,?,?,?,?,?) ON CONFLICT (user_id, key) DO NOTHING";
    struct db_stmt *st;

    for (size_t i = 0; i < b->entries.n; i++)
        if (write_entry(s, &b->entries.v[i]) != CG_OK)
            return CG_ESTORE;
    for (size_t i = 0; i < b->fills.n; i++)
        if (write_fill(s, &b->fills.v[i]) != CG_OK)
            return CG_ESTORE;
    for (size_t i = 0; i < b->orders.n; i++)
        if (write_order(s, &b->orders.v[i]) != CG_OK)
            return CG_ESTORE;
    for (size_t i = 0; i < b->balances.n; i++) {
        const struct balance_change *c = &b->balances.v[i];
        st = db_prepare(s->db, sql_bal);
        if (!st)
            return CG_ESTORE;
        db_bind_int64(st, 1, (int64_t)c->user_id);
        db_bind_text(st, 2, s->cfg->assets[c->asset].symbol);
        db_bind_int64(st, 3, c->total);
        db_bind_int64(st, 4, c->held);
        if (db_step(st) != DB_DONE)
            return CG_ESTORE;
    }
    for (size_t i = 0; i < b->results.n; i++) {
        const struct cmd_result *r = &b->results.v[i];
        if (!r->idem_key[0] || !b->bodies || b->statuses[i] >= 500)
            continue;
        st = db_prepare(s->db, sql_idem);
        if (!st)
            return CG_ESTORE;
        db_bind_int64(st, 1, (int64_t)r->user_id);
        db_bind_text(st, 2, r->idem_key);
        db_bind_text(st, 3, r->idem_hash);
        db_bind_int64(st, 4, b->statuses[i]);
        db_bind_text(st, 5, b->bodies[i] ? b->bodies[i] : "{}");
        db_bind_int64(st, 6, r->ts);
        if (db_step(st) != DB_DONE)
            return CG_ESTORE;
    }
    if (write_meta(s, "next_order_id", b->next_order_id) != CG_OK ||
        write_meta(s, "next_fill_id", b->next_fill_id) != CG_OK ||
        write_meta(s, "next_entry_id", b->next_entry_id) != CG_OK ||
        write_meta(s, "next_seq", b->next_seq) != CG_OK ||
        write_meta(s, "persisted_hash", (int64_t)b->persisted_hash) != CG_OK)
        return CG_ESTORE;
    return CG_OK;
}

static bool commit_batch(struct store *s, struct batch *b)
{
    if (s->failed)
        return false;
    if (!batch_has_writes(b))
        return true;
    if (s->fail_after >= 0 && b->results.n > 0 && s->fail_after-- == 0) {
        log_error("store: injected commit failure (COINAGE_TEST_FAIL_COMMIT_AFTER); refusing "
                  "writes from now on");
        s->failed = true;
        return false;
    }
    if (db_begin_batch(s->db) != CG_OK)
        goto fail;
    if (write_batch(s, b) != CG_OK) {
        db_rollback(s->db);
        goto fail;
    }
    if (db_commit(s->db) != CG_OK) {
        db_rollback(s->db);
        goto fail;
    }
    return true;
fail:
    log_error("store: commit of batch %llu failed; refusing writes until restart",
              (unsigned long long)b->id);
    s->failed = true;
    return false;
}

static void *store_main(void *arg)
{
    struct store *s = arg;
    for (;;) {
        struct batch *b;
        bool ok;
        pthread_mutex_lock(&s->mu);
        while (s->n == 0 && s->running)
            pthread_cond_wait(&s->cv, &s->mu);
        if (s->n == 0) {
            pthread_mutex_unlock(&s->mu);
            break;
        }
        b = s->q[s->head];
        s->head = (s->head + 1) % STORE_MAX_PENDING;
        s->n--;
        pthread_cond_signal(&s->space);
        pthread_mutex_unlock(&s->mu);

        if (s->hooks.render)
            s->hooks.render(b, s->hooks.ctx);
        ok = commit_batch(s, b);
        s->hooks.committed(b, ok, s->hooks.ctx);
    }
    return NULL;
}

enum cg_err store_start(struct store *s)
{
    s->running = true;
    if (pthread_create(&s->thread, NULL, store_main, s) != 0) {
        s->running = false;
        return CG_EINTERNAL;
    }
    s->started = true;
    return CG_OK;
}

void store_stop(struct store *s)
{
    if (!s->started)
        return;
    pthread_mutex_lock(&s->mu);
    s->running = false;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    s->started = false;
}

void store_submit(struct store *s, struct batch *b)
{
    pthread_mutex_lock(&s->mu);
    while (s->n == STORE_MAX_PENDING)
        pthread_cond_wait(&s->space, &s->mu);
    s->q[(s->head + s->n) % STORE_MAX_PENDING] = b;
    s->n++;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void store_emit(struct batch *b, void *ctx)
{
    store_submit(ctx, b);
}

/* ---- recovery ---- */

static int64_t meta_get(struct db *db, const char *key, int64_t dflt)
{
    static const char *sql = "SELECT value FROM meta WHERE key = ?";
    struct db_stmt *st = db_prepare(db, sql);
    int64_t v = dflt;
    if (!st)
        return dflt;
    db_bind_text(st, 1, key);
    if (db_step(st) == DB_ROW)
        v = db_col_int64(st, 0);
    db_reset(st);
    return v;
}

bool store_check_ledger(struct db *db, char *msg, size_t msglen)
{
    static const char *sql_sum =
        "SELECT asset, SUM(amount) FROM postings GROUP BY asset HAVING SUM(amount) != 0";
    static const char *sql_bal =
        "SELECT b.user_id, b.asset, b.total, COALESCE(p.s, 0) FROM balances b LEFT JOIN "
        "(SELECT user_id, asset, SUM(amount) AS s FROM postings GROUP BY user_id, asset) p "
        "ON p.user_id = b.user_id AND p.asset = b.asset WHERE b.total != COALESCE(p.s, 0) "
        "OR (b.user_id != 1 AND (b.total < 0 OR b.held < 0 OR b.held > b.total))";
    struct db_stmt *st = db_prepare(db, sql_sum);
    bool ok = true;
    if (!st) {
        snprintf(msg, msglen, "store: cannot query postings");
        return false;
    }
    if (db_step(st) == DB_ROW) {
        snprintf(msg, msglen, "postings of %s sum to %lld, not zero", db_col_text(st, 0),
                 (long long)db_col_int64(st, 1));
        ok = false;
    }
    db_reset(st);
    if (!ok)
        return false;
    st = db_prepare(db, sql_bal);
    if (!st) {
        snprintf(msg, msglen, "store: cannot query balances");
        return false;
    }
    if (db_step(st) == DB_ROW) {
        snprintf(msg, msglen, "balance of user %lld in %s is %lld but its postings sum to %lld",
                 (long long)db_col_int64(st, 0), db_col_text(st, 1), (long long)db_col_int64(st, 2),
                 (long long)db_col_int64(st, 3));
        ok = false;
    }
    db_reset(st);
    return ok;
}

/* The book key of a resting order: its stop price while untriggered, else its price, negated for
 * sells, so that ascending order is worst level first on both sides. */
static int64_t restore_level(const struct order *o)
{
    if (o->stop_price > 0 && !o->triggered)
        return o->stop_price;
    return o->side == SIDE_BUY ? o->price : -o->price;
}

/* Recovery order: market, side, level (worst first), seq (time priority within the level). */
static int cmp_restore_order(const void *pa, const void *pb)
{
    const struct order *a = pa, *b = pb;
    int64_t la = restore_level(a), lb = restore_level(b);
    if (a->market != b->market)
        return a->market < b->market ? -1 : 1;
    if (a->side != b->side)
        return a->side < b->side ? -1 : 1;
    if (la != lb)
        return la < lb ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

enum cg_err store_recover(struct db *db, const struct config *cfg, struct engine *e, char *msg,
                          size_t msglen)
{
    static const char *sql_bal = "SELECT user_id, asset, total, held FROM balances";
    static const char *sql_sum =
        "SELECT asset, SUM(total) FROM balances GROUP BY asset HAVING SUM(total) != 0";
    static const char *sql_orders =
        "SELECT id, user_id, market, side, type, time_in_force, status, price, quantity, filled, "
        "quote_filled, fee_total, hold, seq, client_order_id, created_at, updated_at, stop_price, "
        "quote_quantity, post_only, stp, triggered FROM orders "
        "WHERE status IN ('new', 'partially_filled')";
    /* one index probe per market (fills_market), not a pass over every fill */
    static const char *sql_last =
        "SELECT price FROM fills WHERE market = ? ORDER BY id DESC LIMIT 1";
    struct ledger *lg = engine_ledger(e);
    struct db_stmt *st;
    struct order *open = NULL;
    size_t n_orders = 0;
    size_t cap = 0;
    enum db_step rc;

    int64_t t0 = clock_mono_ms();
    int64_t t_bal, t_orders;
    engine_set_ids(
        e, (uint64_t)meta_get(db, "next_order_id", 1), (uint64_t)meta_get(db, "next_fill_id", 1),
        (uint64_t)meta_get(db, "next_entry_id", 1), (uint64_t)meta_get(db, "next_seq", 1));
    /* The start-up check reads the balances (the ledger's accounts), not every posting, so a
     * restart stays fast with millions of postings: every asset's accounts sum to zero and no
     * user account is negative or over-held (engine_check below adds holds == open orders).
     * The full audit, balances == the sum of their postings, is `coinage check` and
     * GET /api/v1/admin/invariants (store_check_ledger). */
    st = db_prepare(db, sql_sum);
    if (!st)
        return CG_ESTORE;
    if (db_step(st) == DB_ROW) {
        snprintf(msg, msglen, "the accounts of %s sum to %lld, not zero", db_col_text(st, 0),
                 (long long)db_col_int64(st, 1));
        db_reset(st);
        return CG_ESTORE;
    }
    db_reset(st);
    st = db_prepare(db, sql_bal);
    if (!st)
        return CG_ESTORE;
    while ((rc = db_step(st)) == DB_ROW) {
        uint64_t uid = (uint64_t)db_col_int64(st, 0);
        int asset = config_asset_index(cfg, db_col_text(st, 1));
        int64_t held = db_col_int64(st, 3);
        if (asset < 0) {
            snprintf(msg, msglen, "store has asset %s that the config does not list",
                     db_col_text(st, 1));
            db_reset(st);
            return CG_ESTORE;
        }
        /* The house's quotes are not persisted: their holds go back to available. */
        if (uid == LEDGER_HOUSE_LP_ID)
            held = 0;
        if (ledger_restore(lg, uid, (uint32_t)asset, db_col_int64(st, 2), held) != CG_OK) {
            db_reset(st);
            return CG_ENOMEM;
        }
    }
    db_reset(st);
    if (rc == DB_ERROR)
        return CG_ESTORE;
    t_bal = clock_mono_ms();
    st = db_prepare(db, sql_orders);
    if (!st)
        return CG_ESTORE;
    while ((rc = db_step(st)) == DB_ROW) {
        struct order o;
        int market = config_market_index(cfg, db_col_text(st, 2));
        const char *coid = db_col_text(st, 14);
        memset(&o, 0, sizeof(o));
        if (market < 0) {
            snprintf(msg, msglen, "open order %lld is in unknown market %s",
                     (long long)db_col_int64(st, 0), db_col_text(st, 2));
            db_reset(st);
            free(open);
            return CG_ESTORE;
        }
        o.id = (uint64_t)db_col_int64(st, 0);
        o.user_id = (uint64_t)db_col_int64(st, 1);
        o.market = (uint32_t)market;
        o.side = (uint8_t)store_side_parse(db_col_text(st, 3));
        o.type = (uint8_t)store_type_parse(db_col_text(st, 4));
        o.tif = (uint8_t)store_tif_parse(db_col_text(st, 5));
        o.status = (uint8_t)store_status_parse(db_col_text(st, 6));
        o.price = db_col_int64(st, 7);
        o.quantity = db_col_int64(st, 8);
        o.filled = db_col_int64(st, 9);
        o.remaining = o.quantity - o.filled;
        o.quote_filled = db_col_int64(st, 10);
        o.fee_total = db_col_int64(st, 11);
        o.hold = db_col_int64(st, 12);
        o.seq = (uint64_t)db_col_int64(st, 13);
        if (coid)
            snprintf(o.client_order_id, sizeof(o.client_order_id), "%s", coid);
        o.created_at = db_col_int64(st, 15);
        o.updated_at = db_col_int64(st, 16);
        o.stop_price = db_col_int64(st, 17);
        o.quote_quantity = db_col_int64(st, 18);
        o.post_only = (uint8_t)db_col_int64(st, 19);
        o.stp = (uint8_t)(store_stp_parse(db_col_text(st, 20)) < 0
                              ? 0
                              : store_stp_parse(db_col_text(st, 20)));
        o.triggered = (uint8_t)db_col_int64(st, 21);
        if (n_orders == cap) {
            struct order *nv;
            cap = cap ? cap * 2 : 1024;
            nv = realloc(open, cap * sizeof(*open));
            if (!nv) {
                db_reset(st);
                free(open);
                return CG_ENOMEM;
            }
            open = nv;
        }
        open[n_orders++] = o;
    }
    db_reset(st);
    if (rc == DB_ERROR) {
        free(open);
        return CG_ESTORE;
    }
    /* Grouped by level, each level in seq order (its time priority); levels from the worst
     * price to the best, so that book.c appends each new level at the best end of its sorted
     * array instead of moving the others (a restart with 100k open orders). Sorted here, not by
     * the store: an ORDER BY on this expression is a sort the store cannot take from an index,
     * and PostgreSQL spilled it to disk at the default work_mem (0.9 s of 1.4 s for 100k). */
    if (n_orders)
        qsort(open, n_orders, sizeof(*open), cmp_restore_order);
    for (size_t i = 0; i < n_orders; i++) {
        if (engine_restore_order(e, &open[i]) != CG_OK) {
            snprintf(msg, msglen, "cannot restore open order %llu", (unsigned long long)open[i].id);
            free(open);
            return CG_ESTORE;
        }
    }
    free(open);
    t_orders = clock_mono_ms();
    for (uint32_t m = 0; m < cfg->n_markets; m++) {
        st = db_prepare(db, sql_last);
        if (!st)
            return CG_ESTORE;
        db_bind_text(st, 1, cfg->markets[m].name);
        if (db_step(st) == DB_ROW)
            engine_set_last_price(e, m, db_col_int64(st, 0));
        db_reset(st);
    }
    if (!engine_check(e, msg, msglen))
        return CG_ESTORE;
    {
        /* with engine_hash_every_batch on, every batch committed its engine's hash */
        uint64_t want = (uint64_t)meta_get(db, "persisted_hash", 0);
        uint64_t got = want ? engine_persisted_hash(e) : 0;
        if (want && got != want) {
            snprintf(msg, msglen,
                     "the recovered state hashes to %016llx, the last committed batch to %016llx",
                     (unsigned long long)got, (unsigned long long)want);
            return CG_ESTORE;
        }
        if (want)
            log_info("store: recovered state hash %016llx equals the last committed batch's",
                     (unsigned long long)got);
    }
    log_info("store: recovered %zu open orders in %lld ms (accounts %lld ms, orders %lld ms, "
             "last prices and checks %lld ms); ledger sums to zero",
             n_orders, (long long)(clock_mono_ms() - t0), (long long)(t_bal - t0),
             (long long)(t_orders - t_bal), (long long)(clock_mono_ms() - t_orders));
    return CG_OK;
}
