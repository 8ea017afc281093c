/*
 * Store hooks: render each result's HTTP response before the commit (so an Idempotency-Key
 * replay returns exactly the first response), then, after the commit, answer the requests and
 * publish market data and private events. Store thread.
 */
#include <libwebsockets.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/binance_ws.h"

static const struct balance_change *find_balance(const struct batch *b, uint64_t user_id,
                                                 uint32_t asset)
{
    for (size_t i = 0; i < b->balances.n; i++)
        if (b->balances.v[i].user_id == user_id && b->balances.v[i].asset == asset)
            return &b->balances.v[i];
    return NULL;
}

void api_render_batch(struct batch *b, void *ctx)
{
    struct app *app = ctx;
    const struct config *cfg = app->cfg;
    b->statuses = calloc(b->results.n + 1, sizeof(*b->statuses));
    b->bodies = calloc(b->results.n + 1, sizeof(*b->bodies));
    if (!b->statuses || !b->bodies)
        abort();
    for (size_t i = 0; i < b->results.n; i++) {
        const struct cmd_result *r = &b->results.v[i];
        json_t *j = NULL;
        if (r->err != CG_OK) {
            b->statuses[i] = cg_err_http_status(r->err);
            b->bodies[i] = json_error_body(r->err, NULL);
            continue;
        }
        switch (r->type) {
        case CMD_DEPOSIT:
        case CMD_WITHDRAW: {
            const struct balance_change *bc = find_balance(b, r->user_id, r->asset);
            j = json_pack("{s:I,s:s,s:s,s:o,s:o}", "id", (json_int_t)r->entry_id, "kind",
                          r->type == CMD_DEPOSIT ? "deposit" : "withdrawal", "asset",
                          cfg->assets[r->asset].symbol, "amount",
                          json_amount(r->amount, cfg->assets[r->asset].scale), "created_at",
                          json_time(r->ts));
            if (bc)
                json_object_set_new(j, "balance",
                                    render_balance(cfg, r->asset, bc->total, bc->held));
            b->statuses[i] = 201;
            break;
        }
        case CMD_CANCEL_ALL: {
            json_t *arr = json_array();
            for (uint32_t k = 0; k < r->orders_count; k++)
                json_array_append_new(arr, render_order(cfg, &b->orders.v[r->orders_first + k]));
            j = json_pack("{s:o}", "canceled", arr);
            b->statuses[i] = 200;
            break;
        }
        case CMD_PLACE:
        case CMD_CANCEL:
        case CMD_AMEND: {
            json_t *fills = json_array();
            j = render_order(cfg, &r->order);
            for (uint32_t k = 0; k < r->fill_count; k++)
                json_array_append_new(
                    fills, render_fill_for(cfg, &b->fills.v[r->fill_first + k], r->user_id));
            json_object_set_new(j, "fills", fills);
            b->statuses[i] = r->type == CMD_PLACE ? 201 : 200;
            break;
        }
        default:
            b->statuses[i] = 500;
            b->bodies[i] = json_error_body(CG_EINTERNAL, NULL);
            continue;
        }
        b->bodies[i] = json_dumps(j, JSON_COMPACT);
        json_decref(j);
    }
}

static void push_json(struct app *app, int channel, uint32_t market, uint64_t user_id, uint64_t seq,
                      int interval, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    struct md_msg *m;
    json_decref(j);
    if (!s)
        return;
    m = md_msg_new(channel, market, user_id, s, strlen(s));
    free(s);
    if (!m)
        return;
    m->seq = seq;
    m->interval = (uint8_t)interval;
    mdata_push(app->md, m);
}

static void publish_book_deltas(struct app *app, const struct batch *b)
{
    const struct config *cfg = app->cfg;
    size_t i = 0;
    while (i < b->l2.n) {
        uint32_t m = b->l2.v[i].market;
        int bs = cfg->assets[cfg->markets[m].base].scale;
        int qs = cfg->assets[cfg->markets[m].quote].scale;
        json_t *sides[2] = {json_array(), json_array()};
        json_t *j;
        for (; i < b->l2.n && b->l2.v[i].market == m; i++) {
            const struct l2_change *c = &b->l2.v[i];
            json_array_append_new(sides[c->side], json_pack("[o,o]", json_amount(c->price, qs),
                                                            json_amount(c->qty, bs)));
        }
        j = json_pack("{s:s,s:s,s:s,s:I,s:o,s:o}", "channel", "book", "market",
                      cfg->markets[m].name, "type", "delta", "seq", (json_int_t)b->tops[m].book_seq,
                      "bids", sides[0], "asks", sides[1]);
        push_json(app, MD_BOOK, m, 0, b->tops[m].book_seq, 0, j);
    }
}

static void publish_public(struct app *app, const struct batch *b)
{
    const struct config *cfg = app->cfg;
    for (uint32_t m = 0; m < cfg->n_markets; m++) {
        json_t *trades = NULL;
        int bs = cfg->assets[cfg->markets[m].base].scale;
        int qs = cfg->assets[cfg->markets[m].quote].scale;
        bool traded = false;
        for (size_t i = 0; i < b->fills.n; i++) {
            const struct fill *f = &b->fills.v[i];
            if (f->market != m)
                continue;
            if (!trades)
                trades = json_array();
            traded = true;
            json_array_append_new(
                trades,
                json_pack("{s:I,s:o,s:o,s:s,s:I}", "id", (json_int_t)f->id, "price",
                          json_amount(f->price, qs), "quantity", json_amount(f->quantity, bs),
                          "taker_side", store_side_name(f->taker_side), "ts", (json_int_t)f->ts));
        }
        if (trades)
            push_json(app, MD_TRADES, m, 0, 0, 0,
                      json_pack("{s:s,s:s,s:o}", "channel", "trades", "market",
                                cfg->markets[m].name, "data", trades));
        if (traded) {
            for (int iv = 0; iv < MD_INTERVALS; iv++) {
                struct md_candle c;
                bool have;
                mdata_lock(app->md);
                have = mdata_candle_locked(app->md, m, iv, &c);
                mdata_unlock(app->md);
                if (have)
                    push_json(app, MD_CANDLES, m, 0, 0, iv,
                              json_pack("{s:s,s:s,s:s,s:o}", "channel", "candles", "market",
                                        cfg->markets[m].name, "interval", md_interval_name[iv],
                                        "data", render_candle(cfg, m, &c)));
            }
        }
        if (traded || b->tops[m].changed) {
            struct md_ticker t;
            int64_t now = b->fills.n ? b->fills.v[b->fills.n - 1].ts : 0;
            for (size_t i = 0; !now && i < b->results.n; i++)
                now = b->results.v[i].ts;
            if (!now) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
            }
            mdata_ticker(app->md, m, now, &t);
            push_json(app, MD_TICKER, m, 0, 0, 0,
                      json_pack("{s:s,s:s,s:o}", "channel", "ticker", "market",
                                cfg->markets[m].name, "data", render_ticker(app, m, &t)));
        }
    }
}

static void publish_private(struct app *app, const struct batch *b)
{
    const struct config *cfg = app->cfg;
    for (size_t i = 0; i < b->orders.n; i++)
        push_json(app, MD_ORDERS, b->orders.v[i].market, b->orders.v[i].user_id, 0, 0,
                  json_pack("{s:s,s:o}", "channel", "orders", "data",
                            render_order(cfg, &b->orders.v[i])));
    /* balances are sorted by user: one message per user */
    for (size_t i = 0; i < b->balances.n;) {
        uint64_t uid = b->balances.v[i].user_id;
        json_t *arr = json_array();
        for (; i < b->balances.n && b->balances.v[i].user_id == uid; i++)
            json_array_append_new(arr,
                                  render_balance(cfg, b->balances.v[i].asset,
                                                 b->balances.v[i].total, b->balances.v[i].held));
        if (uid < LEDGER_FIRST_USER_ID) {
            json_decref(arr);
            continue;
        }
        push_json(app, MD_BALANCES, 0, uid, 0, 0,
                  json_pack("{s:s,s:o}", "channel", "balances", "data", arr));
    }
}

void api_batch_committed(struct batch *b, bool ok, void *ctx)
{
    struct app *app = ctx;
    if (ok) {
        mdata_lock(app->md);
        mdata_apply_batch_locked(app->md, b);
        /* deltas are queued under the read-model lock, so a snapshot's seq and the deltas
         * after it are always contiguous */
        publish_book_deltas(app, b);
        bws_publish_batch(app, b);
        mdata_unlock(app->md);
        publish_public(app, b);
        publish_private(app, b);
    }
    /* answer after the read models are updated: a client that reads the book right after its
     * order was acknowledged sees the order's effect */
    for (size_t i = 0; i < b->results.n; i++) {
        const struct cmd_result *r = &b->results.v[i];
        if (!r->req_id)
            continue;
        if (ok) {
            api_complete(app, r->req_id, b->statuses[i], b->bodies[i], false);
            b->bodies[i] = NULL; /* ownership passed */
        } else {
            api_complete(app, r->req_id, 503, json_error_body(CG_ESTORE, NULL), false);
        }
    }
    if (ok && app->lws_ctx)
        lws_cancel_service(app->lws_ctx);
    batch_free(b);
}
