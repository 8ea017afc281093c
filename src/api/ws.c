/*
 * WebSocket /ws: subscriptions, snapshots and per-client bounded queues (network thread).
 * A client that falls QUEUE_CAP messages behind loses its queue and gets a fresh book snapshot
 * (a new seq base) instead: the server never queues without bound.
 */
#include <libwebsockets.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/binance_ws.h"
#include "api/msgq.h"
#include "core/clock.h"

#define QUEUE_CAP 1024
#define MD_DIRECT 255

struct ws_client {
    struct app *app;
    struct lws *wsi;
    uint64_t user_id;
    uint32_t subs[MD_BALANCES + 1];     /* bit per market */
    uint32_t candle_subs[MD_INTERVALS]; /* bit per market */
    uint64_t book_seq[CFG_MAX_MARKETS]; /* last seq sent per market */
    bool orders, balances;
    struct msgq q; /* QUEUE_CAP messages */
    struct ws_client *next, *prev;
};

static struct ws_client *clients;

struct ws_client *ws_client_new(struct app *app, void *wsi)
{
    struct ws_client *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    if (!msgq_init(&c->q, QUEUE_CAP)) {
        free(c);
        return NULL;
    }
    c->app = app;
    c->wsi = wsi;
    c->next = clients;
    if (clients)
        clients->prev = c;
    clients = c;
    return c;
}

void ws_client_free(struct ws_client *c)
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
    free(c);
}

static void send_book_snapshot(struct ws_client *c, uint32_t market);

/* Queue a message (adds a reference). On overflow: drop the backlog and resync books. */
static void enqueue(struct ws_client *c, struct md_msg *m)
{
    if (msgq_full(&c->q)) {
        static const char note[] = "{\"op\":\"resync\",\"reason\":\"slow_consumer\"}";
        struct md_msg *n = md_msg_new(MD_DIRECT, 0, 0, note, sizeof(note) - 1);
        msgq_drop_all(&c->q);
        if (n)
            msgq_push_owned(&c->q, n);
        for (uint32_t mk = 0; mk < c->app->cfg->n_markets; mk++)
            if (c->subs[MD_BOOK] & (1u << mk))
                send_book_snapshot(c, mk);
        if (m->channel == MD_BOOK)
            return; /* the snapshot covers it */
    }
    msgq_push(&c->q, m);
}

static void send_json(struct ws_client *c, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    struct md_msg *m;
    json_decref(j);
    if (!s)
        return;
    m = md_msg_new(MD_DIRECT, 0, 0, s, strlen(s));
    free(s);
    if (!m)
        return;
    if (msgq_full(&c->q)) {
        md_msg_unref(m);
        return;
    }
    msgq_push_owned(&c->q, m);
    lws_callback_on_writable(c->wsi);
}

static void send_error(struct ws_client *c, enum cg_err e, const char *msg)
{
    send_json(c, json_pack("{s:s,s:{s:s,s:s}}", "op", "error", "error", "code", cg_err_code(e),
                           "message", msg ? msg : cg_err_message(e)));
}

static void send_book_snapshot(struct ws_client *c, uint32_t market)
{
    json_t *j = render_book_snapshot(c->app, market, 5000);
    c->book_seq[market] = (uint64_t)json_integer_value(json_object_get(j, "seq"));
    json_object_set_new(j, "channel", json_string("book"));
    json_object_set_new(j, "type", json_string("snapshot"));
    send_json(c, j);
}

static void send_balances(struct ws_client *c)
{
    static const char *sql = "SELECT asset, total, held FROM balances WHERE user_id = ?";
    const struct config *cfg = c->app->cfg;
    struct db_stmt *st = db_prepare(c->app->rdb, sql);
    json_t *arr = json_array();
    if (st) {
        db_bind_int64(st, 1, (int64_t)c->user_id);
        while (db_step(st) == DB_ROW) {
            int a = config_asset_index(cfg, db_col_text(st, 0));
            if (a >= 0)
                json_array_append_new(arr, render_balance(cfg, (uint32_t)a, db_col_int64(st, 1),
                                                          db_col_int64(st, 2)));
        }
        db_reset(st);
    }
    send_json(c,
              json_pack("{s:s,s:s,s:o}", "channel", "balances", "type", "snapshot", "data", arr));
}

static int channel_parse(const char *s)
{
    static const char *names[] = {"ticker", "trades", "book", "candles", "orders", "balances"};
    for (int i = 0; s && i <= MD_BALANCES; i++)
        if (!strcmp(s, names[i]))
            return i;
    return -1;
}

static void subscribe(struct ws_client *c, json_t *doc, bool on)
{
    const char *chs = json_string_value(json_object_get(doc, "channel"));
    const char *mks = json_string_value(json_object_get(doc, "market"));
    const char *ivs = json_string_value(json_object_get(doc, "interval"));
    int ch = channel_parse(chs);
    int mk = -1;
    int iv = 0;
    json_t *ack;

    if (ch < 0) {
        send_error(c, CG_EINVAL,
                   "channel must be ticker, trades, book, candles, orders or "
                   "balances");
        return;
    }
    if (ch == MD_ORDERS || ch == MD_BALANCES) {
        if (!c->user_id) {
            send_error(c, CG_EAUTH, "send {\"op\":\"auth\",\"token\":...} first");
            return;
        }
        if (ch == MD_ORDERS)
            c->orders = on;
        else
            c->balances = on;
        ack = json_pack("{s:s,s:s}", "op", on ? "subscribed" : "unsubscribed", "channel", chs);
        send_json(c, ack);
        if (on && ch == MD_BALANCES)
            send_balances(c);
        return;
    }
    mk = mks ? config_market_index(c->app->cfg, mks) : -1;
    if (mk < 0) {
        send_error(c, CG_EMARKET, mks ? "no such market" : "'market' is required");
        return;
    }
    if (ch == MD_CANDLES) {
        iv = md_interval_parse(ivs ? ivs : "1m");
        if (iv < 0) {
            send_error(c, CG_EINVAL, "interval must be one of 1m, 5m, 15m, 1h, 4h, 1d");
            return;
        }
        if (on)
            c->candle_subs[iv] |= 1u << mk;
        else
            c->candle_subs[iv] &= ~(1u << mk);
    }
    if (on)
        c->subs[ch] |= 1u << mk;
    else if (ch != MD_CANDLES)
        c->subs[ch] &= ~(1u << mk);
    ack = json_pack("{s:s,s:s,s:s}", "op", on ? "subscribed" : "unsubscribed", "channel", chs,
                    "market", mks);
    if (ch == MD_CANDLES)
        json_object_set_new(ack, "interval", json_string(md_interval_name[iv]));
    send_json(c, ack);
    if (!on)
        return;
    if (ch == MD_BOOK) {
        send_book_snapshot(c, (uint32_t)mk);
    } else if (ch == MD_TICKER) {
        struct md_ticker t;
        mdata_ticker(c->app->md, (uint32_t)mk, clock_now_ms(), &t);
        send_json(c, json_pack("{s:s,s:s,s:o}", "channel", "ticker", "market", mks, "data",
                               render_ticker(c->app, (uint32_t)mk, &t)));
    }
}

void ws_client_receive(struct ws_client *c, const char *data, size_t len)
{
    json_error_t jerr;
    json_t *doc = json_loadb(data, len, 0, &jerr);
    const char *op;
    if (!doc || !json_is_object(doc)) {
        json_decref(doc);
        send_error(c, CG_EJSON, "messages are JSON objects with an \"op\"");
        return;
    }
    op = json_string_value(json_object_get(doc, "op"));
    if (!op) {
        send_error(c, CG_EINVAL, "\"op\" is required");
    } else if (!strcmp(op, "ping")) {
        send_json(c, json_pack("{s:s,s:I}", "op", "pong", "ts", (json_int_t)clock_now_ms()));
    } else if (!strcmp(op, "auth")) {
        struct auth_claims cl;
        const char *tok = json_string_value(json_object_get(doc, "token"));
        enum cg_err e =
            tok ? auth_jwt_verify(c->app->jwt_key, tok, clock_now_ms() / 1000, &cl) : CG_EAUTH;
        if (e != CG_OK) {
            send_error(c, e, NULL);
        } else {
            c->user_id = cl.user_id;
            send_json(c, json_pack("{s:s,s:b,s:I}", "op", "auth", "ok", 1, "user_id",
                                   (json_int_t)cl.user_id));
        }
    } else if (!strcmp(op, "subscribe")) {
        subscribe(c, doc, true);
    } else if (!strcmp(op, "unsubscribe")) {
        subscribe(c, doc, false);
    } else {
        send_error(c, CG_EINVAL, "op must be ping, auth, subscribe or unsubscribe");
    }
    json_decref(doc);
}

int ws_client_writable(struct ws_client *c)
{
    return msgq_write(&c->q, c->wsi);
}

static bool wants(struct ws_client *c, const struct md_msg *m)
{
    switch (m->channel) {
    case MD_BOOK:
        if (!(c->subs[MD_BOOK] & (1u << m->market)) || m->seq <= c->book_seq[m->market])
            return false;
        c->book_seq[m->market] = m->seq;
        return true;
    case MD_TICKER:
    case MD_TRADES:
        return c->subs[m->channel] & (1u << m->market);
    case MD_CANDLES:
        return c->candle_subs[m->interval] & (1u << m->market);
    case MD_ORDERS:
        return c->orders && c->user_id == m->user_id;
    case MD_BALANCES:
        return c->balances && c->user_id == m->user_id;
    }
    return false;
}

void ws_dispatch(struct app *app, struct md_msg *list)
{
    while (list) {
        struct md_msg *next = list->next;
        if (list->channel == MD_BWS_DIGEST) { /* Binance-compatible streams */
            bws_ingest(app, list);
            md_msg_unref(list);
            list = next;
            continue;
        }
        for (struct ws_client *c = clients; c; c = c->next) {
            if (wants(c, list)) {
                enqueue(c, list);
                lws_callback_on_writable(c->wsi);
            }
        }
        md_msg_unref(list);
        list = next;
    }
}
