/* Public market data: /api/v1/markets[/{m}[/ticker|/book|/trades|/candles]]. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/mdcache.h"
#include "core/clock.h"

/* A 200 answer from a cached body (copied). */
static void resp_cached(struct resp *out, const char *body, size_t len)
{
    out->status = 200;
    out->body = malloc(len + 1);
    if (!out->body)
        abort();
    memcpy(out->body, body, len + 1);
}

/* Render doc (stolen) to a 200 answer and remember it under k. */
static void resp_json_cached(struct resp *out, const struct mdcache_key *k, json_t *doc)
{
    resp_json(out, 200, doc);
    if (out->status == 200 && out->body)
        mdcache_put(k, out->body, strlen(out->body));
}

static int market_param(struct req *r, struct resp *out)
{
    int m = config_market_index(r->app->cfg, r->param);
    if (m < 0)
        resp_error(out, CG_EMARKET, NULL);
    return m;
}

void h_markets(struct req *r, struct resp *out)
{
    json_t *arr = json_array();
    for (uint32_t i = 0; i < r->app->cfg->n_markets; i++)
        json_array_append_new(arr, render_market(r->app, i));
    resp_json(out, 200, json_pack("{s:o}", "data", arr));
}

void h_market(struct req *r, struct resp *out)
{
    int m = market_param(r, out);
    if (m >= 0)
        resp_json(out, 200, render_market(r->app, (uint32_t)m));
}

void h_ticker(struct req *r, struct resp *out)
{
    struct md_ticker t;
    struct mdcache_key k = {.kind = MDC_TICKER};
    uint64_t trade_version;
    const char *hit;
    size_t len;
    int64_t now = clock_now_ms();
    int m = market_param(r, out);
    if (m < 0)
        return;
    /* the 24h window moves with the clock in whole minutes (mdata_ticker): an answer is valid
     * within (k x 1 min, (k + 1) x 1 min) while the read model is unchanged */
    k.market = (uint32_t)m;
    k.bucket = now / 60000;
    mdata_versions(r->app->md, k.market, &k.version, &trade_version);
    hit = now % 60000 ? mdcache_get(&k, &len) : NULL;
    if (hit) {
        resp_cached(out, hit, len);
        return;
    }
    mdata_ticker(r->app->md, (uint32_t)m, now, &t);
    if (now % 60000)
        resp_json_cached(out, &k, render_ticker(r->app, (uint32_t)m, &t));
    else
        resp_json(out, 200, render_ticker(r->app, (uint32_t)m, &t));
}

json_t *render_book_snapshot(struct app *app, uint32_t m, size_t depth)
{
    const struct config *cfg = app->cfg;
    int bs = cfg->assets[cfg->markets[m].base].scale;
    int qs = cfg->assets[cfg->markets[m].quote].scale;
    int64_t *buf = malloc(4 * depth * sizeof(*buf) + 1);
    size_t nb;
    size_t na;
    uint64_t seq;
    json_t *bids = json_array();
    json_t *asks = json_array();
    if (!buf)
        abort();
    mdata_lock(app->md);
    seq = mdata_book_locked(app->md, m, depth, buf, buf + depth, &nb, buf + 2 * depth,
                            buf + 3 * depth, &na);
    mdata_unlock(app->md);
    for (size_t i = 0; i < nb; i++)
        json_array_append_new(
            bids, json_pack("[o,o]", json_amount(buf[i], qs), json_amount(buf[depth + i], bs)));
    for (size_t i = 0; i < na; i++)
        json_array_append_new(asks, json_pack("[o,o]", json_amount(buf[2 * depth + i], qs),
                                              json_amount(buf[3 * depth + i], bs)));
    free(buf);
    return json_pack("{s:s,s:I,s:o,s:o,s:I}", "market", cfg->markets[m].name, "seq",
                     (json_int_t)seq, "bids", bids, "asks", asks, "ts", (json_int_t)clock_now_ms());
}

void h_tickers(struct req *r, struct resp *out)
{
    json_t *arr = json_array();
    int64_t now = clock_now_ms();
    for (uint32_t i = 0; i < r->app->cfg->n_markets; i++) {
        struct md_ticker t;
        mdata_ticker(r->app->md, i, now, &t);
        json_array_append_new(arr, render_ticker(r->app, i, &t));
    }
    resp_json(out, 200, json_pack("{s:o}", "data", arr));
}

/* The book answer: cached without its trailing "ts" (the time of the answer), which is
 * appended to every answer, hit or miss. */
static void book_answer(struct req *r, struct resp *out, uint32_t m, size_t depth)
{
    struct mdcache_key k = {.kind = MDC_BOOK, .market = m, .a = (int64_t)depth};
    uint64_t trade_version;
    const char *hit;
    size_t len;
    char *fresh = NULL;
    char ts[32];
    int tn;
    mdata_versions(r->app->md, m, &k.version, &trade_version);
    hit = mdcache_get(&k, &len);
    if (!hit) {
        json_t *j = render_book_snapshot(r->app, m, depth);
        json_object_del(j, "ts");
        fresh = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        if (!fresh) {
            resp_error(out, CG_ENOMEM, NULL);
            return;
        }
        len = strlen(fresh) - 1; /* without the closing brace */
        mdcache_put(&k, fresh, len);
        hit = fresh;
    }
    tn = snprintf(ts, sizeof(ts), ",\"ts\":%lld}", (long long)clock_now_ms());
    out->status = 200;
    out->body = malloc(len + (size_t)tn + 1);
    if (!out->body)
        abort();
    memcpy(out->body, hit, len);
    memcpy(out->body + len, ts, (size_t)tn + 1);
    free(fresh);
}

void h_book(struct req *r, struct resp *out)
{
    const char *d = req_query(r, "depth");
    long depth = 50;
    int m = market_param(r, out);
    if (m < 0)
        return;
    if (d) {
        char *end;
        depth = strtol(d, &end, 10);
        if (*d == '\0' || *end || depth < 1 || depth > 5000) {
            resp_error(out, CG_EINVAL, "depth must be 1..5000");
            return;
        }
    }
    book_answer(r, out, (uint32_t)m, (size_t)depth);
}

void h_trades(struct req *r, struct resp *out)
{
    struct md_trade t[500];
    const struct config *cfg = r->app->cfg;
    int limit;
    int m = market_param(r, out);
    size_t n;
    json_t *arr;
    if (m < 0 || !req_limit(r, 100, 500, &limit, out))
        return;
    n = mdata_trades(r->app->md, (uint32_t)m, t, (size_t)limit);
    arr = json_array();
    for (size_t i = 0; i < n; i++) {
        int bs = cfg->assets[cfg->markets[m].base].scale;
        int qs = cfg->assets[cfg->markets[m].quote].scale;
        json_array_append_new(
            arr, json_pack("{s:I,s:o,s:o,s:o,s:s,s:o,s:I}", "id", (json_int_t)t[i].id, "price",
                           json_amount(t[i].price, qs), "quantity", json_amount(t[i].quantity, bs),
                           "quote_quantity", json_amount(t[i].quote_quantity, qs), "taker_side",
                           store_side_name(t[i].taker_side), "created_at", json_time(t[i].ts), "ts",
                           (json_int_t)t[i].ts));
    }
    resp_json(out, 200, json_pack("{s:s,s:o}", "market", cfg->markets[m].name, "data", arr));
}

void h_candles(struct req *r, struct resp *out)
{
    static const char *sql_range =
        "SELECT open_time, open, high, low, close, volume, quote_volume, source FROM candles "
        "WHERE market = ? AND interval = ? AND open_time >= ? AND open_time <= ? "
        "ORDER BY open_time LIMIT ?";
    static const char *sql_latest =
        "SELECT open_time, open, high, low, close, volume, quote_volume, source FROM candles "
        "WHERE market = ? AND interval = ? AND open_time <= ? ORDER BY open_time DESC LIMIT ?";
    const struct config *cfg = r->app->cfg;
    const char *iv = req_query(r, "interval");
    int m = market_param(r, out);
    int interval;
    int limit;
    int64_t start = 0;
    int64_t end = INT64_MAX;
    bool has_start;
    bool has_end;
    struct db_stmt *st;
    struct mdcache_key k = {0};
    json_t *arr;
    json_t *doc;

    if (m < 0)
        return;
    interval = md_interval_parse(iv ? iv : "1h");
    if (interval < 0) {
        resp_error(out, CG_EINVAL, "interval must be one of 1m, 5m, 15m, 1h, 4h, 1d");
        return;
    }
    if (!req_limit(r, 500, 1500, &limit, out) ||
        !req_int_param(r, "start", &start, &has_start, out) ||
        !req_int_param(r, "end", &end, &has_end, out))
        return;
    if (!has_end)
        end = INT64_MAX;
    if (has_start && start > end) {
        resp_error(out, CG_EINVAL, "start must not be after end");
        return;
    }
    /* the latest bars (no start/end) change only when the market trades: cached by the
     * market's trade counter, read before the store is */
    if (!has_start && !has_end) {
        const char *hit;
        size_t len;
        uint64_t version;
        k.kind = MDC_CANDLES;
        k.market = (uint32_t)m;
        k.a = interval;
        k.b = limit;
        mdata_versions(r->app->md, k.market, &version, &k.version);
        hit = mdcache_get(&k, &len);
        if (hit) {
            resp_cached(out, hit, len);
            return;
        }
    }
    st = db_prepare(r->app->rdb, has_start ? sql_range : sql_latest);
    if (!st) {
        resp_error(out, CG_ESTORE, NULL);
        return;
    }
    db_bind_text(st, 1, cfg->markets[m].name);
    db_bind_text(st, 2, md_interval_name[interval]);
    if (has_start) {
        db_bind_int64(st, 3, start);
        db_bind_int64(st, 4, end);
        db_bind_int64(st, 5, limit);
    } else {
        db_bind_int64(st, 3, end);
        db_bind_int64(st, 4, limit);
    }
    arr = json_array();
    while (db_step(st) == DB_ROW) {
        struct md_candle c = {db_col_int64(st, 0), db_col_int64(st, 1), db_col_int64(st, 2),
                              db_col_int64(st, 3), db_col_int64(st, 4), db_col_int64(st, 5),
                              db_col_int64(st, 6)};
        json_t *j = render_candle(cfg, (uint32_t)m, &c);
        json_object_set_new(j, "source", json_string(db_col_text(st, 7)));
        if (has_start)
            json_array_append_new(arr, j);
        else
            json_array_insert_new(arr, 0, j);
    }
    db_reset(st);
    doc = json_pack("{s:s,s:s,s:o}", "market", cfg->markets[m].name, "interval",
                    md_interval_name[interval], "data", arr);
    if (k.kind)
        resp_json_cached(out, &k, doc);
    else
        resp_json(out, 200, doc);
}
