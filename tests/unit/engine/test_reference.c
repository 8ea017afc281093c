/*
 * Proof by reference: the engine (src/engine/engine.c) against a naive reference engine written
 * here from the rules at the top of engine.h, on seeded random command streams.
 *
 * The reference keeps, per market, an unsorted array of resting orders (the best one is found by
 * a linear scan: best price, then earliest queue position) and an unsorted array of stop orders;
 * balances are a plain (user, asset) -> total/held table. No clever structures, so that it is
 * obviously right, and slow enough to keep honest.
 *
 * A run is a sequence of episodes. Each episode has its own seed, its own random config (1-2
 * markets, scales, tick/lot, fees, protection band), a fresh engine and a fresh reference. The
 * generator reads only the reference (to pick open orders, prices around a drifting mid, ...), so
 * the stream of an episode depends on its seed only, never on how it is cut into batches. The
 * engine gets the commands in batches of 1..8 (engine_run_batch); after every batch we compare
 * every command's result (error, order snapshot, its fills), every fill, the last snapshot of
 * every order the batch changed, every changed balance, every touched L2 level and the top of
 * the book; engine_check() must pass and every asset must sum to zero. Every REF_FULL_EVERY
 * commands the whole published book (from the L2 deltas), every open order and stop (from the
 * order snapshots, as the store sees them), every balance and the queue order are compared, and
 * every REF_RESTART_EVERY commands the engine is rebuilt from that state as store.c recovers it
 * (orders re-inserted in seq order) and must hash the same.
 *
 * On a mismatch (or a crash: each episode runs in a forked child) the seed and the command index
 * are printed, the episode is re-run with one command per batch to find the shortest failing
 * prefix, then that prefix is shrunk (delta debugging, label-addressed cancels/amends) to a short
 * command list, printed as C initializers for a regression test.
 *
 * Environment: REF_SEED (replay), REF_COMMANDS (stream length, default 1,000,000),
 * REF_FULL_EVERY (default 64), REF_RESTART_EVERY (default 4096, 0 = never), REF_SHRINK_SECONDS
 * (default 30), REF_ACCEPT (comma list of known engine divergences the reference should copy
 * instead of failing on, to look for further bugs; see accept_names below), REF_DET_COMMANDS
 * (determinism test length, default 50,000).
 */
#include <criterion/criterion.h>

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "engine/engine.h"
#include "ledger/ledger.h"

#define N_ASSETS 3
#define A_QUOTE 0u
#define MAX_MARKETS 2
#define N_FUNDED 20
#define N_USERS (N_FUNDED + 1) /* the last user never deposits anything */
#define BATCH_MAX_CMDS 8
#define TOP_LEVELS 5
#define BOGUS_ID 0x7ffffffffffffff0ULL

#define PUSH(vec, item)                                                                            \
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

/* ---- small helpers ---- */

struct rng {
    uint64_t s;
};

/* splitmix64 (Steele, Lea, Flood 2014) */
static uint64_t rng_next(struct rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static uint64_t rng_below(struct rng *r, uint64_t n)
{
    return rng_next(r) % n;
}

static int64_t rng_range(struct rng *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)rng_below(r, (uint64_t)(hi - lo + 1));
}

static bool rng_permille(struct rng *r, unsigned p)
{
    return rng_below(r, 1000) < p;
}

static uint64_t env_u64(const char *name, uint64_t def)
{
    const char *v = getenv(name);
    return v && *v ? strtoull(v, NULL, 0) : def;
}

static int64_t pow10_i(int n)
{
    int64_t p = 1;
    while (n-- > 0)
        p *= 10;
    return p;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* qsort that accepts an empty (NULL) array */
static void sort_any(void *v, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    if (n > 1)
        qsort(v, n, size, cmp);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool is_market_type(int t)
{
    return t == ORDER_MARKET || t == ORDER_STOP_LOSS || t == ORDER_TAKE_PROFIT;
}

static bool is_stop_type(int t)
{
    return t == ORDER_STOP_LOSS || t == ORDER_STOP_LOSS_LIMIT || t == ORDER_TAKE_PROFIT ||
           t == ORDER_TAKE_PROFIT_LIMIT;
}

/* Stop-loss buys and take-profit sells wait for the price to rise; the others for it to fall. */
static bool stop_rises(int type, int side)
{
    bool stop_loss = type == ORDER_STOP_LOSS || type == ORDER_STOP_LOSS_LIMIT;
    return stop_loss ? side == SIDE_BUY : side == SIDE_SELL;
}

/* ---- known divergences the reference can be told to copy (REF_ACCEPT) ---- */

enum accept {
    ACCEPT_TRIGGER_POST_ONLY = 1 << 0, /* a triggered post-only stop-limit may take liquidity */
    ACCEPT_BUDGET_REMAINING = 1 << 1,  /* an expired budget order reports a huge remaining */
    ACCEPT_BUDGET_AFFORD = 1 << 2,     /* budget affordability is checked at an own best price */
    ACCEPT_BUDGET_ROUNDING = 1 << 3,   /* affordable() misses the last lot at an exact budget */
    ACCEPT_TRIGGER_SEQ = 1 << 4,       /* a triggered stop keeps its old seq (queue != seq) */
};

static const struct {
    const char *name;
    unsigned bit;
} accept_names[] = {
    {"trigger_post_only", ACCEPT_TRIGGER_POST_ONLY},
    {"budget_remaining", ACCEPT_BUDGET_REMAINING},
    {"budget_afford", ACCEPT_BUDGET_AFFORD},
    {"budget_rounding", ACCEPT_BUDGET_ROUNDING},
    {"trigger_seq", ACCEPT_TRIGGER_SEQ},
};

static unsigned accept_from_env(void)
{
    const char *v = getenv("REF_ACCEPT");
    unsigned bits = 0;
    for (size_t i = 0; v && i < sizeof(accept_names) / sizeof(accept_names[0]); i++)
        if (strstr(v, accept_names[i].name) || !strcmp(v, "all"))
            bits |= accept_names[i].bit;
    return bits;
}

/* ---- an episode's config ---- */

static void asset_set(struct config *c, uint32_t i, const char *sym, int scale)
{
    snprintf(c->assets[i].symbol, sizeof(c->assets[i].symbol), "%s", sym);
    snprintf(c->assets[i].name, sizeof(c->assets[i].name), "%s", sym);
    c->assets[i].scale = scale;
    c->assets[i].deposit_limit = INT64_MAX / 4;
}

/*
 * Random config from the episode seed: quote asset 0, market m trades asset m+1 against it, with
 * tick x lot / 10^base_scale in {1, 10} quote minor units (exact, as config_load requires).
 */
static size_t make_config(struct config *c, uint64_t seed)
{
    static const int64_t fees[] = {0, 100, 999, 1000, 1500, 2000, 2500, 7777};
    static const int64_t bands[] = {15000, 20000, 50000, 123457, 300000};
    static const int bscales[] = {4, 6, 8};
    struct rng rs = {seed ^ 0xC0F16ULL};
    size_t n_markets = 1 + (size_t)rng_below(&rs, 2);

    memset(c, 0, sizeof(*c));
    asset_set(c, A_QUOTE, "USD", rng_permille(&rs, 500) ? 2 : 4);
    asset_set(c, 1, "BTC", bscales[rng_below(&rs, 3)]);
    asset_set(c, 2, "ETH", bscales[rng_below(&rs, 3)]);
    c->n_assets = N_ASSETS;
    for (size_t m = 0; m < n_markets; m++) {
        struct market_cfg *mc = &c->markets[m];
        int bscale = c->assets[m + 1].scale;
        int tk = (int)rng_range(&rs, 0, 2);
        int lk = bscale + (int)rng_range(&rs, 0, 1) - tk;
        snprintf(mc->name, sizeof(mc->name), "%s-USD", m ? "ETH" : "BTC");
        snprintf(mc->symbol, sizeof(mc->symbol), "%sUSD", m ? "ETH" : "BTC");
        mc->base = (uint32_t)m + 1;
        mc->quote = A_QUOTE;
        mc->tick_size = pow10_i(tk);
        mc->lot_size = pow10_i(lk);
        mc->min_quantity = mc->lot_size;
        mc->max_quantity = mc->lot_size * 1000000;
        mc->maker_fee_ppm = fees[rng_below(&rs, 8)];
        mc->taker_fee_ppm = fees[rng_below(&rs, 8)];
        mc->protection_ppm = bands[rng_below(&rs, 5)];
    }
    c->n_markets = n_markets;
    return n_markets;
}

/* ======================================================================== the reference === */

struct r_order {
    uint64_t id, user;
    uint64_t prio;  /* queue position: from placement, amend re-queue or trigger */
    uint64_t label; /* the command that placed it */
    uint32_t market;
    uint8_t side, type, tif, status, reason, post_only, stp, triggered;
    bool budget; /* market order by quote amount (buy budget or sell target) */
    int64_t price, stop_price, quote_quantity;
    int64_t limit; /* while executing: the worst price it may trade at */
    int64_t quantity, remaining, filled, quote_filled, fee_total, hold;
    int64_t created_at, updated_at;
    char coid[40];
};

struct r_list {
    struct r_order **v;
    size_t n, cap;
};

struct r_acct {
    int64_t total, held;
};

struct r_result {
    uint8_t type;
    enum cg_err err;
    uint64_t user_id, label;
    bool has_order;
    struct r_order order;
    size_t fill_first, fill_count;
    size_t canceled_first, canceled_count;
    uint64_t entry_id;
    uint32_t asset;
    int64_t amount;
};

struct r_acct_key {
    uint64_t user;
    uint32_t asset;
};

struct r_level_key {
    uint32_t market;
    uint8_t side;
    int64_t price;
};

struct r_closed {
    uint64_t id, label, user;
    uint32_t market;
};

struct stats {
    uint64_t cmds, batches, fills, trading_cmds, triggers, stp_cancels, stp_taker_ends;
    uint64_t post_only_rejects, fok_kills, protection_expiries, budget_orders, requeues;
    uint64_t budget_sells_filled; /* market sells by quote that sold something */
    uint64_t full_checks, restarts, episodes;
    uint64_t by_type[16];
    uint64_t errs[CG_ERR_COUNT];
};

struct ref {
    const struct config *cfg;
    size_t n_markets;
    unsigned accept;
    struct r_list resting[MAX_MARKETS]; /* unsorted, both sides */
    struct r_list stops[MAX_MARKETS];   /* unsorted */
    struct {
        bool has, dirty;
        int64_t price, hi, lo;
    } last[MAX_MARKETS];
    struct r_acct users[N_USERS][N_ASSETS];
    struct r_acct mint[N_ASSETS], fees[N_ASSETS];
    uint64_t next_order_id, next_fill_id, next_entry_id, next_prio;
    int64_t ts;
    uint64_t label;     /* the command being applied */
    uint64_t *label_id; /* label -> id of the order it placed (replays of edited lists) */
    size_t n_label_id;
    /* what the current batch did */
    VEC(struct r_result) results;
    VEC(struct fill) fills;
    VEC(struct r_order) changed; /* last snapshot of every changed order */
    VEC(uint64_t) canceled;
    VEC(struct r_acct_key) touched;
    VEC(struct r_level_key) levels;
    struct r_closed closed[64];
    uint64_t n_closed;
    char broken[512]; /* a rule the reference found violated in itself */
    struct stats st;
};

static void r_broken(struct ref *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void r_broken(struct ref *r, const char *fmt, ...)
{
    va_list ap;
    if (r->broken[0])
        return;
    va_start(ap, fmt);
    vsnprintf(r->broken, sizeof(r->broken), fmt, ap);
    va_end(ap);
}

static void ref_init(struct ref *r, const struct config *cfg, size_t n_markets, unsigned accept)
{
    memset(r, 0, sizeof(*r));
    r->cfg = cfg;
    r->n_markets = n_markets;
    r->accept = accept;
    r->next_order_id = 1;
    r->next_fill_id = 1;
    r->next_entry_id = 1;
    r->next_prio = 1;
}

static void ref_batch_reset(struct ref *r)
{
    r->results.n = 0;
    r->fills.n = 0;
    r->changed.n = 0;
    r->canceled.n = 0;
    r->touched.n = 0;
    r->levels.n = 0;
}

static void ref_release_all(struct ref *r)
{
    for (size_t m = 0; m < MAX_MARKETS; m++) {
        for (size_t i = 0; i < r->resting[m].n; i++)
            free(r->resting[m].v[i]);
        for (size_t i = 0; i < r->stops[m].n; i++)
            free(r->stops[m].v[i]);
        free(r->resting[m].v);
        free(r->stops[m].v);
    }
    free(r->results.v);
    free(r->fills.v);
    free(r->changed.v);
    free(r->canceled.v);
    free(r->touched.v);
    free(r->levels.v);
    free(r->label_id);
    memset(r, 0, sizeof(*r));
}

/* ---- arithmetic, as engine.h states it ---- */

static const struct market_cfg *r_mkt(const struct ref *r, uint32_t m)
{
    return &r->cfg->markets[m];
}

/* price x qty / 10^base_scale; exact by the config's tick x lot rule */
static int64_t r_notional(const struct ref *r, uint32_t m, int64_t price, int64_t qty)
{
    __int128 p = (__int128)price * qty;
    int64_t s = pow10_i(r->cfg->assets[r_mkt(r, m)->base].scale);
    return (int64_t)(p / s);
}

/* floor(notional x ppm / 10^6) */
static int64_t r_fee(int64_t notional, int64_t ppm)
{
    return (int64_t)((__int128)notional * ppm / 1000000);
}

static int64_t r_buy_reserve(const struct ref *r, uint32_t m, int64_t price, int64_t qty)
{
    const struct market_cfg *mc = r_mkt(r, m);
    int64_t n = r_notional(r, m, price, qty);
    int64_t ppm = mc->maker_fee_ppm > mc->taker_fee_ppm ? mc->maker_fee_ppm : mc->taker_fee_ppm;
    return n + r_fee(n, ppm);
}

/*
 * The protection band's worst price around ref: a buy's cap is the smallest tick multiple at or
 * above ref x (1 + band), a sell's floor the largest tick multiple at or below ref x (1 - band)
 * (at least one tick), as engine_protection_limit() documents.
 */
static int64_t r_band(const struct ref *r, uint32_t m, int side, int64_t ref_price)
{
    const struct market_cfg *mc = r_mkt(r, m);
    int64_t tick = mc->tick_size;
    if (side == SIDE_BUY) {
        __int128 x = (__int128)ref_price * (1000000 + mc->protection_ppm);
        __int128 ticks = (x + (__int128)tick * 1000000 - 1) / ((__int128)tick * 1000000);
        return (int64_t)(ticks * tick);
    }
    {
        __int128 x = (__int128)ref_price * (1000000 - mc->protection_ppm);
        int64_t p = (int64_t)(x / ((__int128)tick * 1000000)) * tick;
        return p > 0 ? p : tick;
    }
}

/* The most base (a multiple of the lot) a quote budget buys at price, taker fee included. */
static int64_t r_affordable(const struct ref *r, uint32_t m, int64_t price, int64_t budget)
{
    const struct market_cfg *mc = r_mkt(r, m);
    int64_t s = pow10_i(r->cfg->assets[mc->base].scale);
    __int128 upper = (__int128)budget * s / price; /* notional alone within the budget */
    int64_t q = upper > INT64_MAX / 4 ? INT64_MAX / 4 : (int64_t)upper;
    q -= q % mc->lot_size;
    while (q > 0) {
        int64_t n = r_notional(r, m, price, q);
        if (n + r_fee(n, mc->taker_fee_ppm) <= budget)
            break;
        q -= mc->lot_size;
    }
    if (r->accept & ACCEPT_BUDGET_ROUNDING) {
        /* engine.c starts from budget x 10^6 / (price x (10^6 + taker)) and only goes down */
        __int128 est =
            (__int128)budget * s * 1000000 / ((__int128)price * (1000000 + mc->taker_fee_ppm));
        int64_t e = est > INT64_MAX / 4 ? INT64_MAX / 4 : (int64_t)est;
        e -= e % mc->lot_size;
        if (e < q)
            q = e;
    }
    return q;
}

/* The most base (a multiple of the lot) whose notional at price is within target (a market sell
 * by quote). Naive: from the notional alone, step down while above the target, up while the next
 * lot still fits. */
static int64_t r_sellable(const struct ref *r, uint32_t m, int64_t price, int64_t target)
{
    const struct market_cfg *mc = r_mkt(r, m);
    int64_t s = pow10_i(r->cfg->assets[mc->base].scale);
    __int128 upper;
    int64_t q;
    if (target <= 0)
        return 0;
    upper = (__int128)target * s / price;
    q = upper > INT64_MAX / 4 ? INT64_MAX / 4 : (int64_t)upper;
    q -= q % mc->lot_size;
    while (q > 0 && r_notional(r, m, price, q) > target)
        q -= mc->lot_size;
    while (q < INT64_MAX / 4 && r_notional(r, m, price, q + mc->lot_size) <= target)
        q += mc->lot_size;
    return q;
}

/* ---- accounts ---- */

static struct r_acct *r_acct(struct ref *r, uint64_t user, uint32_t asset)
{
    if (user == LEDGER_MINT_ID)
        return &r->mint[asset];
    if (user == LEDGER_FEES_ID)
        return &r->fees[asset];
    return &r->users[user - LEDGER_FIRST_USER_ID][asset];
}

static void r_touch(struct ref *r, uint64_t user, uint32_t asset)
{
    struct r_acct_key k = {user, asset};
    PUSH(r->touched, k);
}

/* Move `amount` into (user, asset), taking `from_held` of it out of the held part. */
static void r_post(struct ref *r, uint64_t user, uint32_t asset, int64_t amount, int64_t from_held)
{
    struct r_acct *a = r_acct(r, user, asset);
    a->total += amount;
    a->held -= from_held;
    r_touch(r, user, asset);
    if (user != LEDGER_MINT_ID && (a->total < 0 || a->held < 0 || a->held > a->total))
        r_broken(r, "account %" PRIu64 "/%u went to total %" PRId64 " held %" PRId64, user, asset,
                 a->total, a->held);
}

static int64_t r_avail(struct ref *r, uint64_t user, uint32_t asset)
{
    struct r_acct *a = r_acct(r, user, asset);
    return a->total - a->held;
}

static uint32_t r_hold_asset(const struct ref *r, const struct r_order *o)
{
    return o->side == SIDE_BUY ? r_mkt(r, o->market)->quote : r_mkt(r, o->market)->base;
}

static bool r_is_open(const struct r_order *o)
{
    return o->status == ORDER_NEW || o->status == ORDER_PARTIALLY_FILLED;
}

/* What an open order must hold (engine.h: "reserve (hold) of an open order"). */
static int64_t r_reserve(const struct ref *r, const struct r_order *o)
{
    if (o->budget)
        return o->hold; /* buy: what is left of the budget; sell: of the base walked for it */
    if (o->side == SIDE_SELL)
        return o->remaining;
    if (o->type == ORDER_MARKET)
        return o->hold; /* the exact cost walked before matching: what is left */
    if (is_market_type(o->type)) {
        if (o->triggered)
            return o->hold;
        return r_buy_reserve(r, o->market, r_band(r, o->market, SIDE_BUY, o->stop_price),
                             o->remaining);
    }
    return r_buy_reserve(r, o->market, o->price, o->remaining);
}

/* Bring an order's hold down to `need`, releasing the rest. Holds only ever shrink here. */
static void r_set_hold(struct ref *r, struct r_order *o, int64_t need)
{
    int64_t extra = o->hold - need;
    if (extra < 0) {
        r_broken(r, "order %" PRIu64 " holds %" PRId64 " but must reserve %" PRId64, o->id, o->hold,
                 need);
        return;
    }
    if (extra == 0)
        return;
    r_acct(r, o->user, r_hold_asset(r, o))->held -= extra;
    r_touch(r, o->user, r_hold_asset(r, o));
    o->hold = need;
}

static void r_rehold(struct ref *r, struct r_order *o)
{
    r_set_hold(r, o, r_is_open(o) ? r_reserve(r, o) : 0);
}

/* ---- books ---- */

/* Whether a is ahead of b on their side: better price, then earlier queue position. */
static bool r_ahead(const struct r_order *a, const struct r_order *b)
{
    if (a->price != b->price)
        return a->side == SIDE_BUY ? a->price > b->price : a->price < b->price;
    return a->prio < b->prio;
}

/* The resting order of `side` right after `after` in priority order (the best if NULL). */
static struct r_order *r_next(const struct ref *r, uint32_t m, int side,
                              const struct r_order *after)
{
    struct r_order *best = NULL;
    for (size_t i = 0; i < r->resting[m].n; i++) {
        struct r_order *o = r->resting[m].v[i];
        if (o->side != side || (after && !r_ahead(after, o)))
            continue;
        if (!best || r_ahead(o, best))
            best = o;
    }
    return best;
}

static int64_t r_level_qty(const struct ref *r, uint32_t m, int side, int64_t price)
{
    int64_t q = 0;
    for (size_t i = 0; i < r->resting[m].n; i++)
        if (r->resting[m].v[i]->side == side && r->resting[m].v[i]->price == price)
            q += r->resting[m].v[i]->remaining;
    return q;
}

static void r_level_touched(struct ref *r, const struct r_order *o)
{
    struct r_level_key k = {o->market, o->side, o->price};
    PUSH(r->levels, k);
}

/* Whether `price` is within what order o may trade at. */
static bool r_within(const struct r_order *o, int64_t price)
{
    if (o->limit == 0)
        return true;
    return o->side == SIDE_BUY ? price <= o->limit : price >= o->limit;
}

static bool r_unlist_from(struct r_list *l, const struct r_order *o)
{
    for (size_t i = 0; i < l->n; i++) {
        if (l->v[i] == o) {
            l->v[i] = l->v[--l->n];
            return true;
        }
    }
    return false;
}

static void r_unlist(struct ref *r, struct r_order *o)
{
    if (r_unlist_from(&r->resting[o->market], o))
        r_level_touched(r, o);
    else
        (void)r_unlist_from(&r->stops[o->market], o);
}

static struct r_order *r_find_open(const struct ref *r, uint32_t m, uint64_t id)
{
    for (size_t i = 0; i < r->resting[m].n; i++)
        if (r->resting[m].v[i]->id == id)
            return r->resting[m].v[i];
    for (size_t i = 0; i < r->stops[m].n; i++)
        if (r->stops[m].v[i]->id == id)
            return r->stops[m].v[i];
    return NULL;
}

static bool r_coid_taken(const struct ref *r, uint64_t user, const char *coid)
{
    if (!coid[0])
        return false;
    for (size_t m = 0; m < r->n_markets; m++) {
        for (size_t i = 0; i < r->resting[m].n; i++)
            if (r->resting[m].v[i]->user == user && !strcmp(r->resting[m].v[i]->coid, coid))
                return true;
        for (size_t i = 0; i < r->stops[m].n; i++)
            if (r->stops[m].v[i]->user == user && !strcmp(r->stops[m].v[i]->coid, coid))
                return true;
    }
    return false;
}

/* ---- order lifecycle ---- */

static void r_changed(struct ref *r, const struct r_order *o)
{
    for (size_t i = r->changed.n; i-- > 0;) {
        if (r->changed.v[i].id == o->id) {
            r->changed.v[i] = *o;
            return;
        }
    }
    PUSH(r->changed, *o);
}

static void r_result_order(struct ref *r, struct r_result *res, const struct r_order *o,
                           size_t fills_before)
{
    if (!res)
        return;
    res->has_order = true;
    res->order = *o;
    res->fill_first = fills_before;
    res->fill_count = r->fills.n - fills_before;
}

static void r_forget(struct ref *r, struct r_order *o)
{
    struct r_closed *c = &r->closed[r->n_closed++ % 64];
    c->id = o->id;
    c->label = o->label;
    c->user = o->user;
    c->market = o->market;
    free(o);
}

/* An open order leaves for good: out of its book, hold released, recorded, freed. */
static void r_close(struct ref *r, struct r_order *o, int status, int reason)
{
    r_unlist(r, o);
    o->status = (uint8_t)status;
    o->reason = (uint8_t)reason;
    o->updated_at = r->ts;
    r_set_hold(r, o, 0);
    r_changed(r, o);
    if (status == ORDER_CANCELED && reason == REASON_SELF_TRADE_PREVENTION)
        r->st.stp_cancels++;
    r_forget(r, o);
}

static void r_note_trade(struct ref *r, uint32_t m, int64_t last, int64_t hi, int64_t lo)
{
    r->last[m].has = true;
    r->last[m].price = last;
    if (!r->last[m].dirty) {
        r->last[m].dirty = true;
        r->last[m].hi = hi;
        r->last[m].lo = lo;
        return;
    }
    if (hi > r->last[m].hi)
        r->last[m].hi = hi;
    if (lo < r->last[m].lo)
        r->last[m].lo = lo;
}

/* One fill at the maker's price: the buyer pays notional + fee, the seller gets notional - fee. */
static void r_fill(struct ref *r, struct r_order *t, struct r_order *mk, int64_t qty)
{
    const struct market_cfg *mc = r_mkt(r, t->market);
    int64_t n = r_notional(r, t->market, mk->price, qty);
    int64_t tfee = r_fee(n, mc->taker_fee_ppm);
    int64_t mfee = r_fee(n, mc->maker_fee_ppm);
    struct r_order *buyer = t->side == SIDE_BUY ? t : mk;
    struct r_order *seller = t->side == SIDE_BUY ? mk : t;
    int64_t bfee = buyer == t ? tfee : mfee;
    int64_t sfee = seller == t ? tfee : mfee;
    struct fill f;

    r_post(r, buyer->user, mc->quote, -(n + bfee), n + bfee);
    buyer->hold -= n + bfee;
    r_post(r, buyer->user, mc->base, qty, 0);
    r_post(r, seller->user, mc->base, -qty, qty);
    seller->hold -= qty;
    r_post(r, seller->user, mc->quote, n - sfee, 0);
    r_post(r, LEDGER_FEES_ID, mc->quote, bfee + sfee, 0);
    if (buyer->hold < 0 || seller->hold < 0)
        r_broken(r, "a fill of %" PRId64 " took order %" PRIu64 "'s hold below zero", qty,
                 buyer->hold < 0 ? buyer->id : seller->id);
    r->next_entry_id++;

    memset(&f, 0, sizeof(f));
    f.id = r->next_fill_id++;
    f.market = t->market;
    f.price = mk->price;
    f.quantity = qty;
    f.quote_quantity = n;
    f.taker_side = t->side;
    f.taker_order_id = t->id;
    f.maker_order_id = mk->id;
    f.taker_user_id = t->user;
    f.maker_user_id = mk->user;
    f.taker_fee = tfee;
    f.maker_fee = mfee;
    f.ts = r->ts;
    PUSH(r->fills, f);

    t->filled += qty;
    if (!t->budget)
        t->remaining -= qty;
    t->quote_filled += n;
    t->fee_total += tfee;
    t->updated_at = r->ts;
    mk->filled += qty;
    mk->remaining -= qty;
    mk->quote_filled += n;
    mk->fee_total += mfee;
    mk->updated_at = r->ts;
    r_level_touched(r, mk);
    r_note_trade(r, t->market, mk->price, mk->price, mk->price);
}

/* Match taker t against the other side while it crosses. true if self-trade prevention ended t. */
static bool r_match(struct ref *r, struct r_order *t)
{
    const struct market_cfg *mc = r_mkt(r, t->market);
    while (t->budget || t->remaining > 0) {
        struct r_order *mk = r_next(r, t->market, t->side ^ 1, NULL);
        int64_t qty;
        if (!mk || !r_within(t, mk->price))
            break;
        if (mk->user == t->user) {
            if (t->stp == STP_EXPIRE_MAKER || t->stp == STP_EXPIRE_BOTH)
                r_close(r, mk, ORDER_CANCELED, REASON_SELF_TRADE_PREVENTION);
            if (t->stp == STP_EXPIRE_TAKER || t->stp == STP_EXPIRE_BOTH) {
                r->st.stp_taker_ends++;
                return true;
            }
            continue;
        }
        qty = t->budget ? mk->remaining : min64(t->remaining, mk->remaining);
        if (t->budget) {
            qty = min64(qty, t->side == SIDE_BUY ? r_affordable(r, t->market, mk->price, t->hold)
                                                 : r_sellable(r, t->market, mk->price,
                                                              t->quote_quantity - t->quote_filled));
            if (qty <= 0)
                break;
        } else if (t->type == ORDER_MARKET && t->side == SIDE_BUY) {
            int64_t n = r_notional(r, t->market, mk->price, qty);
            if (n + r_fee(n, mc->taker_fee_ppm) > t->hold)
                r_broken(r, "market buy %" PRIu64 ": its walked cost does not cover a fill", t->id);
        }
        r_fill(r, t, mk, qty);
        if (mk->remaining == 0) {
            r_close(r, mk, ORDER_FILLED, REASON_NONE);
        } else {
            mk->status = ORDER_PARTIALLY_FILLED;
            r_rehold(r, mk);
            r_changed(r, mk);
        }
        t->status = ORDER_PARTIALLY_FILLED;
        r_rehold(r, t);
    }
    return false;
}

static void r_end_unheld(struct ref *r, struct r_order *o, int status, int reason,
                         struct r_result *res, size_t fills_before);
static int64_t r_fillable(const struct ref *r, const struct r_order *o, int64_t want);

/* Match, then rest (GTC limit with a remainder) or end (filled / expired, rest released). */
static void r_execute(struct ref *r, struct r_order *o, struct r_result *res, size_t fills_before)
{
    bool stp_end;
    if (o->tif == TIF_FOK && !is_market_type(o->type) &&
        r_fillable(r, o, o->remaining) < o->remaining) {
        /* fill or kill: all of it now, or nothing */
        r_end_unheld(r, o, ORDER_EXPIRED, REASON_FILL_OR_KILL, res, fills_before);
        return;
    }
    stp_end = r_match(r, o);
    bool rests =
        !stp_end && !o->budget && o->remaining > 0 && !is_market_type(o->type) && o->tif == TIF_GTC;
    if (rests) {
        PUSH(r->resting[o->market], o);
        r_level_touched(r, o);
        r_rehold(r, o);
        r_changed(r, o);
        r_result_order(r, res, o, fills_before);
        return;
    }
    if (o->budget)
        o->quantity = o->filled; /* a budget order's size is what it bought (or sold) */
    if (o->budget && o->side == SIDE_SELL && o->filled > 0)
        r->st.budget_sells_filled++;
    if (o->budget ? o->filled > 0 && !stp_end : o->remaining == 0) {
        o->status = ORDER_FILLED;
        o->remaining = 0;
    } else {
        const struct r_order *best = r_next(r, o->market, o->side ^ 1, NULL);
        o->status = ORDER_EXPIRED;
        if (stp_end)
            o->reason = REASON_SELF_TRADE_PREVENTION;
        else if (is_market_type(o->type) && best && !r_within(o, best->price))
            o->reason = REASON_PRICE_PROTECTION;
        else
            o->reason = REASON_NO_LIQUIDITY;
        if (o->reason == REASON_PRICE_PROTECTION)
            r->st.protection_expiries++;
        if (o->budget) {
            /* remaining = quantity - filled = 0 (book.h); engine.c leaves its internal
             * "unbounded" remaining in the order */
            const struct market_cfg *mc = r_mkt(r, o->market);
            o->remaining = (r->accept & ACCEPT_BUDGET_REMAINING)
                               ? INT64_MAX / 4 - (INT64_MAX / 4) % mc->lot_size - o->filled
                               : 0;
        }
    }
    o->updated_at = r->ts;
    r_set_hold(r, o, 0);
    r_changed(r, o);
    r_result_order(r, res, o, fills_before);
    r_forget(r, o);
}

/*
 * What o would fill right now, walking the other side in priority order within its limit (any
 * price if any_price), own orders as self-trade prevention treats them: expire_maker cancels and
 * goes on (skipped here), expire_taker/both end the taker there. Up to `want` base; *cost is what
 * a buyer would pay with taker fees, *first the first price it would trade at (0 if none).
 */
static int64_t r_walk(const struct ref *r, const struct r_order *o, int64_t want, bool any_price,
                      int64_t *cost, int64_t *first)
{
    const struct market_cfg *mc = r_mkt(r, o->market);
    const struct r_order *mk = NULL;
    int64_t q = 0;
    *cost = 0;
    *first = 0;
    while (q < want && (mk = r_next(r, o->market, o->side ^ 1, mk)) &&
           (any_price || r_within(o, mk->price))) {
        int64_t take;
        int64_t n;
        if (mk->user == o->user) {
            if (o->stp == STP_EXPIRE_MAKER)
                continue;
            break;
        }
        take = min64(mk->remaining, want - q);
        n = r_notional(r, o->market, mk->price, take);
        if (!*first)
            *first = mk->price;
        q += take;
        *cost += n + r_fee(n, mc->taker_fee_ppm);
    }
    return q;
}

static int64_t r_fillable(const struct ref *r, const struct r_order *o, int64_t want)
{
    int64_t cost;
    int64_t first;
    return r_walk(r, o, want, false, &cost, &first);
}

/* The protection band's reference: the last trade, else the mid, else the best opposite. */
static bool r_ref_price(const struct ref *r, uint32_t m, int side, int64_t *out)
{
    const struct r_order *bid = r_next(r, m, SIDE_BUY, NULL);
    const struct r_order *ask = r_next(r, m, SIDE_SELL, NULL);
    if (r->last[m].has)
        *out = r->last[m].price;
    else if (bid && ask)
        *out = bid->price + (ask->price - bid->price) / 2;
    else if (side == SIDE_BUY && ask)
        *out = ask->price;
    else if (side == SIDE_SELL && bid)
        *out = bid->price;
    else
        return false;
    return true;
}

/* An order that ends before it trades (post-only / FOK refusals), releasing any hold. */
static void r_end_unheld(struct ref *r, struct r_order *o, int status, int reason,
                         struct r_result *res, size_t fills_before)
{
    if (!o->id)
        o->id = r->next_order_id++;
    o->status = (uint8_t)status;
    o->reason = (uint8_t)reason;
    o->updated_at = r->ts;
    o->limit = 0;
    r_set_hold(r, o, 0);
    r_changed(r, o);
    r_result_order(r, res, o, fills_before);
    if (reason == REASON_POST_ONLY)
        r->st.post_only_rejects++;
    else
        r->st.fok_kills++;
    r_forget(r, o);
}

static bool r_post_only_crosses(const struct ref *r, const struct r_order *o)
{
    const struct r_order *best = r_next(r, o->market, o->side ^ 1, NULL);
    return best && r_within(o, best->price);
}

static enum cg_err r_validate(const struct ref *r, const struct cmd *c)
{
    const struct market_cfg *mc;
    int type = c->u.place.type;
    if (c->u.place.market >= r->n_markets)
        return CG_EMARKET;
    mc = r_mkt(r, c->u.place.market);
    if (type > ORDER_TAKE_PROFIT_LIMIT || c->u.place.side > SIDE_SELL || c->u.place.tif > TIF_FOK ||
        c->u.place.stp > STP_EXPIRE_BOTH)
        return CG_EINVAL;
    if (c->u.place.quote_quantity > 0) {
        if (type != ORDER_MARKET || c->u.place.quantity != 0)
            return CG_EINVAL;
    } else if (c->u.place.quantity <= 0 || c->u.place.quantity % mc->lot_size != 0) {
        return CG_ELOT;
    }
    if (!is_market_type(type) && (c->u.place.price <= 0 || c->u.place.price % mc->tick_size))
        return CG_ETICK;
    if (is_stop_type(type) && (c->u.place.stop_price <= 0 || c->u.place.stop_price % mc->tick_size))
        return CG_ETICK;
    if (c->u.place.post_only && (is_market_type(type) || c->u.place.tif != TIF_GTC))
        return CG_EINVAL;
    return CG_OK;
}

/* How much a new market order must hold, or why it is refused (nothing would fill). */
static enum cg_err r_market_need(struct ref *r, struct r_order *o, int64_t *need)
{
    int64_t ref_price;
    int64_t want = o->budget ? INT64_MAX / 4 : o->quantity;
    int64_t cost;
    int64_t first;
    int64_t qty;
    if (!r_ref_price(r, o->market, o->side, &ref_price))
        return CG_ELIQUIDITY;
    o->limit = r_band(r, o->market, o->side, ref_price);
    qty = r_walk(r, o, o->budget ? 1 : want, false, &cost, &first);
    if (qty == 0)
        return r_walk(r, o, 1, true, &cost, &first) > 0 ? CG_EPROTECTION : CG_ELIQUIDITY;
    if (o->budget) {
        if (r->accept & ACCEPT_BUDGET_AFFORD)
            first = r_next(r, o->market, o->side ^ 1, NULL)->price; /* as engine.c does */
        if (o->side == SIDE_SELL) {
            /* a target that cannot sell one lot at the first price it would trade at */
            const struct r_order *mk = NULL;
            int64_t gross = 0;
            if (r_sellable(r, o->market, first, o->quote_quantity) == 0)
                return CG_EAMOUNT;
            /* the base it will sell: r_match's loop without trading (own orders as STP does) */
            *need = 0;
            while ((mk = r_next(r, o->market, SIDE_BUY, mk)) && r_within(o, mk->price)) {
                int64_t take;
                if (mk->user == o->user) {
                    if (o->stp == STP_EXPIRE_MAKER)
                        continue;
                    break;
                }
                take = min64(mk->remaining,
                             r_sellable(r, o->market, mk->price, o->quote_quantity - gross));
                if (take <= 0)
                    break;
                *need += take;
                gross += r_notional(r, o->market, mk->price, take);
            }
            return CG_OK;
        }
        /* a budget that cannot buy one lot at the first price it would trade at */
        if (r_affordable(r, o->market, first, o->quote_quantity) == 0)
            return CG_EAMOUNT;
        *need = o->quote_quantity;
    } else {
        *need = o->side == SIDE_BUY ? cost : o->quantity;
    }
    return CG_OK;
}

static enum cg_err r_place(struct ref *r, const struct cmd *c, struct r_result *res)
{
    size_t fills_before = r->fills.n;
    enum cg_err err = r_validate(r, c);
    struct r_order *o;
    int64_t need = 0;

    if (err != CG_OK)
        return err;
    if (r_coid_taken(r, c->user_id, c->u.place.client_order_id))
        return CG_EDUPCLIENTID;
    o = calloc(1, sizeof(*o));
    if (!o)
        abort();
    o->user = c->user_id;
    o->label = r->label;
    o->market = c->u.place.market;
    o->side = c->u.place.side;
    o->type = c->u.place.type;
    o->tif = is_market_type(o->type) ? TIF_IOC : c->u.place.tif;
    o->post_only = c->u.place.post_only;
    o->stp = c->u.place.stp;
    o->price = is_market_type(o->type) ? 0 : c->u.place.price;
    o->stop_price = is_stop_type(o->type) ? c->u.place.stop_price : 0;
    o->quote_quantity = c->u.place.quote_quantity;
    o->budget = o->quote_quantity > 0;
    o->quantity = o->remaining = c->u.place.quantity;
    o->created_at = o->updated_at = c->ts;
    memcpy(o->coid, c->u.place.client_order_id, sizeof(o->coid));
    o->coid[sizeof(o->coid) - 1] = 0;
    if (o->budget)
        r->st.budget_orders++;

    if (is_stop_type(o->type)) {
        const int64_t last = r->last[o->market].price;
        if (r->last[o->market].has &&
            (stop_rises(o->type, o->side) ? last >= o->stop_price : last <= o->stop_price)) {
            free(o);
            return CG_ESTOPNOW;
        }
        need = r_reserve(r, o);
    } else if (o->type == ORDER_MARKET) {
        err = r_market_need(r, o, &need);
        if (err != CG_OK) {
            free(o);
            return err;
        }
    } else {
        o->limit = o->price;
        if (o->post_only && r_post_only_crosses(r, o)) {
            r_end_unheld(r, o, ORDER_REJECTED, REASON_POST_ONLY, res, fills_before);
            return CG_OK;
        }
        need = r_reserve(r, o);
    }
    if (r_avail(r, o->user, r_hold_asset(r, o)) < need) {
        free(o);
        return CG_EFUNDS;
    }
    r_acct(r, o->user, r_hold_asset(r, o))->held += need;
    r_touch(r, o->user, r_hold_asset(r, o));
    o->hold = need;
    o->id = r->next_order_id++;
    o->prio = r->next_prio++;
    o->status = ORDER_NEW;
    if (r->label_id && r->label < r->n_label_id)
        r->label_id[r->label] = o->id;
    if (is_stop_type(o->type)) {
        o->limit = 0;
        PUSH(r->stops[o->market], o);
        r_changed(r, o);
        r_result_order(r, res, o, fills_before);
        return CG_OK;
    }
    r_execute(r, o, res, fills_before);
    return CG_OK;
}

/* A stop whose trigger was reached joins the market as a market or limit order. */
static void r_trigger(struct ref *r, struct r_order *o)
{
    uint32_t m = o->market;
    (void)r_unlist_from(&r->stops[m], o);
    r->st.triggers++;
    o->triggered = 1;
    o->updated_at = r->ts;
    /* it enters the queue now (book.h: lower seq is earlier in its level's queue) */
    o->prio = r->next_prio++;
    if (is_market_type(o->type)) {
        o->limit = r_band(r, m, o->side, r->last[m].price);
        if (o->side == SIDE_BUY) {
            int64_t cap = r_band(r, m, SIDE_BUY, o->stop_price);
            if (o->limit > cap)
                o->limit = cap;
        }
    } else {
        o->limit = o->price;
        /* book.h: a post-only order is "rejected instead of taking liquidity" */
        if (o->post_only && !(r->accept & ACCEPT_TRIGGER_POST_ONLY) && r_post_only_crosses(r, o)) {
            r_end_unheld(r, o, ORDER_REJECTED, REASON_POST_ONLY, NULL, r->fills.n);
            return;
        }
    }
    r_execute(r, o, NULL, r->fills.n);
}

/* The next stop the range [lo, hi] reaches: rising ones first (lowest stop, then earliest),
 * then falling ones (highest stop, then earliest). */
static struct r_order *r_next_stop(const struct ref *r, uint32_t m, int64_t hi, int64_t lo)
{
    struct r_order *best = NULL;
    for (int pass = 0; pass < 2 && !best; pass++) {
        for (size_t i = 0; i < r->stops[m].n; i++) {
            struct r_order *o = r->stops[m].v[i];
            bool rises = stop_rises(o->type, o->side);
            if (rises != (pass == 0))
                continue;
            if (rises ? o->stop_price > hi : o->stop_price < lo)
                continue;
            if (!best ||
                (o->stop_price != best->stop_price
                     ? (rises ? o->stop_price < best->stop_price : o->stop_price > best->stop_price)
                     : o->prio < best->prio))
                best = o;
        }
    }
    return best;
}

static void r_run_triggers(struct ref *r)
{
    for (uint32_t m = 0; m < r->n_markets; m++) {
        while (r->last[m].dirty) {
            int64_t hi = r->last[m].hi;
            int64_t lo = r->last[m].lo;
            struct r_order *o;
            r->last[m].dirty = false;
            while ((o = r_next_stop(r, m, hi, lo))) {
                r_trigger(r, o);
                if (r->last[m].price > hi)
                    hi = r->last[m].price;
                if (r->last[m].price < lo)
                    lo = r->last[m].price;
            }
        }
    }
}

/* The last snapshot of order id in this batch (it was just recorded). */
static const struct r_order *r_changed_find(const struct ref *r, uint64_t id)
{
    for (size_t i = r->changed.n; i-- > 0;)
        if (r->changed.v[i].id == id)
            return &r->changed.v[i];
    return NULL;
}

static enum cg_err r_cancel(struct ref *r, const struct cmd *c, struct r_result *res)
{
    struct r_order *o;
    uint64_t id;
    if (c->u.cancel.market >= r->n_markets)
        return CG_EMARKET;
    o = r_find_open(r, c->u.cancel.market, c->u.cancel.order_id);
    if (!o)
        return CG_ENOTOPEN;
    if (o->user != c->user_id)
        return CG_ENOTFOUND;
    id = o->id;
    r_close(r, o, ORDER_CANCELED, REASON_CANCELED_BY_USER);
    r_result_order(r, res, r_changed_find(r, id), r->fills.n);
    return CG_OK;
}

static enum cg_err r_cancel_all(struct ref *r, const struct cmd *c, struct r_result *res)
{
    uint32_t from = c->u.cancel_all.market;
    uint32_t to = from + 1;
    if (from == ENGINE_ALL_MARKETS) {
        from = 0;
        to = (uint32_t)r->n_markets;
    } else if (from >= r->n_markets) {
        return CG_EMARKET;
    }
    res->canceled_first = r->canceled.n;
    for (uint32_t m = from; m < to; m++) {
        struct r_list *lists[2] = {&r->resting[m], &r->stops[m]};
        for (int l = 0; l < 2; l++) {
            for (size_t i = 0; i < lists[l]->n;) {
                struct r_order *o = lists[l]->v[i];
                if (o->user != c->user_id) {
                    i++;
                    continue;
                }
                PUSH(r->canceled, o->id);
                r_close(r, o, ORDER_CANCELED, REASON_CANCELED_BY_USER); /* swaps into slot i */
            }
        }
    }
    res->canceled_count = r->canceled.n - res->canceled_first;
    return CG_OK;
}

static enum cg_err r_amend(struct ref *r, const struct cmd *c, struct r_result *res)
{
    const struct market_cfg *mc;
    struct r_order *o;
    int64_t new_qty;
    int64_t new_price;
    int64_t need;
    int64_t delta;
    size_t fills_before = r->fills.n;

    if (c->u.amend.market >= r->n_markets)
        return CG_EMARKET;
    mc = r_mkt(r, c->u.amend.market);
    o = r_find_open(r, c->u.amend.market, c->u.amend.order_id);
    if (!o)
        return CG_ENOTOPEN;
    if (o->user != c->user_id)
        return CG_ENOTFOUND;
    if (o->type != ORDER_LIMIT)
        return CG_EINVAL;
    new_qty = c->u.amend.quantity ? c->u.amend.quantity : o->quantity;
    new_price = c->u.amend.price ? c->u.amend.price : o->price;
    if (new_qty <= o->filled || new_qty % mc->lot_size != 0)
        return c->u.amend.quantity % mc->lot_size ? CG_ELOT : CG_EMINQTY;
    if (new_price <= 0 || new_price % mc->tick_size != 0)
        return CG_ETICK;
    if (new_price == o->price && new_qty == o->quantity) {
        r_result_order(r, res, o, fills_before);
        return CG_OK;
    }
    if (new_price == o->price && new_qty < o->quantity) {
        /* smaller at the same price: keeps its place */
        o->remaining -= o->quantity - new_qty;
        o->quantity = new_qty;
        o->updated_at = r->ts;
        r_level_touched(r, o);
        r_rehold(r, o);
        r_changed(r, o);
        r_result_order(r, res, o, fills_before);
        return CG_OK;
    }
    need = o->side == SIDE_BUY ? r_buy_reserve(r, o->market, new_price, new_qty - o->filled)
                               : new_qty - o->filled;
    delta = need - o->hold;
    if (delta > 0 && r_avail(r, o->user, r_hold_asset(r, o)) < delta)
        return CG_EFUNDS;
    if (o->post_only) {
        const struct r_order *best = r_next(r, o->market, o->side ^ 1, NULL);
        if (best && (o->side == SIDE_BUY ? best->price <= new_price : best->price >= new_price))
            return CG_EPOSTONLY;
    }
    (void)r_unlist_from(&r->resting[o->market], o);
    r_level_touched(r, o);
    if (delta > 0) {
        r_acct(r, o->user, r_hold_asset(r, o))->held += delta;
        r_touch(r, o->user, r_hold_asset(r, o));
        o->hold += delta;
    }
    o->price = new_price;
    o->quantity = new_qty;
    o->remaining = new_qty - o->filled;
    o->prio = r->next_prio++;
    o->limit = new_price;
    o->updated_at = r->ts;
    r->st.requeues++;
    r_execute(r, o, res, fills_before);
    return CG_OK;
}

static enum cg_err r_funds(struct ref *r, const struct cmd *c, struct r_result *res)
{
    uint32_t asset = c->u.funds.asset;
    int64_t amt = c->u.funds.amount;
    if (asset >= r->cfg->n_assets)
        return CG_EASSET;
    if (amt <= 0)
        return CG_EAMOUNT;
    if (c->type == CMD_WITHDRAW) {
        struct r_acct *a = r_acct(r, c->user_id, asset);
        if (a->total - amt < 0 || a->total - amt < a->held)
            return CG_EFUNDS;
        amt = -amt;
    }
    r_post(r, c->user_id, asset, amt, 0);
    r_post(r, LEDGER_MINT_ID, asset, -amt, 0);
    res->entry_id = r->next_entry_id++;
    res->asset = asset;
    res->amount = c->u.funds.amount;
    return CG_OK;
}

/* Apply one command (then any stops it triggered), recording what it did. */
static void ref_apply(struct ref *r, const struct cmd *c, uint64_t label)
{
    size_t fills_before = r->fills.n;
    r->ts = c->ts;
    r->label = label;
    r->st.cmds++;
    if (c->type < 16)
        r->st.by_type[c->type]++;
    if (c->type == CMD_FEED_TRADE) {
        if (c->u.feed_trade.market >= r->n_markets)
            return;
        if (c->u.feed_trade.last > 0 && c->u.feed_trade.high >= c->u.feed_trade.low)
            r_note_trade(r, c->u.feed_trade.market, c->u.feed_trade.last, c->u.feed_trade.high,
                         c->u.feed_trade.low);
    } else {
        struct r_result res;
        enum cg_err err;
        memset(&res, 0, sizeof(res));
        res.type = c->type;
        res.user_id = c->user_id;
        res.label = label;
        res.fill_first = r->fills.n;
        switch (c->type) {
        case CMD_DEPOSIT:
        case CMD_WITHDRAW:
            err = r_funds(r, c, &res);
            break;
        case CMD_PLACE:
            err = r_place(r, c, &res);
            break;
        case CMD_CANCEL:
            err = r_cancel(r, c, &res);
            break;
        case CMD_AMEND:
            err = r_amend(r, c, &res);
            break;
        case CMD_CANCEL_ALL:
            err = r_cancel_all(r, c, &res);
            break;
        default:
            err = CG_EINVAL;
        }
        res.err = err;
        if (err != CG_OK) {
            res.has_order = false;
            res.fill_first = r->fills.n;
            res.fill_count = 0;
        }
        if (err < CG_ERR_COUNT)
            r->st.errs[err]++;
        PUSH(r->results, res);
    }
    r_run_triggers(r);
    r->st.fills += r->fills.n - fills_before;
    if (r->fills.n > fills_before)
        r->st.trading_cmds++;
}

/* ======================================================================= the generator === */

/* One command, compact (struct cmd is ~2 KB because of the feed book). */
struct gcmd {
    uint64_t label;    /* position in the episode's stream; the command's ts is label + 1 */
    uint8_t type;      /* enum cmd_type */
    uint8_t side;      /* enum side */
    uint8_t otype;     /* enum order_type */
    uint8_t tif;       /* enum order_tif */
    uint8_t post_only; /* 0/1 */
    uint8_t stp;       /* enum stp_mode */
    uint8_t coid;      /* 0: none; else client order id "c<coid>" */
    uint32_t user;     /* user index: id LEDGER_FIRST_USER_ID + user */
    uint32_t market;   /* place/cancel/amend/cancel-all/feed; ENGINE_ALL_MARKETS for all */
    uint32_t asset;    /* deposit/withdraw */
    int64_t price;     /* limit price or new price (amend); feed: last */
    int64_t qty;       /* quantity or new quantity (amend); feed: high */
    int64_t quote;     /* market by quote: budget/target; feed: low; deposit/withdraw: amount */
    int64_t stop;      /* stop price */
    uint64_t order_id; /* cancel/amend: the order */
    uint64_t target;   /* cancel/amend: label + 1 of the command that placed it, 0 if none */
};

struct gen {
    struct rng rs;
    const struct config *cfg;
    size_t n_markets;
    int64_t mid[MAX_MARKETS]; /* ticks */
    int64_t dep_quote, dep_base[MAX_MARKETS];
    uint64_t next_label;
};

static void gen_init(struct gen *g, const struct config *cfg, size_t n_markets, uint64_t seed)
{
    memset(g, 0, sizeof(*g));
    g->rs.s = seed ^ 0x6E17ULL;
    g->cfg = cfg;
    g->n_markets = n_markets;
    g->dep_quote = 0;
    for (size_t m = 0; m < n_markets; m++) {
        const struct market_cfg *mc = &cfg->markets[m];
        int64_t per_lot;
        g->mid[m] = rng_range(&g->rs, 300, 3000);
        per_lot = (int64_t)((__int128)g->mid[m] * mc->tick_size * mc->lot_size /
                            pow10_i(cfg->assets[mc->base].scale));
        g->dep_quote += per_lot * rng_range(&g->rs, 300, 3000);
        g->dep_base[m] = mc->lot_size * rng_range(&g->rs, 300, 3000);
    }
}

static int64_t gen_tick(const struct gen *g, uint32_t m)
{
    return g->cfg->markets[m].tick_size;
}

static int64_t gen_lots(struct gen *g)
{
    uint64_t k = rng_below(&g->rs, 100);
    if (k < 80)
        return rng_range(&g->rs, 1, 10);
    if (k < 96)
        return rng_range(&g->rs, 11, 60);
    return rng_range(&g->rs, 61, 400);
}

/* A limit price around the mid: mostly on the order's own side, sometimes through the mid. */
static int64_t gen_price(struct gen *g, uint32_t m, int side)
{
    uint64_t k = rng_below(&g->rs, 100);
    int64_t off;
    int64_t ticks;
    if (k < 12)
        off = -rng_range(&g->rs, 0, 4);
    else if (k < 88)
        off = rng_range(&g->rs, 0, 8);
    else
        off = rng_range(&g->rs, 9, 80);
    ticks = side == SIDE_BUY ? g->mid[m] - off : g->mid[m] + off;
    if (ticks < 1)
        ticks = 1;
    return ticks * gen_tick(g, m);
}

static size_t ref_open_count(const struct ref *r)
{
    size_t n = 0;
    for (size_t m = 0; m < r->n_markets; m++)
        n += r->resting[m].n + r->stops[m].n;
    return n;
}

/* A random open order (resting or stop); resting_only skips stops. */
static const struct r_order *gen_pick_open(struct gen *g, const struct ref *r, bool resting_only)
{
    size_t n = 0;
    size_t k;
    for (size_t m = 0; m < r->n_markets; m++)
        n += r->resting[m].n + (resting_only ? 0 : r->stops[m].n);
    if (n == 0)
        return NULL;
    k = (size_t)rng_below(&g->rs, n);
    for (size_t m = 0; m < r->n_markets; m++) {
        if (k < r->resting[m].n)
            return r->resting[m].v[k];
        k -= r->resting[m].n;
        if (resting_only)
            continue;
        if (k < r->stops[m].n)
            return r->stops[m].v[k];
        k -= r->stops[m].n;
    }
    return NULL;
}

static uint32_t gen_user(struct gen *g)
{
    return rng_permille(&g->rs, 6) ? N_USERS - 1 : (uint32_t)rng_below(&g->rs, N_FUNDED);
}

static uint32_t gen_other_user(struct gen *g, uint64_t user_id)
{
    uint32_t u = (uint32_t)rng_below(&g->rs, N_FUNDED - 1);
    return u >= user_id - LEDGER_FIRST_USER_ID ? u + 1 : u;
}

static void gen_stop(struct gen *g, const struct ref *r, struct gcmd *gc)
{
    uint32_t m = gc->market;
    int64_t tick = gen_tick(g, m);
    int64_t base = r->last[m].has ? r->last[m].price / tick : g->mid[m];
    int64_t d = rng_permille(&g->rs, 80) ? -rng_range(&g->rs, 0, 2) : rng_range(&g->rs, 1, 25);
    int64_t st = stop_rises(gc->otype, gc->side) ? base + d : base - d;
    gc->stop = (st < 1 ? 1 : st) * tick;
    if (!is_market_type(gc->otype)) {
        int64_t p = gc->stop / tick;
        int64_t slip = rng_range(&g->rs, -2, 6);
        p = gc->side == SIDE_BUY ? p + slip : p - slip;
        gc->price = (p < 1 ? 1 : p) * tick;
        if (rng_permille(&g->rs, 200))
            gc->tif = rng_permille(&g->rs, 500) ? TIF_IOC : TIF_FOK;
        else if (rng_permille(&g->rs, 150))
            gc->post_only = 1;
    }
}

static void gen_budget(struct gen *g, const struct ref *r, struct gcmd *gc)
{
    uint32_t m = gc->market;
    const struct market_cfg *mc = &g->cfg->markets[m];
    const struct r_order *ask = r_next(r, m, SIDE_SELL, NULL);
    int64_t price = ask ? ask->price : g->mid[m] * gen_tick(g, m);
    uint64_t k = rng_below(&g->rs, 100);
    int64_t n;
    if (rng_permille(&g->rs, 350)) {
        /* a market sell by quote: a target of some lots' notional at the best bid, exact (the
         * lot boundary), a little off, or below one lot */
        const struct r_order *bid = r_next(r, m, SIDE_BUY, NULL);
        price = bid ? bid->price : g->mid[m] * gen_tick(g, m);
        n = r_notional(r, m, price, mc->lot_size * gen_lots(g));
        if (k < 25)
            gc->quote = n;
        else if (k < 33)
            gc->quote = rng_range(&g->rs, 1, r_notional(r, m, price, mc->lot_size));
        else
            gc->quote = n + n * rng_range(&g->rs, -10, 10) / 100 + 1;
        gc->qty = 0;
        gc->side = SIDE_SELL;
        return;
    }
    if (k < 20) {
        /* exactly the cost of some lots at the best ask: the affordability boundary */
        n = r_notional(r, m, price, mc->lot_size * rng_range(&g->rs, 1, 12));
        gc->quote = n + r_fee(n, mc->taker_fee_ppm);
    } else if (k < 28) {
        n = r_notional(r, m, price, mc->lot_size);
        gc->quote = rng_range(&g->rs, 1, n + r_fee(n, mc->taker_fee_ppm));
    } else {
        n = r_notional(r, m, price, mc->lot_size * gen_lots(g));
        gc->quote = n + n * rng_range(&g->rs, -10, 10) / 100 + 1;
    }
    gc->qty = 0;
    gc->side = SIDE_BUY;
}

static void gen_place(struct gen *g, const struct ref *r, struct gcmd *gc)
{
    uint64_t k = rng_below(&g->rs, 100);
    uint32_t m = (uint32_t)rng_below(&g->rs, g->n_markets);
    uint64_t s = rng_below(&g->rs, 100);
    gc->type = CMD_PLACE;
    gc->user = gen_user(g);
    gc->market = m;
    gc->side = (uint8_t)rng_below(&g->rs, 2);
    gc->stp = s < 70 ? STP_EXPIRE_MAKER : s < 85 ? STP_EXPIRE_TAKER : STP_EXPIRE_BOTH;
    gc->coid = rng_permille(&g->rs, 80) ? (uint8_t)rng_range(&g->rs, 1, 4) : 0;
    gc->qty = gen_lots(g) * g->cfg->markets[m].lot_size;
    gc->price = gen_price(g, m, gc->side);
    gc->tif = TIF_GTC;
    if (k < 50) {
        gc->otype = ORDER_LIMIT;
    } else if (k < 57) {
        gc->otype = ORDER_LIMIT;
        gc->tif = TIF_IOC;
    } else if (k < 64) {
        gc->otype = ORDER_LIMIT;
        gc->tif = TIF_FOK;
    } else if (k < 72) {
        gc->otype = ORDER_LIMIT;
        gc->post_only = 1;
    } else if (k < 80) {
        gc->otype = ORDER_MARKET;
        gc->tif = rng_permille(&g->rs, 50) ? TIF_FOK : TIF_IOC;
    } else if (k < 85) {
        gc->otype = ORDER_MARKET;
        gc->tif = TIF_IOC;
        gen_budget(g, r, gc);
    } else {
        static const uint8_t stops[] = {ORDER_STOP_LOSS, ORDER_STOP_LOSS_LIMIT, ORDER_TAKE_PROFIT,
                                        ORDER_TAKE_PROFIT_LIMIT};
        gc->otype = stops[rng_below(&g->rs, 4)];
        gen_stop(g, r, gc);
    }
}

/* Malformed orders, one defect each. */
static void gen_invalid_place(struct gen *g, const struct ref *r, struct gcmd *gc)
{
    const struct market_cfg *mc;
    gen_place(g, r, gc);
    mc = &g->cfg->markets[gc->market];
    switch (rng_below(&g->rs, 13)) {
    case 0:
        gc->qty = 0;
        break;
    case 1:
        gc->qty = mc->lot_size > 1 ? gc->qty + mc->lot_size / 2 : -mc->lot_size;
        break;
    case 2:
        gc->otype = ORDER_LIMIT;
        gc->price = mc->tick_size > 1 ? gc->price + 1 : 0;
        break;
    case 3:
        gc->otype = ORDER_STOP_LOSS_LIMIT;
        gc->stop = mc->tick_size > 1 ? gc->price + 1 : -mc->tick_size;
        break;
    case 4:
        gc->otype = ORDER_LIMIT;
        gc->post_only = 1;
        gc->tif = TIF_IOC;
        break;
    case 5:
        gc->otype = ORDER_MARKET;
        gc->post_only = 1;
        break;
    case 6:
        gc->market = 5;
        break;
    case 7:
        gc->side = 2;
        break;
    case 8:
        gc->otype = 9;
        break;
    case 9:
        gc->tif = 3;
        break;
    case 10:
        gc->stp = 3;
        break;
    case 11:
        gc->otype = ORDER_MARKET;
        gc->quote = 1000;
        gc->side = rng_permille(&g->rs, 500) ? SIDE_SELL : SIDE_BUY;
        break;
    default:
        gc->otype = ORDER_LIMIT;
        gc->quote = 1000;
        break;
    }
}

static void gen_target(struct gcmd *gc, const struct r_order *o)
{
    gc->market = o->market;
    gc->order_id = o->id;
    gc->target = o->label + 1;
}

static void gen_cancel(struct gen *g, const struct ref *r, struct gcmd *gc)
{
    uint64_t k = rng_below(&g->rs, 100);
    const struct r_order *o = gen_pick_open(g, r, false);
    gc->type = CMD_CANCEL;
    gc->user = gen_user(g);
    gc->market = (uint32_t)rng_below(&g->rs, g->n_markets);
    if (k < 8 && r->n_closed > 0) {
        const struct r_closed *c = &r->closed[rng_below(&g->rs, min64((int64_t)r->n_closed, 64))];
        gc->user = (uint32_t)(c->user - LEDGER_FIRST_USER_ID);
        gc->market = c->market;
        gc->order_id = c->id;
        gc->target = c->label + 1;
    } else if (k < 11 || !o) {
        gc->order_id = rng_permille(&g->rs, 500) ? BOGUS_ID : r->next_order_id;
    } else {
        gen_target(gc, o);
        gc->user = k < 88 ? (uint32_t)(o->user - LEDGER_FIRST_USER_ID) : gen_other_user(g, o->user);
        if (k >= 98)
            gc->market = rng_permille(&g->rs, 500) ? 7 : (gc->market + 1) % 2;
    }
}

static void gen_amend(struct gen *g, const struct ref *r, struct gcmd *gc)
{
    const struct r_order *o = gen_pick_open(g, r, !rng_permille(&g->rs, 50));
    const struct market_cfg *mc;
    uint64_t k = rng_below(&g->rs, 100);
    int64_t lot;
    int64_t tick;
    if (!o) {
        gen_cancel(g, r, gc);
        return;
    }
    mc = &g->cfg->markets[o->market];
    lot = mc->lot_size;
    tick = mc->tick_size;
    gc->type = CMD_AMEND;
    gen_target(gc, o);
    gc->user = rng_permille(&g->rs, 950) ? (uint32_t)(o->user - LEDGER_FIRST_USER_ID)
                                         : gen_other_user(g, o->user);
    if (k < 35) { /* smaller, same price */
        int64_t room = (o->quantity - o->filled) / lot;
        gc->qty = room > 1 ? o->filled + lot * rng_range(&g->rs, 1, room - 1) : o->quantity;
    } else if (k < 62) { /* new price, may cross */
        int64_t d = rng_range(&g->rs, 1, 10) * (rng_permille(&g->rs, 500) ? 1 : -1);
        gc->price = o->price + d * tick > 0 ? o->price + d * tick : tick;
    } else if (k < 77) { /* larger */
        gc->qty = o->quantity + lot * rng_range(&g->rs, 1, 30);
    } else if (k < 87) { /* both */
        gc->qty = o->filled + lot * rng_range(&g->rs, 1, 40);
        gc->price = o->price + rng_range(&g->rs, -6, 6) * tick;
        if (gc->price <= 0)
            gc->price = tick;
    } else if (k < 92) { /* no change */
        gc->qty = rng_permille(&g->rs, 500) ? o->quantity : 0;
        gc->price = rng_permille(&g->rs, 500) ? o->price : 0;
    } else { /* refused */
        switch (rng_below(&g->rs, 4)) {
        case 0:
            gc->qty = o->filled > 0 ? o->filled : -lot;
            break;
        case 1:
            gc->qty = lot > 1 ? o->quantity + lot / 2 : -3;
            break;
        case 2:
            gc->price = tick > 1 ? o->price + 1 : -tick;
            break;
        default:
            gc->price = -tick;
            break;
        }
    }
}

static void gen_feed(struct gen *g, struct gcmd *gc)
{
    uint32_t m = (uint32_t)rng_below(&g->rs, g->n_markets);
    int64_t tick = gen_tick(g, m);
    int64_t last = g->mid[m] + rng_range(&g->rs, -12, 12);
    int64_t hi = last + rng_range(&g->rs, 0, 8);
    int64_t lo = last - rng_range(&g->rs, 0, 8);
    gc->type = CMD_FEED_TRADE;
    gc->market = m;
    gc->price = (last < 1 ? 1 : last) * tick;
    gc->qty = hi * tick;
    gc->quote = (lo < 1 ? 1 : lo) * tick;
    if (rng_permille(&g->rs, 40))
        gc->price = 0; /* ignored */
    else if (rng_permille(&g->rs, 20))
        gc->market = 9; /* ignored */
    else if (rng_permille(&g->rs, 300))
        g->mid[m] += (last - g->mid[m]) / 2; /* the real market moves ours */
}

static void gen_funds(struct gen *g, const struct ref *r, struct gcmd *gc, bool deposit)
{
    gc->type = deposit ? CMD_DEPOSIT : CMD_WITHDRAW;
    gc->user = gen_user(g);
    gc->asset = (uint32_t)rng_below(&g->rs, g->n_markets + 1);
    if (deposit) {
        int64_t base = gc->asset == A_QUOTE ? g->dep_quote : g->dep_base[gc->asset - 1];
        gc->quote = base * rng_range(&g->rs, 1, 20) / 10 + 1;
    } else {
        const struct r_acct *a = &r->users[gc->user][gc->asset];
        gc->quote = (a->total - a->held) * rng_range(&g->rs, 1, 120) / 100 + 1;
    }
    if (rng_permille(&g->rs, 30))
        gc->asset = 7;
    else if (rng_permille(&g->rs, 30))
        gc->quote = -rng_range(&g->rs, 0, 5);
}

static void gen_cancel_all(struct gen *g, struct gcmd *gc)
{
    gc->type = CMD_CANCEL_ALL;
    gc->user = gen_user(g);
    if (rng_permille(&g->rs, 500))
        gc->market = ENGINE_ALL_MARKETS;
    else if (rng_permille(&g->rs, 50))
        gc->market = 6;
    else
        gc->market = (uint32_t)rng_below(&g->rs, g->n_markets);
}

static void gen_next(struct gen *g, const struct ref *r, struct gcmd *gc)
{
    size_t n_open = ref_open_count(r);
    size_t target = 150 * g->n_markets;
    uint64_t k;
    memset(gc, 0, sizeof(*gc));
    gc->label = g->next_label++;
    if (gc->label < (uint64_t)N_FUNDED * N_ASSETS) {
        /* everyone starts with some of everything */
        gc->type = CMD_DEPOSIT;
        gc->user = (uint32_t)(gc->label / N_ASSETS);
        gc->asset = (uint32_t)(gc->label % N_ASSETS);
        gc->quote = gc->asset == A_QUOTE        ? g->dep_quote
                    : gc->asset <= g->n_markets ? g->dep_base[gc->asset - 1]
                                                : 1000;
        return;
    }
    for (size_t m = 0; m < g->n_markets; m++) {
        if (rng_permille(&g->rs, 20))
            g->mid[m] += rng_permille(&g->rs, 500) ? 1 : -1;
        if (r->last[m].has && rng_permille(&g->rs, 30)) {
            int64_t last = r->last[m].price / gen_tick(g, m);
            g->mid[m] += last > g->mid[m] + 4 ? 1 : last < g->mid[m] - 4 ? -1 : 0;
        }
        if (g->mid[m] < 60)
            g->mid[m] = 60;
    }
    k = rng_below(&g->rs, 1000);
    if (k < (n_open > target ? 330u : 110u))
        gen_cancel(g, r, gc);
    else if (k < 440)
        gen_amend(g, r, gc);
    else if (k < 444)
        gen_cancel_all(g, gc);
    else if (k < 474)
        gen_feed(g, gc);
    else if (k < 489)
        gen_funds(g, r, gc, true);
    else if (k < 499)
        gen_funds(g, r, gc, false);
    else if (k < 509)
        gen_invalid_place(g, r, gc);
    else
        gen_place(g, r, gc);
}

/* The engine command for gc; `id` is the order a cancel/amend targets. */
static void gcmd_to_cmd(const struct gcmd *gc, uint64_t id, struct cmd *c)
{
    memset(c, 0, offsetof(struct cmd, u) + sizeof(c->u.place));
    c->next = NULL;
    c->type = gc->type;
    c->req_id = gc->label + 1;
    c->user_id = LEDGER_FIRST_USER_ID + gc->user;
    c->ts = (int64_t)gc->label + 1;
    switch (gc->type) {
    case CMD_DEPOSIT:
    case CMD_WITHDRAW:
        c->u.funds.asset = gc->asset;
        c->u.funds.amount = gc->quote;
        break;
    case CMD_PLACE:
        c->u.place.market = gc->market;
        c->u.place.side = gc->side;
        c->u.place.type = gc->otype;
        c->u.place.tif = gc->tif;
        c->u.place.post_only = gc->post_only;
        c->u.place.stp = gc->stp;
        c->u.place.price = gc->price;
        c->u.place.quantity = gc->qty;
        c->u.place.quote_quantity = gc->quote;
        c->u.place.stop_price = gc->stop;
        if (gc->coid)
            snprintf(c->u.place.client_order_id, sizeof(c->u.place.client_order_id), "c%u",
                     gc->coid);
        break;
    case CMD_CANCEL:
        c->u.cancel.market = gc->market;
        c->u.cancel.order_id = id;
        break;
    case CMD_AMEND:
        c->u.amend.market = gc->market;
        c->u.amend.order_id = id;
        c->u.amend.price = gc->price;
        c->u.amend.quantity = gc->qty;
        break;
    case CMD_CANCEL_ALL:
        c->u.cancel_all.market = gc->market;
        break;
    case CMD_FEED_TRADE:
        c->user_id = LEDGER_HOUSE_LP_ID;
        c->u.feed_trade.market = gc->market;
        c->u.feed_trade.last = gc->price;
        c->u.feed_trade.high = gc->qty;
        c->u.feed_trade.low = gc->quote;
        break;
    default:
        break;
    }
}

static const char *cmd_type_name(int t)
{
    static const char *names[] = {"?",      "DEPOSIT", "WITHDRAW", "PLACE",      "CANCEL",
                                  "FEED_B", "FEED_P",  "AMEND",    "CANCEL_ALL", "FEED_TRADE"};
    return t >= 0 && t <= CMD_FEED_TRADE ? names[t] : "?";
}

/* gc as a C initializer (for a regression test) plus a readable note. */
static void gcmd_print(FILE *f, const struct gcmd *gc, uint64_t id)
{
    fprintf(f,
            "    {.label = %" PRIu64
            ", .type = %u, .user = %u, .market = %u, .asset = %u, .side = %u,"
            " .otype = %u, .tif = %u, .post_only = %u, .stp = %u, .coid = %u, .price = %" PRId64
            ", .qty = %" PRId64 ", .quote = %" PRId64 ", .stop = %" PRId64 ", .order_id = %" PRIu64
            ", .target = %" PRIu64 "}, /* %s",
            gc->label, gc->type, gc->user, gc->market, gc->asset, gc->side, gc->otype, gc->tif,
            gc->post_only, gc->stp, gc->coid, gc->price, gc->qty, gc->quote, gc->stop, id,
            gc->target, cmd_type_name(gc->type));
    if (gc->type == CMD_CANCEL || gc->type == CMD_AMEND)
        fprintf(f, " order %" PRIu64, id);
    fprintf(f, " */\n");
}

/* ======================================================================== the driver === */

struct l2lvl {
    int64_t price, qty;
};

struct ep_opts {
    uint64_t seed;
    uint64_t n_cmds;         /* generator: how many commands */
    const struct gcmd *list; /* or: replay this list, cancels/amends resolved by label */
    size_t n_list;
    int batch_max;       /* batches of 1..batch_max commands */
    bool engine;         /* false: reference and generator only (to record the stream) */
    bool quiet;          /* no per-episode summary */
    bool record;         /* with the engine: also record the stream (the command log) */
    uint64_t full_every; /* full comparison every this many commands */
    uint64_t restart_every;
    unsigned accept;
};

struct ep_out {
    bool failed, crashed;
    uint64_t fail_cmd; /* position in the stream (or list) where the mismatch showed */
    uint64_t n_done;
    uint64_t hash;
    double seconds;
    char msg[6144];
    struct stats st;
};

struct drv {
    const struct ep_opts *opt;
    struct ep_out *out;
    struct config cfg;
    size_t n_markets;
    struct engine *eng;
    struct ref ref;
    struct gen gen;
    struct rng brs;
    uint64_t pos; /* commands taken from the source so far */
    VEC(struct gcmd) rec;
    struct cmd cmds[BATCH_MAX_CMDS];
    struct gcmd gcs[BATCH_MAX_CMDS];
    uint64_t ids[BATCH_MAX_CMDS];
    /* the engine as its batches published it */
    VEC(struct order) view; /* open orders (last snapshots) */
    VEC(struct l2lvl) l2[MAX_MARKETS][2];
    uint64_t next_ids[4];
    uint64_t since_full, since_restart;
    uint64_t trace_from;
    volatile uint64_t *progress;
};

static void drv_fail(struct drv *d, uint64_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void drv_fail(struct drv *d, uint64_t at, const char *fmt, ...)
{
    va_list ap;
    if (d->out->failed)
        return;
    d->out->failed = true;
    d->out->fail_cmd = at;
    va_start(ap, fmt);
    vsnprintf(d->out->msg, sizeof(d->out->msg), fmt, ap);
    va_end(ap);
}

static int fmt_order(char *buf, size_t n, const struct order *o)
{
    return snprintf(
        buf, n,
        "{id %" PRIu64 " user %" PRIu64 " m %u side %u type %u tif %u status %s reason "
        "%s po %u stp %u trig %u price %" PRId64 " stop %" PRId64 " quote %" PRId64 " qty %" PRId64
        " rem %" PRId64 " filled %" PRId64 " qfilled %" PRId64 " fees %" PRId64 " hold %" PRId64
        " seq %" PRIu64 " coid '%s'}",
        o->id, o->user_id, o->market, o->side, o->type, o->tif, order_status_name(o->status),
        order_reason_name(o->reason) ? order_reason_name(o->reason) : "-", o->post_only, o->stp,
        o->triggered, o->price, o->stop_price, o->quote_quantity, o->quantity, o->remaining,
        o->filled, o->quote_filled, o->fee_total, o->hold, o->seq, o->client_order_id);
}

static struct order r_as_order(const struct r_order *o)
{
    struct order x;
    memset(&x, 0, sizeof(x));
    x.id = o->id;
    x.user_id = o->user;
    x.seq = o->prio;
    x.market = o->market;
    x.side = o->side;
    x.type = o->type;
    x.tif = o->tif;
    x.status = o->status;
    x.reason = o->reason;
    x.post_only = o->post_only;
    x.stp = o->stp;
    x.triggered = o->triggered;
    x.price = o->price;
    x.stop_price = o->stop_price;
    x.quote_quantity = o->quote_quantity;
    x.quantity = o->quantity;
    x.remaining = o->remaining;
    x.filled = o->filled;
    x.quote_filled = o->quote_filled;
    x.fee_total = o->fee_total;
    x.hold = o->hold;
    x.created_at = o->created_at;
    x.updated_at = o->updated_at;
    memcpy(x.client_order_id, o->coid, sizeof(x.client_order_id));
    return x;
}

/* Compare an engine order snapshot with the reference's (seq is not compared: see r_trigger). */
static bool cmp_order(struct drv *d, uint64_t at, const char *what, const struct order *e,
                      const struct r_order *ro)
{
    struct order x = r_as_order(ro);
    const char *field = NULL;
    char eb[700];
    char rb[700];
#define FIELD(f)                                                                                   \
    if (!field && e->f != x.f)                                                                     \
    field = #f
    FIELD(id);
    FIELD(user_id);
    FIELD(market);
    FIELD(side);
    FIELD(type);
    FIELD(tif);
    FIELD(status);
    FIELD(reason);
    FIELD(post_only);
    FIELD(stp);
    FIELD(triggered);
    FIELD(price);
    FIELD(stop_price);
    FIELD(quote_quantity);
    FIELD(quantity);
    FIELD(remaining);
    FIELD(filled);
    FIELD(quote_filled);
    FIELD(fee_total);
    FIELD(hold);
    FIELD(created_at);
    FIELD(updated_at);
#undef FIELD
    if (!field && strncmp(e->client_order_id, x.client_order_id, sizeof(x.client_order_id)))
        field = "client_order_id";
    if (!field)
        return true;
    fmt_order(eb, sizeof(eb), e);
    fmt_order(rb, sizeof(rb), &x);
    drv_fail(d, at, "%s: order %" PRIu64 " differs in %s\n  engine:    %s\n  reference: %s", what,
             x.id, field, eb, rb);
    return false;
}

static bool cmp_fill(struct drv *d, uint64_t at, const struct fill *e, const struct fill *x)
{
    if (e->id == x->id && e->market == x->market && e->price == x->price &&
        e->quantity == x->quantity && e->quote_quantity == x->quote_quantity &&
        e->taker_side == x->taker_side && e->taker_order_id == x->taker_order_id &&
        e->maker_order_id == x->maker_order_id && e->taker_user_id == x->taker_user_id &&
        e->maker_user_id == x->maker_user_id && e->taker_fee == x->taker_fee &&
        e->maker_fee == x->maker_fee && e->ts == x->ts)
        return true;
    drv_fail(d, at,
             "fill differs\n  engine:    {id %" PRIu64 " m %u price %" PRId64 " qty %" PRId64
             " quote %" PRId64 " taker side %u taker %" PRIu64 "/u%" PRIu64 " maker %" PRIu64
             "/u%" PRIu64 " fees t %" PRId64 " m %" PRId64 "}\n  reference: {id %" PRIu64
             " m %u price %" PRId64 " qty %" PRId64 " quote %" PRId64
             " taker side %u taker %" PRIu64 "/u%" PRIu64 " maker %" PRIu64 "/u%" PRIu64
             " fees t %" PRId64 " m %" PRId64 "}",
             e->id, e->market, e->price, e->quantity, e->quote_quantity, e->taker_side,
             e->taker_order_id, e->taker_user_id, e->maker_order_id, e->maker_user_id, e->taker_fee,
             e->maker_fee, x->id, x->market, x->price, x->quantity, x->quote_quantity,
             x->taker_side, x->taker_order_id, x->taker_user_id, x->maker_order_id,
             x->maker_user_id, x->taker_fee, x->maker_fee);
    return false;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static bool cmp_results(struct drv *d, const struct batch *b)
{
    struct ref *r = &d->ref;
    if (b->results.n != r->results.n) {
        drv_fail(d, d->pos - 1, "%zu results, reference %zu", b->results.n, r->results.n);
        return false;
    }
    for (size_t i = 0; i < b->results.n; i++) {
        const struct cmd_result *e = &b->results.v[i];
        const struct r_result *x = &r->results.v[i];
        uint64_t at = x->label;
        if (e->type != x->type || e->err != x->err) {
            drv_fail(d, at, "%s result: engine %s, reference %s", cmd_type_name(x->type),
                     cg_err_code(e->err), cg_err_code(x->err));
            return false;
        }
        if (e->err != CG_OK) {
            if (e->fill_count != 0) {
                drv_fail(d, at, "a refused command has %u fills", e->fill_count);
                return false;
            }
            continue;
        }
        if (x->has_order && !cmp_order(d, at, "command result", &e->order, &x->order))
            return false;
        if (e->fill_first != x->fill_first || e->fill_count != x->fill_count) {
            drv_fail(d, at, "result fills [%u, +%u), reference [%zu, +%zu)", e->fill_first,
                     e->fill_count, x->fill_first, x->fill_count);
            return false;
        }
        if (x->type == CMD_DEPOSIT || x->type == CMD_WITHDRAW) {
            if (e->entry_id != x->entry_id || e->asset != x->asset || e->amount != x->amount) {
                drv_fail(d, at,
                         "funds result: entry %" PRIu64 " asset %u amount %" PRId64
                         ", reference entry %" PRIu64 " asset %u amount %" PRId64,
                         e->entry_id, e->asset, e->amount, x->entry_id, x->asset, x->amount);
                return false;
            }
        }
        if (x->type == CMD_CANCEL_ALL) {
            uint64_t ids_e[512];
            uint64_t *ids_x = r->canceled.v + x->canceled_first;
            if (e->orders_count != x->canceled_count || e->orders_count > 512) {
                drv_fail(d, at, "cancel-all canceled %u orders, reference %zu", e->orders_count,
                         x->canceled_count);
                return false;
            }
            if (e->orders_count == 0)
                continue;
            for (uint32_t k = 0; k < e->orders_count; k++)
                ids_e[k] = b->orders.v[e->orders_first + k].id;
            sort_any(ids_e, e->orders_count, sizeof(*ids_e), cmp_u64);
            sort_any(ids_x, x->canceled_count, sizeof(*ids_x), cmp_u64);
            if (memcmp(ids_e, ids_x, e->orders_count * sizeof(*ids_e))) {
                drv_fail(d, at, "cancel-all canceled other orders than the reference");
                return false;
            }
        }
    }
    return true;
}

static bool cmp_fills_and_orders(struct drv *d, const struct batch *b)
{
    struct ref *r = &d->ref;
    uint64_t at = d->pos - 1;
    size_t n_last = 0;
    if (b->fills.n != r->fills.n) {
        char list[2][1500];
        for (int w = 0; w < 2; w++) {
            const struct fill *v = w ? r->fills.v : b->fills.v;
            size_t n = w ? r->fills.n : b->fills.n;
            int len = 0;
            list[w][0] = 0;
            for (size_t i = 0; i < n && len < 1300; i++)
                len += snprintf(
                    list[w] + len, sizeof(list[w]) - (size_t)len,
                    " [id %" PRIu64 " %" PRId64 "x%" PRId64 " taker %" PRIu64 " maker %" PRIu64 "]",
                    v[i].id, v[i].price, v[i].quantity, v[i].taker_order_id, v[i].maker_order_id);
        }
        drv_fail(d, at, "batch has %zu fills, reference %zu\n  engine:   %s\n  reference:%s",
                 b->fills.n, r->fills.n, list[0], list[1]);
        return false;
    }
    for (size_t i = 0; i < b->fills.n; i++)
        if (!cmp_fill(d, at, &b->fills.v[i], &r->fills.v[i]))
            return false;
    /* the last snapshot of every order the batch changed */
    for (size_t i = b->orders.n; i-- > 0;) {
        const struct order *e = &b->orders.v[i];
        const struct r_order *x = NULL;
        bool seen = false;
        for (size_t k = i + 1; k < b->orders.n && !seen; k++)
            seen = b->orders.v[k].id == e->id;
        if (seen)
            continue;
        n_last++;
        for (size_t k = 0; k < r->changed.n && !x; k++)
            if (r->changed.v[k].id == e->id)
                x = &r->changed.v[k];
        if (!x) {
            char eb[700];
            fmt_order(eb, sizeof(eb), e);
            drv_fail(d, at, "the engine changed order %" PRIu64 ", the reference did not: %s",
                     e->id, eb);
            return false;
        }
        if (!cmp_order(d, at, "changed order (batch->orders)", e, x))
            return false;
    }
    if (n_last != r->changed.n) {
        for (size_t k = 0; k < r->changed.n; k++) {
            bool found = false;
            for (size_t i = 0; i < b->orders.n && !found; i++)
                found = b->orders.v[i].id == r->changed.v[k].id;
            if (!found) {
                char rb[700];
                struct order x = r_as_order(&r->changed.v[k]);
                fmt_order(rb, sizeof(rb), &x);
                drv_fail(d, at, "the reference changed order %" PRIu64 ", the engine did not: %s",
                         x.id, rb);
                return false;
            }
        }
    }
    return true;
}

static bool cmp_acct(struct drv *d, uint64_t at, uint64_t user, uint32_t asset)
{
    const struct balance *e = ledger_get(engine_ledger(d->eng), user, asset);
    const struct r_acct *x = r_acct(&d->ref, user, asset);
    int64_t et = e ? e->total : 0;
    int64_t eh = e ? e->held : 0;
    if (et == x->total && eh == x->held)
        return true;
    drv_fail(d, at,
             "account %" PRIu64 "/%u: engine total %" PRId64 " held %" PRId64
             ", reference total %" PRId64 " held %" PRId64,
             user, asset, et, eh, x->total, x->held);
    return false;
}

static bool known_account(uint64_t user)
{
    return user == LEDGER_MINT_ID || user == LEDGER_FEES_ID ||
           (user >= LEDGER_FIRST_USER_ID && user < LEDGER_FIRST_USER_ID + N_USERS);
}

static bool cmp_balances(struct drv *d, const struct batch *b)
{
    uint64_t at = d->pos - 1;
    for (size_t i = 0; i < b->balances.n; i++) {
        const struct balance_change *c = &b->balances.v[i];
        const struct balance *e = ledger_get(engine_ledger(d->eng), c->user_id, c->asset);
        const struct r_acct *x;
        if (!known_account(c->user_id) || c->asset >= N_ASSETS) {
            drv_fail(d, at, "balance change of unknown account %" PRIu64 "/%u", c->user_id,
                     c->asset);
            return false;
        }
        x = r_acct(&d->ref, c->user_id, c->asset);
        if (!e || e->total != c->total || e->held != c->held || c->total != x->total ||
            c->held != x->held) {
            drv_fail(d, at,
                     "balance change %" PRIu64 "/%u: total %" PRId64 " held %" PRId64
                     ", reference %" PRId64 " / %" PRId64,
                     c->user_id, c->asset, c->total, c->held, x->total, x->held);
            return false;
        }
    }
    for (size_t i = 0; i < d->ref.touched.n; i++)
        if (!cmp_acct(d, at, d->ref.touched.v[i].user, d->ref.touched.v[i].asset))
            return false;
    return true;
}

static int64_t view_level(struct drv *d, uint32_t m, int side, int64_t price)
{
    for (size_t i = 0; i < d->l2[m][side].n; i++)
        if (d->l2[m][side].v[i].price == price)
            return d->l2[m][side].v[i].qty;
    return 0;
}

static void view_set_level(struct drv *d, uint32_t m, int side, int64_t price, int64_t qty)
{
    for (size_t i = 0; i < d->l2[m][side].n; i++) {
        if (d->l2[m][side].v[i].price == price) {
            if (qty == 0)
                d->l2[m][side].v[i] = d->l2[m][side].v[--d->l2[m][side].n];
            else
                d->l2[m][side].v[i].qty = qty;
            return;
        }
    }
    if (qty != 0) {
        struct l2lvl l = {price, qty};
        PUSH(d->l2[m][side], l);
    }
}

/* The best `max` levels of a side of the reference, best first. */
static size_t ref_levels(const struct ref *r, uint32_t m, int side, struct l2lvl *out, size_t max)
{
    size_t n = 0;
    bool have_prev = false;
    int64_t prev = 0;
    while (n < max) {
        bool found = false;
        int64_t best = 0;
        for (size_t i = 0; i < r->resting[m].n; i++) {
            const struct r_order *o = r->resting[m].v[i];
            bool after = !have_prev || (side == SIDE_BUY ? o->price < prev : o->price > prev);
            if (o->side != side || !after)
                continue;
            if (!found || (side == SIDE_BUY ? o->price > best : o->price < best))
                best = o->price;
            found = true;
        }
        if (!found)
            break;
        out[n].price = best;
        out[n].qty = r_level_qty(r, m, side, best);
        n++;
        prev = best;
        have_prev = true;
    }
    return n;
}

static bool cmp_book(struct drv *d, const struct batch *b)
{
    uint64_t at = d->pos - 1;
    struct ref *r = &d->ref;
    for (size_t i = 0; i < b->l2.n; i++) {
        const struct l2_change *c = &b->l2.v[i];
        int64_t want;
        if (c->market >= d->n_markets || c->side > SIDE_SELL) {
            drv_fail(d, at, "l2 change of market %u side %u", c->market, c->side);
            return false;
        }
        want = r_level_qty(r, c->market, c->side, c->price);
        if (c->qty != want) {
            drv_fail(d, at,
                     "l2 change market %u side %u price %" PRId64 ": qty %" PRId64
                     ", reference %" PRId64,
                     c->market, c->side, c->price, c->qty, want);
            return false;
        }
        view_set_level(d, c->market, c->side, c->price, c->qty);
    }
    for (size_t i = 0; i < r->levels.n; i++) {
        const struct r_level_key *k = &r->levels.v[i];
        int64_t have = view_level(d, k->market, k->side, k->price);
        int64_t want = r_level_qty(r, k->market, k->side, k->price);
        if (have != want) {
            drv_fail(d, at,
                     "level market %u side %u price %" PRId64 " is %" PRId64
                     " in the published book, reference %" PRId64 " (no l2 change?)",
                     k->market, k->side, k->price, have, want);
            return false;
        }
    }
    for (uint32_t m = 0; m < d->n_markets; m++) {
        const struct market_top *t = &b->tops[m];
        struct l2lvl bid;
        struct l2lvl ask;
        bool has_bid = ref_levels(r, m, SIDE_BUY, &bid, 1) == 1;
        bool has_ask = ref_levels(r, m, SIDE_SELL, &ask, 1) == 1;
        if (t->has_bid != has_bid || t->has_ask != has_ask ||
            (has_bid && (t->bid != bid.price || t->bid_qty != bid.qty)) ||
            (has_ask && (t->ask != ask.price || t->ask_qty != ask.qty))) {
            drv_fail(d, at,
                     "market %u top: engine bid %d %" PRId64 "x%" PRId64 " ask %d %" PRId64
                     "x%" PRId64 ", reference bid %d %" PRId64 "x%" PRId64 " ask %d %" PRId64
                     "x%" PRId64,
                     m, t->has_bid, t->bid, t->bid_qty, t->has_ask, t->ask, t->ask_qty, has_bid,
                     has_bid ? bid.price : 0, has_bid ? bid.qty : 0, has_ask,
                     has_ask ? ask.price : 0, has_ask ? ask.qty : 0);
            return false;
        }
    }
    return true;
}

static void view_apply(struct drv *d, const struct batch *b)
{
    for (size_t i = 0; i < b->orders.n; i++) {
        const struct order *o = &b->orders.v[i];
        bool open = o->status == ORDER_NEW || o->status == ORDER_PARTIALLY_FILLED;
        size_t k;
        for (k = 0; k < d->view.n; k++)
            if (d->view.v[k].id == o->id)
                break;
        if (k < d->view.n) {
            if (open)
                d->view.v[k] = *o;
            else
                d->view.v[k] = d->view.v[--d->view.n];
        } else if (open) {
            PUSH(d->view, *o);
        }
    }
    d->next_ids[0] = b->next_order_id;
    d->next_ids[1] = b->next_fill_id;
    d->next_ids[2] = b->next_entry_id;
    d->next_ids[3] = b->next_seq;
}

struct sums {
    __int128 total[N_ASSETS];
    bool bad_asset;
};

static void sum_visit(uint64_t user, uint32_t asset, const struct balance *bal, void *ctx)
{
    struct sums *s = ctx;
    (void)user;
    if (asset >= N_ASSETS)
        s->bad_asset = true;
    else
        s->total[asset] += bal->total;
}

static bool check_engine(struct drv *d)
{
    char msg[256] = "";
    struct sums s;
    memset(&s, 0, sizeof(s));
    if (!engine_check(d->eng, msg, sizeof(msg))) {
        drv_fail(d, d->pos - 1, "engine_check: %s", msg);
        return false;
    }
    ledger_foreach(engine_ledger(d->eng), sum_visit, &s);
    for (uint32_t a = 0; a < N_ASSETS; a++) {
        if (s.total[a] != 0 || s.bad_asset) {
            drv_fail(d, d->pos - 1, "asset %u does not sum to zero", a);
            return false;
        }
    }
    return true;
}

static int cmp_order_id(const void *a, const void *b)
{
    const struct order *x = a;
    const struct order *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int cmp_r_order_id(const void *a, const void *b)
{
    const struct r_order *x = *(const struct r_order *const *)a;
    const struct r_order *y = *(const struct r_order *const *)b;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int cmp_r_queue(const void *a, const void *b)
{
    const struct r_order *x = *(const struct r_order *const *)a;
    const struct r_order *y = *(const struct r_order *const *)b;
    if (x->market != y->market)
        return x->market < y->market ? -1 : 1;
    if (x->side != y->side)
        return x->side < y->side ? -1 : 1;
    if (x->price != y->price)
        return x->price < y->price ? -1 : 1;
    return x->prio < y->prio ? -1 : x->prio > y->prio;
}

static const struct order *view_find(const struct drv *d, uint64_t id)
{
    struct order key;
    key.id = id;
    if (d->view.n == 0)
        return NULL;
    return bsearch(&key, d->view.v, d->view.n, sizeof(*d->view.v), cmp_order_id);
}

/*
 * Queue order (d->view sorted by id): book.h says a lower seq is earlier in its level's queue,
 * and store.c recovers each level in seq order, so the engine's seqs must rise along every
 * level in the order the reference (and the engine's fills) serve it.
 */
static bool check_queue_seq(struct drv *d, struct r_order **all, size_t n)
{
    size_t k = 0;
    if (d->ref.accept & ACCEPT_TRIGGER_SEQ)
        return true;
    for (size_t i = 0; i < n; i++)
        if (!is_stop_type(all[i]->type) || all[i]->triggered)
            all[k++] = all[i];
    sort_any(all, k, sizeof(*all), cmp_r_queue);
    for (size_t i = 1; i < k; i++) {
        const struct r_order *a = all[i - 1];
        const struct r_order *b = all[i];
        const struct order *ea = view_find(d, a->id);
        const struct order *eb = view_find(d, b->id);
        if (a->market != b->market || a->side != b->side || a->price != b->price)
            continue;
        if (ea && eb && ea->seq > eb->seq) {
            drv_fail(d, d->pos - 1,
                     "queue order: at market %u side %u price %" PRId64 " order %" PRIu64
                     " (seq %" PRIu64 "%s) is served before order %" PRIu64 " (seq %" PRIu64
                     "%s), but book.h says a lower seq is earlier in the queue and store.c "
                     "recovers the book in seq order",
                     a->market, a->side, a->price, a->id, ea->seq,
                     a->triggered ? ", a triggered stop" : "", b->id, eb->seq,
                     b->triggered ? ", a triggered stop" : "");
            return false;
        }
    }
    return true;
}

/* Everything: the published book, every open order and stop, every balance, the queue order. */
static bool full_check(struct drv *d)
{
    struct ref *r = &d->ref;
    uint64_t at = d->pos - 1;
    struct r_order **all;
    size_t n = 0;
    r->st.full_checks++;
    for (uint32_t m = 0; m < d->n_markets; m++) {
        for (int s = 0; s < 2; s++) {
            static struct l2lvl lv[4096];
            size_t nl = ref_levels(r, m, s, lv, 4096);
            if (nl != d->l2[m][s].n) {
                drv_fail(d, at, "market %u side %d: %zu levels published, reference %zu", m, s,
                         d->l2[m][s].n, nl);
                return false;
            }
            for (size_t i = 0; i < nl; i++) {
                if (view_level(d, m, s, lv[i].price) != lv[i].qty) {
                    drv_fail(d, at,
                             "market %u side %d level %" PRId64 ": published %" PRId64
                             ", reference %" PRId64,
                             m, s, lv[i].price, view_level(d, m, s, lv[i].price), lv[i].qty);
                    return false;
                }
            }
        }
    }
    all = malloc((ref_open_count(r) + 1) * sizeof(*all));
    if (!all)
        abort();
    for (uint32_t m = 0; m < d->n_markets; m++) {
        for (size_t i = 0; i < r->resting[m].n; i++)
            all[n++] = r->resting[m].v[i];
        for (size_t i = 0; i < r->stops[m].n; i++)
            all[n++] = r->stops[m].v[i];
    }
    sort_any(all, n, sizeof(*all), cmp_r_order_id);
    sort_any(d->view.v, d->view.n, sizeof(*d->view.v), cmp_order_id);
    for (size_t i = 0; i < n || i < d->view.n; i++) {
        if (i >= n || i >= d->view.n || all[i]->id != d->view.v[i].id) {
            drv_fail(d, at,
                     "open orders differ: engine's %zu-th open order is %" PRIu64
                     ", reference's %" PRIu64 " (%zu vs %zu open)",
                     i, i < d->view.n ? d->view.v[i].id : 0, i < n ? all[i]->id : 0, d->view.n, n);
            free(all);
            return false;
        }
        if (!cmp_order(d, at, "open order", &d->view.v[i], all[i])) {
            free(all);
            return false;
        }
    }
    if (!check_queue_seq(d, all, n)) {
        free(all);
        return false;
    }
    free(all);
    for (uint64_t u = 0; u < N_USERS; u++)
        for (uint32_t a = 0; a < N_ASSETS; a++)
            if (!cmp_acct(d, at, LEDGER_FIRST_USER_ID + u, a))
                return false;
    for (uint32_t a = 0; a < N_ASSETS; a++)
        if (!cmp_acct(d, at, LEDGER_MINT_ID, a) || !cmp_acct(d, at, LEDGER_FEES_ID, a))
            return false;
    return true;
}

static void restore_visit(uint64_t user, uint32_t asset, const struct balance *bal, void *ctx)
{
    if (ledger_restore(ctx, user, asset, bal->total, bal->held) != CG_OK)
        abort();
}

static int cmp_order_seq(const void *a, const void *b)
{
    const struct order *x = a;
    const struct order *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * A new engine restored from what the batches published, the way store.c recovers (accounts,
 * ids, last prices, open orders in seq order). Caller frees it.
 */
static struct engine *restore_engine(const struct config *cfg, const struct order *orders, size_t n,
                                     struct engine *from, const uint64_t ids[4],
                                     const struct ref *r)
{
    struct engine *e = engine_new(cfg);
    struct order *sorted = malloc((n + 1) * sizeof(*sorted));
    if (!e || !sorted)
        abort();
    if (n > 0)
        memcpy(sorted, orders, n * sizeof(*sorted));
    sort_any(sorted, n, sizeof(*sorted), cmp_order_seq);
    ledger_foreach(engine_ledger(from), restore_visit, engine_ledger(e));
    engine_set_ids(e, ids[0], ids[1], ids[2], ids[3]);
    for (uint32_t m = 0; m < cfg->n_markets; m++)
        if (r->last[m].has)
            engine_set_last_price(e, m, r->last[m].price);
    for (size_t i = 0; i < n; i++)
        if (engine_restore_order(e, &sorted[i]) != CG_OK)
            abort();
    free(sorted);
    return e;
}

static bool restart_check(struct drv *d)
{
    struct engine *e2 = restore_engine(&d->cfg, d->view.v, d->view.n, d->eng, d->next_ids, &d->ref);
    uint64_t h1 = engine_state_hash(d->eng);
    uint64_t h2 = engine_state_hash(e2);
    engine_free(e2);
    d->ref.st.restarts++;
    if (h1 != h2) {
        drv_fail(d, d->pos - 1,
                 "restart: an engine restored from the published state (orders in seq order, "
                 "as store.c recovers) hashes %016" PRIx64 ", the running one %016" PRIx64,
                 h2, h1);
        return false;
    }
    return true;
}

/* REF_TRACE=n: print every command from label n - 1 on, with what the reference did. */
static void trace_cmd(struct drv *d, const struct gcmd *gc, uint64_t id, size_t nres, size_t nfills)
{
    struct ref *r = &d->ref;
    gcmd_print(stderr, gc, id);
    if (r->results.n > nres) {
        const struct r_result *x = &r->results.v[nres];
        fprintf(stderr, "      -> %s", cg_err_code(x->err));
        if (x->has_order) {
            char buf[700];
            struct order o = r_as_order(&x->order);
            fmt_order(buf, sizeof(buf), &o);
            fprintf(stderr, " %s", buf);
        }
        fprintf(stderr, "\n");
    }
    for (size_t i = nfills; i < r->fills.n; i++)
        fprintf(stderr,
                "      fill %" PRIu64 ": %" PRId64 " x %" PRId64 " taker %" PRIu64 " maker %" PRIu64
                "\n",
                r->fills.v[i].id, r->fills.v[i].price, r->fills.v[i].quantity,
                r->fills.v[i].taker_order_id, r->fills.v[i].maker_order_id);
    for (uint32_t m = 0; m < d->n_markets; m++) {
        struct l2lvl bid[3];
        struct l2lvl ask[3];
        size_t nb = ref_levels(r, m, SIDE_BUY, bid, 3);
        size_t na = ref_levels(r, m, SIDE_SELL, ask, 3);
        fprintf(stderr, "      m%u last %s%" PRId64 " bids", m, r->last[m].has ? "" : "none ",
                r->last[m].price);
        for (size_t i = 0; i < nb; i++)
            fprintf(stderr, " %" PRId64 "x%" PRId64, bid[i].price, bid[i].qty);
        fprintf(stderr, " asks");
        for (size_t i = 0; i < na; i++)
            fprintf(stderr, " %" PRId64 "x%" PRId64, ask[i].price, ask[i].qty);
        fprintf(stderr, "\n");
    }
}

/* The restart check fails as long as triggered stops keep their old seq, so it goes with it. */
static bool restart_wanted(const struct drv *d)
{
    return d->opt->restart_every && !(d->ref.accept & ACCEPT_TRIGGER_SEQ);
}

/* Take the next command from the source into slot k; false at the end. */
static bool drv_take(struct drv *d, size_t k)
{
    struct gcmd *gc = &d->gcs[k];
    uint64_t id;
    if (d->opt->list) {
        if (d->pos >= d->opt->n_list)
            return false;
        *gc = d->opt->list[d->pos];
        id = gc->order_id;
        if (gc->target) {
            uint64_t lbl = gc->target - 1;
            id = lbl < d->ref.n_label_id && d->ref.label_id[lbl] ? d->ref.label_id[lbl] : BOGUS_ID;
        }
    } else {
        if (d->pos >= d->opt->n_cmds)
            return false;
        gen_next(&d->gen, &d->ref, gc);
        id = gc->order_id;
    }
    d->ids[k] = id;
    if (!d->opt->list && (!d->opt->engine || d->opt->record))
        PUSH(d->rec, *gc);
    gcmd_to_cmd(gc, id, &d->cmds[k]);
    {
        size_t nres = d->ref.results.n;
        size_t nfills = d->ref.fills.n;
        ref_apply(&d->ref, &d->cmds[k], gc->label);
        if (d->trace_from && gc->label + 1 >= d->trace_from)
            trace_cmd(d, gc, id, nres, nfills);
    }
    d->pos++;
    if (d->ref.broken[0]) {
        drv_fail(d, d->pos - 1, "reference inconsistency: %s", d->ref.broken);
        return false;
    }
    return true;
}

/* One batch through both; false when done or failed. */
static bool drv_batch(struct drv *d)
{
    struct cmd *ptrs[BATCH_MAX_CMDS];
    size_t want = 1 + (size_t)rng_below(&d->brs, (uint64_t)d->opt->batch_max);
    size_t n = 0;
    struct batch *b;
    bool ok;
    if (d->progress)
        *d->progress = d->pos;
    while (n < want && drv_take(d, n)) {
        ptrs[n] = &d->cmds[n];
        n++;
    }
    if (d->out->failed)
        return false;
    if (n == 0)
        return false;
    d->ref.st.batches++;
    if (!d->eng) {
        ref_batch_reset(&d->ref);
        return true;
    }
    b = engine_run_batch(d->eng, ptrs, n);
    ok = cmp_fills_and_orders(d, b) && cmp_results(d, b) && cmp_balances(d, b) && cmp_book(d, b);
    view_apply(d, b);
    batch_free(b);
    ref_batch_reset(&d->ref);
    if (!ok || !check_engine(d))
        return false;
    d->since_full += n;
    d->since_restart += n;
    if (d->since_full >= d->opt->full_every) {
        d->since_full = 0;
        if (!full_check(d))
            return false;
    }
    if (restart_wanted(d) && d->since_restart >= d->opt->restart_every) {
        d->since_restart = 0;
        if (!restart_check(d))
            return false;
    }
    return true;
}

/* Run one episode in this process. rec (optional) receives the generated stream. */
static void run_episode(const struct ep_opts *opt, struct ep_out *out, volatile uint64_t *progress,
                        struct gcmd **rec, size_t *n_rec)
{
    struct drv *d = calloc(1, sizeof(*d));
    double t0 = now_s();
    if (!d)
        abort();
    memset(out, 0, sizeof(*out));
    d->opt = opt;
    d->out = out;
    d->progress = progress;
    d->n_markets = make_config(&d->cfg, opt->seed);
    ref_init(&d->ref, &d->cfg, d->n_markets, opt->accept);
    gen_init(&d->gen, &d->cfg, d->n_markets, opt->seed);
    d->brs.s = opt->seed ^ 0xBA7C4ULL;
    d->trace_from = opt->quiet ? 0 : env_u64("REF_TRACE", 0);
    if (opt->list) {
        uint64_t max_label = 0;
        for (size_t i = 0; i < opt->n_list; i++)
            if (opt->list[i].label > max_label)
                max_label = opt->list[i].label;
        d->ref.n_label_id = (size_t)max_label + 1;
        d->ref.label_id = calloc(d->ref.n_label_id, sizeof(*d->ref.label_id));
        if (!d->ref.label_id)
            abort();
    }
    if (opt->engine) {
        d->eng = engine_new(&d->cfg);
        if (!d->eng)
            abort();
    }
    while (drv_batch(d))
        ;
    /* the end state, in full */
    if (!out->failed && d->eng && full_check(d) && restart_wanted(d))
        (void)restart_check(d);
    out->n_done = d->pos;
    out->st = d->ref.st;
    out->hash = d->eng ? engine_state_hash(d->eng) : 0;
    out->seconds = now_s() - t0;
    if (rec) {
        *rec = d->rec.v;
        *n_rec = d->rec.n;
        d->rec.v = NULL;
    }
    free(d->rec.v);
    free(d->view.v);
    for (size_t m = 0; m < MAX_MARKETS; m++)
        for (int s = 0; s < 2; s++)
            free(d->l2[m][s].v);
    engine_free(d->eng);
    ref_release_all(&d->ref);
    free(d);
}

/* Run an episode in a forked child, so that a crash of the engine is reported, not fatal. */
static void run_isolated(const struct ep_opts *opt, struct ep_out *out)
{
    struct shared {
        struct ep_out out;
        volatile uint64_t progress;
    } *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    pid_t pid;
    int status = 0;
    if (sh == MAP_FAILED)
        abort();
    memset(sh, 0, sizeof(*sh));
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid < 0)
        abort();
    if (pid == 0) {
        run_episode(opt, &sh->out, &sh->progress, NULL, NULL);
        _exit(0);
    }
    while (waitpid(pid, &status, 0) < 0)
        ;
    *out = sh->out;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        out->failed = true;
        out->crashed = true;
        out->fail_cmd = sh->progress;
        snprintf(out->msg, sizeof(out->msg),
                 "the test process died (%s %d) in the batch starting at command %" PRIu64,
                 WIFSIGNALED(status) ? "signal" : "exit status",
                 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), sh->progress);
    }
    munmap(sh, sizeof(*sh));
}

static void print_stats(const char *what, const struct stats *s, double secs)
{
    fprintf(stderr,
            "%s: %" PRIu64 " commands (%.0f/s), %" PRIu64 " batches, %" PRIu64 " fills, %" PRIu64
            " trading commands (%.1f%%), %" PRIu64 " stops triggered, %" PRIu64
            " STP cancels, %" PRIu64 " STP taker ends, %" PRIu64 " post-only rejects, %" PRIu64
            " FOK kills, %" PRIu64 " protection expiries, %" PRIu64 " budget orders (%" PRIu64
            " sells by quote that filled), %" PRIu64 " re-queues, %" PRIu64 " full checks, %" PRIu64
            " restarts\n",
            what, s->cmds, secs > 0 ? (double)s->cmds / secs : 0.0, s->batches, s->fills,
            s->trading_cmds, s->cmds ? 100.0 * (double)s->trading_cmds / (double)s->cmds : 0.0,
            s->triggers, s->stp_cancels, s->stp_taker_ends, s->post_only_rejects, s->fok_kills,
            s->protection_expiries, s->budget_orders, s->budget_sells_filled, s->requeues,
            s->full_checks, s->restarts);
    fprintf(stderr, "  errors:");
    for (int e = 0; e < CG_ERR_COUNT; e++)
        if (s->errs[e])
            fprintf(stderr, " %s %" PRIu64, cg_err_code((enum cg_err)e), s->errs[e]);
    fprintf(stderr, "\n");
}

static void stats_add(struct stats *a, const struct stats *b)
{
    const uint64_t *src = (const uint64_t *)b;
    uint64_t *dst = (uint64_t *)a;
    for (size_t i = 0; i < sizeof(*a) / sizeof(uint64_t); i++)
        dst[i] += src[i];
}

/* ======================================================================= shrinking === */

/* A failure's kind: its first line without numbers. */
static void signature(const char *msg, char *sig, size_t n)
{
    size_t k = 0;
    for (const char *p = msg; *p && *p != '\n' && k + 1 < n; p++)
        if (*p < '0' || *p > '9')
            sig[k++] = *p;
    sig[k] = 0;
}

static bool list_fails(const struct ep_opts *base, const struct gcmd *list, size_t n,
                       struct ep_out *out)
{
    struct ep_opts o = *base;
    o.list = list;
    o.n_list = n;
    o.batch_max = 1;
    o.engine = true;
    o.quiet = true;
    run_isolated(&o, out);
    return out->failed;
}

/*
 * Delta debugging (Zeller & Hildebrandt 2002, ddmin): drop chunks of the failing list while it
 * still fails the same way (same first line, numbers aside), cutting it after the failing command
 * each time. Cancels and amends
 * name their order by the label of the command that placed it, so they survive edits.
 */
static size_t shrink_list(const struct ep_opts *base, struct gcmd *list, size_t n, double budget_s,
                          struct ep_out *last)
{
    double t0 = now_s();
    char want[256];
    char got[256];
    signature(last->msg, want, sizeof(want));
    size_t chunks = 2;
    struct gcmd *cand = malloc((n + 1) * sizeof(*cand));
    if (!cand)
        abort();
    while (n >= 2 && now_s() - t0 < budget_s) {
        size_t size = (n + chunks - 1) / chunks;
        bool reduced = false;
        for (size_t c = 0; c < chunks && now_s() - t0 < budget_s; c++) {
            size_t lo = c * size;
            size_t hi = lo + size < n ? lo + size : n;
            size_t m = 0;
            struct ep_out out;
            if (lo >= n)
                break;
            memcpy(cand, list, lo * sizeof(*cand));
            memcpy(cand + lo, list + hi, (n - hi) * sizeof(*cand));
            m = n - (hi - lo);
            if (m == 0 || !list_fails(base, cand, m, &out))
                continue;
            signature(out.msg, got, sizeof(got));
            if (strcmp(got, want))
                continue; /* another kind of failure: keep the one we are after */
            n = out.fail_cmd + 1 < m ? (size_t)out.fail_cmd + 1 : m;
            memcpy(list, cand, n * sizeof(*list));
            *last = out;
            chunks = chunks > 2 ? chunks - 1 : 2;
            reduced = true;
            break;
        }
        if (!reduced) {
            if (chunks >= n)
                break;
            chunks = chunks * 2 < n ? chunks * 2 : n;
        }
    }
    free(cand);
    return n;
}

/* After a mismatch: the shortest failing prefix, then a shrunk command list. */
static void investigate(const struct ep_opts *opt, const struct ep_out *first, uint64_t seed,
                        uint64_t episode, uint64_t global_before)
{
    struct ep_opts o = *opt;
    struct ep_out one;
    struct ep_out last;
    struct gcmd *list = NULL;
    size_t n = 0;
    uint64_t prefix;
    double budget = (double)env_u64("REF_SHRINK_SECONDS", 30);

    fprintf(stderr,
            "\n*** MISMATCH: seed %" PRIu64 ", episode %" PRIu64 " (episode seed %" PRIu64
            "), command %" PRIu64 " of the episode (%" PRIu64 " of the run)\n%s\n"
            "*** replay: REF_SEED=%" PRIu64 " REF_COMMANDS=%" PRIu64 "\n",
            seed, episode, opt->seed, first->fail_cmd, global_before + first->fail_cmd, first->msg,
            seed, global_before + first->fail_cmd + 1);
    o.n_cmds = first->fail_cmd + BATCH_MAX_CMDS;
    o.batch_max = 1;
    o.quiet = true;
    run_isolated(&o, &one);
    if (!one.failed) {
        fprintf(stderr, "*** with one command per batch the episode does not fail: the "
                        "divergence depends on batching\n");
        return;
    }
    prefix = one.fail_cmd + 1;
    fprintf(stderr,
            "*** shortest failing prefix (one command per batch): %" PRIu64
            " commands of episode seed %" PRIu64 "; it fails at its last command:\n%s\n",
            prefix, opt->seed, one.msg);
    if (prefix > 2000000 || budget <= 0)
        return;
    o.engine = false;
    o.n_cmds = prefix;
    {
        struct ep_out gen_out;
        run_episode(&o, &gen_out, NULL, &list, &n);
    }
    fprintf(stderr, "*** last commands of the prefix:\n");
    for (size_t i = n > 6 ? n - 6 : 0; i < n; i++)
        gcmd_print(stderr, &list[i], list[i].order_id);
    last = one;
    n = shrink_list(&o, list, n, budget, &last);
    fprintf(stderr,
            "*** shrunk to %zu commands (episode seed %" PRIu64
            ", replay with replay_list()); it fails with:\n%s\n",
            n, opt->seed, last.msg);
    if (n <= 200)
        for (size_t i = 0; i < n; i++)
            gcmd_print(stderr, &list[i], list[i].order_id);
    free(list);
}

/* ========================================================================== tests === */

Test(reference, random_streams_match_the_reference)
{
    uint64_t seed = env_u64("REF_SEED", (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20));
    uint64_t total = env_u64("REF_COMMANDS", 1000000);
    struct rng rs = {seed};
    struct stats all;
    uint64_t done = 0;
    uint64_t episode = 0;
    bool failed = false;
    double t0 = now_s();

    memset(&all, 0, sizeof(all));
    fprintf(stderr, "reference: REF_SEED=%" PRIu64 " REF_COMMANDS=%" PRIu64 "\n", seed, total);
    while (done < total && !failed) {
        struct ep_opts o;
        struct ep_out out;
        uint64_t len = 20000 + rng_below(&rs, 180000);
        memset(&o, 0, sizeof(o));
        o.seed = rng_next(&rs);
        o.n_cmds = len < total - done ? len : total - done;
        o.batch_max = BATCH_MAX_CMDS;
        o.engine = true;
        o.full_every = env_u64("REF_FULL_EVERY", 64);
        o.restart_every = env_u64("REF_RESTART_EVERY", 4096);
        o.accept = accept_from_env();
        run_isolated(&o, &out);
        stats_add(&all, &out.st);
        all.episodes++;
        if (out.failed) {
            investigate(&o, &out, seed, episode, done);
            failed = true;
            break;
        }
        if (getenv("REF_VERBOSE")) {
            char what[96];
            snprintf(what, sizeof(what), "  episode %" PRIu64 " (seed %" PRIu64 ")", episode,
                     o.seed);
            print_stats(what, &out.st, out.seconds);
        }
        done += o.n_cmds;
        episode++;
    }
    print_stats("reference", &all, now_s() - t0);
    cr_assert(!failed, "the engine diverged from the reference (seed %" PRIu64 "); see above",
              seed);
    if (total >= 200000)
        cr_assert(all.fills > total / 50 && all.triggers > total / 2000 &&
                      all.stp_cancels > total / 5000 && all.post_only_rejects > total / 5000 &&
                      all.fok_kills > total / 5000 && all.protection_expiries > total / 20000 &&
                      all.budget_orders > total / 200 && all.budget_sells_filled > total / 1000,
                  "the random stream did too little; tune the generator");
}

/*
 * Determinism (issue 3): the engine's state hash (balances, holds, books, stops) is a function
 * of the command log alone. Run a random stream in batches of 1..8, keep the log, replay the log
 * into a fresh engine one command per batch: both must end with the same hash (and both still
 * agree with the reference along the way).
 */
Test(reference, replaying_the_command_log_reproduces_the_state_hash)
{
    uint64_t seed = env_u64("REF_SEED", (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20));
    struct ep_opts o;
    struct ep_opts replay;
    struct ep_out a;
    struct ep_out b;
    struct gcmd *log = NULL;
    size_t n = 0;

    memset(&o, 0, sizeof(o));
    o.seed = seed;
    o.n_cmds = env_u64("REF_DET_COMMANDS", 50000);
    o.batch_max = BATCH_MAX_CMDS;
    o.engine = true;
    o.quiet = true;
    o.record = true;
    o.full_every = 1024;
    run_episode(&o, &a, NULL, &log, &n);
    cr_assert(!a.failed, "seed %" PRIu64 ": %s", seed, a.msg);
    cr_assert_eq(n, o.n_cmds);

    replay = o;
    replay.list = log;
    replay.n_list = n;
    replay.batch_max = 1;
    replay.record = false;
    run_episode(&replay, &b, NULL, NULL, NULL);
    cr_assert(!b.failed, "seed %" PRIu64 ": replay: %s", seed, b.msg);
    cr_assert_eq(b.n_done, n);
    cr_assert(a.hash != 0 && a.hash == b.hash,
              "seed %" PRIu64 ": state hash %016" PRIx64 " after the run, %016" PRIx64
              " after replaying its command log",
              seed, a.hash, b.hash);
    free(log);
}
