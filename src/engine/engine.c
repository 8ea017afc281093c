#include "engine/engine.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

#define QUEUE_BOUND 100000
#define BATCH_MAX 4096

struct house_market {
    struct order **v; /* the house's resting orders in this market */
    size_t n, cap;
};

struct touched {
    uint32_t market;
    uint8_t side;
    int64_t price;
};

struct engine {
    const struct config *cfg;
    struct ledger *lg;
    struct book **books;
    struct house_market *house;
    struct order *free_orders;
    uint64_t next_order_id, next_fill_id, next_entry_id, next_seq, next_batch_id;
    uint64_t *book_seq;
    /* batch being built */
    struct batch *cur;
    VEC(struct touched) touched;
    /* queue */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct cmd *head, *tail;
    size_t qlen;
    bool running, started;
    pthread_t thread;
    engine_emit_fn emit;
    void *emit_ctx;
};

#define VEC_PUSH(vec, item)                                                                        \
    do {                                                                                           \
        if ((vec).n == (vec).cap) {                                                                \
            size_t ncap_ = (vec).cap ? (vec).cap * 2 : 16;                                         \
            void *nv_ = realloc((vec).v, ncap_ * sizeof(*(vec).v));                                \
            if (!nv_)                                                                              \
                abort();                                                                           \
            (vec).v = nv_;                                                                         \
            (vec).cap = ncap_;                                                                     \
        }                                                                                          \
        (vec).v[(vec).n++] = (item);                                                               \
    } while (0)

void batch_free(struct batch *b)
{
    if (!b)
        return;
    free(b->results.v);
    free(b->orders.v);
    free(b->fills.v);
    free(b->entries.v);
    free(b->balances.v);
    free(b->l2.v);
    free(b->tops);
    for (size_t i = 0; b->bodies && i < b->results.n; i++)
        free(b->bodies[i]);
    free(b->bodies);
    free(b->statuses);
    free(b);
}

int64_t engine_fee(int64_t notional, int64_t ppm)
{
    return (int64_t)(((__int128)notional * ppm) / 1000000);
}

static int64_t notional_of(const struct config *cfg, const struct market_cfg *m, int64_t price,
                           int64_t qty)
{
    __int128 p = (__int128)price * qty / amount_pow10(cfg->assets[m->base].scale);
    return p > INT64_MAX ? INT64_MAX : (int64_t)p;
}

int64_t engine_order_reserve(const struct config *cfg, const struct order *o)
{
    const struct market_cfg *m = &cfg->markets[o->market];
    int64_t n;
    int64_t ppm;
    if (o->side == SIDE_SELL)
        return o->remaining;
    if (o->type != ORDER_LIMIT)
        return o->hold; /* market buys: the exact cost found before matching */
    n = notional_of(cfg, m, o->price, o->remaining);
    ppm = m->maker_fee_ppm > m->taker_fee_ppm ? m->maker_fee_ppm : m->taker_fee_ppm;
    return n + engine_fee(n, ppm);
}

const char *order_status_name(int status)
{
    static const char *names[] = {"new",      "partially_filled", "filled",
                                  "canceled", "rejected",         "expired"};
    return (status >= 0 && status <= ORDER_EXPIRED) ? names[status] : "unknown";
}

const char *order_reason_name(int reason)
{
    static const char *names[] = {NULL, "canceled_by_user", "self_trade_prevention", "no_liquidity",
                                  "house_requote"};
    return (reason > 0 && reason <= REASON_HOUSE_REQUOTE) ? names[reason] : NULL;
}

struct engine *engine_new(const struct config *cfg)
{
    struct engine *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->cfg = cfg;
    e->lg = ledger_new(cfg->n_assets);
    e->books = calloc(cfg->n_markets, sizeof(*e->books));
    e->house = calloc(cfg->n_markets, sizeof(*e->house));
    e->book_seq = calloc(cfg->n_markets, sizeof(*e->book_seq));
    if (!e->lg || !e->books || !e->house || !e->book_seq)
        goto fail;
    for (size_t i = 0; i < cfg->n_markets; i++) {
        e->books[i] = book_new();
        if (!e->books[i])
            goto fail;
    }
    e->next_order_id = 1;
    e->next_fill_id = 1;
    e->next_entry_id = 1;
    e->next_seq = 1;
    e->next_batch_id = 1;
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    return e;
fail:
    engine_free(e);
    return NULL;
}

static void free_book_orders(const struct order *o, void *ctx)
{
    struct order ***list = ctx;
    **list = (struct order *)o;
    (*list)++;
}

void engine_free(struct engine *e)
{
    if (!e)
        return;
    engine_stop(e);
    for (size_t i = 0; e->books && i < e->cfg->n_markets; i++) {
        struct book *b = e->books[i];
        if (!b)
            continue;
        for (int s = 0; s < 2; s++) {
            size_t n = book_order_count(b);
            struct order **all = calloc(n + 1, sizeof(*all));
            struct order **p = all;
            book_foreach(b, (enum side)s, free_book_orders, &p);
            for (struct order **q = all; q < p; q++) {
                book_remove(b, *q);
                free(*q);
            }
            free(all);
        }
        book_free(b);
        free(e->house[i].v);
    }
    while (e->free_orders) {
        struct order *n = e->free_orders->next;
        free(e->free_orders);
        e->free_orders = n;
    }
    while (e->head) {
        struct cmd *n = e->head->next;
        free(e->head);
        e->head = n;
    }
    free(e->books);
    free(e->house);
    free(e->book_seq);
    free(e->touched.v);
    ledger_free(e->lg);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv);
    free(e);
}

struct ledger *engine_ledger(struct engine *e)
{
    return e->lg;
}

void engine_set_ids(struct engine *e, uint64_t next_order_id, uint64_t next_fill_id,
                    uint64_t next_entry_id, uint64_t next_seq)
{
    e->next_order_id = next_order_id;
    e->next_fill_id = next_fill_id;
    e->next_entry_id = next_entry_id;
    e->next_seq = next_seq;
}

static struct order *order_alloc(struct engine *e)
{
    struct order *o = e->free_orders;
    if (o)
        e->free_orders = o->next;
    else
        o = malloc(sizeof(*o));
    if (!o)
        abort();
    memset(o, 0, sizeof(*o));
    return o;
}

static void order_release(struct engine *e, struct order *o)
{
    o->next = e->free_orders;
    e->free_orders = o;
}

static void touch(struct engine *e, uint32_t market, int side, int64_t price);

enum cg_err engine_restore_order(struct engine *e, const struct order *src)
{
    struct order *o;
    if (src->market >= e->cfg->n_markets || src->remaining <= 0)
        return CG_EINVAL;
    o = order_alloc(e);
    *o = *src;
    o->prev = o->next = NULL;
    o->level = NULL;
    o->id_next = NULL;
    if (!book_insert(e->books[o->market], o)) {
        order_release(e, o);
        return CG_ENOMEM;
    }
    /* the first batch after recovery publishes the restored levels to the read models */
    touch(e, o->market, o->side, o->price);
    return CG_OK;
}

/* ---- batch recording ---- */

static void touch(struct engine *e, uint32_t market, int side, int64_t price)
{
    struct touched t = {market, (uint8_t)side, price};
    VEC_PUSH(e->touched, t);
}

static void record_order(struct engine *e, const struct order *o)
{
    if (!o->house)
        VEC_PUSH(e->cur->orders, *o);
}

static void record_balance(struct engine *e, uint64_t user_id, uint32_t asset)
{
    const struct balance *b = ledger_get(e->lg, user_id, asset);
    struct balance_change c = {user_id, asset, b ? b->total : 0, b ? b->held : 0};
    VEC_PUSH(e->cur->balances, c);
}

static enum cg_err post_entry(struct engine *e, struct journal_entry *je)
{
    enum cg_err err;
    je->id = e->next_entry_id;
    err = ledger_post(e->lg, je);
    if (err != CG_OK)
        return err;
    e->next_entry_id++;
    VEC_PUSH(e->cur->entries, *je);
    for (uint32_t i = 0; i < je->n; i++)
        record_balance(e, je->p[i].user_id, je->p[i].asset);
    return CG_OK;
}

static enum cg_err hold(struct engine *e, uint64_t user_id, uint32_t asset, int64_t amount)
{
    enum cg_err err;
    if (amount == 0)
        return CG_OK;
    err = ledger_hold(e->lg, user_id, asset, amount);
    if (err == CG_OK)
        record_balance(e, user_id, asset);
    return err;
}

static void release(struct engine *e, uint64_t user_id, uint32_t asset, int64_t amount)
{
    if (amount == 0)
        return;
    ledger_release(e->lg, user_id, asset, amount);
    record_balance(e, user_id, asset);
}

static uint32_t hold_asset(const struct engine *e, const struct order *o)
{
    const struct market_cfg *m = &e->cfg->markets[o->market];
    return o->side == SIDE_BUY ? m->quote : m->base;
}

/* Bring an open order's hold to its reserve, releasing the excess. */
static void rehold(struct engine *e, struct order *o)
{
    int64_t need = (o->status == ORDER_NEW || o->status == ORDER_PARTIALLY_FILLED)
                       ? engine_order_reserve(e->cfg, o)
                       : 0;
    if (o->type != ORDER_LIMIT && o->side == SIDE_BUY && need == o->hold &&
        (o->status == ORDER_NEW || o->status == ORDER_PARTIALLY_FILLED))
        return;
    assert(need <= o->hold);
    release(e, o->user_id, hold_asset(e, o), o->hold - need);
    o->hold = need;
}

/* ---- matching ---- */

static void house_forget(struct engine *e, struct order *o)
{
    struct house_market *hm = &e->house[o->market];
    for (size_t i = 0; i < hm->n; i++) {
        if (hm->v[i] == o) {
            hm->v[i] = hm->v[--hm->n];
            return;
        }
    }
}

/* Take a resting order out of the book for good (filled, canceled), settling its hold. */
static void finish_resting(struct engine *e, struct order *o, int status, int reason, int64_t ts)
{
    struct book *b = e->books[o->market];
    touch(e, o->market, o->side, o->price);
    book_remove(b, o);
    o->status = (uint8_t)status;
    o->reason = (uint8_t)reason;
    o->updated_at = ts;
    rehold(e, o);
    record_order(e, o);
    if (o->house)
        house_forget(e, o);
    order_release(e, o);
}

static enum cg_err settle(struct engine *e, struct order *taker, struct order *maker, int64_t qty,
                          int64_t ts)
{
    const struct market_cfg *m = &e->cfg->markets[taker->market];
    int64_t price = maker->price;
    int64_t n = notional_of(e->cfg, m, price, qty);
    int64_t tfee = engine_fee(n, m->taker_fee_ppm);
    int64_t mfee = engine_fee(n, m->maker_fee_ppm);
    struct order *buyer = taker->side == SIDE_BUY ? taker : maker;
    struct order *seller = taker->side == SIDE_BUY ? maker : taker;
    int64_t bfee = buyer == taker ? tfee : mfee;
    int64_t sfee = seller == taker ? tfee : mfee;
    struct journal_entry je = {0};
    struct fill f = {0};
    enum cg_err err;

    je.kind = ENTRY_TRADE;
    je.ref_id = e->next_fill_id;
    je.ts = ts;
    je.n = 5;
    je.p[0] = (struct posting){buyer->user_id, m->quote, -(n + bfee), n + bfee};
    je.p[1] = (struct posting){buyer->user_id, m->base, qty, 0};
    je.p[2] = (struct posting){seller->user_id, m->base, -qty, qty};
    je.p[3] = (struct posting){seller->user_id, m->quote, n - sfee, 0};
    je.p[4] = (struct posting){LEDGER_FEES_ID, m->quote, bfee + sfee, 0};
    err = post_entry(e, &je);
    if (err != CG_OK) {
        log_error("engine: settlement failed (%s): taker %llu maker %llu", cg_err_code(err),
                  (unsigned long long)taker->id, (unsigned long long)maker->id);
        return err;
    }
    buyer->hold -= n + bfee;
    seller->hold -= qty;
    f.id = e->next_fill_id++;
    f.market = taker->market;
    f.price = price;
    f.quantity = qty;
    f.quote_quantity = n;
    f.taker_side = taker->side;
    f.taker_order_id = taker->id;
    f.maker_order_id = maker->id;
    f.taker_user_id = taker->user_id;
    f.maker_user_id = maker->user_id;
    f.taker_fee = tfee;
    f.maker_fee = mfee;
    f.ts = ts;
    VEC_PUSH(e->cur->fills, f);
    taker->filled += qty;
    taker->remaining -= qty;
    taker->quote_filled += n;
    taker->fee_total += tfee;
    taker->updated_at = ts;
    maker->filled += qty;
    maker->quote_filled += n;
    maker->fee_total += mfee;
    maker->updated_at = ts;
    return CG_OK;
}

static bool crosses(const struct order *taker, int64_t maker_price)
{
    if (taker->type == ORDER_MARKET)
        return true;
    return taker->side == SIDE_BUY ? maker_price <= taker->price : maker_price >= taker->price;
}

/* Match `taker` against the opposite side while it crosses. */
static void match(struct engine *e, struct order *taker, int64_t ts)
{
    struct book *b = e->books[taker->market];
    enum side opp = taker->side == SIDE_BUY ? SIDE_SELL : SIDE_BUY;

    while (taker->remaining > 0) {
        struct order *maker = book_best(b, opp);
        int64_t qty;
        if (!maker || !crosses(taker, maker->price))
            break;
        if (maker->user_id == taker->user_id) {
            /* Self-trade prevention: expire the resting (maker) order. */
            finish_resting(e, maker, ORDER_CANCELED, REASON_SELF_TRADE_PREVENTION, ts);
            continue;
        }
        qty = taker->remaining < maker->remaining ? taker->remaining : maker->remaining;
        if (taker->type == ORDER_MARKET && taker->side == SIDE_BUY) {
            /* Never spend beyond the exact cost reserved before matching. */
            const struct market_cfg *m = &e->cfg->markets[taker->market];
            int64_t n = notional_of(e->cfg, m, maker->price, qty);
            if (n + engine_fee(n, m->taker_fee_ppm) > taker->hold)
                break;
        }
        if (settle(e, taker, maker, qty, ts) != CG_OK)
            break;
        touch(e, maker->market, maker->side, maker->price);
        book_reduce(b, maker, qty);
        if (maker->remaining == 0) {
            finish_resting(e, maker, ORDER_FILLED, REASON_NONE, ts);
        } else {
            maker->status = ORDER_PARTIALLY_FILLED;
            rehold(e, maker);
            record_order(e, maker);
        }
        if (taker->remaining > 0)
            taker->status = ORDER_PARTIALLY_FILLED;
        rehold(e, taker);
    }
}

struct buy_sim {
    uint64_t user_id;
    const struct engine *e;
    const struct market_cfg *m;
    int64_t want;
    int64_t qty;
    int64_t cost;
};

static void sim_visit(const struct order *o, void *ctx)
{
    struct buy_sim *s = ctx;
    int64_t q;
    int64_t n;
    if (s->qty >= s->want || o->user_id == s->user_id)
        return;
    q = s->want - s->qty < o->remaining ? s->want - s->qty : o->remaining;
    n = notional_of(s->e->cfg, s->m, o->price, q);
    s->qty += q;
    s->cost += n + engine_fee(n, s->m->taker_fee_ppm);
}

struct fok_sim {
    const struct order *taker;
    int64_t qty;
};

static void fok_visit(const struct order *o, void *ctx)
{
    struct fok_sim *s = ctx;
    if (s->qty >= s->taker->quantity || o->user_id == s->taker->user_id ||
        !crosses(s->taker, o->price))
        return;
    s->qty += o->remaining;
}

/* ---- commands ---- */

static void result_order(struct engine *e, struct cmd_result *r, const struct order *o,
                         size_t fills_before)
{
    r->order = *o;
    r->order.prev = r->order.next = r->order.id_next = NULL;
    r->order.level = NULL;
    r->fill_first = (uint32_t)fills_before;
    r->fill_count = (uint32_t)(e->cur->fills.n - fills_before);
}

static enum cg_err do_place(struct engine *e, const struct cmd *c, struct cmd_result *r, bool house,
                            struct order **resting)
{
    const struct market_cfg *m;
    struct order *o;
    size_t fills_before = e->cur->fills.n;
    int64_t need;
    enum cg_err err;

    if (resting)
        *resting = NULL;
    if (c->u.place.market >= e->cfg->n_markets)
        return CG_EMARKET;
    m = &e->cfg->markets[c->u.place.market];
    if (c->u.place.quantity <= 0 || c->u.place.quantity % m->lot_size != 0)
        return CG_ELOT;
    if (c->u.place.type == ORDER_LIMIT &&
        (c->u.place.price <= 0 || c->u.place.price % m->tick_size != 0))
        return CG_ETICK;
    o = order_alloc(e);
    o->user_id = c->user_id;
    o->market = c->u.place.market;
    o->side = c->u.place.side;
    o->type = c->u.place.type;
    o->tif = c->u.place.type == ORDER_MARKET ? TIF_IOC : c->u.place.tif;
    o->price = c->u.place.type == ORDER_LIMIT ? c->u.place.price : 0;
    o->quantity = o->remaining = c->u.place.quantity;
    o->created_at = o->updated_at = c->ts;
    o->house = house;
    memcpy(o->client_order_id, c->u.place.client_order_id, sizeof(o->client_order_id));
    if (o->type == ORDER_LIMIT && o->tif == TIF_FOK) {
        /* Fill or kill: all of it now, or nothing (the order ends expired, no funds move). */
        struct fok_sim fs = {o, 0};
        book_foreach(e->books[o->market], o->side == SIDE_BUY ? SIDE_SELL : SIDE_BUY, fok_visit,
                     &fs);
        if (fs.qty < o->quantity) {
            o->id = e->next_order_id++;
            o->seq = e->next_seq++;
            o->status = ORDER_EXPIRED;
            o->reason = REASON_NO_LIQUIDITY;
            record_order(e, o);
            if (r)
                result_order(e, r, o, fills_before);
            order_release(e, o);
            return CG_OK;
        }
    }
    if (o->type == ORDER_MARKET && o->side == SIDE_BUY) {
        struct buy_sim s = {o->user_id, e, m, o->quantity, 0, 0};
        book_foreach(e->books[o->market], SIDE_SELL, sim_visit, &s);
        if (s.qty == 0) {
            order_release(e, o);
            return CG_ELIQUIDITY;
        }
        need = s.cost;
    } else if (o->type == ORDER_MARKET) {
        /* any bid from another participant (own bids would only be canceled as self-trades) */
        struct fok_sim fs = {o, 0};
        book_foreach(e->books[o->market], SIDE_BUY, fok_visit, &fs);
        if (fs.qty == 0) {
            order_release(e, o);
            return CG_ELIQUIDITY;
        }
        need = o->quantity;
    } else {
        need = engine_order_reserve(e->cfg, o);
    }
    if (house && ledger_available(e->lg, o->user_id, hold_asset(e, o)) < need) {
        /* The house is funded by the paper mint on demand, in generous chunks. */
        struct journal_entry je = {0};
        int64_t amt = need > INT64_MAX / 8 ? need : need * 4;
        je.kind = ENTRY_HOUSE_FUNDING;
        je.ts = c->ts;
        je.n = 2;
        je.p[0] = (struct posting){LEDGER_MINT_ID, hold_asset(e, o), -amt, 0};
        je.p[1] = (struct posting){o->user_id, hold_asset(e, o), amt, 0};
        if (post_entry(e, &je) != CG_OK) {
            order_release(e, o);
            return CG_EFUNDS;
        }
    }
    err = hold(e, o->user_id, hold_asset(e, o), need);
    if (err != CG_OK) {
        order_release(e, o);
        return err;
    }
    o->hold = need;
    o->id = e->next_order_id++;
    o->seq = e->next_seq++;
    o->status = ORDER_NEW;
    match(e, o, c->ts);
    if (o->remaining > 0 && o->type == ORDER_LIMIT && o->tif == TIF_GTC) {
        if (!book_insert(e->books[o->market], o))
            abort();
        touch(e, o->market, o->side, o->price);
        if (house) {
            struct house_market *hm = &e->house[o->market];
            VEC_PUSH(*hm, o);
        }
        if (resting)
            *resting = o;
        record_order(e, o);
        if (r)
            result_order(e, r, o, fills_before);
        return CG_OK;
    }
    o->status = o->remaining == 0 ? ORDER_FILLED : ORDER_EXPIRED;
    if (o->remaining > 0)
        o->reason = REASON_NO_LIQUIDITY;
    rehold(e, o);
    record_order(e, o);
    if (r)
        result_order(e, r, o, fills_before);
    order_release(e, o);
    return CG_OK;
}

static enum cg_err do_cancel(struct engine *e, const struct cmd *c, struct cmd_result *r)
{
    struct order *o;
    if (c->u.cancel.market >= e->cfg->n_markets)
        return CG_EMARKET;
    o = book_find(e->books[c->u.cancel.market], c->u.cancel.order_id);
    if (!o || o->user_id != c->user_id)
        return o ? CG_ENOTFOUND : CG_ENOTOPEN;
    result_order(e, r, o, e->cur->fills.n);
    finish_resting(e, o, ORDER_CANCELED, REASON_CANCELED_BY_USER, c->ts);
    /* finish_resting released o; the snapshot reflects the end state */
    r->order.status = ORDER_CANCELED;
    r->order.reason = REASON_CANCELED_BY_USER;
    r->order.updated_at = c->ts;
    r->order.hold = 0;
    return CG_OK;
}

static enum cg_err do_funds(struct engine *e, const struct cmd *c, struct cmd_result *r)
{
    struct journal_entry je = {0};
    int64_t amt = c->u.funds.amount;
    enum cg_err err;
    if (c->u.funds.asset >= e->cfg->n_assets)
        return CG_EASSET;
    if (amt <= 0)
        return CG_EAMOUNT;
    je.kind = c->type == CMD_DEPOSIT ? ENTRY_DEPOSIT : ENTRY_WITHDRAWAL;
    je.ts = c->ts;
    je.n = 2;
    if (c->type == CMD_DEPOSIT) {
        je.p[0] = (struct posting){LEDGER_MINT_ID, c->u.funds.asset, -amt, 0};
        je.p[1] = (struct posting){c->user_id, c->u.funds.asset, amt, 0};
    } else {
        je.p[0] = (struct posting){c->user_id, c->u.funds.asset, -amt, 0};
        je.p[1] = (struct posting){LEDGER_MINT_ID, c->u.funds.asset, amt, 0};
    }
    err = post_entry(e, &je);
    if (err != CG_OK)
        return err;
    r->entry_id = je.id;
    r->asset = c->u.funds.asset;
    r->amount = amt;
    return CG_OK;
}

/* ---- house liquidity: mirror real levels / quote a ladder, through do_place ---- */

static int64_t desired_at(const struct px_level *lv, size_t n, int64_t price)
{
    for (size_t i = 0; i < n; i++)
        if (lv[i].price == price)
            return lv[i].qty;
    return -1;
}

static int64_t house_qty_at(struct house_market *hm, int side, int64_t price)
{
    int64_t q = 0;
    for (size_t i = 0; i < hm->n; i++)
        if (hm->v[i]->side == side && hm->v[i]->price == price)
            q += hm->v[i]->remaining;
    return q;
}

static void house_sync(struct engine *e, uint32_t market, const struct px_level *bids, size_t nb,
                       const struct px_level *asks, size_t na, int64_t ts)
{
    struct house_market *hm = &e->house[market];
    const struct market_cfg *m = &e->cfg->markets[market];
    struct cmd pc;

    /* 1. cancel quotes whose level is gone or shrank (cancels first: no self-crossing) */
    for (size_t i = 0; i < hm->n;) {
        struct order *o = hm->v[i];
        const struct px_level *lv = o->side == SIDE_BUY ? bids : asks;
        size_t n = o->side == SIDE_BUY ? nb : na;
        int64_t want = desired_at(lv, n, o->price);
        if (want < 0 || house_qty_at(hm, o->side, o->price) > want) {
            finish_resting(e, o, ORDER_CANCELED, REASON_HOUSE_REQUOTE, ts);
            continue; /* finish_resting swapped another order into slot i */
        }
        i++;
    }
    /* 2. top up levels to the wanted size */
    memset(&pc, 0, sizeof(pc));
    pc.type = CMD_PLACE;
    pc.user_id = LEDGER_HOUSE_LP_ID;
    pc.ts = ts;
    pc.u.place.market = market;
    pc.u.place.type = ORDER_LIMIT;
    pc.u.place.tif = TIF_GTC;
    for (int s = 0; s < 2; s++) {
        const struct px_level *lv = s == SIDE_BUY ? bids : asks;
        size_t n = s == SIDE_BUY ? nb : na;
        for (size_t i = 0; i < n; i++) {
            int64_t have = house_qty_at(hm, s, lv[i].price);
            int64_t add = lv[i].qty - have;
            add -= add % m->lot_size;
            if (add <= 0 || lv[i].price <= 0 || lv[i].price % m->tick_size != 0)
                continue;
            pc.u.place.side = (uint8_t)s;
            pc.u.place.price = lv[i].price;
            pc.u.place.quantity = add;
            (void)do_place(e, &pc, NULL, true, NULL);
        }
    }
}

static void house_ladder(struct engine *e, uint32_t market, int64_t price, int64_t ts)
{
    const struct market_cfg *m = &e->cfg->markets[market];
    const struct house_cfg *h = &e->cfg->house;
    struct px_level bids[ENGINE_FEED_LEVELS];
    struct px_level asks[ENGINE_FEED_LEVELS];
    int levels = h->ladder_levels < ENGINE_FEED_LEVELS ? h->ladder_levels : ENGINE_FEED_LEVELS;
    size_t nb = 0;
    size_t na = 0;
    int64_t bscale = amount_pow10(e->cfg->assets[m->base].scale);

    for (int k = 1; k <= levels; k++) {
        int64_t off = (int64_t)((__int128)price * h->ladder_step_bps * k / 10000);
        int64_t bp = price - off;
        int64_t ap = price + off;
        if (off < m->tick_size * k)
            off = m->tick_size * k; /* at least one tick between levels */
        bp = price - off;
        ap = price + off;
        bp -= bp % m->tick_size;
        ap += (m->tick_size - ap % m->tick_size) % m->tick_size;
        if (bp > 0) {
            int64_t q = (int64_t)((__int128)h->ladder_level_notional * bscale / bp);
            q -= q % m->lot_size;
            if (q > 0)
                bids[nb++] = (struct px_level){bp, q};
        }
        {
            int64_t q = (int64_t)((__int128)h->ladder_level_notional * bscale / ap);
            q -= q % m->lot_size;
            if (q > 0)
                asks[na++] = (struct px_level){ap, q};
        }
    }
    house_sync(e, market, bids, nb, asks, na, ts);
}

static void process(struct engine *e, const struct cmd *c)
{
    struct cmd_result r;
    enum cg_err err = CG_OK;

    if ((c->type == CMD_FEED_BOOK || c->type == CMD_FEED_PRICE) &&
        (c->u.feed_book.market >= e->cfg->n_markets ||
         (c->type == CMD_FEED_BOOK && (c->u.feed_book.n_bids > ENGINE_FEED_LEVELS ||
                                       c->u.feed_book.n_asks > ENGINE_FEED_LEVELS))))
        return;
    if (c->type == CMD_FEED_BOOK) {
        house_sync(e, c->u.feed_book.market, c->u.feed_book.bids, c->u.feed_book.n_bids,
                   c->u.feed_book.asks, c->u.feed_book.n_asks, c->ts);
        return;
    }
    if (c->type == CMD_FEED_PRICE) {
        house_ladder(e, c->u.feed_price.market, c->u.feed_price.price, c->ts);
        return;
    }
    memset(&r, 0, sizeof(r));
    r.req_id = c->req_id;
    r.type = c->type;
    r.user_id = c->user_id;
    r.ts = c->ts;
    memcpy(r.idem_key, c->idem_key, sizeof(r.idem_key));
    memcpy(r.idem_hash, c->idem_hash, sizeof(r.idem_hash));
    r.fill_first = (uint32_t)e->cur->fills.n;
    switch (c->type) {
    case CMD_DEPOSIT:
    case CMD_WITHDRAW:
        err = do_funds(e, c, &r);
        break;
    case CMD_PLACE:
        err = do_place(e, c, &r, false, NULL);
        break;
    case CMD_CANCEL:
        err = do_cancel(e, c, &r);
        break;
    default:
        err = CG_EINVAL;
    }
    r.err = err;
    VEC_PUSH(e->cur->results, r);
}

static int cmp_touched(const void *a, const void *b)
{
    const struct touched *x = a;
    const struct touched *y = b;
    if (x->market != y->market)
        return x->market < y->market ? -1 : 1;
    if (x->side != y->side)
        return x->side < y->side ? -1 : 1;
    return x->price < y->price ? -1 : (x->price > y->price);
}

static int cmp_balance(const void *a, const void *b)
{
    const struct balance_change *x = a;
    const struct balance_change *y = b;
    if (x->user_id != y->user_id)
        return x->user_id < y->user_id ? -1 : 1;
    return x->asset < y->asset ? -1 : (x->asset > y->asset);
}

static void finish_batch(struct engine *e)
{
    struct batch *b = e->cur;
    size_t w = 0;

    if (e->touched.n > 1)
        qsort(e->touched.v, e->touched.n, sizeof(*e->touched.v), cmp_touched);
    for (size_t i = 0; i < e->touched.n; i++) {
        struct touched *t = &e->touched.v[i];
        struct l2_change ch;
        if (i > 0 && cmp_touched(t, &e->touched.v[i - 1]) == 0)
            continue;
        ch.market = t->market;
        ch.side = t->side;
        ch.price = t->price;
        ch.qty = book_level_quantity(e->books[t->market], (enum side)t->side, t->price);
        VEC_PUSH(b->l2, ch);
        b->tops[t->market].changed = true;
    }
    e->touched.n = 0;
    for (size_t m = 0; m < e->cfg->n_markets; m++) {
        struct market_top *top = &b->tops[m];
        struct order *bb = book_best(e->books[m], SIDE_BUY);
        struct order *ba = book_best(e->books[m], SIDE_SELL);
        if (top->changed)
            e->book_seq[m]++;
        top->book_seq = e->book_seq[m];
        top->has_bid = bb != NULL;
        top->has_ask = ba != NULL;
        if (bb) {
            top->bid = bb->price;
            top->bid_qty = book_level_quantity(e->books[m], SIDE_BUY, bb->price);
        }
        if (ba) {
            top->ask = ba->price;
            top->ask_qty = book_level_quantity(e->books[m], SIDE_SELL, ba->price);
        }
    }
    /* keep the last state of each balance only */
    if (b->balances.n > 1)
        qsort(b->balances.v, b->balances.n, sizeof(*b->balances.v), cmp_balance);
    for (size_t i = 0; i < b->balances.n; i++) {
        const struct balance_change *c = &b->balances.v[i];
        const struct balance *cur;
        if (w > 0 && cmp_balance(c, &b->balances.v[w - 1]) == 0)
            continue;
        cur = ledger_get(e->lg, c->user_id, c->asset);
        b->balances.v[w] = *c;
        b->balances.v[w].total = cur ? cur->total : 0;
        b->balances.v[w].held = cur ? cur->held : 0;
        w++;
    }
    b->balances.n = w;
    b->next_order_id = e->next_order_id;
    b->next_fill_id = e->next_fill_id;
    b->next_entry_id = e->next_entry_id;
    b->next_seq = e->next_seq;
    e->cur = NULL;
}

static struct batch *begin_batch(struct engine *e)
{
    struct batch *b = calloc(1, sizeof(*b));
    if (!b)
        abort();
    b->id = e->next_batch_id++;
    b->n_markets = e->cfg->n_markets;
    b->tops = calloc(b->n_markets, sizeof(*b->tops));
    if (!b->tops)
        abort();
    e->cur = b;
    return b;
}

struct batch *engine_run_batch(struct engine *e, struct cmd *const *cmds, size_t n)
{
    struct batch *b = begin_batch(e);
    for (size_t i = 0; i < n; i++)
        process(e, cmds[i]);
    finish_batch(e);
    return b;
}

static void *engine_main(void *arg)
{
    struct engine *e = arg;
    for (;;) {
        struct cmd *list;
        struct cmd *c;
        struct batch *b;
        size_t n = 0;

        pthread_mutex_lock(&e->mu);
        while (!e->head && e->running)
            pthread_cond_wait(&e->cv, &e->mu);
        if (!e->head && !e->running) {
            pthread_mutex_unlock(&e->mu);
            break;
        }
        list = e->head;
        c = list;
        while (c->next && ++n < BATCH_MAX)
            c = c->next;
        e->head = c->next;
        if (!e->head)
            e->tail = NULL;
        c->next = NULL;
        e->qlen -= n + 1;
        pthread_mutex_unlock(&e->mu);

        b = begin_batch(e);
        for (c = list; c;) {
            struct cmd *next = c->next;
            process(e, c);
            free(c);
            c = next;
        }
        finish_batch(e);
        e->emit(b, e->emit_ctx);
    }
    return NULL;
}

enum cg_err engine_start(struct engine *e, engine_emit_fn emit, void *ctx)
{
    e->emit = emit;
    e->emit_ctx = ctx;
    e->running = true;
    if (pthread_create(&e->thread, NULL, engine_main, e) != 0) {
        e->running = false;
        return CG_EINTERNAL;
    }
    e->started = true;
    return CG_OK;
}

void engine_stop(struct engine *e)
{
    if (!e->started)
        return;
    pthread_mutex_lock(&e->mu);
    e->running = false;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
    pthread_join(e->thread, NULL);
    e->started = false;
}

enum cg_err engine_submit(struct engine *e, struct cmd *c)
{
    c->next = NULL;
    pthread_mutex_lock(&e->mu);
    if (e->qlen >= QUEUE_BOUND || !e->running) {
        pthread_mutex_unlock(&e->mu);
        free(c);
        return CG_EBUSY;
    }
    if (e->tail)
        e->tail->next = c;
    else
        e->head = c;
    e->tail = c;
    e->qlen++;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
    return CG_OK;
}

/* ---- invariants ---- */

struct reserve_sum {
    const struct config *cfg;
    struct ledger *sums; /* reuse the ledger type as a (user, asset) -> amount map */
};

static void add_reserve(const struct order *o, void *ctx)
{
    struct reserve_sum *rs = ctx;
    const struct market_cfg *m = &rs->cfg->markets[o->market];
    uint32_t asset = o->side == SIDE_BUY ? m->quote : m->base;
    const struct balance *b = ledger_get(rs->sums, o->user_id, asset);
    if (ledger_restore(rs->sums, o->user_id, asset, (b ? b->total : 0) + o->hold, 0) != CG_OK)
        abort();
}

struct held_check {
    const struct ledger *sums;
    bool ok;
    char *msg;
    size_t msglen;
};

static void check_held(uint64_t user_id, uint32_t asset, const struct balance *b, void *ctx)
{
    struct held_check *hc = ctx;
    const struct balance *r = ledger_get(hc->sums, user_id, asset);
    int64_t reserved = r ? r->total : 0;
    if (hc->ok && b->held != reserved) {
        hc->ok = false;
        snprintf(hc->msg, hc->msglen, "account %llu asset %u: held %lld, open orders reserve %lld",
                 (unsigned long long)user_id, asset, (long long)b->held, (long long)reserved);
    }
}

struct order_check {
    const struct config *cfg;
    bool ok;
};

static void check_order_hold(const struct order *o, void *ctx)
{
    struct order_check *oc = ctx;
    if (o->hold != engine_order_reserve(oc->cfg, o))
        oc->ok = false;
}

bool engine_check(struct engine *e, char *msg, size_t msglen)
{
    struct reserve_sum rs = {e->cfg, ledger_new(e->cfg->n_assets)};
    struct held_check hc = {NULL, true, msg, msglen};
    struct order_check oc = {e->cfg, true};
    if (!rs.sums)
        return false;
    if (!ledger_check(e->lg, msg, msglen)) {
        ledger_free(rs.sums);
        return false;
    }
    for (size_t m = 0; m < e->cfg->n_markets; m++) {
        for (int s = 0; s < 2; s++) {
            book_foreach(e->books[m], (enum side)s, add_reserve, &rs);
            book_foreach(e->books[m], (enum side)s, check_order_hold, &oc);
        }
    }
    hc.sums = rs.sums;
    ledger_foreach(e->lg, check_held, &hc);
    ledger_free(rs.sums);
    if (hc.ok && !oc.ok) {
        snprintf(msg, msglen, "an open order's hold differs from its reserve");
        return false;
    }
    return hc.ok;
}
