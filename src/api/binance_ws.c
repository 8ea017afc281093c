/*
 * Binance-compatible market-data WebSocket (see binance_ws.h for the contract).
 *
 * Data path: the store thread copies each committed batch's fills, L2 changes and tops into one
 * binary digest (bws_publish_batch); the network thread consumes it (bws_ingest) to emit trade,
 * aggTrade and bookTicker events at once, to merge book deltas into the 100 ms / 1000 ms depth
 * windows and to keep the current klines. A 100 ms timer flushes the windows and pushes the
 * periodic streams (partial depth, tickers, klines) and the pings. Each payload is rendered once
 * per event and shared (refcounted md_msg) by every client subscribed to that stream.
 */
#include "api/binance_ws.h"
#include "api/msgq.h"

#include <ctype.h>
#include <libwebsockets.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/amount.h"
#include "core/clock.h"

/* ---- stream names ---- */

enum bws_kind {
    K_TRADE = 0,
    K_AGGTRADE,
    K_KLINE,     /* param: interval index */
    K_DEPTH,     /* param: 0 = 1000 ms, 1 = 100 ms */
    K_PARTIAL,   /* param: levels * 2 + (100 ms ? 1 : 0) */
    K_TICKER,    /* param 0 */
    K_MINI,      /* param 0 */
    K_BOOK,      /* bookTicker */
    K_ALLTICKER, /* !ticker@arr, market -1 */
    K_ALLMINI,   /* !miniTicker@arr, market -1 */
    K_KINDS
};

#define N_IV 16
static const char *const iv_name[N_IV] = {"1s", "1m", "3m", "5m",  "15m", "30m", "1h", "2h",
                                          "4h", "6h", "8h", "12h", "1d",  "3d",  "1w", "1M"};
static const int64_t iv_ms[N_IV] = {1000,     60000,     180000,    300000,   900000,   1800000,
                                    3600000,  7200000,   14400000,  21600000, 28800000, 43200000,
                                    86400000, 259200000, 604800000, 0 /* calendar month */};

struct sub {
    uint8_t kind;
    int16_t market; /* -1: all markets */
    uint16_t param;
    char name[64]; /* canonical stream name, as listed */
};

struct bws_client {
    struct app *app;
    struct lws *wsi;
    bool combined;
    struct sub *subs;
    size_t n_subs;
    struct msgq q; /* queue_cap messages; q.dropped counts what a slow client lost */
    int64_t last_ping, last_pong;
    bool ping_due, close_now;
    struct bws_client *next, *prev;
};

/* ---- per-market state (network thread) ---- */

struct lvl {
    int64_t px, qty;
};

struct window {
    bool open;
    uint64_t first, last; /* U, u */
    struct lvl *v[2];
    size_t n[2], cap[2];
};

struct kline {
    bool has;    /* a candle exists (the market traded at least once) */
    bool closed; /* the final x=true message of this candle was sent */
    int64_t t, T, o, h, l, c, v, q, V, Q, n, f, L;
    uint64_t seeded_to; /* fills with id <= this were read from the store */
    int64_t next_push;
};

struct mkt {
    struct window win[2];
    bool kl_active[N_IV];
    struct kline kl[N_IV];
    bool top_sent;
    struct market_top top;
    bool ticker_dirty, mini_dirty, all_dirty, allmini_dirty;
    uint64_t first_id_hint;
};

/* What any client wants, recomputed when subscriptions change. */
struct interest {
    bool any[K_KINDS][CFG_MAX_MARKETS];
    bool depth[2][CFG_MAX_MARKETS];
    bool partial[CFG_MAX_MARKETS][42];
    bool kline[N_IV][CFG_MAX_MARKETS];
    bool all_ticker, all_mini;
};

static struct bws_client *clients;
static struct mkt mk[CFG_MAX_MARKETS];
static struct interest want;
static struct app *g_app;
static lws_sorted_usec_list_t sul;
static bool timer_on;
static unsigned ticks;
static int64_t ping_ms = BWS_PING_MS;    /* COINAGE_BWS_PING_MS for tests */
static size_t queue_cap = BWS_QUEUE_CAP; /* COINAGE_BWS_QUEUE_CAP (1..BWS_QUEUE_CAP) for tests */

/* ---- a small string builder (hot payloads do not go through jansson) ---- */

struct sb {
    char *p;
    size_t n, cap;
};

static void sb_printf(struct sb *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(struct sb *s, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        int k;
        size_t room = s->cap - s->n;
        va_start(ap, fmt);
        k = vsnprintf(s->p ? s->p + s->n : NULL, s->p ? room : 0, fmt, ap);
        va_end(ap);
        if (k < 0)
            abort();
        if (s->p && (size_t)k < room) {
            s->n += (size_t)k;
            return;
        }
        size_t ncap = s->cap ? s->cap * 2 : 512;
        while (ncap < s->n + (size_t)k + 1)
            ncap *= 2;
        char *np = realloc(s->p, ncap);
        if (!np)
            abort();
        s->p = np;
        s->cap = ncap;
    }
}

/* "123.45000000": a JSON string of v minor units at scale */
static void sb_amt(struct sb *s, int64_t v, int scale)
{
    char buf[AMOUNT_STR_MAX];
    sb_printf(s, "\"%s\"", amount_format(v, scale, false, buf));
}

/* Fields ,"key":"amount" in order (amounts at their scale, as strings). */
struct amt_field {
    const char *key;
    int64_t v;
    int scale;
};

static void sb_amt_fields(struct sb *s, const struct amt_field *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sb_printf(s, ",\"%s\":", f[i].key);
        sb_amt(s, f[i].v, f[i].scale);
    }
}

static int base_scale(uint32_t m)
{
    const struct config *cfg = g_app->cfg;
    return cfg->assets[cfg->markets[m].base].scale;
}

static int quote_scale(uint32_t m)
{
    const struct config *cfg = g_app->cfg;
    return cfg->assets[cfg->markets[m].quote].scale;
}

static const char *sym(uint32_t m)
{
    return g_app->cfg->markets[m].symbol;
}

/* ---- queues ---- */

/* Queue m (adds a reference). A full queue is dropped first: the client is too slow. */
static void enqueue(struct bws_client *c, struct md_msg *m)
{
    if (msgq_full(&c->q))
        msgq_drop_all(&c->q);
    msgq_push(&c->q, m);
    lws_callback_on_writable(c->wsi);
}

static void send_text(struct bws_client *c, const char *s)
{
    struct md_msg *m = md_msg_new(MD_BWS_DIGEST, 0, 0, s, strlen(s));
    if (!m)
        return;
    enqueue(c, m);
    md_msg_unref(m);
}

static void send_jansson(struct bws_client *c, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!s)
        return;
    send_text(c, s);
    free(s);
}

/* Deliver a rendered payload of stream (kind, market, param) to every subscribed client, raw or
 * wrapped for combined clients. Takes ownership of data (malloc'ed). */
static void emit(int kind, int market, int param, char *data, size_t len)
{
    struct md_msg *raw = NULL;
    struct md_msg *wrapped = NULL;
    for (struct bws_client *c = clients; c; c = c->next) {
        const struct sub *s = NULL;
        for (size_t i = 0; i < c->n_subs; i++) {
            if (c->subs[i].kind == kind && c->subs[i].market == market &&
                c->subs[i].param == param) {
                s = &c->subs[i];
                break;
            }
        }
        if (!s)
            continue;
        if (c->combined) {
            if (!wrapped) {
                struct sb w = {0};
                sb_printf(&w, "{\"stream\":\"%s\",\"data\":%.*s}", s->name, (int)len, data);
                wrapped = md_msg_new(MD_BWS_DIGEST, 0, 0, w.p, w.n);
                free(w.p);
                if (!wrapped)
                    continue;
            }
            enqueue(c, wrapped);
        } else {
            if (!raw) {
                raw = md_msg_new(MD_BWS_DIGEST, 0, 0, data, len);
                if (!raw)
                    continue;
            }
            enqueue(c, raw);
        }
    }
    md_msg_unref(raw);
    md_msg_unref(wrapped);
    free(data);
}

static void emit_sb(int kind, int market, int param, struct sb *s)
{
    emit(kind, market, param, s->p, s->n);
    s->p = NULL;
    s->n = s->cap = 0;
}

/* ---- stream name parsing ---- */

static int interval_index(const char *s)
{
    for (int i = 0; i < N_IV; i++)
        if (!strcmp(s, iv_name[i]))
            return i;
    return -1;
}

/* Parse one stream name into *out; false if it is not a stream Coinage serves. */
static bool parse_stream(const struct config *cfg, const char *name, struct sub *out)
{
    char symbuf[24];
    const char *at;
    const char *rest;
    size_t n;
    int m;

    memset(out, 0, sizeof(*out));
    if (strlen(name) >= sizeof(out->name))
        return false;
    snprintf(out->name, sizeof(out->name), "%s", name);
    if (!strcmp(name, "!ticker@arr") || !strcmp(name, "!miniTicker@arr")) {
        out->kind = name[1] == 't' ? K_ALLTICKER : K_ALLMINI;
        out->market = -1;
        return true;
    }
    at = strchr(name, '@');
    if (!at)
        return false;
    n = (size_t)(at - name);
    if (n == 0 || n >= sizeof(symbuf))
        return false;
    for (size_t i = 0; i < n; i++) {
        /* stream names carry the symbol in lower case only, as Binance's */
        if (!islower((unsigned char)name[i]) && !isdigit((unsigned char)name[i]))
            return false;
        symbuf[i] = (char)toupper((unsigned char)name[i]);
    }
    symbuf[n] = '\0';
    m = config_market_by_symbol(cfg, symbuf);
    if (m < 0)
        return false;
    out->market = (int16_t)m;
    rest = at + 1;
    if (!strcmp(rest, "trade")) {
        out->kind = K_TRADE;
    } else if (!strcmp(rest, "aggTrade")) {
        out->kind = K_AGGTRADE;
    } else if (!strcmp(rest, "ticker")) {
        out->kind = K_TICKER;
    } else if (!strcmp(rest, "miniTicker")) {
        out->kind = K_MINI;
    } else if (!strcmp(rest, "bookTicker")) {
        out->kind = K_BOOK;
    } else if (!strncmp(rest, "kline_", 6)) {
        int iv = interval_index(rest + 6);
        if (iv < 0)
            return false;
        out->kind = K_KLINE;
        out->param = (uint16_t)iv;
    } else if (!strcmp(rest, "depth") || !strcmp(rest, "depth@100ms")) {
        out->kind = K_DEPTH;
        out->param = rest[5] == '@';
    } else if (!strncmp(rest, "depth", 5)) {
        char *end;
        long lv = strtol(rest + 5, &end, 10);
        if (lv != 5 && lv != 10 && lv != 20)
            return false;
        if (*end == '\0')
            out->param = (uint16_t)(lv * 2);
        else if (!strcmp(end, "@100ms"))
            out->param = (uint16_t)(lv * 2 + 1);
        else
            return false;
        out->kind = K_PARTIAL;
    } else {
        return false;
    }
    return true;
}

static void recompute_interest(void)
{
    memset(&want, 0, sizeof(want));
    for (struct bws_client *c = clients; c; c = c->next) {
        for (size_t i = 0; i < c->n_subs; i++) {
            const struct sub *s = &c->subs[i];
            if (s->kind == K_ALLTICKER) {
                want.all_ticker = true;
                continue;
            }
            if (s->kind == K_ALLMINI) {
                want.all_mini = true;
                continue;
            }
            want.any[s->kind][s->market] = true;
            if (s->kind == K_DEPTH)
                want.depth[s->param][s->market] = true;
            else if (s->kind == K_PARTIAL)
                want.partial[s->market][s->param] = true;
            else if (s->kind == K_KLINE)
                want.kline[s->param][s->market] = true;
        }
    }
    /* windows nobody reads are closed, so a later subscriber starts from a fresh window: its
     * levels go too, or the next window would carry quantities from before the gap under new
     * U..u ids (a diff that silently puts stale levels into a client's book) */
    for (uint32_t m = 0; g_app && m < g_app->cfg->n_markets; m++) {
        for (int sp = 0; sp < 2; sp++) {
            if (!want.depth[sp][m]) {
                mk[m].win[sp].open = false;
                mk[m].win[sp].n[0] = mk[m].win[sp].n[1] = 0;
            }
        }
        for (int iv = 0; iv < N_IV; iv++)
            if (!want.kline[iv][m])
                mk[m].kl_active[iv] = false;
    }
}

/* ---- klines ---- */

/* Open time of the interval containing ts (ms, UTC). */
static int64_t kline_open(int iv, int64_t ts)
{
    if (iv == N_IV - 1) { /* 1M: first of the month, 00:00 UTC */
        time_t secs = (time_t)(ts / 1000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        tm.tm_mday = 1;
        tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
        return (int64_t)timegm(&tm) * 1000;
    }
    if (iv == N_IV - 2) /* 1w: Monday 00:00 UTC; 1970-01-01 was a Thursday, 4 days after one */
        return ts - ((ts - 4 * 86400000LL) % iv_ms[iv] + iv_ms[iv]) % iv_ms[iv];
    return ts - ts % iv_ms[iv];
}

static int64_t kline_close(int iv, int64_t open)
{
    if (iv == N_IV - 1) {
        time_t secs = (time_t)(open / 1000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        tm.tm_mon += 1;
        return (int64_t)timegm(&tm) * 1000 - 1;
    }
    return open + iv_ms[iv] - 1;
}

static void kline_reset(struct kline *k, int iv, int64_t open, int64_t prev_close)
{
    k->t = open;
    k->T = kline_close(iv, open);
    k->o = k->h = k->l = k->c = prev_close;
    k->v = k->q = k->V = k->Q = k->n = 0;
    k->f = k->L = -1;
    k->closed = false;
}

static void kline_add(struct kline *k, const struct fill *f)
{
    if (k->n == 0) {
        k->o = k->h = k->l = f->price;
        k->f = (int64_t)f->id;
    }
    if (f->price > k->h)
        k->h = f->price;
    if (f->price < k->l)
        k->l = f->price;
    k->c = f->price;
    k->v += f->quantity;
    k->q += f->quote_quantity;
    if (f->taker_side == SIDE_BUY) {
        k->V += f->quantity;
        k->Q += f->quote_quantity;
    }
    k->n++;
    k->L = (int64_t)f->id;
}

/* Seed the current candle of (m, iv) from the store's fills (first subscription). */
static void kline_seed(uint32_t m, int iv)
{
    static const char *sql_max = "SELECT COALESCE(MAX(id), 0) FROM fills";
    static const char *sql_agg =
        "SELECT COUNT(*), COALESCE(MIN(id), 0), COALESCE(MAX(id), 0), COALESCE(MAX(price), 0), "
        "COALESCE(MIN(price), 0), COALESCE(SUM(quantity), 0), COALESCE(SUM(quote_quantity), 0), "
        "COALESCE(SUM(CASE WHEN taker_side = 'buy' THEN quantity ELSE 0 END), 0), "
        "COALESCE(SUM(CASE WHEN taker_side = 'buy' THEN quote_quantity ELSE 0 END), 0) "
        "FROM fills WHERE market = ? AND id <= ? AND ts >= ? AND ts <= ?";
    static const char *sql_price = "SELECT price FROM fills WHERE id = ?";
    static const char *sql_prev = "SELECT price FROM fills WHERE market = ? AND id <= ? AND ts < ? "
                                  "ORDER BY id DESC LIMIT 1";
    struct db *db = g_app->rdb;
    struct kline *k = &mk[m].kl[iv];
    const char *name = g_app->cfg->markets[m].name;
    int64_t now = clock_now_ms();
    int64_t open = kline_open(iv, now);
    int64_t maxid = 0;
    struct db_stmt *st;

    memset(k, 0, sizeof(*k));
    mk[m].kl_active[iv] = true;
    st = db_prepare(db, sql_max);
    if (!st)
        return;
    if (db_step(st) == DB_ROW)
        maxid = db_col_int64(st, 0);
    db_reset(st);
    k->seeded_to = (uint64_t)maxid;
    kline_reset(k, iv, open, 0);
    st = db_prepare(db, sql_agg);
    if (!st)
        return;
    db_bind_text(st, 1, name);
    db_bind_int64(st, 2, maxid);
    db_bind_int64(st, 3, open);
    db_bind_int64(st, 4, k->T);
    if (db_step(st) == DB_ROW && db_col_int64(st, 0) > 0) {
        k->has = true;
        k->n = db_col_int64(st, 0);
        k->f = db_col_int64(st, 1);
        k->L = db_col_int64(st, 2);
        k->h = db_col_int64(st, 3);
        k->l = db_col_int64(st, 4);
        k->v = db_col_int64(st, 5);
        k->q = db_col_int64(st, 6);
        k->V = db_col_int64(st, 7);
        k->Q = db_col_int64(st, 8);
    }
    db_reset(st);
    if (k->has) {
        int64_t ids[2] = {k->f, k->L};
        int64_t *px[2] = {&k->o, &k->c};
        for (int i = 0; i < 2; i++) {
            st = db_prepare(db, sql_price);
            if (!st)
                return;
            db_bind_int64(st, 1, ids[i]);
            if (db_step(st) == DB_ROW)
                *px[i] = db_col_int64(st, 0);
            db_reset(st);
        }
        return;
    }
    /* no trade in this period yet: the candle stands at the previous close */
    st = db_prepare(db, sql_prev);
    if (!st)
        return;
    db_bind_text(st, 1, name);
    db_bind_int64(st, 2, maxid);
    db_bind_int64(st, 3, open);
    if (db_step(st) == DB_ROW) {
        int64_t pc = db_col_int64(st, 0);
        kline_reset(k, iv, open, pc);
        k->has = true;
    }
    db_reset(st);
}

static void emit_kline(uint32_t m, int iv, bool closed)
{
    const struct kline *k = &mk[m].kl[iv];
    int bs = base_scale(m);
    int qs = quote_scale(m);
    struct sb s = {0};
    sb_printf(&s,
              "{\"e\":\"kline\",\"E\":%lld,\"s\":\"%s\",\"k\":{\"t\":%lld,\"T\":%lld,\"s\":\"%s\","
              "\"i\":\"%s\",\"f\":%lld,\"L\":%lld,\"o\":",
              (long long)clock_now_ms(), sym(m), (long long)k->t, (long long)k->T, sym(m),
              iv_name[iv], (long long)k->f, (long long)k->L);
    sb_amt(&s, k->o, qs);
    sb_printf(&s, ",\"c\":");
    sb_amt(&s, k->c, qs);
    sb_printf(&s, ",\"h\":");
    sb_amt(&s, k->h, qs);
    sb_printf(&s, ",\"l\":");
    sb_amt(&s, k->l, qs);
    sb_printf(&s, ",\"v\":");
    sb_amt(&s, k->v, bs);
    sb_printf(&s, ",\"n\":%lld,\"x\":%s,\"q\":", (long long)k->n, closed ? "true" : "false");
    sb_amt(&s, k->q, qs);
    sb_printf(&s, ",\"V\":");
    sb_amt(&s, k->V, bs);
    sb_printf(&s, ",\"Q\":");
    sb_amt(&s, k->Q, qs);
    sb_printf(&s, ",\"B\":\"0\"}}");
    emit_sb(K_KLINE, (int)m, iv, &s);
}

/* A fill for the klines of its market: roll periods that ended, then count it. */
static void kline_fill(const struct fill *f)
{
    struct mkt *mm = &mk[f->market];
    for (int iv = 0; iv < N_IV; iv++) {
        struct kline *k = &mm->kl[iv];
        if (!mm->kl_active[iv] || f->id <= k->seeded_to)
            continue;
        if (k->has && f->ts < k->t)
            continue; /* a late fill of a candle already closed */
        if (!k->has || f->ts > k->T) {
            if (k->has && !k->closed)
                emit_kline(f->market, iv, true);
            kline_reset(k, iv, kline_open(iv, f->ts), k->c);
            k->has = true;
        }
        kline_add(k, f);
    }
}

static void klines_tick(int64_t now)
{
    for (uint32_t m = 0; m < g_app->cfg->n_markets; m++) {
        for (int iv = 0; iv < N_IV; iv++) {
            struct kline *k = &mk[m].kl[iv];
            if (!want.kline[iv][m])
                continue;
            if (!mk[m].kl_active[iv])
                kline_seed(m, iv);
            if (!k->has)
                continue;
            /* a period is final 250 ms after it ends (fills stamped before its end have been
             * committed by then) */
            if (now > k->T + 250) {
                if (!k->closed)
                    emit_kline(m, iv, true);
                kline_reset(k, iv, kline_open(iv, now), k->c);
                k->next_push = now + (iv == 0 ? 1000 : 2000);
                emit_kline(m, iv, false);
                continue;
            }
            if (now >= k->next_push) {
                k->next_push = now + (iv == 0 ? 1000 : 2000);
                emit_kline(m, iv, false);
            }
        }
    }
}

/* ---- trades ---- */

static void emit_trade(const struct fill *f, int64_t now)
{
    int bs = base_scale(f->market);
    int qs = quote_scale(f->market);
    struct sb s = {0};
    sb_printf(&s, "{\"e\":\"trade\",\"E\":%lld,\"s\":\"%s\",\"t\":%llu,\"p\":", (long long)now,
              sym(f->market), (unsigned long long)f->id);
    sb_amt(&s, f->price, qs);
    sb_printf(&s, ",\"q\":");
    sb_amt(&s, f->quantity, bs);
    /* m: the buyer is the maker, i.e. the taker sold; M: Binance's "ignore" field */
    sb_printf(&s, ",\"T\":%lld,\"m\":%s,\"M\":true}", (long long)f->ts,
              f->taker_side == SIDE_SELL ? "true" : "false");
    emit_sb(K_TRADE, (int)f->market, 0, &s);
}

/* fills [first, last] of one taker order at one price */
static void emit_agg(const struct fill *first, const struct fill *last, int64_t qty, int64_t now)
{
    int bs = base_scale(first->market);
    int qs = quote_scale(first->market);
    struct sb s = {0};
    sb_printf(&s, "{\"e\":\"aggTrade\",\"E\":%lld,\"s\":\"%s\",\"a\":%llu,\"p\":", (long long)now,
              sym(first->market), (unsigned long long)first->id);
    sb_amt(&s, first->price, qs);
    sb_printf(&s, ",\"q\":");
    sb_amt(&s, qty, bs);
    sb_printf(&s, ",\"f\":%llu,\"l\":%llu,\"T\":%lld,\"m\":%s,\"M\":true}",
              (unsigned long long)first->id, (unsigned long long)last->id, (long long)first->ts,
              first->taker_side == SIDE_SELL ? "true" : "false");
    emit_sb(K_AGGTRADE, (int)first->market, 0, &s);
}

/* ---- depth ---- */

static void window_set(struct window *w, int side, int64_t px, int64_t qty)
{
    for (size_t i = 0; i < w->n[side]; i++) {
        if (w->v[side][i].px == px) {
            w->v[side][i].qty = qty;
            return;
        }
    }
    if (w->n[side] == w->cap[side]) {
        size_t nc = w->cap[side] ? w->cap[side] * 2 : 64;
        struct lvl *nv = realloc(w->v[side], nc * sizeof(*nv));
        if (!nv)
            abort();
        w->v[side] = nv;
        w->cap[side] = nc;
    }
    w->v[side][w->n[side]].px = px;
    w->v[side][w->n[side]].qty = qty;
    w->n[side]++;
}

static int cmp_desc(const void *a, const void *b)
{
    const struct lvl *x = a;
    const struct lvl *y = b;
    return (x->px < y->px) - (x->px > y->px);
}

static int cmp_asc(const void *a, const void *b)
{
    return cmp_desc(b, a);
}

static void sb_levels(struct sb *s, const struct lvl *v, size_t n, int qs, int bs)
{
    sb_printf(s, "[");
    for (size_t i = 0; i < n; i++) {
        sb_printf(s, i ? ",[" : "[");
        sb_amt(s, v[i].px, qs);
        sb_printf(s, ",");
        sb_amt(s, v[i].qty, bs);
        sb_printf(s, "]");
    }
    sb_printf(s, "]");
}

static void window_flush(uint32_t m, int speed)
{
    struct window *w = &mk[m].win[speed];
    struct sb s = {0};
    if (!w->open)
        return;
    /* a side without a change in this window may not have its array yet (qsort(NULL) is UB) */
    if (w->n[0])
        qsort(w->v[0], w->n[0], sizeof(struct lvl), cmp_desc);
    if (w->n[1])
        qsort(w->v[1], w->n[1], sizeof(struct lvl), cmp_asc);
    sb_printf(&s, "{\"e\":\"depthUpdate\",\"E\":%lld,\"s\":\"%s\",\"U\":%llu,\"u\":%llu,\"b\":",
              (long long)clock_now_ms(), sym(m), (unsigned long long)w->first,
              (unsigned long long)w->last);
    sb_levels(&s, w->v[0], w->n[0], quote_scale(m), base_scale(m));
    sb_printf(&s, ",\"a\":");
    sb_levels(&s, w->v[1], w->n[1], quote_scale(m), base_scale(m));
    sb_printf(&s, "}");
    w->open = false;
    w->n[0] = w->n[1] = 0;
    emit_sb(K_DEPTH, (int)m, speed, &s);
}

/* The L2 changes of one batch for market m (seq = its native book seq). */
static void window_add(uint32_t m, uint64_t seq, const struct l2_change *ch, size_t n)
{
    for (int sp = 0; sp < 2; sp++) {
        struct window *w = &mk[m].win[sp];
        if (!want.depth[sp][m])
            continue;
        /* a gap (messages lost upstream) must stay visible as U != previous u + 1 */
        if (w->open && seq != w->last + 1)
            window_flush(m, sp);
        if (!w->open) {
            w->open = true;
            w->first = seq;
        }
        w->last = seq;
        for (size_t i = 0; i < n; i++)
            window_set(w, ch[i].side, ch[i].price, ch[i].qty);
    }
}

static void emit_partial(uint32_t m, int param)
{
    size_t levels = (size_t)param / 2;
    int64_t bp[20], bq[20], ap[20], aq[20];
    struct lvl b[20], a[20];
    size_t nb, na;
    uint64_t seq;
    struct sb s = {0};
    mdata_lock(g_app->md);
    seq = mdata_book_locked(g_app->md, m, levels, bp, bq, &nb, ap, aq, &na);
    mdata_unlock(g_app->md);
    for (size_t i = 0; i < nb; i++)
        b[i] = (struct lvl){bp[i], bq[i]};
    for (size_t i = 0; i < na; i++)
        a[i] = (struct lvl){ap[i], aq[i]};
    sb_printf(&s, "{\"lastUpdateId\":%llu,\"bids\":", (unsigned long long)seq);
    sb_levels(&s, b, nb, quote_scale(m), base_scale(m));
    sb_printf(&s, ",\"asks\":");
    sb_levels(&s, a, na, quote_scale(m), base_scale(m));
    sb_printf(&s, "}");
    emit_sb(K_PARTIAL, (int)m, param, &s);
}

static void emit_book_ticker(uint32_t m, const struct market_top *t)
{
    int bs = base_scale(m);
    int qs = quote_scale(m);
    struct sb s = {0};
    sb_printf(&s, "{\"u\":%llu,\"s\":\"%s\",\"b\":", (unsigned long long)t->book_seq, sym(m));
    sb_amt(&s, t->has_bid ? t->bid : 0, qs);
    sb_printf(&s, ",\"B\":");
    sb_amt(&s, t->has_bid ? t->bid_qty : 0, bs);
    sb_printf(&s, ",\"a\":");
    sb_amt(&s, t->has_ask ? t->ask : 0, qs);
    sb_printf(&s, ",\"A\":");
    sb_amt(&s, t->has_ask ? t->ask_qty : 0, bs);
    sb_printf(&s, "}");
    emit_sb(K_BOOK, (int)m, 0, &s);
}

static bool top_differs(const struct market_top *a, const struct market_top *b)
{
    return a->has_bid != b->has_bid || a->has_ask != b->has_ask ||
           (a->has_bid && (a->bid != b->bid || a->bid_qty != b->bid_qty)) ||
           (a->has_ask && (a->ask != b->ask || a->ask_qty != b->ask_qty));
}

/* ---- tickers ---- */

/* First fill id of market m at or after ts and the price of the fill before it (the "previous
 * close" of Binance's x field), or -1 / 0 if none. The id only grows, so the search resumes
 * from the last answer. */
static void ticker_ids(uint32_t m, int64_t from, int64_t *first_id, int64_t *prev_price)
{
    static const char *sql_first =
        "SELECT id FROM fills WHERE market = ? AND id >= ? AND ts >= ? ORDER BY id LIMIT 1";
    static const char *sql_prev =
        "SELECT price FROM fills WHERE market = ? AND id < ? ORDER BY id DESC LIMIT 1";
    const char *name = g_app->cfg->markets[m].name;
    struct db_stmt *st = db_prepare(g_app->rdb, sql_first);
    *first_id = -1;
    *prev_price = 0;
    if (!st)
        return;
    db_bind_text(st, 1, name);
    db_bind_int64(st, 2, (int64_t)mk[m].first_id_hint);
    db_bind_int64(st, 3, from);
    if (db_step(st) == DB_ROW)
        *first_id = db_col_int64(st, 0);
    db_reset(st);
    if (*first_id < 0)
        return;
    mk[m].first_id_hint = (uint64_t)*first_id;
    st = db_prepare(g_app->rdb, sql_prev);
    if (!st)
        return;
    db_bind_text(st, 1, name);
    db_bind_int64(st, 2, *first_id);
    if (db_step(st) == DB_ROW)
        *prev_price = db_col_int64(st, 0);
    db_reset(st);
}

/* 24hrTicker (full) or 24hrMiniTicker payload of market m at now, from the native read model. */
static void render_ticker_payload(struct sb *s, uint32_t m, int64_t now, bool full)
{
    struct md_ticker t;
    struct md_trade last;
    int bs = base_scale(m);
    int qs = quote_scale(m);
    bool traded;
    int64_t o, h, l;
    /* the native ticker counts whole minutes whose start is at or after now - 24h - 1 min */
    int64_t from = now - 24LL * 3600 * 1000 - 60000;
    from = (from + 59999) / 60000 * 60000;

    mdata_ticker(g_app->md, m, now, &t);
    traded = t.trades > 0;
    o = traded ? t.open : (t.has_last ? t.last : 0);
    h = traded ? t.high : o;
    l = traded ? t.low : o;
    const struct amt_field ohlvq[] = {
        {"o", o, qs}, {"h", h, qs}, {"l", l, qs}, {"v", t.volume, bs}, {"q", t.quote_volume, qs},
    };
    sb_printf(s, "{\"e\":\"%s\",\"E\":%lld,\"s\":\"%s\"", full ? "24hrTicker" : "24hrMiniTicker",
              (long long)now, sym(m));
    if (full) {
        int64_t chg = traded && t.has_last ? t.last - t.open : 0;
        int64_t pct = 0;
        int64_t wavg = 0;
        int64_t first_id = -1;
        int64_t prev = 0;
        bool has_last_trade = mdata_trades(g_app->md, m, &last, 1) == 1;
        /* P: percent change with 3 decimals, rounded toward zero, as Binance prints it */
        if (traded && t.open > 0 && amount_mul_div(chg, 100000, t.open, false, &pct) != CG_OK)
            pct = 0;
        /* w: volume-weighted average price = quote volume / base volume, rounded down */
        if (t.volume > 0 &&
            amount_mul_div(t.quote_volume, amount_pow10(bs), t.volume, false, &wavg) != CG_OK)
            wavg = 0;
        if (traded)
            ticker_ids(m, from, &first_id, &prev);
        const struct amt_field head[] = {
            {"p", chg, qs},
            {"P", pct, 3},
            {"w", wavg, qs},
            {"x", prev, qs},
            {"c", t.has_last ? t.last : 0, qs},
            {"Q", has_last_trade ? last.quantity : 0, bs},
            {"b", t.has_bid ? t.bid : 0, qs},
            {"B", t.has_bid ? t.bid_qty : 0, bs},
            {"a", t.has_ask ? t.ask : 0, qs},
            {"A", t.has_ask ? t.ask_qty : 0, bs},
        };
        sb_amt_fields(s, head, sizeof(head) / sizeof(head[0]));
        sb_amt_fields(s, ohlvq, sizeof(ohlvq) / sizeof(ohlvq[0]));
        sb_printf(s, ",\"O\":%lld,\"C\":%lld,\"F\":%lld,\"L\":%lld,\"n\":%llu}", (long long)from,
                  (long long)now, (long long)first_id,
                  (long long)(traded && has_last_trade ? (int64_t)last.id : -1),
                  (unsigned long long)t.trades);
        return;
    }
    sb_printf(s, ",\"c\":");
    sb_amt(s, t.has_last ? t.last : 0, qs);
    sb_amt_fields(s, ohlvq, sizeof(ohlvq) / sizeof(ohlvq[0]));
    sb_printf(s, "}");
}

static void tickers_tick(int64_t now)
{
    struct sb all = {0};
    struct sb allmini = {0};
    size_t n_all = 0;
    size_t n_mini = 0;
    for (uint32_t m = 0; m < g_app->cfg->n_markets; m++) {
        struct mkt *mm = &mk[m];
        if (mm->ticker_dirty && want.any[K_TICKER][m]) {
            struct sb s = {0};
            render_ticker_payload(&s, m, now, true);
            emit_sb(K_TICKER, (int)m, 0, &s);
        }
        if (mm->mini_dirty && want.any[K_MINI][m]) {
            struct sb s = {0};
            render_ticker_payload(&s, m, now, false);
            emit_sb(K_MINI, (int)m, 0, &s);
        }
        if (mm->all_dirty && want.all_ticker) {
            sb_printf(&all, n_all++ ? "," : "[");
            render_ticker_payload(&all, m, now, true);
        }
        if (mm->allmini_dirty && want.all_mini) {
            sb_printf(&allmini, n_mini++ ? "," : "[");
            render_ticker_payload(&allmini, m, now, false);
        }
        mm->ticker_dirty = mm->mini_dirty = mm->all_dirty = mm->allmini_dirty = false;
    }
    if (n_all) {
        sb_printf(&all, "]");
        emit_sb(K_ALLTICKER, -1, 0, &all);
    }
    if (n_mini) {
        sb_printf(&allmini, "]");
        emit_sb(K_ALLMINI, -1, 0, &allmini);
    }
}

/* ---- the digest: store thread -> network thread ---- */

struct digest_hdr {
    size_t n_fills, n_l2, n_markets;
};

void bws_publish_batch(struct app *app, const struct batch *b)
{
    struct digest_hdr h = {b->fills.n, b->l2.n, b->n_markets};
    size_t len = sizeof(h) + h.n_fills * sizeof(struct fill) + h.n_l2 * sizeof(struct l2_change) +
                 h.n_markets * sizeof(struct market_top);
    char *buf;
    char *p;
    struct md_msg *m;
    bool any_change = h.n_fills > 0 || h.n_l2 > 0;
    for (size_t i = 0; i < h.n_markets && !any_change; i++)
        any_change = b->tops[i].changed;
    if (!any_change)
        return;
    buf = malloc(len);
    if (!buf)
        return;
    p = buf;
    memcpy(p, &h, sizeof(h));
    p += sizeof(h);
    if (h.n_fills)
        memcpy(p, b->fills.v, h.n_fills * sizeof(struct fill));
    p += h.n_fills * sizeof(struct fill);
    if (h.n_l2)
        memcpy(p, b->l2.v, h.n_l2 * sizeof(struct l2_change));
    p += h.n_l2 * sizeof(struct l2_change);
    memcpy(p, b->tops, h.n_markets * sizeof(struct market_top));
    m = md_msg_new(MD_BWS_DIGEST, 0, 0, buf, len);
    free(buf);
    if (m)
        mdata_push(app->md, m);
}

void bws_ingest(struct app *app, const struct md_msg *msg)
{
    struct digest_hdr h;
    struct fill *fills;
    struct l2_change *l2;
    struct market_top *tops;
    int64_t now = clock_now_ms();
    size_t i;

    g_app = app;
    if (msg->len < sizeof(h))
        return;
    memcpy(&h, msg->data, sizeof(h));
    if (msg->len !=
        sizeof(h) + h.n_fills * sizeof(*fills) + h.n_l2 * sizeof(*l2) + h.n_markets * sizeof(*tops))
        return;
    /* copies, so every struct is aligned */
    fills = malloc(h.n_fills * sizeof(*fills) + 1);
    l2 = malloc(h.n_l2 * sizeof(*l2) + 1);
    tops = malloc(h.n_markets * sizeof(*tops) + 1);
    if (!fills || !l2 || !tops)
        abort();
    memcpy(fills, msg->data + sizeof(h), h.n_fills * sizeof(*fills));
    memcpy(l2, msg->data + sizeof(h) + h.n_fills * sizeof(*fills), h.n_l2 * sizeof(*l2));
    memcpy(tops, msg->data + sizeof(h) + h.n_fills * sizeof(*fills) + h.n_l2 * sizeof(*l2),
           h.n_markets * sizeof(*tops));

    for (i = 0; i < h.n_fills; i++) {
        const struct fill *f = &fills[i];
        struct mkt *mm;
        if (f->market >= app->cfg->n_markets)
            continue;
        mm = &mk[f->market];
        mm->ticker_dirty = mm->mini_dirty = mm->all_dirty = mm->allmini_dirty = true;
        if (want.any[K_TRADE][f->market])
            emit_trade(f, now);
        kline_fill(f);
    }
    /* aggTrade: runs of fills of one taker order at one price */
    for (i = 0; i < h.n_fills;) {
        size_t j = i + 1;
        int64_t qty = fills[i].quantity;
        while (j < h.n_fills && fills[j].market == fills[i].market &&
               fills[j].taker_order_id == fills[i].taker_order_id &&
               fills[j].price == fills[i].price) {
            qty += fills[j].quantity;
            j++;
        }
        if (fills[i].market < app->cfg->n_markets && want.any[K_AGGTRADE][fills[i].market])
            emit_agg(&fills[i], &fills[j - 1], qty, now);
        i = j;
    }
    /* l2 is sorted by market */
    for (i = 0; i < h.n_l2;) {
        uint32_t m = l2[i].market;
        size_t j = i;
        while (j < h.n_l2 && l2[j].market == m)
            j++;
        if (m < app->cfg->n_markets && m < h.n_markets)
            window_add(m, tops[m].book_seq, &l2[i], j - i);
        i = j;
    }
    for (uint32_t m = 0; m < h.n_markets && m < app->cfg->n_markets; m++) {
        struct mkt *mm = &mk[m];
        if (!tops[m].changed)
            continue;
        if (!mm->top_sent || top_differs(&tops[m], &mm->top)) {
            mm->ticker_dirty = mm->all_dirty = true;
            if (want.any[K_BOOK][m])
                emit_book_ticker(m, &tops[m]);
        }
        mm->top = tops[m];
        mm->top_sent = true;
    }
    free(fills);
    free(l2);
    free(tops);
}

/* ---- the 100 ms timer ---- */

static void tick(lws_sorted_usec_list_t *s)
{
    int64_t now = clock_now_ms();
    bool second;
    (void)s;
    if (!g_app)
        return;
    ticks++;
    second = ticks % 10 == 0;
    for (uint32_t m = 0; m < g_app->cfg->n_markets; m++) {
        window_flush(m, 1);
        if (second)
            window_flush(m, 0);
        for (int param = 10; param <= 41; param++)
            if (want.partial[m][param] && (param % 2 == 1 || second))
                emit_partial(m, param);
    }
    if (second)
        tickers_tick(now);
    klines_tick(now);
    for (struct bws_client *c = clients; c; c = c->next) {
        /* Binance: no pong within a minute (3 ping intervals) after a ping closes it */
        if (c->last_ping > c->last_pong && now - c->last_pong > 4 * ping_ms) {
            c->close_now = true;
            lws_callback_on_writable(c->wsi);
        } else if (now - c->last_ping >= ping_ms) {
            c->last_ping = now;
            c->ping_due = true;
            lws_callback_on_writable(c->wsi);
        }
    }
    lws_sul_schedule(g_app->lws_ctx, 0, &sul, tick, 100 * LWS_US_PER_MS);
}

void bws_start(struct app *app)
{
    const char *cap = getenv("COINAGE_BWS_QUEUE_CAP");
    g_app = app;
    const char *pms = getenv("COINAGE_BWS_PING_MS");
    if (cap && atoi(cap) >= 1 && atoi(cap) <= BWS_QUEUE_CAP)
        queue_cap = (size_t)atoi(cap);
    if (pms && atoi(pms) >= 100)
        ping_ms = atoi(pms);
    memset(&sul, 0, sizeof(sul));
    timer_on = true;
    lws_sul_schedule(app->lws_ctx, 0, &sul, tick, 100 * LWS_US_PER_MS);
}

void bws_stop(void)
{
    if (timer_on)
        lws_sul_cancel(&sul);
    timer_on = false;
}

/* ---- clients ---- */

bool bws_path_is_binance(const char *path)
{
    return !strncmp(path, "/ws/", 4) || !strcmp(path, "/stream") || !strncmp(path, "/stream/", 8);
}

static int find_sub(const struct bws_client *c, const struct sub *s)
{
    for (size_t i = 0; i < c->n_subs; i++)
        if (c->subs[i].kind == s->kind && c->subs[i].market == s->market &&
            c->subs[i].param == s->param)
            return (int)i;
    return -1;
}

static bool add_sub(struct bws_client *c, const struct sub *s)
{
    struct sub *ns;
    if (find_sub(c, s) >= 0)
        return true;
    if (c->n_subs >= BWS_MAX_STREAMS)
        return false;
    ns = realloc(c->subs, (c->n_subs + 1) * sizeof(*ns));
    if (!ns)
        return false;
    c->subs = ns;
    c->subs[c->n_subs++] = *s;
    /* a new ticker subscriber hears the current 24h statistics at the next 1 s tick, not only
     * after the next fill (an idle market would otherwise never answer it) */
    for (uint32_t m = 0; g_app && m < g_app->cfg->n_markets; m++) {
        if (s->kind == K_TICKER && s->market == (int)m)
            mk[m].ticker_dirty = true;
        else if (s->kind == K_MINI && s->market == (int)m)
            mk[m].mini_dirty = true;
        else if (s->kind == K_ALLTICKER)
            mk[m].all_dirty = true;
        else if (s->kind == K_ALLMINI)
            mk[m].allmini_dirty = true;
    }
    return true;
}

static void del_sub(struct bws_client *c, const struct sub *s)
{
    int i = find_sub(c, s);
    if (i < 0)
        return;
    memmove(&c->subs[i], &c->subs[i + 1], (c->n_subs - (size_t)i - 1) * sizeof(*c->subs));
    c->n_subs--;
}

/* %XX-decode in place (clients may escape '@' and '/' in ?streams=). */
static void url_decode(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (r[0] == '%' && isxdigit((unsigned char)r[1]) && isxdigit((unsigned char)r[2])) {
            char hex[3] = {r[1], r[2], '\0'};
            *w++ = (char)strtol(hex, NULL, 16);
            r += 2;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

/* Subscribe every valid '/'-separated stream name in list; others are ignored, as Binance's
 * server connects /ws/<anything> without streams. */
static void subscribe_list(struct bws_client *c, char *list)
{
    char *save = NULL;
    url_decode(list);
    for (char *tok = strtok_r(list, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
        struct sub s;
        if (parse_stream(c->app->cfg, tok, &s))
            add_sub(c, &s);
    }
}

struct bws_client *bws_client_new(struct app *app, void *wsi, const char *path)
{
    struct bws_client *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    if (!msgq_init(&c->q, queue_cap)) {
        free(c);
        return NULL;
    }
    g_app = app;
    c->app = app;
    c->wsi = wsi;
    c->last_ping = c->last_pong = clock_now_ms();
    c->combined = strncmp(path, "/stream", 7) == 0;
    if (!strncmp(path, "/ws/", 4)) {
        char *list = strdup(path + 4);
        if (list) {
            subscribe_list(c, list);
            free(list);
        }
    } else {
        char frag[4096];
        for (int i = 0; i < 16; i++) {
            int n = lws_hdr_copy_fragment(wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i);
            if (n <= 0)
                break;
            if (!strncmp(frag, "streams=", 8))
                subscribe_list(c, frag + 8);
        }
    }
    c->next = clients;
    if (clients)
        clients->prev = c;
    clients = c;
    recompute_interest();
    return c;
}

void bws_client_free(struct bws_client *c)
{
    if (!c)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    msgq_release(&c->q);
    free(c->subs);
    free(c);
    recompute_interest();
}

void bws_client_pong(struct bws_client *c)
{
    c->last_pong = clock_now_ms();
}

int bws_client_writable(struct bws_client *c)
{
    if (c->close_now)
        return -1;
    if (c->ping_due) {
        /* a non-empty payload: libwebsockets 4.1 reports pongs to the callback only with one */
        unsigned char pb[LWS_PRE + 8] = {0};
        memcpy(pb + LWS_PRE, "coinage", 7);
        c->ping_due = false;
        if (lws_write(c->wsi, pb + LWS_PRE, 7, LWS_WRITE_PING) < 0)
            return -1;
        if (c->q.n)
            lws_callback_on_writable(c->wsi);
        return 0;
    }
    return msgq_write(&c->q, c->wsi);
}

/* ---- requests ---- */

static void reply_error(struct bws_client *c, json_t *id, int code, const char *msg)
{
    json_t *j = json_pack("{s:{s:i,s:s}}", "error", "code", code, "msg", msg);
    json_object_set(j, "id", id ? id : json_null());
    send_jansson(c, j);
}

static void reply_result(struct bws_client *c, json_t *id, json_t *result)
{
    json_t *j = json_object();
    json_object_set_new(j, "result", result ? result : json_null());
    json_object_set(j, "id", id);
    send_jansson(c, j);
}

/* Binance accepts a 64-bit integer, an alphanumeric string of at most 36 characters or null. */
static bool id_valid(json_t *id)
{
    if (!id || json_is_null(id))
        return true;
    if (json_is_integer(id))
        return true;
    if (json_is_string(id)) {
        const char *s = json_string_value(id);
        if (strlen(s) > 36)
            return false;
        for (; *s; s++)
            if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_')
                return false;
        return true;
    }
    return false;
}

static void handle_subscribe(struct bws_client *c, json_t *id, json_t *params, bool on)
{
    struct sub *parsed;
    size_t n;
    if (!json_is_array(params)) {
        reply_error(c, id, 2, "Invalid request: params must be an array of stream names");
        return;
    }
    n = json_array_size(params);
    if (n > BWS_MAX_STREAMS) {
        reply_error(c, id, 2, "Invalid request: too many parameters");
        return;
    }
    parsed = calloc(n + 1, sizeof(*parsed));
    if (!parsed) {
        reply_error(c, id, 2, "Invalid request: out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(params, i));
        if (!s) {
            reply_error(c, id, 2, "Invalid request: stream names must be strings");
            goto out_free;
        }
        if (!parse_stream(c->app->cfg, s, &parsed[i])) {
            char msg[160];
            snprintf(msg, sizeof(msg), "Invalid request: unknown stream %.100s", s);
            reply_error(c, id, 2, msg);
            goto out_free;
        }
    }
    if (on && c->n_subs + n > BWS_MAX_STREAMS) {
        reply_error(c, id, 2, "Invalid request: too many streams (at most 1024 per connection)");
        goto out_free;
    }
    for (size_t i = 0; i < n; i++) {
        if (on)
            add_sub(c, &parsed[i]);
        else
            del_sub(c, &parsed[i]);
    }
    recompute_interest();
    reply_result(c, id, NULL);
out_free:
    free(parsed);
}

void bws_client_receive(struct bws_client *c, const char *data, size_t len)
{
    json_error_t jerr;
    json_t *doc = json_loadb(data, len, 0, &jerr);
    json_t *id;
    const char *method;
    char msg[256];

    if (!doc) {
        snprintf(msg, sizeof(msg), "Invalid JSON: expected value at line %d column %d", jerr.line,
                 jerr.column);
        reply_error(c, NULL, 3, msg);
        return;
    }
    if (!json_is_object(doc)) {
        reply_error(c, NULL, 2, "Invalid request: expected an object");
        json_decref(doc);
        return;
    }
    id = json_object_get(doc, "id");
    if (!id_valid(id)) {
        reply_error(c, NULL, 2, "Invalid request: request ID must be an unsigned integer");
        json_decref(doc);
        return;
    }
    if (!id)
        id = json_null();
    method = json_string_value(json_object_get(doc, "method"));
    if (!method) {
        snprintf(msg, sizeof(msg), "Invalid request: missing field `method` at line 1 column %zu",
                 len);
        reply_error(c, id, 2, msg);
    } else if (!strcmp(method, "SUBSCRIBE") || !strcmp(method, "UNSUBSCRIBE")) {
        handle_subscribe(c, id, json_object_get(doc, "params"), method[0] == 'S');
    } else if (!strcmp(method, "LIST_SUBSCRIPTIONS")) {
        json_t *arr = json_array();
        for (size_t i = 0; i < c->n_subs; i++)
            json_array_append_new(arr, json_string(c->subs[i].name));
        reply_result(c, id, arr);
    } else if (!strcmp(method, "SET_PROPERTY") || !strcmp(method, "GET_PROPERTY")) {
        json_t *params = json_object_get(doc, "params");
        json_t *prop = json_array_get(params, 0);
        bool set = method[0] == 'S';
        if (!json_is_string(prop)) {
            reply_error(c, id, 2, "Invalid request: property name must be a string");
        } else if (strcmp(json_string_value(prop), "combined")) {
            reply_error(c, id, 0, "Unknown property");
        } else if (!set) {
            reply_result(c, id, json_boolean(c->combined));
        } else if (!json_is_boolean(json_array_get(params, 1))) {
            reply_error(c, id, 1, "Invalid value type: expected Boolean");
        } else {
            c->combined = json_is_true(json_array_get(params, 1));
            reply_result(c, id, NULL);
        }
    } else {
        snprintf(msg, sizeof(msg),
                 "Invalid request: unknown variant `%.40s`, expected one of `SUBSCRIBE`, "
                 "`UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`",
                 method);
        reply_error(c, id, 2, msg);
    }
    json_decref(doc);
}
