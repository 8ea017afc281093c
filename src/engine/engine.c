#include "engine/engine.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

static void touch(struct engine *e, uint32_t market, int side, int64_t price);
static void collect_orders(const struct order *o, void *ctx);

#define QUEUE_BOUND 100000
#define BATCH_MAX 4096

struct house_market {
    struct order **v; /* the house's resting orders in this market */
    size_t n, cap;
};

#define COID_BUCKETS 4096

enum { STOP_RISE = 0, STOP_FALL = 1 };

struct order_vec {
    struct order **v;
    size_t n, cap;
};

struct market_stops {
    struct order_vec list[2]; /* STOP_RISE ascending, STOP_FALL descending by stop price */
};

struct last_price {
    bool has, dirty; /* dirty: traded since stops were last checked, over [lo, hi] */
    int64_t price, hi, lo;
};

struct coid_entry {
    uint64_t user_id;
    char coid[40];
    struct coid_entry *next;
};

struct touched {
    uint32_t market;
    uint8_t side;
    int64_t price;
};

/*
 * A set of keys (a, b, c) seen in the current batch: open addressing with linear probing, each
 * slot stamped with the batch it was filled in, so a new batch starts empty without clearing.
 * It lets touch() and record_balance() keep only the first record of a level or an account per
 * batch, so finish_batch() sorts unique entries only.
 */
struct seen_slot {
    uint64_t stamp; /* batch id; any other value means empty */
    uint64_t a;
    int64_t c;
    uint32_t b;
};

struct seen_set {
    struct seen_slot *v;
    size_t cap; /* power of two */
    size_t n;   /* entries with stamp == cur_stamp */
    uint64_t cur_stamp;
};

struct engine {
    const struct config *cfg;
    struct ledger *lg;
    struct book **books;
    struct house_market *house;
    struct order *free_orders;
    uint64_t next_order_id, next_fill_id, next_entry_id, next_seq, next_batch_id;
    uint64_t *book_seq;
    struct market_stops *stops;
    struct last_price *last;
    size_t n_dirty;             /* markets with last[m].dirty set */
    struct market_top *top_now; /* per market: its top after the last batch that changed it */
    struct coid_entry **coids;
    /* batch being built */
    struct batch *cur;
    VEC(struct touched) touched;   /* unique per batch */
    struct seen_set seen_levels;   /* (market, side, price) in touched */
    struct seen_set seen_balances; /* (user, asset) in cur->balances */
    /* queue */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct cmd *head, *tail;
    size_t qlen;
    bool running, started;
    pthread_t thread;
    engine_emit_fn emit;
    void *emit_ctx;
    bool hash_every_batch; /* test hook: engine_hash_every_batch */
};

/* Make room for one more element (aborts on out of memory). */
#define VEC_RESERVE1(vec)                                                                          \
    do {                                                                                           \
        if ((vec).n == (vec).cap) {                                                                \
            size_t ncap_ = (vec).cap ? (vec).cap * 2 : 16;                                         \
            void *nv_ = realloc((vec).v, ncap_ * sizeof(*(vec).v));                                \
            if (!nv_)                                                                              \
                abort();                                                                           \
            (vec).v = nv_;                                                                         \
            (vec).cap = ncap_;                                                                     \
        }                                                                                          \
    } while (0)

/* Append one element (aborts on out of memory). */
#define VEC_PUSH(vec, item)                                                                        \
    do {                                                                                           \
        VEC_RESERVE1(vec);                                                                         \
        (vec).v[(vec).n++] = (item);                                                               \
    } while (0)

/*
 * Freed batches go back to a small process-wide pool (any thread frees, the engine thread takes)
 * with their vectors' capacity, so a batch in steady state costs no malloc. Bounded: at most
 * BATCH_POOL_MAX batches, and a vector above BATCH_POOL_KEEP_BYTES is freed rather than kept.
 */
#define BATCH_POOL_MAX 4
#define BATCH_POOL_KEEP_BYTES (8u << 20)

static pthread_mutex_t batch_pool_mu = PTHREAD_MUTEX_INITIALIZER;
static struct batch *batch_pool[BATCH_POOL_MAX];
static size_t batch_pool_n;

#define VEC_TRIM(vec)                                                                              \
    do {                                                                                           \
        if ((vec).cap * sizeof(*(vec).v) > BATCH_POOL_KEEP_BYTES) {                                \
            free((vec).v);                                                                         \
            (vec).v = NULL;                                                                        \
            (vec).cap = 0;                                                                         \
        }                                                                                          \
        (vec).n = 0;                                                                               \
    } while (0)

static void batch_destroy(struct batch *b)
{
    free(b->results.v);
    free(b->orders.v);
    free(b->fills.v);
    free(b->entries.v);
    free(b->balances.v);
    free(b->l2.v);
    free(b->tops);
    free(b);
}

void batch_free(struct batch *b)
{
    if (!b)
        return;
    for (size_t i = 0; b->bodies && i < b->results.n; i++)
        free(b->bodies[i]);
    free(b->bodies);
    free(b->statuses);
    b->bodies = NULL;
    b->statuses = NULL;
    VEC_TRIM(b->results);
    VEC_TRIM(b->orders);
    VEC_TRIM(b->fills);
    VEC_TRIM(b->entries);
    VEC_TRIM(b->balances);
    VEC_TRIM(b->l2);
    pthread_mutex_lock(&batch_pool_mu);
    if (batch_pool_n < BATCH_POOL_MAX) {
        batch_pool[batch_pool_n++] = b;
        b = NULL;
    }
    pthread_mutex_unlock(&batch_pool_mu);
    if (b)
        batch_destroy(b);
}

/* A pooled (emptied) batch or a new one; aborts on out of memory. */
static struct batch *batch_take(size_t n_markets)
{
    struct batch *b = NULL;
    pthread_mutex_lock(&batch_pool_mu);
    if (batch_pool_n > 0)
        b = batch_pool[--batch_pool_n];
    pthread_mutex_unlock(&batch_pool_mu);
    if (!b) {
        b = calloc(1, sizeof(*b));
        if (!b)
            abort();
    }
    if (b->tops_cap < n_markets) {
        free(b->tops);
        b->tops = malloc(n_markets * sizeof(*b->tops));
        if (!b->tops)
            abort();
        b->tops_cap = n_markets;
    }
    memset(b->tops, 0, n_markets * sizeof(*b->tops));
    b->n_markets = n_markets;
    return b;
}

/*
 * The products below take a 64-bit path when the product fits in int64 (the common case: a
 * 128-bit division is a libgcc call, __divti3, of 40-90 cycles); both paths truncate toward
 * zero, so the results are identical.
 */
int64_t engine_fee(int64_t notional, int64_t ppm)
{
    int64_t p;
    if (!__builtin_mul_overflow(notional, ppm, &p))
        return p / 1000000;
    return (int64_t)(((__int128)notional * ppm) / 1000000);
}

static int64_t notional_of(const struct config *cfg, const struct market_cfg *m, int64_t price,
                           int64_t qty)
{
    int64_t p64;
    __int128 p;
    if (!__builtin_mul_overflow(price, qty, &p64))
        return p64 / amount_pow10(cfg->assets[m->base].scale);
    p = (__int128)price * qty / amount_pow10(cfg->assets[m->base].scale);
    return p > INT64_MAX ? INT64_MAX : (int64_t)p;
}

bool order_type_is_stop(int type)
{
    return type >= ORDER_STOP_LOSS && type <= ORDER_TAKE_PROFIT_LIMIT;
}

bool order_type_is_market(int type)
{
    return type == ORDER_MARKET || type == ORDER_STOP_LOSS || type == ORDER_TAKE_PROFIT;
}

int64_t engine_protection_limit(const struct config *cfg, uint32_t market, int side, int64_t ref)
{
    const struct market_cfg *m = &cfg->markets[market];
    __int128 v;
    int64_t p;
    if (side == SIDE_BUY) {
        v = ((__int128)ref * (1000000 + m->protection_ppm) + 999999) / 1000000;
        if (v > INT64_MAX / 2)
            v = INT64_MAX / 2;
        p = (int64_t)v;
        p += (m->tick_size - p % m->tick_size) % m->tick_size;
    } else {
        v = (__int128)ref * (1000000 - m->protection_ppm) / 1000000;
        p = (int64_t)v;
        p -= p % m->tick_size;
        if (p <= 0)
            p = m->tick_size;
    }
    return p;
}

static int64_t max_fee_ppm(const struct market_cfg *m)
{
    return m->maker_fee_ppm > m->taker_fee_ppm ? m->maker_fee_ppm : m->taker_fee_ppm;
}

int64_t engine_order_reserve(const struct config *cfg, const struct order *o)
{
    const struct market_cfg *m = &cfg->markets[o->market];
    int64_t price;
    int64_t n;
    if (o->type == ORDER_MARKET && o->quote_quantity > 0)
        return o->hold; /* by quote: the budget (buys) or the base walked before matching (sells) */
    if (o->side == SIDE_SELL)
        return o->remaining;
    if (o->type == ORDER_MARKET)
        return o->hold; /* the exact cost found before matching */
    if (order_type_is_market(o->type))
        price = o->triggered ? 0 : engine_protection_limit(cfg, o->market, SIDE_BUY, o->stop_price);
    else
        price = o->price;
    if (price == 0)
        return o->hold; /* a triggered stop-market executing: what is left of its hold */
    n = notional_of(cfg, m, price, o->remaining);
    return n + engine_fee(n, max_fee_ppm(m));
}

const char *order_status_name(int status)
{
    static const char *names[] = {"new",      "partially_filled", "filled",
                                  "canceled", "rejected",         "expired"};
    return (status >= 0 && status <= ORDER_EXPIRED) ? names[status] : "unknown";
}

const char *order_reason_name(int reason)
{
    static const char *names[] = {NULL,
                                  "canceled_by_user",
                                  "self_trade_prevention",
                                  "no_liquidity",
                                  "house_requote",
                                  "post_only_would_take",
                                  "market_protection",
                                  "fill_or_kill"};
    return (reason > 0 && reason <= REASON_FILL_OR_KILL) ? names[reason] : NULL;
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
    e->stops = calloc(cfg->n_markets, sizeof(*e->stops));
    e->last = calloc(cfg->n_markets, sizeof(*e->last));
    e->top_now = calloc(cfg->n_markets, sizeof(*e->top_now));
    e->coids = calloc(COID_BUCKETS, sizeof(*e->coids));
    if (!e->lg || !e->books || !e->house || !e->book_seq || !e->stops || !e->last || !e->coids ||
        !e->top_now)
        goto fail;
    for (size_t i = 0; i < cfg->n_markets; i++) {
        e->books[i] = book_new(cfg->markets[i].tick_size);
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

static void collect_orders(const struct order *o, void *ctx)
{
    struct order_vec *list = ctx;
    VEC_PUSH(*list, (struct order *)o);
}

void engine_free(struct engine *e)
{
    if (!e)
        return;
    engine_stop(e);
    for (size_t i = 0; e->books && i < e->cfg->n_markets; i++) {
        struct book *b = e->books[i];
        struct order_vec all = {0};
        if (!b)
            continue;
        for (int s = 0; s < 2; s++)
            book_foreach(b, (enum side)s, collect_orders, &all);
        for (size_t k = 0; k < all.n; k++) {
            book_remove(b, all.v[k]);
            free(all.v[k]);
        }
        free(all.v);
        book_free(b);
        free(e->house[i].v);
        for (int s = 0; e->stops && s < 2; s++) {
            for (size_t k = 0; k < e->stops[i].list[s].n; k++)
                free(e->stops[i].list[s].v[k]);
            free(e->stops[i].list[s].v);
        }
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
    for (size_t i = 0; e->coids && i < COID_BUCKETS; i++) {
        while (e->coids[i]) {
            struct coid_entry *n = e->coids[i]->next;
            free(e->coids[i]);
            e->coids[i] = n;
        }
    }
    free(e->coids);
    free(e->stops);
    free(e->last);
    free(e->top_now);
    free(e->books);
    free(e->house);
    free(e->book_seq);
    free(e->touched.v);
    free(e->seen_levels.v);
    free(e->seen_balances.v);
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

/* ---- client order ids: unique per user among open orders ---- */

static uint64_t coid_hash(uint64_t user_id, const char *coid)
{
    uint64_t h = 1469598103934665603ULL ^ user_id;
    for (const char *p = coid; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return h;
}

static struct coid_entry **coid_slot(struct engine *e, uint64_t user_id, const char *coid)
{
    struct coid_entry **pp = &e->coids[coid_hash(user_id, coid) % COID_BUCKETS];
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->user_id == user_id && !strcmp((*pp)->coid, coid))
            return pp;
    return pp;
}

static void coid_add(struct engine *e, const struct order *o)
{
    struct coid_entry **pp;
    struct coid_entry *c;
    if (!o->client_order_id[0])
        return;
    pp = coid_slot(e, o->user_id, o->client_order_id);
    if (*pp)
        return;
    c = calloc(1, sizeof(*c));
    if (!c)
        abort();
    c->user_id = o->user_id;
    memcpy(c->coid, o->client_order_id, sizeof(c->coid));
    *pp = c;
}

static void coid_remove(struct engine *e, const struct order *o)
{
    struct coid_entry **pp;
    if (!o->client_order_id[0])
        return;
    pp = coid_slot(e, o->user_id, o->client_order_id);
    if (*pp) {
        struct coid_entry *c = *pp;
        *pp = c->next;
        free(c);
    }
}

static bool coid_taken(struct engine *e, uint64_t user_id, const char *coid)
{
    return coid[0] && *coid_slot(e, user_id, coid) != NULL;
}

/* ---- stop book: per market, rising triggers ascending, falling triggers descending ---- */

static int stop_dir(const struct order *o)
{
    bool stop_loss = o->type == ORDER_STOP_LOSS || o->type == ORDER_STOP_LOSS_LIMIT;
    /* stop-loss buys and take-profit sells wait for the price to rise */
    return (stop_loss == (o->side == SIDE_BUY)) ? STOP_RISE : STOP_FALL;
}

/* true if a triggers before b in its list (nearest stop price first, then time) */
static bool stop_before(const struct order *a, const struct order *b, int dir)
{
    if (a->stop_price != b->stop_price)
        return dir == STOP_RISE ? a->stop_price < b->stop_price : a->stop_price > b->stop_price;
    return a->seq < b->seq;
}

static void stop_insert(struct engine *e, struct order *o)
{
    int dir = stop_dir(o);
    struct order_vec *l = &e->stops[o->market].list[dir];
    size_t lo = 0;
    size_t hi = l->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (stop_before(l->v[mid], o, dir))
            lo = mid + 1;
        else
            hi = mid;
    }
    VEC_PUSH(*l, NULL);
    memmove(&l->v[lo + 1], &l->v[lo], (l->n - 1 - lo) * sizeof(*l->v));
    l->v[lo] = o;
}

static struct order *stop_find(struct engine *e, uint32_t market, uint64_t id, bool unlink)
{
    for (int dir = 0; dir < 2; dir++) {
        struct order_vec *l = &e->stops[market].list[dir];
        for (size_t i = 0; i < l->n; i++) {
            struct order *o = l->v[i];
            if (o->id != id)
                continue;
            if (unlink) {
                memmove(&l->v[i], &l->v[i + 1], (l->n - i - 1) * sizeof(*l->v));
                l->n--;
            }
            return o;
        }
    }
    return NULL;
}

static bool stop_would_trigger(const struct order *o, bool has_last, int64_t last)
{
    if (!has_last)
        return false;
    return stop_dir(o) == STOP_RISE ? last >= o->stop_price : last <= o->stop_price;
}

enum cg_err engine_restore_order(struct engine *e, const struct order *src)
{
    struct order *o;
    if (src->market >= e->cfg->n_markets || src->remaining <= 0)
        return CG_EINVAL;
    o = order_alloc(e);
    *o = *src;
    o->prev = o->next = NULL;
    o->level = NULL;
    coid_add(e, o);
    if (order_type_is_stop(o->type) && !o->triggered) {
        stop_insert(e, o);
        return CG_OK;
    }
    if (!book_insert(e->books[o->market], o)) {
        coid_remove(e, o);
        order_release(e, o);
        return CG_ENOMEM;
    }
    /* the first batch after recovery publishes the restored levels to the read models */
    touch(e, o->market, o->side, o->price);
    return CG_OK;
}

void engine_set_last_price(struct engine *e, uint32_t market, int64_t price)
{
    if (market < e->cfg->n_markets && price > 0) {
        e->last[market].has = true;
        e->last[market].price = price;
    }
}

/* Note a trade at price in market (fills and the replay's real trades): stops are checked
 * against the range of prices traded since the last check. */
static void note_trade(struct engine *e, uint32_t market, int64_t last, int64_t high, int64_t low)
{
    struct last_price *lp = &e->last[market];
    lp->has = true;
    lp->price = last;
    if (!lp->dirty) {
        lp->hi = high;
        lp->lo = low;
        lp->dirty = true;
        e->n_dirty++;
        return;
    }
    if (high > lp->hi)
        lp->hi = high;
    if (low < lp->lo)
        lp->lo = low;
}

/* ---- batch recording ---- */

static size_t seen_hash(uint64_t a, uint32_t b, int64_t c, size_t cap)
{
    uint64_t h = a * UINT64_C(0x9E3779B97F4A7C15) ^ (uint64_t)c * UINT64_C(0xC2B2AE3D27D4EB4F) ^
                 (uint64_t)b * UINT64_C(0x165667B19E3779F9);
    h ^= h >> 29;
    return (size_t)(h * UINT64_C(0x9E3779B97F4A7C15) >> 32) & (cap - 1);
}

/* Double the set, keeping the entries of the current stamp. Aborts on out of memory. */
static void seen_grow(struct seen_set *s)
{
    size_t cap = s->cap ? s->cap * 2 : 256;
    struct seen_slot *v = calloc(cap, sizeof(*v));
    if (!v)
        abort();
    for (size_t i = 0; i < s->cap; i++) {
        const struct seen_slot *o = &s->v[i];
        size_t k;
        if (o->stamp != s->cur_stamp)
            continue;
        k = seen_hash(o->a, o->b, o->c, cap);
        while (v[k].stamp == s->cur_stamp)
            k = (k + 1) & (cap - 1);
        v[k] = *o;
    }
    free(s->v);
    s->v = v;
    s->cap = cap;
}

/* Add (a, b, c) under `stamp`; true if it was not there yet. Amortised O(1). */
static bool seen_add(struct seen_set *s, uint64_t stamp, uint64_t a, uint32_t b, int64_t c)
{
    size_t k;
    if (s->cur_stamp != stamp) {
        s->cur_stamp = stamp;
        s->n = 0;
    }
    if (2 * (s->n + 1) > s->cap)
        seen_grow(s);
    k = seen_hash(a, b, c, s->cap);
    while (s->v[k].stamp == stamp) {
        if (s->v[k].a == a && s->v[k].b == b && s->v[k].c == c)
            return false;
        k = (k + 1) & (s->cap - 1);
    }
    s->v[k] = (struct seen_slot){stamp, a, c, b};
    s->n++;
    return true;
}

/* The id of the batch being built, or of the next one (recovery touches levels before it). */
static uint64_t batch_stamp(const struct engine *e)
{
    return e->cur ? e->cur->id : e->next_batch_id;
}

/* Note that the level (market, side, price) changed: one L2 delta per level per batch. */
static void touch(struct engine *e, uint32_t market, int side, int64_t price)
{
    struct touched t = {market, (uint8_t)side, price};
    if (seen_add(&e->seen_levels, batch_stamp(e), market, (uint32_t)side, price))
        VEC_PUSH(e->touched, t);
}

static void record_order(struct engine *e, const struct order *o)
{
    if (!o->house)
        VEC_PUSH(e->cur->orders, *o);
}

/* Note that an account changed: finish_batch() reads its final state once per batch. */
static void record_balance(struct engine *e, uint64_t user_id, uint32_t asset)
{
    struct balance_change c = {user_id, asset, 0, 0};
    if (seen_add(&e->seen_balances, e->cur->id, user_id, asset, 0))
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

static bool is_open(const struct order *o)
{
    return o->status == ORDER_NEW || o->status == ORDER_PARTIALLY_FILLED;
}

/* Bring an order's hold to its reserve (0 once it is no longer open), releasing the excess. */
static void rehold(struct engine *e, struct order *o)
{
    int64_t need = is_open(o) ? engine_order_reserve(e->cfg, o) : 0;
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

/* An order leaves for good (filled, canceled, expired): settle its hold, record, free. */
static void finish_order(struct engine *e, struct order *o, int status, int reason, int64_t ts)
{
    o->status = (uint8_t)status;
    o->reason = (uint8_t)reason;
    o->updated_at = ts;
    o->exec_limit = 0;
    rehold(e, o);
    record_order(e, o);
    coid_remove(e, o);
    if (o->house)
        house_forget(e, o);
    order_release(e, o);
}

/* Take a resting order out of the book for good. */
static void finish_resting(struct engine *e, struct order *o, int status, int reason, int64_t ts)
{
    touch(e, o->market, o->side, o->price);
    book_remove(e->books[o->market], o);
    finish_order(e, o, status, reason, ts);
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
    note_trade(e, taker->market, price, price, price);
    return CG_OK;
}

/* Whether a resting order at maker_price is within the taker's worst acceptable price. */
static bool crosses(const struct order *taker, int64_t maker_price)
{
    if (taker->exec_limit == 0)
        return true;
    return taker->side == SIDE_BUY ? maker_price <= taker->exec_limit
                                   : maker_price >= taker->exec_limit;
}

/* Base quantity (a multiple of the lot) a quote budget buys at price, fees included. */
static int64_t affordable(const struct engine *e, const struct order *o, int64_t price,
                          int64_t budget)
{
    const struct market_cfg *m = &e->cfg->markets[o->market];
    int64_t bscale = amount_pow10(e->cfg->assets[m->base].scale);
    __int128 q =
        (__int128)budget * bscale * 1000000 / ((__int128)price * (1000000 + m->taker_fee_ppm));
    int64_t qty = q > INT64_MAX / 2 ? INT64_MAX / 2 : (int64_t)q;
    qty -= qty % m->lot_size;
    while (qty > 0) {
        int64_t n = notional_of(e->cfg, m, price, qty);
        if (n + engine_fee(n, m->taker_fee_ppm) <= budget)
            break;
        qty -= m->lot_size;
    }
    /* The estimate ignores that the fee is floored: one or two more lots may still fit. */
    while (qty < INT64_MAX / 2 - m->lot_size) {
        int64_t n = notional_of(e->cfg, m, price, qty + m->lot_size);
        if (n > budget || n + engine_fee(n, m->taker_fee_ppm) > budget)
            break;
        qty += m->lot_size;
    }
    return qty;
}

/* Base quantity (a multiple of the lot) whose notional at price stays within target: what a
 * market sell by quote may still sell to one maker at that price (exact: notional_of floors). */
static int64_t sellable(const struct engine *e, const struct order *o, int64_t price,
                        int64_t target)
{
    const struct market_cfg *m = &e->cfg->markets[o->market];
    int64_t bscale = amount_pow10(e->cfg->assets[m->base].scale);
    __int128 q;
    int64_t qty;
    if (target <= 0 || price <= 0)
        return 0;
    /* notional = floor(price x qty / bscale) <= target  <=>  price x qty < (target + 1) x bscale */
    q = ((__int128)(target + 1) * bscale - 1) / price;
    qty = q > INT64_MAX / 2 ? INT64_MAX / 2 : (int64_t)q;
    return qty - qty % m->lot_size;
}

/*
 * Match `taker` against the opposite side while it crosses. Returns true if self-trade
 * prevention ended the taker (expire_taker / expire_both).
 */
static bool match(struct engine *e, struct order *taker, int64_t ts)
{
    struct book *b = e->books[taker->market];
    enum side opp = taker->side == SIDE_BUY ? SIDE_SELL : SIDE_BUY;
    const struct market_cfg *m = &e->cfg->markets[taker->market];

    while (taker->remaining > 0) {
        struct order *maker = book_best(b, opp);
        int64_t qty;
        if (!maker || !crosses(taker, maker->price))
            break;
        if (maker->user_id == taker->user_id) {
            if (taker->stp == STP_EXPIRE_MAKER || taker->stp == STP_EXPIRE_BOTH)
                finish_resting(e, maker, ORDER_CANCELED, REASON_SELF_TRADE_PREVENTION, ts);
            if (taker->stp == STP_EXPIRE_TAKER || taker->stp == STP_EXPIRE_BOTH)
                return true;
            continue;
        }
        qty = taker->remaining < maker->remaining ? taker->remaining : maker->remaining;
        if (taker->side == SIDE_BUY && taker->quote_quantity > 0) {
            int64_t can = affordable(e, taker, maker->price, taker->hold);
            if (can < qty)
                qty = can;
            if (qty <= 0)
                break;
        } else if (taker->side == SIDE_SELL && taker->quote_quantity > 0) {
            /* sell by quote: whole lots while the gross proceeds stay within the target; it
             * ends at the first maker where not one more lot fits (deeper bids pay less) */
            int64_t can =
                sellable(e, taker, maker->price, taker->quote_quantity - taker->quote_filled);
            if (can < qty)
                qty = can;
            if (qty <= 0)
                break;
        } else if (taker->type == ORDER_MARKET && taker->side == SIDE_BUY) {
            /* Never spend beyond the exact cost reserved before matching. */
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
    return false;
}

/* Visitors over the opposite side, own orders skipped (they would only be STP-canceled). */
struct walk {
    const struct engine *e;
    const struct order *taker;
    int64_t qty;   /* base that would fill */
    int64_t cost;  /* quote it would cost a buyer, fees included */
    bool stopped;  /* reached an own order that ends the taker (expire_taker/both) */
    int64_t first; /* the first price it would trade at (0 if none) */
    bool by_quote; /* a sell by quote: stop where not one more lot fits the target */
    int64_t gross; /* by_quote: the notional (before fees) it would sell for */
};

/* Returns false to end the walk: levels come best first, so once a price does not cross, or
 * the quantity is covered, nothing further can change the result. */
static bool walk_visit(const struct order *o, void *ctx)
{
    struct walk *w = ctx;
    const struct market_cfg *m = &w->e->cfg->markets[w->taker->market];
    int64_t q;
    int64_t n;
    if (w->stopped || w->qty >= w->taker->remaining || !crosses(w->taker, o->price))
        return false;
    if (o->user_id == w->taker->user_id) {
        /* expire_maker cancels it and goes on; the other modes end the taker here */
        w->stopped = w->taker->stp != STP_EXPIRE_MAKER;
        return !w->stopped;
    }
    q = w->taker->remaining - w->qty < o->remaining ? w->taker->remaining - w->qty : o->remaining;
    if (w->by_quote) {
        int64_t can = sellable(w->e, w->taker, o->price, w->taker->quote_quantity - w->gross);
        if (can < q)
            q = can;
        if (q <= 0)
            return false; /* as match() does: it ends here */
    }
    n = notional_of(w->e->cfg, m, o->price, q);
    w->gross += n;
    if (w->qty == 0)
        w->first = o->price;
    w->qty += q;
    w->cost += n + engine_fee(n, m->taker_fee_ppm);
    return w->qty < w->taker->remaining;
}

static struct walk walk_book(struct engine *e, const struct order *o)
{
    struct walk w = {e, o, 0, 0, false, 0, false, 0};
    book_walk(e->books[o->market], o->side == SIDE_BUY ? SIDE_SELL : SIDE_BUY, walk_visit, &w);
    return w;
}

/* The reference price of the protection band: last trade, else mid, else best opposite. */
static bool reference_price(struct engine *e, uint32_t market, int side, int64_t *ref)
{
    struct order *bb = book_best(e->books[market], SIDE_BUY);
    struct order *ba = book_best(e->books[market], SIDE_SELL);
    if (e->last[market].has) {
        *ref = e->last[market].price;
        return true;
    }
    if (bb && ba) {
        *ref = bb->price + (ba->price - bb->price) / 2;
        return true;
    }
    if (side == SIDE_BUY && ba) {
        *ref = ba->price;
        return true;
    }
    if (side == SIDE_SELL && bb) {
        *ref = bb->price;
        return true;
    }
    return false;
}

static void result_order(struct engine *e, struct cmd_result *r, const struct order *o,
                         size_t fills_before)
{
    if (!r)
        return;
    r->order = *o;
    r->order.prev = r->order.next = NULL;
    r->order.level = NULL;
    r->fill_first = (uint32_t)fills_before;
    r->fill_count = (uint32_t)(e->cur->fills.n - fills_before);
}

static void trigger_stops(struct engine *e, uint32_t market, int64_t high, int64_t low, int64_t ts);

/*
 * Execute an order that holds its reserve: match, then rest (GTC limit), or end it
 * (filled / expired, remainder released). Used for new orders, triggered stops and amends.
 * Returns the order if it rests, else NULL (it was released).
 */
static struct order *execute(struct engine *e, struct order *o, struct cmd_result *r,
                             size_t fills_before, int64_t ts)
{
    bool stp_end;
    if (o->tif == TIF_FOK && !order_type_is_market(o->type) && walk_book(e, o).qty < o->remaining) {
        /* Fill or kill: all of it now, or nothing (the order ends expired, nothing moves). */
        o->status = ORDER_EXPIRED;
        o->reason = REASON_FILL_OR_KILL;
        o->updated_at = ts;
        o->exec_limit = 0;
        rehold(e, o);
        record_order(e, o);
        result_order(e, r, o, fills_before);
        coid_remove(e, o);
        order_release(e, o);
        return NULL;
    }
    stp_end = match(e, o, ts);
    bool rests = !stp_end && o->remaining > 0 && !order_type_is_market(o->type) &&
                 o->tif == TIF_GTC && o->quote_quantity == 0;
    if (rests) {
        o->exec_limit = 0;
        if (!book_insert(e->books[o->market], o))
            abort();
        touch(e, o->market, o->side, o->price);
        if (o->house) {
            struct house_market *hm = &e->house[o->market];
            VEC_PUSH(*hm, o);
        } else {
            coid_add(e, o);
        }
        rehold(e, o);
        record_order(e, o);
        result_order(e, r, o, fills_before);
        return o;
    }
    if (o->quote_quantity > 0)
        o->quantity = o->filled; /* a budget order's size is what it bought */
    if (o->remaining == 0 || (o->quote_quantity > 0 && o->filled > 0 && !stp_end)) {
        o->remaining = 0;
        o->status = ORDER_FILLED;
    } else {
        struct order *best =
            book_best(e->books[o->market], o->side == SIDE_BUY ? SIDE_SELL : SIDE_BUY);
        o->status = ORDER_EXPIRED;
        if (o->quote_quantity > 0)
            o->remaining = 0; /* quantity = filled: nothing is left of a budget order */
        if (stp_end)
            o->reason = REASON_SELF_TRADE_PREVENTION;
        else if (order_type_is_market(o->type) && best && !crosses(o, best->price))
            o->reason = REASON_PRICE_PROTECTION;
        else
            o->reason = REASON_NO_LIQUIDITY;
    }
    o->updated_at = ts;
    o->exec_limit = 0;
    rehold(e, o);
    record_order(e, o);
    result_order(e, r, o, fills_before);
    coid_remove(e, o);
    order_release(e, o);
    return NULL;
}

static enum cg_err house_fund(struct engine *e, const struct order *o, int64_t need, int64_t ts)
{
    /* The house is funded by the paper mint on demand, in generous chunks. */
    struct journal_entry je = {0};
    int64_t amt = need > INT64_MAX / 8 ? need : need * 4;
    if (ledger_available(e->lg, o->user_id, hold_asset(e, o)) >= need)
        return CG_OK;
    je.kind = ENTRY_HOUSE_FUNDING;
    je.ts = ts;
    je.n = 2;
    je.p[0] = (struct posting){LEDGER_MINT_ID, hold_asset(e, o), -amt, 0};
    je.p[1] = (struct posting){o->user_id, hold_asset(e, o), amt, 0};
    return post_entry(e, &je);
}

static enum cg_err validate_place(const struct engine *e, const struct cmd *c)
{
    const struct market_cfg *m;
    int type = c->u.place.type;
    if (c->u.place.market >= e->cfg->n_markets)
        return CG_EMARKET;
    m = &e->cfg->markets[c->u.place.market];
    if (type > ORDER_TAKE_PROFIT_LIMIT || c->u.place.side > SIDE_SELL || c->u.place.tif > TIF_FOK ||
        c->u.place.stp > STP_EXPIRE_BOTH)
        return CG_EINVAL;
    if (c->u.place.quote_quantity > 0) {
        if (type != ORDER_MARKET || c->u.place.quantity != 0)
            return CG_EINVAL;
    } else if (c->u.place.quantity <= 0 || c->u.place.quantity % m->lot_size != 0) {
        return CG_ELOT;
    }
    if (!order_type_is_market(type) &&
        (c->u.place.price <= 0 || c->u.place.price % m->tick_size != 0))
        return CG_ETICK;
    if (order_type_is_stop(type) &&
        (c->u.place.stop_price <= 0 || c->u.place.stop_price % m->tick_size != 0))
        return CG_ETICK;
    if (c->u.place.post_only && (order_type_is_market(type) || c->u.place.tif != TIF_GTC))
        return CG_EINVAL;
    return CG_OK;
}

static enum cg_err do_place(struct engine *e, const struct cmd *c, struct cmd_result *r, bool house,
                            struct order **resting)
{
    const struct market_cfg *m;
    struct order *o;
    size_t fills_before = e->cur->fills.n;
    int64_t need;
    int opp;
    enum cg_err err;

    if (resting)
        *resting = NULL;
    err = validate_place(e, c);
    if (err != CG_OK)
        return err;
    m = &e->cfg->markets[c->u.place.market];
    if (!house && coid_taken(e, c->user_id, c->u.place.client_order_id))
        return CG_EDUPCLIENTID;
    o = order_alloc(e);
    o->user_id = c->user_id;
    o->market = c->u.place.market;
    o->side = c->u.place.side;
    o->type = c->u.place.type;
    o->tif = order_type_is_market(o->type) ? TIF_IOC : c->u.place.tif;
    o->price = order_type_is_market(o->type) ? 0 : c->u.place.price;
    o->stop_price = order_type_is_stop(o->type) ? c->u.place.stop_price : 0;
    o->quantity = o->remaining = c->u.place.quantity;
    o->quote_quantity = c->u.place.quote_quantity;
    o->post_only = c->u.place.post_only;
    o->stp = c->u.place.stp;
    o->created_at = o->updated_at = c->ts;
    o->house = house;
    memcpy(o->client_order_id, c->u.place.client_order_id, sizeof(o->client_order_id));
    opp = o->side == SIDE_BUY ? SIDE_SELL : SIDE_BUY;

    if (order_type_is_stop(o->type)) {
        if (stop_would_trigger(o, e->last[o->market].has, e->last[o->market].price)) {
            order_release(e, o);
            return CG_ESTOPNOW;
        }
        need = engine_order_reserve(e->cfg, o);
    } else if (o->type == ORDER_MARKET) {
        int64_t ref;
        struct walk w;
        if (!reference_price(e, o->market, o->side, &ref)) {
            order_release(e, o);
            return CG_ELIQUIDITY;
        }
        o->exec_limit = engine_protection_limit(e->cfg, o->market, o->side, ref);
        if (o->quote_quantity > 0) {
            /* budget mode: remaining is "unbounded", the budget limits it */
            o->remaining = INT64_MAX / 4 - (INT64_MAX / 4) % m->lot_size;
            w = walk_book(e, o);
            if (w.qty == 0) {
                /* nothing within the band: is there anything at all beyond it? */
                o->exec_limit = 0;
                w = walk_book(e, o);
                order_release(e, o);
                return w.qty > 0 ? CG_EPROTECTION : CG_ELIQUIDITY;
            }
            /* a budget that cannot buy (a target that cannot sell) one lot at the first price
             * it would trade at */
            if ((o->side == SIDE_BUY ? affordable(e, o, w.first, o->quote_quantity)
                                     : sellable(e, o, w.first, o->quote_quantity)) == 0) {
                order_release(e, o);
                return CG_EAMOUNT;
            }
            o->remaining = INT64_MAX / 4 - (INT64_MAX / 4) % m->lot_size;
            if (o->side == SIDE_BUY) {
                need = o->quote_quantity;
            } else {
                /* the exact base it will sell: the walk stops where match() will */
                w = (struct walk){e, o, 0, 0, false, 0, true, 0};
                book_walk(e->books[o->market], SIDE_BUY, walk_visit, &w);
                need = w.qty;
                if (need == 0) {
                    order_release(e, o);
                    return CG_EAMOUNT;
                }
            }
        } else {
            w = walk_book(e, o);
            if (w.qty == 0) {
                /* nothing within the band: is there anything at all beyond it? */
                o->exec_limit = 0;
                w = walk_book(e, o);
                order_release(e, o);
                return w.qty > 0 ? CG_EPROTECTION : CG_ELIQUIDITY;
            }
            need = o->side == SIDE_BUY ? w.cost : o->quantity;
        }
    } else {
        o->exec_limit = o->price;
        if (o->post_only) {
            struct order *best = book_best(e->books[o->market], opp);
            if (best && crosses(o, best->price)) {
                /* rejected, recorded, nothing held */
                o->id = e->next_order_id++;
                o->seq = e->next_seq++;
                o->status = ORDER_REJECTED;
                o->reason = REASON_POST_ONLY;
                o->exec_limit = 0;
                record_order(e, o);
                result_order(e, r, o, fills_before);
                order_release(e, o);
                return CG_OK;
            }
        }
        need = engine_order_reserve(e->cfg, o);
    }
    if (house && house_fund(e, o, need, c->ts) != CG_OK) {
        order_release(e, o);
        return CG_EFUNDS;
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
    if (order_type_is_stop(o->type)) {
        stop_insert(e, o);
        coid_add(e, o);
        record_order(e, o);
        result_order(e, r, o, fills_before);
        return CG_OK;
    }
    o = execute(e, o, r, fills_before, c->ts);
    if (resting)
        *resting = o;
    return CG_OK;
}

/* Activate stops whose trigger the price range [low, high] reached, nearest first. */
static void trigger_stops(struct engine *e, uint32_t market, int64_t high, int64_t low, int64_t ts)
{
    for (int guard = 0; guard < 1000000; guard++) {
        struct order_vec *rise = &e->stops[market].list[STOP_RISE];
        struct order_vec *fall = &e->stops[market].list[STOP_FALL];
        struct order *o = NULL;
        if (rise->n && rise->v[0]->stop_price <= high) {
            o = rise->v[0];
            memmove(&rise->v[0], &rise->v[1], (rise->n - 1) * sizeof(*rise->v));
            rise->n--;
        } else if (fall->n && fall->v[0]->stop_price >= low) {
            o = fall->v[0];
            memmove(&fall->v[0], &fall->v[1], (fall->n - 1) * sizeof(*fall->v));
            fall->n--;
        }
        if (!o)
            return;
        o->triggered = 1;
        o->updated_at = ts;
        if (order_type_is_market(o->type)) {
            /* a triggered stop-market trades like a market order within the protection band
             * of the last price; a buy also within the cap its hold covers */
            int64_t ref = o->stop_price;
            int64_t cap = engine_protection_limit(e->cfg, market, SIDE_BUY, o->stop_price);
            (void)reference_price(e, market, o->side, &ref);
            o->exec_limit = engine_protection_limit(e->cfg, market, o->side, ref);
            if (o->side == SIDE_BUY && o->exec_limit > cap)
                o->exec_limit = cap;
        } else {
            o->exec_limit = o->price;
        }
        /* time priority starts at the trigger: a triggered stop that rests queues behind
         * everything already resting at its price (and recovery re-inserts in seq order) */
        o->seq = e->next_seq++;
        if (o->post_only && !order_type_is_market(o->type)) {
            struct order *best =
                book_best(e->books[market], o->side == SIDE_BUY ? SIDE_SELL : SIDE_BUY);
            if (best && crosses(o, best->price)) {
                /* a post-only order never takes liquidity, also when a stop releases it */
                finish_order(e, o, ORDER_REJECTED, REASON_POST_ONLY, ts);
                continue;
            }
        }
        coid_remove(e, o);
        (void)execute(e, o, NULL, e->cur->fills.n, ts);
        /* fills may have moved the last price: look again */
        if (e->last[market].has) {
            if (e->last[market].price > high)
                high = e->last[market].price;
            if (e->last[market].price < low)
                low = e->last[market].price;
        }
    }
}

static struct order *find_open(struct engine *e, uint32_t market, uint64_t id, bool *is_stop)
{
    struct order *o = book_find(e->books[market], id);
    *is_stop = false;
    if (!o) {
        o = stop_find(e, market, id, false);
        *is_stop = o != NULL;
    }
    return o;
}

/* An open order by id in any market: every book's id index first, then the stop books. */
static struct order *find_open_any(struct engine *e, uint64_t id, bool *is_stop)
{
    *is_stop = false;
    for (uint32_t m = 0; m < e->cfg->n_markets; m++) {
        struct order *o = book_find(e->books[m], id);
        if (o)
            return o;
    }
    for (uint32_t m = 0; m < e->cfg->n_markets; m++) {
        struct order *o = stop_find(e, m, id, false);
        if (o) {
            *is_stop = true;
            return o;
        }
    }
    return NULL;
}

static enum cg_err do_cancel(struct engine *e, const struct cmd *c, struct cmd_result *r)
{
    struct order *o;
    bool is_stop;
    if (c->u.cancel.market == ENGINE_ALL_MARKETS)
        o = find_open_any(e, c->u.cancel.order_id, &is_stop);
    else if (c->u.cancel.market >= e->cfg->n_markets)
        return CG_EMARKET;
    else
        o = find_open(e, c->u.cancel.market, c->u.cancel.order_id, &is_stop);
    if (!o || o->user_id != c->user_id)
        return o ? CG_ENOTFOUND : CG_ENOTOPEN;
    result_order(e, r, o, e->cur->fills.n);
    if (is_stop) {
        stop_find(e, o->market, o->id, true);
        finish_order(e, o, ORDER_CANCELED, REASON_CANCELED_BY_USER, c->ts);
    } else {
        finish_resting(e, o, ORDER_CANCELED, REASON_CANCELED_BY_USER, c->ts);
    }
    r->order = e->cur->orders.v[e->cur->orders.n - 1];
    return CG_OK;
}

static enum cg_err do_cancel_all(struct engine *e, const struct cmd *c, struct cmd_result *r)
{
    uint32_t from = c->u.cancel_all.market;
    uint32_t to = from + 1;
    struct order_vec mine = {0};
    if (from == ENGINE_ALL_MARKETS) {
        from = 0;
        to = (uint32_t)e->cfg->n_markets;
    } else if (from >= e->cfg->n_markets) {
        return CG_EMARKET;
    }
    r->orders_first = (uint32_t)e->cur->orders.n;
    for (uint32_t m = from; m < to; m++) {
        mine.n = 0;
        for (int s = 0; s < 2; s++)
            book_foreach(e->books[m], (enum side)s, collect_orders, &mine);
        for (size_t i = 0; i < mine.n; i++)
            if (mine.v[i]->user_id == c->user_id)
                finish_resting(e, mine.v[i], ORDER_CANCELED, REASON_CANCELED_BY_USER, c->ts);
        for (int dir = 0; dir < 2; dir++) {
            struct order_vec *l = &e->stops[m].list[dir];
            for (size_t i = 0; i < l->n;) {
                struct order *o = l->v[i];
                if (o->user_id != c->user_id) {
                    i++;
                    continue;
                }
                memmove(&l->v[i], &l->v[i + 1], (l->n - i - 1) * sizeof(*l->v));
                l->n--;
                finish_order(e, o, ORDER_CANCELED, REASON_CANCELED_BY_USER, c->ts);
            }
        }
    }
    free(mine.v);
    r->orders_count = (uint32_t)(e->cur->orders.n - r->orders_first);
    return CG_OK;
}

/*
 * Amend a resting limit order. Lowering the quantity at the same price keeps its place in the
 * queue; a new price or a larger quantity re-enters the book at the back (and may trade, unless
 * post-only). Refused amends change nothing.
 */
static enum cg_err do_amend(struct engine *e, const struct cmd *c, struct cmd_result *r)
{
    const struct market_cfg *m;
    struct order *o;
    struct order probe;
    int64_t new_qty;
    int64_t new_price;
    int64_t delta;
    size_t fills_before = e->cur->fills.n;
    bool is_stop;

    if (c->u.amend.market >= e->cfg->n_markets)
        return CG_EMARKET;
    m = &e->cfg->markets[c->u.amend.market];
    o = find_open(e, c->u.amend.market, c->u.amend.order_id, &is_stop);
    if (!o || o->user_id != c->user_id)
        return o ? CG_ENOTFOUND : CG_ENOTOPEN;
    if (is_stop || o->type != ORDER_LIMIT)
        return CG_EINVAL;
    new_qty = c->u.amend.quantity ? c->u.amend.quantity : o->quantity;
    new_price = c->u.amend.price ? c->u.amend.price : o->price;
    if (new_qty <= o->filled || new_qty % m->lot_size != 0)
        return c->u.amend.quantity % m->lot_size ? CG_ELOT : CG_EMINQTY;
    if (new_price <= 0 || new_price % m->tick_size != 0)
        return CG_ETICK;
    if (new_price == o->price && new_qty == o->quantity) {
        result_order(e, r, o, fills_before);
        return CG_OK;
    }
    if (new_price == o->price && new_qty < o->quantity) {
        /* smaller, same price: keeps its queue position */
        book_reduce(e->books[o->market], o, o->quantity - new_qty);
        o->quantity = new_qty;
        o->updated_at = c->ts;
        touch(e, o->market, o->side, o->price);
        rehold(e, o);
        record_order(e, o);
        result_order(e, r, o, fills_before);
        return CG_OK;
    }
    /* loses priority: check funds and post-only first, so a refusal changes nothing */
    probe = *o;
    probe.price = new_price;
    probe.quantity = new_qty;
    probe.remaining = new_qty - o->filled;
    probe.exec_limit = new_price;
    delta = engine_order_reserve(e->cfg, &probe) - o->hold;
    if (delta > 0 && ledger_available(e->lg, o->user_id, hold_asset(e, o)) < delta)
        return CG_EFUNDS;
    if (o->post_only) {
        struct order *best =
            book_best(e->books[o->market], o->side == SIDE_BUY ? SIDE_SELL : SIDE_BUY);
        if (best && crosses(&probe, best->price))
            return CG_EPOSTONLY;
    }
    touch(e, o->market, o->side, o->price);
    book_remove(e->books[o->market], o);
    coid_remove(e, o);
    if (delta > 0 && hold(e, o->user_id, hold_asset(e, o), delta) != CG_OK)
        abort(); /* checked above */
    if (delta > 0)
        o->hold += delta;
    o->price = new_price;
    o->quantity = new_qty;
    o->remaining = new_qty - o->filled;
    o->seq = e->next_seq++;
    o->exec_limit = new_price;
    o->updated_at = c->ts;
    (void)execute(e, o, r, fills_before, c->ts);
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
    struct cmd_result *r;
    enum cg_err err = CG_OK;

    if ((c->type == CMD_FEED_BOOK || c->type == CMD_FEED_PRICE || c->type == CMD_FEED_TRADE) &&
        (c->u.feed_book.market >= e->cfg->n_markets ||
         (c->type == CMD_FEED_BOOK && (c->u.feed_book.n_bids > ENGINE_FEED_LEVELS ||
                                       c->u.feed_book.n_asks > ENGINE_FEED_LEVELS))))
        return;
    switch (c->type) {
    case CMD_FEED_BOOK:
        house_sync(e, c->u.feed_book.market, c->u.feed_book.bids, c->u.feed_book.n_bids,
                   c->u.feed_book.asks, c->u.feed_book.n_asks, c->ts);
        goto triggers;
    case CMD_FEED_PRICE:
        /* a kline replay's price point is the market's real last price */
        note_trade(e, c->u.feed_price.market, c->u.feed_price.price, c->u.feed_price.price,
                   c->u.feed_price.price);
        house_ladder(e, c->u.feed_price.market, c->u.feed_price.price, c->ts);
        goto triggers;
    case CMD_FEED_TRADE:
        if (c->u.feed_trade.last > 0 && c->u.feed_trade.high >= c->u.feed_trade.low)
            note_trade(e, c->u.feed_trade.market, c->u.feed_trade.last, c->u.feed_trade.high,
                       c->u.feed_trade.low);
        goto triggers;
    default:
        break;
    }
    /* the result is built in place in the batch (one command, one result, nothing else pushes
     * results meanwhile): no 400-byte copy per command */
    VEC_RESERVE1(e->cur->results);
    r = &e->cur->results.v[e->cur->results.n];
    memset(r, 0, sizeof(*r));
    r->req_id = c->req_id;
    r->type = c->type;
    r->user_id = c->user_id;
    r->ts = c->ts;
    memcpy(r->idem_key, c->idem_key, sizeof(r->idem_key));
    memcpy(r->idem_hash, c->idem_hash, sizeof(r->idem_hash));
    r->fill_first = (uint32_t)e->cur->fills.n;
    switch (c->type) {
    case CMD_DEPOSIT:
    case CMD_WITHDRAW:
        err = do_funds(e, c, r);
        break;
    case CMD_PLACE:
        err = do_place(e, c, r, false, NULL);
        break;
    case CMD_CANCEL:
        err = do_cancel(e, c, r);
        break;
    case CMD_AMEND:
        err = do_amend(e, c, r);
        break;
    case CMD_CANCEL_ALL:
        err = do_cancel_all(e, c, r);
        break;
    default:
        err = CG_EINVAL;
    }
    r->err = err;
    e->cur->results.n++;
triggers:
    /* markets in index order, only when something traded (most commands do not) */
    for (uint32_t m = 0; e->n_dirty > 0 && m < e->cfg->n_markets; m++) {
        struct last_price *lp = &e->last[m];
        while (lp->dirty) {
            int64_t hi = lp->hi;
            int64_t lo = lp->lo;
            lp->dirty = false;
            e->n_dirty--;
            trigger_stops(e, m, hi, lo, c->ts);
        }
    }
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

/*
 * Sort n elements of `size` bytes with cmp: insertion sort for the few entries of a small batch
 * (glibc's qsort costs ~100 instructions of setup even for 2 elements), qsort otherwise.
 */
#define SMALL_SORT_MAX 24
#define SORT_ELEM_MAX 32

static void sort_small(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    unsigned char *v = base;
    unsigned char tmp[SORT_ELEM_MAX];
    if (n > SMALL_SORT_MAX || size > sizeof(tmp)) {
        qsort(base, n, size, cmp);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        size_t j = i;
        if (cmp(v + (j - 1) * size, v + j * size) <= 0)
            continue;
        memcpy(tmp, v + i * size, size);
        while (j > 0 && cmp(v + (j - 1) * size, tmp) > 0) {
            memcpy(v + j * size, v + (j - 1) * size, size);
            j--;
        }
        memcpy(v + j * size, tmp, size);
    }
}

static void finish_batch(struct engine *e)
{
    struct batch *b = e->cur;

    /* touched and balances hold one entry per level / account (seen_add) */
    if (e->touched.n > 1)
        sort_small(e->touched.v, e->touched.n, sizeof(*e->touched.v), cmp_touched);
    for (size_t i = 0; i < e->touched.n; i++) {
        struct touched *t = &e->touched.v[i];
        struct l2_change ch;
        ch.market = t->market;
        ch.side = t->side;
        ch.price = t->price;
        ch.qty = book_level_quantity(e->books[t->market], (enum side)t->side, t->price);
        VEC_PUSH(b->l2, ch);
        b->tops[t->market].changed = true;
    }
    e->touched.n = 0;
    /* tops: recomputed (O(1) each) only for markets this batch changed */
    for (size_t m = 0; m < e->cfg->n_markets; m++) {
        struct market_top *top = &b->tops[m];
        struct book_level_view lv;
        if (!top->changed) {
            *top = e->top_now[m];
            top->changed = false;
            continue;
        }
        top->book_seq = ++e->book_seq[m];
        top->has_bid = book_best_level(e->books[m], SIDE_BUY, &lv);
        if (top->has_bid) {
            top->bid = lv.price;
            top->bid_qty = lv.quantity;
        }
        top->has_ask = book_best_level(e->books[m], SIDE_SELL, &lv);
        if (top->has_ask) {
            top->ask = lv.price;
            top->ask_qty = lv.quantity;
        }
        e->top_now[m] = *top;
    }
    /* the final state of each changed account */
    if (b->balances.n > 1)
        sort_small(b->balances.v, b->balances.n, sizeof(*b->balances.v), cmp_balance);
    for (size_t i = 0; i < b->balances.n; i++) {
        struct balance_change *c = &b->balances.v[i];
        const struct balance *cur = ledger_get(e->lg, c->user_id, c->asset);
        c->total = cur ? cur->total : 0;
        c->held = cur ? cur->held : 0;
    }
    b->next_order_id = e->next_order_id;
    b->next_fill_id = e->next_fill_id;
    b->next_entry_id = e->next_entry_id;
    b->next_seq = e->next_seq;
    if (e->hash_every_batch)
        b->persisted_hash = engine_persisted_hash(e);
    e->cur = NULL;
}

static struct batch *begin_batch(struct engine *e)
{
    struct batch *b = batch_take(e->cfg->n_markets);
    b->id = e->next_batch_id++;
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
    if (e->touched.n > 0) {
        /* orders restored by recovery: publish their levels before the first command */
        struct batch *b = begin_batch(e);
        finish_batch(e);
        e->emit(b, e->emit_ctx);
    }
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
    bool holds_ok;
};

static void add_reserve(const struct order *o, void *ctx)
{
    struct reserve_sum *rs = ctx;
    const struct market_cfg *m = &rs->cfg->markets[o->market];
    uint32_t asset = o->side == SIDE_BUY ? m->quote : m->base;
    const struct balance *b = ledger_get(rs->sums, o->user_id, asset);
    if (ledger_restore(rs->sums, o->user_id, asset, (b ? b->total : 0) + o->hold, 0) != CG_OK)
        abort();
    if (o->hold != engine_order_reserve(rs->cfg, o))
        rs->holds_ok = false;
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

bool engine_check(struct engine *e, char *msg, size_t msglen)
{
    struct reserve_sum rs = {e->cfg, ledger_new(e->cfg->n_assets), true};
    struct held_check hc = {NULL, true, msg, msglen};
    if (!rs.sums)
        return false;
    if (!ledger_check(e->lg, msg, msglen)) {
        ledger_free(rs.sums);
        return false;
    }
    for (size_t m = 0; m < e->cfg->n_markets; m++) {
        for (int s = 0; s < 2; s++) {
            book_foreach(e->books[m], (enum side)s, add_reserve, &rs);
            for (size_t i = 0; i < e->stops[m].list[s].n; i++)
                add_reserve(e->stops[m].list[s].v[i], &rs);
        }
    }
    hc.sums = rs.sums;
    ledger_foreach(e->lg, check_held, &hc);
    ledger_free(rs.sums);
    if (hc.ok && !rs.holds_ok) {
        snprintf(msg, msglen, "an open order's hold differs from its reserve");
        return false;
    }
    return hc.ok;
}

/* ---- state hash (FNV-1a 64 over a canonical serialisation) ---- */

struct hasher {
    uint64_t h;
};

static void hash_bytes(struct hasher *hs, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        hs->h = (hs->h ^ b[i]) * 1099511628211ULL;
}

static void hash_i64(struct hasher *hs, int64_t v)
{
    hash_bytes(hs, &v, sizeof(v));
}

static void hash_order(const struct order *o, void *ctx)
{
    struct hasher *hs = ctx;
    hash_i64(hs, (int64_t)o->id);
    hash_i64(hs, (int64_t)o->user_id);
    hash_i64(hs, (int64_t)o->seq);
    hash_i64(hs, o->side | o->type << 8 | o->tif << 16 | o->status << 24);
    hash_i64(hs, o->price);
    hash_i64(hs, o->stop_price);
    hash_i64(hs, o->quantity);
    hash_i64(hs, o->remaining);
    hash_i64(hs, o->hold);
    hash_i64(hs, o->fee_total);
}

struct acct {
    uint64_t user_id;
    uint32_t asset;
    int64_t total, held;
};

struct acct_vec {
    struct acct *v;
    size_t n, cap;
};

static void collect_acct(uint64_t user_id, uint32_t asset, const struct balance *b, void *ctx)
{
    struct acct_vec *av = ctx;
    struct acct a = {user_id, asset, b->total, b->held};
    VEC_PUSH(*av, a);
}

static int cmp_acct(const void *x, const void *y)
{
    const struct acct *a = x;
    const struct acct *b = y;
    if (a->user_id != b->user_id)
        return a->user_id < b->user_id ? -1 : 1;
    return a->asset < b->asset ? -1 : (a->asset > b->asset);
}

uint64_t engine_state_hash(struct engine *e)
{
    struct hasher hs = {1469598103934665603ULL};
    struct acct_vec av = {0};
    for (size_t m = 0; m < e->cfg->n_markets; m++) {
        for (int s = 0; s < 2; s++) {
            book_foreach(e->books[m], (enum side)s, hash_order, &hs);
            for (size_t i = 0; i < e->stops[m].list[s].n; i++)
                hash_order(e->stops[m].list[s].v[i], &hs);
        }
        hash_i64(&hs, e->last[m].has ? e->last[m].price : -1);
    }
    ledger_foreach(e->lg, collect_acct, &av);
    if (av.n > 1)
        qsort(av.v, av.n, sizeof(*av.v), cmp_acct);
    for (size_t i = 0; i < av.n; i++) {
        hash_i64(&hs, (int64_t)av.v[i].user_id);
        hash_i64(&hs, av.v[i].asset);
        hash_i64(&hs, av.v[i].total);
        hash_i64(&hs, av.v[i].held);
    }
    free(av.v);
    hash_i64(&hs, (int64_t)e->next_order_id);
    hash_i64(&hs, (int64_t)e->next_fill_id);
    hash_i64(&hs, (int64_t)e->next_entry_id);
    hash_i64(&hs, (int64_t)e->next_seq);
    return hs.h;
}

static void hash_user_order(const struct order *o, void *ctx)
{
    if (!o->house)
        hash_order(o, ctx);
}

uint64_t engine_persisted_hash(struct engine *e)
{
    struct hasher hs = {1469598103934665603ULL};
    struct acct_vec av = {0};
    for (size_t m = 0; m < e->cfg->n_markets; m++) {
        for (int s = 0; s < 2; s++) {
            book_foreach(e->books[m], (enum side)s, hash_user_order, &hs);
            for (size_t i = 0; i < e->stops[m].list[s].n; i++)
                hash_user_order(e->stops[m].list[s].v[i], &hs);
        }
    }
    ledger_foreach(e->lg, collect_acct, &av);
    if (av.n > 1)
        qsort(av.v, av.n, sizeof(*av.v), cmp_acct);
    for (size_t i = 0; i < av.n; i++) {
        int64_t held = av.v[i].user_id == LEDGER_HOUSE_LP_ID ? 0 : av.v[i].held;
        if (av.v[i].total == 0 && held == 0)
            continue;
        hash_i64(&hs, (int64_t)av.v[i].user_id);
        hash_i64(&hs, av.v[i].asset);
        hash_i64(&hs, av.v[i].total);
        hash_i64(&hs, held);
    }
    free(av.v);
    hash_i64(&hs, (int64_t)e->next_order_id);
    hash_i64(&hs, (int64_t)e->next_fill_id);
    hash_i64(&hs, (int64_t)e->next_entry_id);
    hash_i64(&hs, (int64_t)e->next_seq);
    return hs.h;
}

void engine_hash_every_batch(struct engine *e, bool on)
{
    e->hash_every_batch = on;
}
