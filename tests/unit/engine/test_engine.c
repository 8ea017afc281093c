/*
 * Unit tests for src/engine/engine.h, driven synchronously through engine_run_batch (the engine
 * thread is not started): funds, holds, matching and fees, market/IOC/FOK orders, self-trade
 * prevention, house liquidity, L2 deltas and book sequence numbers. A randomised test runs a
 * long command stream against an independent model of balances and holds (prints its seed; set
 * ENGINE_SEED to replay, ENGINE_RANDOM_CMDS to change its length).
 *
 * The test config (units in minor units):
 *   USD scale 2, BTC scale 4, ETH scale 4.
 *   market 0 BTC-USD: tick 100 (1.00 USD), lot 100 (0.01 BTC), maker 1000 ppm, taker 2000 ppm.
 *   market 1 ETH-USD: tick 10 (0.10 USD), lot 1000 (0.1 ETH), maker 2500 ppm, taker 1500 ppm.
 * so notional = price x qty / 10^4 and one tick x one lot is exactly 1 cent in both markets.
 */
#include <criterion/criterion.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "engine/engine.h"
#include "ledger/ledger.h"

#define USD 0u
#define BTC 1u
#define ETH 2u
#define M_BTC 0u
#define M_ETH 1u

static struct config cfg;
static struct engine *eng;

static void asset_set(struct config *c, uint32_t i, const char *sym, int scale)
{
    snprintf(c->assets[i].symbol, sizeof(c->assets[i].symbol), "%s", sym);
    snprintf(c->assets[i].name, sizeof(c->assets[i].name), "%s", sym);
    c->assets[i].scale = scale;
    c->assets[i].deposit_limit = INT64_MAX / 4;
}

static void market_set(struct config *c, uint32_t i, const char *name, uint32_t base,
                       uint32_t quote, int64_t tick, int64_t lot, int64_t maker, int64_t taker)
{
    struct market_cfg *m = &c->markets[i];
    snprintf(m->name, sizeof(m->name), "%s", name);
    snprintf(m->symbol, sizeof(m->symbol), "%s", name);
    m->base = base;
    m->quote = quote;
    m->tick_size = tick;
    m->lot_size = lot;
    m->min_quantity = lot;
    m->max_quantity = 1000000 * lot;
    m->min_notional = 0;
    m->maker_fee_ppm = maker;
    m->taker_fee_ppm = taker;
    /* a wide market protection band (90%): the tests below walk levels far apart; the band
     * itself is tested in test_order_types.c */
    m->protection_ppm = 900000;
}

static void test_config(struct config *c)
{
    memset(c, 0, sizeof(*c));
    asset_set(c, USD, "USD", 2);
    asset_set(c, BTC, "BTC", 4);
    asset_set(c, ETH, "ETH", 4);
    c->n_assets = 3;
    market_set(c, M_BTC, "BTC-USD", BTC, USD, 100, 100, 1000, 2000);
    market_set(c, M_ETH, "ETH-USD", ETH, USD, 10, 1000, 2500, 1500);
    c->n_markets = 2;
    c->house.levels = 10;
    c->house.ladder_levels = 5;
    c->house.ladder_step_bps = 10;
    c->house.ladder_level_notional = 100000; /* 1000.00 USD */
}

static void setup(void)
{
    test_config(&cfg);
    eng = engine_new(&cfg);
    cr_assert_not_null(eng);
}

static void r_state_free(void);

static void teardown(void)
{
    r_state_free();
    engine_free(eng);
    eng = NULL;
}

TestSuite(engine, .init = setup, .fini = teardown);

/* ---- independent arithmetic (the rules in engine.h, written out again) ---- */

static int64_t pow10_i(int n)
{
    int64_t p = 1;
    while (n-- > 0)
        p *= 10;
    return p;
}

static int64_t notional(uint32_t m, int64_t price, int64_t qty)
{
    __int128 p = (__int128)price * qty;
    int64_t scale = pow10_i(cfg.assets[cfg.markets[m].base].scale);
    cr_assert_eq((int64_t)(p % scale), 0, "notional is not exact");
    return (int64_t)(p / scale);
}

static int64_t fee(int64_t n, int64_t ppm)
{
    return (int64_t)((__int128)n * ppm / 1000000);
}

static int64_t buy_reserve(uint32_t m, int64_t price, int64_t qty)
{
    const struct market_cfg *mc = &cfg.markets[m];
    int64_t n = notional(m, price, qty);
    int64_t ppm = mc->maker_fee_ppm > mc->taker_fee_ppm ? mc->maker_fee_ppm : mc->taker_fee_ppm;
    return n + fee(n, ppm);
}

/* ---- commands ---- */

static struct cmd cmd_funds(int type, uint64_t user, uint32_t asset, int64_t amount)
{
    struct cmd c;
    memset(&c, 0, sizeof(c));
    c.type = (uint8_t)type;
    c.user_id = user;
    c.ts = 1000;
    c.u.funds.asset = asset;
    c.u.funds.amount = amount;
    return c;
}

static struct cmd cmd_order(uint64_t user, uint32_t m, int side, int type, int tif, int64_t price,
                            int64_t qty)
{
    struct cmd c;
    memset(&c, 0, sizeof(c));
    c.type = CMD_PLACE;
    c.user_id = user;
    c.ts = 2000;
    c.u.place.market = m;
    c.u.place.side = (uint8_t)side;
    c.u.place.type = (uint8_t)type;
    c.u.place.tif = (uint8_t)tif;
    c.u.place.price = price;
    c.u.place.quantity = qty;
    return c;
}

static struct cmd cmd_limit(uint64_t user, uint32_t m, int side, int64_t price, int64_t qty)
{
    return cmd_order(user, m, side, ORDER_LIMIT, TIF_GTC, price, qty);
}

static struct cmd cmd_market(uint64_t user, uint32_t m, int side, int64_t qty)
{
    return cmd_order(user, m, side, ORDER_MARKET, TIF_IOC, 0, qty);
}

static struct cmd cmd_cancel(uint64_t user, uint32_t m, uint64_t order_id)
{
    struct cmd c;
    memset(&c, 0, sizeof(c));
    c.type = CMD_CANCEL;
    c.user_id = user;
    c.ts = 3000;
    c.u.cancel.market = m;
    c.u.cancel.order_id = order_id;
    return c;
}

/* Feed of n_b bids then n_a asks as (price, qty) pairs. */
static struct cmd cmd_feed_book(uint32_t m, size_t n_b, const int64_t *bids, size_t n_a,
                                const int64_t *asks)
{
    struct cmd c;
    memset(&c, 0, sizeof(c));
    c.type = CMD_FEED_BOOK;
    c.user_id = LEDGER_HOUSE_LP_ID;
    c.ts = 4000;
    c.u.feed_book.market = m;
    c.u.feed_book.n_bids = (uint16_t)n_b;
    c.u.feed_book.n_asks = (uint16_t)n_a;
    for (size_t i = 0; i < n_b; i++)
        c.u.feed_book.bids[i] = (struct px_level){bids[2 * i], bids[2 * i + 1]};
    for (size_t i = 0; i < n_a; i++)
        c.u.feed_book.asks[i] = (struct px_level){asks[2 * i], asks[2 * i + 1]};
    return c;
}

static struct cmd cmd_feed_price(uint32_t m, int64_t price)
{
    struct cmd c;
    memset(&c, 0, sizeof(c));
    c.type = CMD_FEED_PRICE;
    c.user_id = LEDGER_HOUSE_LP_ID;
    c.ts = 5000;
    c.u.feed_price.market = m;
    c.u.feed_price.price = price;
    return c;
}

/* ---- running and inspecting ---- */

static struct batch *run(struct cmd *cmds, size_t n)
{
    struct cmd *ptrs[64];
    cr_assert_leq(n, 64);
    for (size_t i = 0; i < n; i++)
        ptrs[i] = &cmds[i];
    return engine_run_batch(eng, ptrs, n);
}

static struct batch *run1(struct cmd c)
{
    return run(&c, 1);
}

static void assert_engine_ok(void)
{
    char msg[256] = "";
    cr_assert(engine_check(eng, msg, sizeof(msg)), "engine_check: %s", msg);
}

/* Runs one command that must succeed; returns its result (the batch is freed). */
static struct cmd_result run_ok(struct cmd c)
{
    struct batch *b = run1(c);
    struct cmd_result r;
    cr_assert_eq(b->results.n, 1);
    r = b->results.v[0];
    batch_free(b);
    cr_assert_eq(r.err, CG_OK, "command type %d of user %" PRIu64 ": %s", c.type, c.user_id,
                 cg_err_code(r.err));
    return r;
}

static void deposit(uint64_t user, uint32_t asset, int64_t amount)
{
    (void)run_ok(cmd_funds(CMD_DEPOSIT, user, asset, amount));
}

static struct order place(uint64_t user, uint32_t m, int side, int64_t price, int64_t qty)
{
    return run_ok(cmd_limit(user, m, side, price, qty)).order;
}

static void feed(struct cmd c)
{
    batch_free(run1(c));
}

static struct balance bal(uint64_t user, uint32_t asset)
{
    const struct balance *b = ledger_get(engine_ledger(eng), user, asset);
    struct balance z = {0, 0};
    return b ? *b : z;
}

static void assert_bal(uint64_t user, uint32_t asset, int64_t total, int64_t held)
{
    struct balance b = bal(user, asset);
    cr_assert(b.total == total && b.held == held,
              "account %" PRIu64 "/%u: total %" PRId64 " held %" PRId64 ", want %" PRId64
              " / %" PRId64,
              user, asset, b.total, b.held, total, held);
}

/* The L2 change of (m, side, price) in b; false if the batch did not touch that level. */
static bool l2_find(const struct batch *b, uint32_t m, int side, int64_t price, int64_t *qty)
{
    for (size_t i = 0; i < b->l2.n; i++) {
        const struct l2_change *c = &b->l2.v[i];
        if (c->market == m && c->side == side && c->price == price) {
            *qty = c->qty;
            return true;
        }
    }
    return false;
}

static void assert_l2(const struct batch *b, uint32_t m, int side, int64_t price, int64_t qty)
{
    int64_t q = -1;
    cr_assert(l2_find(b, m, side, price, &q), "no l2 change for market %u side %d price %" PRId64,
              m, side, price);
    cr_assert_eq(q, qty, "l2 market %u side %d price %" PRId64 ": qty %" PRId64 ", want %" PRId64,
                 m, side, price, q, qty);
}

/* The last snapshot of order `id` in b->orders, or NULL. */
static const struct order *batch_order(const struct batch *b, uint64_t id)
{
    const struct order *o = NULL;
    for (size_t i = 0; i < b->orders.n; i++)
        if (b->orders.v[i].id == id)
            o = &b->orders.v[i];
    return o;
}

static int64_t sum_postings(const struct journal_entry *je, uint32_t asset)
{
    int64_t s = 0;
    for (uint32_t i = 0; i < je->n; i++)
        if (je->p[i].asset == asset)
            s += je->p[i].amount;
    return s;
}

/*
 * Everything observable about the engine's state: every account, the tops of every market and
 * the next ids. Taken with an empty batch (which changes nothing but the batch id).
 */
#define SNAP_MAX 128

struct acct {
    uint64_t user;
    uint32_t asset;
    struct balance b;
};

struct snapshot {
    struct acct a[SNAP_MAX];
    size_t n;
    struct market_top tops[CFG_MAX_MARKETS];
    uint64_t next_order_id, next_fill_id, next_entry_id, next_seq;
};

static void snap_visit(uint64_t user, uint32_t asset, const struct balance *b, void *ctx)
{
    struct snapshot *s = ctx;
    cr_assert_lt(s->n, SNAP_MAX);
    s->a[s->n].user = user;
    s->a[s->n].asset = asset;
    s->a[s->n].b = *b;
    s->n++;
}

static int cmp_acct(const void *x, const void *y)
{
    const struct acct *a = x;
    const struct acct *b = y;
    if (a->user != b->user)
        return a->user < b->user ? -1 : 1;
    return a->asset < b->asset ? -1 : (a->asset > b->asset);
}

static void snap_take(struct snapshot *s)
{
    struct batch *b = engine_run_batch(eng, NULL, 0);
    memset(s, 0, sizeof(*s));
    ledger_foreach(engine_ledger(eng), snap_visit, s);
    qsort(s->a, s->n, sizeof(*s->a), cmp_acct);
    cr_assert_eq(b->n_markets, cfg.n_markets);
    cr_assert_eq(b->l2.n, 0, "an empty batch changed the book");
    memcpy(s->tops, b->tops, b->n_markets * sizeof(*b->tops));
    s->next_order_id = b->next_order_id;
    s->next_fill_id = b->next_fill_id;
    s->next_entry_id = b->next_entry_id;
    s->next_seq = b->next_seq;
    batch_free(b);
}

/* Accounts that exist in both must be equal; accounts only in `now` must be all zero. */
static void assert_same_state(const struct snapshot *before)
{
    static struct snapshot now;
    size_t j = 0;
    snap_take(&now);
    for (size_t i = 0; i < now.n; i++) {
        const struct acct *b = &now.a[i];
        const struct acct *a = j < before->n ? &before->a[j] : NULL;
        if (a && a->user == b->user && a->asset == b->asset) {
            cr_assert(a->b.total == b->b.total && a->b.held == b->b.held,
                      "account %" PRIu64 "/%u changed: %" PRId64 "/%" PRId64 " -> %" PRId64
                      "/%" PRId64,
                      a->user, a->asset, a->b.total, a->b.held, b->b.total, b->b.held);
            j++;
            continue;
        }
        cr_assert(b->b.total == 0 && b->b.held == 0, "new account %" PRIu64 "/%u", b->user,
                  b->asset);
    }
    cr_assert_eq(j, before->n, "an account disappeared");
    for (size_t m = 0; m < cfg.n_markets; m++) {
        const struct market_top *x = &before->tops[m];
        const struct market_top *y = &now.tops[m];
        cr_assert(x->book_seq == y->book_seq && x->has_bid == y->has_bid &&
                      x->has_ask == y->has_ask &&
                      (!x->has_bid || (x->bid == y->bid && x->bid_qty == y->bid_qty)) &&
                      (!x->has_ask || (x->ask == y->ask && x->ask_qty == y->ask_qty)),
                  "market %zu top changed", m);
    }
    cr_assert_eq(now.next_order_id, before->next_order_id);
    cr_assert_eq(now.next_fill_id, before->next_fill_id);
    cr_assert_eq(now.next_entry_id, before->next_entry_id);
    cr_assert_eq(now.next_seq, before->next_seq);
}

/* What a batch did, copied out so that the batch can be freed before asserting on it. */
struct effects {
    size_t results, fills, entries, balances, orders, l2;
    enum cg_err err;
    bool changed;
};

static struct effects effects_of(struct batch *b)
{
    struct effects x;
    memset(&x, 0, sizeof(x));
    x.results = b->results.n;
    x.err = b->results.n ? b->results.v[0].err : CG_OK;
    x.fills = b->fills.n;
    x.entries = b->entries.n;
    x.balances = b->balances.n;
    x.orders = b->orders.n;
    x.l2 = b->l2.n;
    for (size_t m = 0; m < b->n_markets; m++)
        x.changed = x.changed || b->tops[m].changed;
    batch_free(b);
    return x;
}

/* Runs c, which must fail with err and change nothing. */
static void run_fails(struct cmd c, enum cg_err err)
{
    static struct snapshot before;
    struct effects x;
    snap_take(&before);
    x = effects_of(run1(c));
    cr_assert_eq(x.results, 1);
    cr_assert_eq(x.err, err, "got %s, want %s", cg_err_code(x.err), cg_err_code(err));
    cr_assert(x.fills == 0 && x.entries == 0 && x.balances == 0 && x.orders == 0 && x.l2 == 0 &&
                  !x.changed,
              "a failed command had effects: %zu fills, %zu entries, %zu balances, %zu orders, "
              "%zu l2",
              x.fills, x.entries, x.balances, x.orders, x.l2);
    assert_same_state(&before);
    assert_engine_ok();
}

/* Prices used below (market 0): P(x) = x USD. */
#define P(x) ((int64_t)(x)*100)

/* ---- funds ---- */

Test(engine, deposit_and_withdraw_post_balanced_entries)
{
    struct batch *b = run1(cmd_funds(CMD_DEPOSIT, 100, USD, 123456));
    const struct journal_entry *je;

    cr_assert_eq(b->results.n, 1);
    cr_assert_eq(b->results.v[0].err, CG_OK);
    cr_assert_eq(b->entries.n, 1);
    je = &b->entries.v[0];
    cr_assert_eq(je->kind, ENTRY_DEPOSIT);
    cr_assert_eq(b->results.v[0].entry_id, je->id);
    cr_assert_eq(b->results.v[0].amount, 123456);
    cr_assert_eq(sum_postings(je, USD), 0);
    for (uint32_t i = 0; i < je->n; i++) {
        cr_assert(je->p[i].user_id == 100 || je->p[i].user_id == LEDGER_MINT_ID);
        cr_assert_eq(je->p[i].amount, je->p[i].user_id == 100 ? 123456 : -123456);
    }
    cr_assert_eq(b->balances.n, 2);
    batch_free(b);
    assert_bal(100, USD, 123456, 0);
    assert_bal(LEDGER_MINT_ID, USD, -123456, 0);

    b = run1(cmd_funds(CMD_WITHDRAW, 100, USD, 23456));
    cr_assert_eq(b->results.v[0].err, CG_OK);
    cr_assert_eq(b->entries.n, 1);
    je = &b->entries.v[0];
    cr_assert_eq(je->kind, ENTRY_WITHDRAWAL);
    cr_assert_gt(je->id, 0);
    cr_assert_eq(sum_postings(je, USD), 0);
    batch_free(b);
    assert_bal(100, USD, 100000, 0);
    assert_bal(LEDGER_MINT_ID, USD, -100000, 0);
    assert_engine_ok();
}

Test(engine, withdraw_more_than_available_fails_and_changes_nothing)
{
    deposit(100, USD, 100000);
    deposit(100, BTC, 500);
    (void)place(100, M_BTC, SIDE_BUY, P(100), 500); /* holds 50.00 + fee */
    (void)place(100, M_BTC, SIDE_SELL, P(200), 300);
    cr_assert_eq(bal(100, USD).held, buy_reserve(M_BTC, P(100), 500));
    run_fails(cmd_funds(CMD_WITHDRAW, 100, USD, 100000 - bal(100, USD).held + 1), CG_EFUNDS);
    run_fails(cmd_funds(CMD_WITHDRAW, 100, USD, 100001), CG_EFUNDS);
    run_fails(cmd_funds(CMD_WITHDRAW, 100, BTC, 201), CG_EFUNDS);
    run_fails(cmd_funds(CMD_WITHDRAW, 101, USD, 1), CG_EFUNDS);
    run_fails(cmd_funds(CMD_WITHDRAW, 100, USD, 0), CG_EAMOUNT);
    run_fails(cmd_funds(CMD_DEPOSIT, 100, USD, -5), CG_EAMOUNT);
    run_fails(cmd_funds(CMD_DEPOSIT, 100, 3, 5), CG_EASSET);
    /* exactly the available part is fine */
    (void)run_ok(cmd_funds(CMD_WITHDRAW, 100, USD, 100000 - bal(100, USD).held));
    (void)run_ok(cmd_funds(CMD_WITHDRAW, 100, BTC, 200));
    assert_bal(100, USD, buy_reserve(M_BTC, P(100), 500), buy_reserve(M_BTC, P(100), 500));
    assert_bal(100, BTC, 300, 300);
    assert_engine_ok();
}

/* ---- holds ---- */

Test(engine, limit_buy_holds_notional_plus_the_larger_fee)
{
    /* market 0: taker 2000 > maker 1000; 50001.00 x 0.01 = 500.01, fee floor(1.00002) = 1.00 */
    int64_t r0 = buy_reserve(M_BTC, P(50001), 100);
    /* market 1: maker 2500 > taker 1500; 3000.10 x 0.1 = 300.01, fee floor(0.750025) = 0.75 */
    int64_t r1 = buy_reserve(M_ETH, 300010, 1000);
    struct batch *b;
    struct order o;

    cr_assert_eq(r0, 50001 + 100);
    cr_assert_eq(r1, 30001 + 75);
    deposit(100, USD, r0 + r1 + 7);
    b = run1(cmd_limit(100, M_BTC, SIDE_BUY, P(50001), 100));
    cr_assert_eq(b->results.v[0].err, CG_OK);
    o = b->results.v[0].order;
    cr_assert_eq(o.status, ORDER_NEW);
    cr_assert_eq(o.hold, r0);
    cr_assert_eq(o.remaining, 100);
    cr_assert_eq(engine_order_reserve(&cfg, &o), r0);
    assert_l2(b, M_BTC, SIDE_BUY, P(50001), 100);
    cr_assert_eq(b->orders.n, 1);
    batch_free(b);
    assert_bal(100, USD, r0 + r1 + 7, r0);

    o = place(100, M_ETH, SIDE_BUY, 300010, 1000);
    cr_assert_eq(o.hold, r1);
    assert_bal(100, USD, r0 + r1 + 7, r0 + r1);
    assert_engine_ok();
}

Test(engine, limit_buy_needs_the_whole_reserve)
{
    int64_t r = buy_reserve(M_ETH, 300010, 1000);
    deposit(100, USD, r - 1);
    run_fails(cmd_limit(100, M_ETH, SIDE_BUY, 300010, 1000), CG_EFUNDS);
    deposit(100, USD, 1);
    (void)place(100, M_ETH, SIDE_BUY, 300010, 1000);
    assert_bal(100, USD, r, r);
    cr_assert_eq(ledger_available(engine_ledger(eng), 100, USD), 0);
    assert_engine_ok();
}

Test(engine, limit_sell_holds_base)
{
    struct order o;
    deposit(100, ETH, 5000);
    o = place(100, M_ETH, SIDE_SELL, 300000, 3000);
    cr_assert_eq(o.hold, 3000);
    assert_bal(100, ETH, 5000, 3000);
    run_fails(cmd_limit(100, M_ETH, SIDE_SELL, 300000, 3000), CG_EFUNDS);
    assert_engine_ok();
}

Test(engine, invalid_orders_are_rejected_without_effects)
{
    deposit(100, USD, 10000000);
    run_fails(cmd_limit(100, M_BTC, SIDE_BUY, P(100) + 1, 100), CG_ETICK);
    run_fails(cmd_limit(100, M_BTC, SIDE_BUY, 0, 100), CG_ETICK);
    run_fails(cmd_limit(100, M_BTC, SIDE_BUY, P(100), 150), CG_ELOT);
    run_fails(cmd_limit(100, M_BTC, SIDE_BUY, P(100), 0), CG_ELOT);
    run_fails(cmd_limit(100, 7, SIDE_BUY, P(100), 100), CG_EMARKET);
    run_fails(cmd_market(100, M_BTC, SIDE_BUY, -100), CG_ELOT);
}

Test(engine, cancel_releases_exactly)
{
    struct batch *b;
    struct order buy;
    struct order sell;
    const struct cmd_result *r;

    deposit(100, USD, 1000000);
    deposit(100, ETH, 9000);
    buy = place(100, M_ETH, SIDE_BUY, 299990, 2000);
    sell = place(100, M_ETH, SIDE_SELL, 300500, 4000);
    assert_bal(100, USD, 1000000, buy_reserve(M_ETH, 299990, 2000));
    assert_bal(100, ETH, 9000, 4000);

    b = run1(cmd_cancel(100, M_ETH, buy.id));
    r = &b->results.v[0];
    cr_assert_eq(r->err, CG_OK);
    cr_assert_eq(r->order.id, buy.id);
    cr_assert_eq(r->order.status, ORDER_CANCELED);
    cr_assert_eq(r->order.reason, REASON_CANCELED_BY_USER);
    cr_assert_str_eq(order_reason_name(r->order.reason), "canceled_by_user");
    cr_assert_eq(r->order.hold, 0);
    cr_assert_eq(r->order.remaining, 2000);
    assert_l2(b, M_ETH, SIDE_BUY, 299990, 0);
    cr_assert_not_null(batch_order(b, buy.id));
    cr_assert_eq(batch_order(b, buy.id)->status, ORDER_CANCELED);
    cr_assert_eq(b->fills.n, 0);
    cr_assert_eq(b->entries.n, 0);
    batch_free(b);
    assert_bal(100, USD, 1000000, 0);

    (void)run_ok(cmd_cancel(100, M_ETH, sell.id));
    assert_bal(100, ETH, 9000, 0);
    /* the same order again: no longer open */
    run_fails(cmd_cancel(100, M_ETH, sell.id), CG_ENOTOPEN);
    run_fails(cmd_cancel(100, M_ETH, 999999), CG_ENOTOPEN);
    run_fails(cmd_cancel(100, 9, sell.id), CG_EMARKET);
    assert_engine_ok();
}

Test(engine, cancel_of_another_users_order_is_not_found)
{
    struct order o;
    deposit(100, USD, 1000000);
    o = place(100, M_BTC, SIDE_BUY, P(100), 300);
    run_fails(cmd_cancel(101, M_BTC, o.id), CG_ENOTFOUND);
    run_fails(cmd_cancel(LEDGER_HOUSE_LP_ID, M_BTC, o.id), CG_ENOTFOUND);
    /* wrong market: not found there */
    run_fails(cmd_cancel(100, M_ETH, o.id), CG_ENOTOPEN);
    assert_bal(100, USD, 1000000, buy_reserve(M_BTC, P(100), 300));
}

/* The API's cancel names no market (ENGINE_ALL_MARKETS): the engine finds the order by id in
 * every market, refuses another user's open order as CG_ENOTFOUND and an id that is not open
 * anywhere as CG_ENOTOPEN (api_orders.c tells those apart from the store). */
Test(engine, cancel_in_any_market_checks_the_owner)
{
    struct order btc;
    struct order eth;
    struct batch *b;
    deposit(100, USD, 10000000);
    btc = place(100, M_BTC, SIDE_BUY, P(100), 300);
    eth = place(100, M_ETH, SIDE_BUY, 299990, 2000);
    run_fails(cmd_cancel(101, ENGINE_ALL_MARKETS, btc.id), CG_ENOTFOUND);
    run_fails(cmd_cancel(101, ENGINE_ALL_MARKETS, eth.id), CG_ENOTFOUND);
    run_fails(cmd_cancel(100, ENGINE_ALL_MARKETS, 999999), CG_ENOTOPEN);
    assert_bal(100, USD, 10000000,
               buy_reserve(M_BTC, P(100), 300) + buy_reserve(M_ETH, 299990, 2000));
    b = run1(cmd_cancel(100, ENGINE_ALL_MARKETS, eth.id));
    cr_assert_eq(b->results.v[0].err, CG_OK);
    cr_assert_eq(b->results.v[0].order.id, eth.id);
    cr_assert_eq(b->results.v[0].order.market, M_ETH);
    cr_assert_eq(b->results.v[0].order.status, ORDER_CANCELED);
    assert_l2(b, M_ETH, SIDE_BUY, 299990, 0);
    batch_free(b);
    run_fails(cmd_cancel(100, ENGINE_ALL_MARKETS, eth.id), CG_ENOTOPEN);
    (void)run_ok(cmd_cancel(100, ENGINE_ALL_MARKETS, btc.id));
    assert_bal(100, USD, 10000000, 0);
    assert_engine_ok();
}

Test(engine, cancel_after_partial_fill_releases_the_rest)
{
    struct order buy;
    int64_t n = notional(M_BTC, P(50000), 100);
    int64_t paid = n + fee(n, 1000); /* the buyer is the maker */

    deposit(100, USD, 10000000);
    deposit(101, BTC, 100);
    buy = place(100, M_BTC, SIDE_BUY, P(50000), 300);
    (void)run_ok(cmd_limit(101, M_BTC, SIDE_SELL, P(50000), 100));
    assert_bal(100, USD, 10000000 - paid, buy_reserve(M_BTC, P(50000), 200));
    (void)run_ok(cmd_cancel(100, M_BTC, buy.id));
    assert_bal(100, USD, 10000000 - paid, 0);
    assert_bal(100, BTC, 100, 0);
    assert_engine_ok();
}

/* ---- matching ---- */

Test(engine, price_time_priority)
{
    struct batch *b;
    const struct cmd_result *r;
    const struct order *mo;
    struct order a;
    struct order bb;
    struct order c;

    deposit(101, BTC, 1000);
    deposit(102, BTC, 1000);
    deposit(103, BTC, 1000);
    deposit(104, USD, 100000000);
    a = place(101, M_BTC, SIDE_SELL, P(50000), 200);  /* first at 50000 */
    bb = place(102, M_BTC, SIDE_SELL, P(50000), 200); /* second at 50000 */
    c = place(103, M_BTC, SIDE_SELL, P(49999), 100);  /* better price, later */

    b = run1(cmd_limit(104, M_BTC, SIDE_BUY, P(50000), 400));
    r = &b->results.v[0];
    cr_assert_eq(r->err, CG_OK);
    cr_assert_eq(r->fill_count, 3);
    cr_assert_eq(b->fills.n, 3);
    cr_assert_eq(b->fills.v[r->fill_first].maker_order_id, c.id);
    cr_assert_eq(b->fills.v[r->fill_first].price, P(49999));
    cr_assert_eq(b->fills.v[r->fill_first].quantity, 100);
    cr_assert_eq(b->fills.v[r->fill_first + 1].maker_order_id, a.id);
    cr_assert_eq(b->fills.v[r->fill_first + 1].price, P(50000));
    cr_assert_eq(b->fills.v[r->fill_first + 1].quantity, 200);
    cr_assert_eq(b->fills.v[r->fill_first + 2].maker_order_id, bb.id);
    cr_assert_eq(b->fills.v[r->fill_first + 2].quantity, 100);
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(b->fills.v[i].taker_order_id, r->order.id);
        cr_assert_eq(b->fills.v[i].taker_side, SIDE_BUY);
        cr_assert_eq(b->fills.v[i].taker_user_id, 104);
        cr_assert_eq(b->fills.v[i].ts, 2000);
    }
    cr_assert(b->fills.v[0].id < b->fills.v[1].id && b->fills.v[1].id < b->fills.v[2].id);
    cr_assert_eq(r->order.status, ORDER_FILLED);
    cr_assert_eq(r->order.remaining, 0);
    cr_assert_eq(r->order.filled, 400);
    cr_assert_eq(r->order.hold, 0);
    /* the second maker at 50000 stays with the rest */
    mo = batch_order(b, bb.id);
    cr_assert_not_null(mo);
    cr_assert_eq(mo->status, ORDER_PARTIALLY_FILLED);
    cr_assert_str_eq(order_status_name(mo->status), "partially_filled");
    cr_assert_eq(mo->remaining, 100);
    cr_assert_eq(mo->filled, 100);
    cr_assert_eq(batch_order(b, a.id)->status, ORDER_FILLED);
    cr_assert_eq(batch_order(b, c.id)->status, ORDER_FILLED);
    assert_l2(b, M_BTC, SIDE_SELL, P(49999), 0);
    assert_l2(b, M_BTC, SIDE_SELL, P(50000), 100);
    cr_assert(b->tops[M_BTC].has_ask && !b->tops[M_BTC].has_bid);
    cr_assert_eq(b->tops[M_BTC].ask, P(50000));
    cr_assert_eq(b->tops[M_BTC].ask_qty, 100);
    batch_free(b);
    assert_bal(102, BTC, 1000 - 100, 100);
    assert_engine_ok();
}

Test(engine, partial_fill_fees_and_exact_balances)
{
    struct batch *b;
    const struct fill *f;
    const struct order *mo;
    struct order sell;
    const int64_t usd0 = 10000000; /* 100000.00 */
    int64_t n1 = notional(M_BTC, P(50001), 100);
    int64_t n2 = notional(M_BTC, P(50001), 200);

    cr_assert_eq(n1, 50001);
    deposit(200, BTC, 10000);
    deposit(201, USD, usd0);
    sell = place(200, M_BTC, SIDE_SELL, P(50001), 300);
    assert_bal(200, BTC, 10000, 300);

    /* a taker buy above the ask fills at the maker's price */
    b = run1(cmd_limit(201, M_BTC, SIDE_BUY, P(50005), 100));
    cr_assert_eq(b->results.v[0].err, CG_OK);
    cr_assert_eq(b->fills.n, 1);
    f = &b->fills.v[0];
    cr_assert_eq(f->price, P(50001));
    cr_assert_eq(f->quantity, 100);
    cr_assert_eq(f->quote_quantity, n1);
    cr_assert_eq(f->taker_fee, 100); /* floor(50001 x 2000 / 1e6) = floor(100.002) */
    cr_assert_eq(f->maker_fee, 50);  /* floor(50001 x 1000 / 1e6) = floor(50.001) */
    cr_assert_eq(f->maker_order_id, sell.id);
    cr_assert_eq(f->maker_user_id, 200);
    cr_assert_eq(f->taker_user_id, 201);
    cr_assert_eq(b->results.v[0].order.quote_filled, n1);
    cr_assert_eq(b->results.v[0].order.fee_total, 100);
    mo = batch_order(b, sell.id);
    cr_assert_not_null(mo);
    cr_assert_eq(mo->status, ORDER_PARTIALLY_FILLED);
    cr_assert_eq(mo->remaining, 200);
    cr_assert_eq(mo->hold, 200);
    cr_assert_eq(mo->fee_total, 50);
    cr_assert_eq(b->entries.n, 1);
    cr_assert_eq(b->entries.v[0].kind, ENTRY_TRADE);
    cr_assert_eq(b->entries.v[0].ref_id, f->id);
    cr_assert_eq(sum_postings(&b->entries.v[0], USD), 0);
    cr_assert_eq(sum_postings(&b->entries.v[0], BTC), 0);
    assert_l2(b, M_BTC, SIDE_SELL, P(50001), 200);
    cr_assert_eq(b->l2.n, 1, "the taker never rested");
    batch_free(b);
    assert_bal(201, USD, usd0 - n1 - 100, 0);
    assert_bal(201, BTC, 100, 0);
    assert_bal(200, BTC, 9900, 200);
    assert_bal(200, USD, n1 - 50, 0);
    assert_bal(LEDGER_FEES_ID, USD, 150, 0);
    assert_engine_ok();

    /* a larger buy takes the rest and rests its remainder at its own price */
    b = run1(cmd_limit(201, M_BTC, SIDE_BUY, P(50001), 500));
    cr_assert_eq(b->fills.n, 1);
    cr_assert_eq(b->fills.v[0].quantity, 200);
    cr_assert_eq(b->results.v[0].order.status, ORDER_PARTIALLY_FILLED);
    cr_assert_eq(b->results.v[0].order.remaining, 300);
    cr_assert_eq(b->results.v[0].order.hold, buy_reserve(M_BTC, P(50001), 300));
    cr_assert_eq(batch_order(b, sell.id)->status, ORDER_FILLED);
    assert_l2(b, M_BTC, SIDE_SELL, P(50001), 0);
    assert_l2(b, M_BTC, SIDE_BUY, P(50001), 300);
    batch_free(b);
    assert_bal(201, USD, usd0 - n1 - 100 - n2 - fee(n2, 2000), buy_reserve(M_BTC, P(50001), 300));
    assert_bal(201, BTC, 300, 0);
    assert_bal(200, BTC, 9700, 0);
    assert_bal(200, USD, n1 - 50 + n2 - fee(n2, 1000), 0);
    assert_bal(LEDGER_FEES_ID, USD, 150 + fee(n2, 2000) + fee(n2, 1000), 0);
    assert_engine_ok();
}

Test(engine, taker_sell_fills_at_the_bid_and_pays_the_taker_fee)
{
    struct batch *b;
    int64_t n = notional(M_ETH, 300000, 2000); /* 600.00 */
    deposit(100, USD, 1000000);
    deposit(101, ETH, 5000);
    (void)place(100, M_ETH, SIDE_BUY, 300000, 2000);
    b = run1(cmd_limit(101, M_ETH, SIDE_SELL, 290000, 3000));
    cr_assert_eq(b->fills.n, 1);
    cr_assert_eq(b->fills.v[0].price, 300000);
    cr_assert_eq(b->fills.v[0].taker_side, SIDE_SELL);
    cr_assert_eq(b->fills.v[0].taker_fee, fee(n, 1500));
    cr_assert_eq(b->fills.v[0].maker_fee, fee(n, 2500));
    cr_assert_eq(b->results.v[0].order.remaining, 1000);
    assert_l2(b, M_ETH, SIDE_BUY, 300000, 0);
    assert_l2(b, M_ETH, SIDE_SELL, 290000, 1000);
    batch_free(b);
    assert_bal(100, USD, 1000000 - n - fee(n, 2500), 0);
    assert_bal(100, ETH, 2000, 0);
    assert_bal(101, USD, n - fee(n, 1500), 0);
    assert_bal(101, ETH, 3000, 1000);
    assert_bal(LEDGER_FEES_ID, USD, fee(n, 1500) + fee(n, 2500), 0);
    assert_engine_ok();
}

/* ---- market, IOC and FOK orders ---- */

static void three_asks(void)
{
    deposit(101, BTC, 1000);
    deposit(102, BTC, 1000);
    deposit(103, BTC, 1000);
    (void)place(101, M_BTC, SIDE_SELL, P(50000), 100);
    (void)place(102, M_BTC, SIDE_SELL, P(50001), 200);
    (void)place(103, M_BTC, SIDE_SELL, P(50003), 100);
}

Test(engine, market_buy_walks_levels_and_holds_exactly_its_cost)
{
    struct batch *b;
    int64_t n1 = notional(M_BTC, P(50000), 100);
    int64_t n2 = notional(M_BTC, P(50001), 200);
    int64_t cost = n1 + fee(n1, 2000) + n2 + fee(n2, 2000);

    cr_assert_eq(cost, 50000 + 100 + 100002 + 200);
    three_asks();
    deposit(104, USD, cost - 1);
    run_fails(cmd_market(104, M_BTC, SIDE_BUY, 300), CG_EFUNDS);
    deposit(104, USD, 1);
    b = run1(cmd_market(104, M_BTC, SIDE_BUY, 300));
    cr_assert_eq(b->results.v[0].err, CG_OK);
    cr_assert_eq(b->fills.n, 2);
    cr_assert_eq(b->fills.v[0].price, P(50000));
    cr_assert_eq(b->fills.v[1].price, P(50001));
    cr_assert_eq(b->fills.v[1].quantity, 200);
    cr_assert_eq(b->results.v[0].order.status, ORDER_FILLED);
    cr_assert_eq(b->results.v[0].order.type, ORDER_MARKET);
    cr_assert_eq(b->results.v[0].order.hold, 0);
    assert_l2(b, M_BTC, SIDE_SELL, P(50000), 0);
    assert_l2(b, M_BTC, SIDE_SELL, P(50001), 0);
    cr_assert_eq(b->tops[M_BTC].ask, P(50003));
    batch_free(b);
    assert_bal(104, USD, 0, 0);
    assert_bal(104, BTC, 300, 0);
    assert_bal(LEDGER_FEES_ID, USD, fee(n1, 2000) + fee(n2, 2000) + fee(n1, 1000) + fee(n2, 1000),
               0);
    assert_engine_ok();
}

Test(engine, market_buy_beyond_the_book_fills_what_there_is)
{
    struct batch *b;
    int64_t n1 = notional(M_BTC, P(50000), 100);
    int64_t n2 = notional(M_BTC, P(50001), 200);
    int64_t n3 = notional(M_BTC, P(50003), 100);
    int64_t cost = n1 + fee(n1, 2000) + n2 + fee(n2, 2000) + n3 + fee(n3, 2000);
    three_asks();
    deposit(104, USD, 100000000);
    b = run1(cmd_market(104, M_BTC, SIDE_BUY, 1000));
    cr_assert_eq(b->results.v[0].err, CG_OK);
    cr_assert_eq(b->fills.n, 3);
    cr_assert_eq(b->results.v[0].order.status, ORDER_EXPIRED);
    cr_assert_eq(b->results.v[0].order.reason, REASON_NO_LIQUIDITY);
    cr_assert_eq(b->results.v[0].order.filled, 400);
    cr_assert_eq(b->results.v[0].order.remaining, 600);
    cr_assert_not(b->tops[M_BTC].has_ask);
    batch_free(b);
    assert_bal(104, BTC, 400, 0);
    assert_bal(104, USD, 100000000 - cost, 0);
    assert_engine_ok();
}

Test(engine, market_orders_on_an_empty_book_find_no_liquidity)
{
    struct order bid;
    deposit(100, USD, 10000000);
    deposit(100, BTC, 1000);
    run_fails(cmd_market(100, M_BTC, SIDE_BUY, 100), CG_ELIQUIDITY);
    run_fails(cmd_market(100, M_BTC, SIDE_SELL, 100), CG_ELIQUIDITY);
    /* liquidity on the same side does not count */
    deposit(101, USD, 10000000);
    deposit(101, BTC, 1000);
    bid = place(101, M_BTC, SIDE_BUY, P(40000), 100);
    run_fails(cmd_market(100, M_BTC, SIDE_BUY, 100), CG_ELIQUIDITY);
    (void)run_ok(cmd_cancel(101, M_BTC, bid.id));
    (void)place(101, M_BTC, SIDE_SELL, P(60000), 100);
    run_fails(cmd_market(100, M_BTC, SIDE_SELL, 100), CG_ELIQUIDITY);
}

Test(engine, market_buy_larger_than_the_balance_fails_and_changes_nothing)
{
    three_asks();
    deposit(104, USD, 100000);
    run_fails(cmd_market(104, M_BTC, SIDE_BUY, 300), CG_EFUNDS);
    run_fails(cmd_market(104, M_BTC, SIDE_BUY, 100000), CG_EFUNDS);
}

Test(engine, market_sell_walks_bids)
{
    struct batch *b;
    int64_t n1 = notional(M_ETH, 300000, 1000);
    int64_t n2 = notional(M_ETH, 299990, 2000);
    deposit(101, USD, 10000000);
    deposit(102, USD, 10000000);
    deposit(103, ETH, 2500);
    (void)place(101, M_ETH, SIDE_BUY, 300000, 1000);
    (void)place(102, M_ETH, SIDE_BUY, 299990, 3000);
    run_fails(cmd_market(103, M_ETH, SIDE_SELL, 3000), CG_EFUNDS);
    b = run1(cmd_market(103, M_ETH, SIDE_SELL, 2000));
    cr_assert_eq(b->results.v[0].err, CG_OK);
    cr_assert_eq(b->fills.n, 2);
    cr_assert_eq(b->fills.v[0].price, 300000);
    cr_assert_eq(b->fills.v[1].price, 299990);
    cr_assert_eq(b->fills.v[1].quantity, 1000);
    assert_l2(b, M_ETH, SIDE_BUY, 299990, 2000);
    batch_free(b);
    n2 = notional(M_ETH, 299990, 1000);
    assert_bal(103, ETH, 500, 0);
    assert_bal(103, USD, n1 - fee(n1, 1500) + n2 - fee(n2, 1500), 0);
    assert_bal(102, USD, 10000000 - n2 - fee(n2, 2500), buy_reserve(M_ETH, 299990, 2000));
    assert_engine_ok();
}

Test(engine, ioc_remainder_expires)
{
    struct batch *b;
    const struct cmd_result *r;
    int64_t n = notional(M_BTC, P(50000), 100);
    deposit(101, BTC, 100);
    deposit(104, USD, 10000000);
    (void)place(101, M_BTC, SIDE_SELL, P(50000), 100);
    b = run1(cmd_order(104, M_BTC, SIDE_BUY, ORDER_LIMIT, TIF_IOC, P(50002), 300));
    r = &b->results.v[0];
    cr_assert_eq(r->err, CG_OK);
    cr_assert_eq(b->fills.n, 1);
    cr_assert_eq(r->order.status, ORDER_EXPIRED);
    cr_assert_eq(r->order.reason, REASON_NO_LIQUIDITY);
    cr_assert_str_eq(order_reason_name(r->order.reason), "no_liquidity");
    cr_assert_eq(r->order.filled, 100);
    cr_assert_eq(r->order.remaining, 200);
    cr_assert_eq(r->order.hold, 0);
    cr_assert_not(b->tops[M_BTC].has_bid, "an IOC order must not rest");
    cr_assert_eq(b->l2.n, 1);
    assert_l2(b, M_BTC, SIDE_SELL, P(50000), 0);
    batch_free(b);
    assert_bal(104, USD, 10000000 - n - fee(n, 2000), 0);
    /* IOC with nothing to meet: expires at once, nothing held */
    b = run1(cmd_order(104, M_BTC, SIDE_BUY, ORDER_LIMIT, TIF_IOC, P(50002), 100));
    cr_assert_eq(b->results.v[0].err, CG_OK);
    cr_assert_eq(b->results.v[0].order.status, ORDER_EXPIRED);
    cr_assert_eq(b->fills.n, 0);
    cr_assert_eq(b->l2.n, 0);
    batch_free(b);
    assert_bal(104, USD, 10000000 - n - fee(n, 2000), 0);
    assert_engine_ok();
}

Test(engine, fok_fills_all_or_nothing)
{
    struct batch *b;
    deposit(101, BTC, 300);
    deposit(104, USD, 10000000);
    (void)place(101, M_BTC, SIDE_SELL, P(50000), 100);
    (void)place(101, M_BTC, SIDE_SELL, P(50001), 200);
    b = run1(cmd_order(104, M_BTC, SIDE_BUY, ORDER_LIMIT, TIF_FOK, P(50001), 400));
    cr_assert_eq(b->results.v[0].err, CG_OK);
    cr_assert_eq(b->results.v[0].order.status, ORDER_EXPIRED);
    cr_assert_eq(b->fills.n, 0);
    cr_assert_eq(b->l2.n, 0);
    cr_assert_eq(b->entries.n, 0);
    batch_free(b);
    assert_bal(104, USD, 10000000, 0);
    b = run1(cmd_order(104, M_BTC, SIDE_BUY, ORDER_LIMIT, TIF_FOK, P(50001), 300));
    cr_assert_eq(b->results.v[0].order.status, ORDER_FILLED);
    cr_assert_eq(b->fills.n, 2);
    batch_free(b);
    assert_bal(104, BTC, 300, 0);
    assert_engine_ok();
}

/* ---- self-trade prevention ---- */

Test(engine, self_trade_cancels_the_resting_order)
{
    struct batch *b;
    struct order own;
    const struct order *so;

    deposit(100, USD, 10000000);
    deposit(100, BTC, 1000);
    own = place(100, M_BTC, SIDE_SELL, P(50000), 300);
    b = run1(cmd_limit(100, M_BTC, SIDE_BUY, P(50000), 100));
    cr_assert_eq(b->results.v[0].err, CG_OK);
    cr_assert_eq(b->fills.n, 0, "a user traded with themself");
    so = batch_order(b, own.id);
    cr_assert_not_null(so);
    cr_assert_eq(so->status, ORDER_CANCELED);
    cr_assert_eq(so->reason, REASON_SELF_TRADE_PREVENTION);
    cr_assert_str_eq(order_reason_name(so->reason), "self_trade_prevention");
    cr_assert_eq(so->remaining, 300);
    cr_assert_eq(b->results.v[0].order.status, ORDER_NEW);
    assert_l2(b, M_BTC, SIDE_SELL, P(50000), 0);
    assert_l2(b, M_BTC, SIDE_BUY, P(50000), 100);
    batch_free(b);
    assert_bal(100, BTC, 1000, 0);
    assert_bal(100, USD, 10000000, buy_reserve(M_BTC, P(50000), 100));
    assert_engine_ok();
}

Test(engine, self_trade_skips_to_the_next_maker)
{
    struct batch *b;
    struct order own;
    struct order other;
    deposit(100, USD, 10000000);
    deposit(100, BTC, 1000);
    deposit(101, BTC, 1000);
    own = place(100, M_BTC, SIDE_SELL, P(50000), 100);
    other = place(101, M_BTC, SIDE_SELL, P(50000), 100);
    b = run1(cmd_market(100, M_BTC, SIDE_BUY, 100));
    cr_assert_eq(b->results.v[0].err, CG_OK);
    cr_assert_eq(b->fills.n, 1);
    cr_assert_eq(b->fills.v[0].maker_order_id, other.id);
    cr_assert_eq(batch_order(b, own.id)->reason, REASON_SELF_TRADE_PREVENTION);
    cr_assert_eq(b->results.v[0].order.status, ORDER_FILLED);
    batch_free(b);
    assert_bal(100, BTC, 1100, 0);
    assert_engine_ok();
}

/*
 * A market order whose only counterparties are the user's own orders has no liquidity. The buy
 * side reports CG_ELIQUIDITY and leaves the user's asks alone; the sell side must do the same.
 */
Test(engine, market_order_against_only_own_orders_finds_no_liquidity)
{
    deposit(100, USD, 10000000);
    deposit(100, BTC, 1000);
    (void)place(100, M_BTC, SIDE_SELL, P(50000), 100);
    run_fails(cmd_market(100, M_BTC, SIDE_BUY, 100), CG_ELIQUIDITY);
    (void)place(100, M_BTC, SIDE_BUY, P(40000), 100);
    run_fails(cmd_market(100, M_BTC, SIDE_SELL, 100), CG_ELIQUIDITY);
}

/* ---- house liquidity ---- */

Test(engine, house_feed_book_rests_at_exactly_the_fed_levels)
{
    const int64_t bids1[] = {P(49999), 200, P(49998), 300};
    const int64_t asks1[] = {P(50001), 100, P(50002), 400};
    const int64_t bids2[] = {P(49999), 100, P(49997), 500};
    const int64_t asks2[] = {P(50001), 100, P(50003), 200};
    struct batch *b;
    int64_t q;

    b = run1(cmd_feed_book(M_BTC, 2, bids1, 2, asks1));
    cr_assert_eq(b->results.n, 0);
    cr_assert_eq(b->orders.n, 0, "house orders are not user orders");
    cr_assert_eq(b->fills.n, 0);
    cr_assert_eq(b->l2.n, 4);
    /* sorted by market, side, price */
    cr_assert(b->l2.v[0].side == SIDE_BUY && b->l2.v[0].price == P(49998) && b->l2.v[0].qty == 300);
    cr_assert(b->l2.v[1].side == SIDE_BUY && b->l2.v[1].price == P(49999) && b->l2.v[1].qty == 200);
    cr_assert(b->l2.v[2].side == SIDE_SELL && b->l2.v[2].price == P(50001) &&
              b->l2.v[2].qty == 100);
    cr_assert(b->l2.v[3].side == SIDE_SELL && b->l2.v[3].price == P(50002) &&
              b->l2.v[3].qty == 400);
    cr_assert(b->tops[M_BTC].changed && b->tops[M_BTC].has_bid && b->tops[M_BTC].has_ask);
    cr_assert_eq(b->tops[M_BTC].book_seq, 1);
    cr_assert_eq(b->tops[M_BTC].bid, P(49999));
    cr_assert_eq(b->tops[M_BTC].bid_qty, 200);
    cr_assert_eq(b->tops[M_BTC].ask, P(50001));
    cr_assert_eq(b->tops[M_BTC].ask_qty, 100);
    cr_assert_not(b->tops[M_ETH].changed);
    cr_assert_eq(b->tops[M_ETH].book_seq, 0);
    batch_free(b);
    cr_assert_eq(bal(LEDGER_HOUSE_LP_ID, USD).held,
                 buy_reserve(M_BTC, P(49999), 200) + buy_reserve(M_BTC, P(49998), 300));
    cr_assert_eq(bal(LEDGER_HOUSE_LP_ID, BTC).held, 500);
    cr_assert_lt(bal(LEDGER_MINT_ID, BTC).total, 0, "the house is funded by the mint");
    assert_engine_ok();

    /* re-quote: 49998 and 50002 go, 49999 shrinks, 49997 and 50003 appear, 50001 stays */
    b = run1(cmd_feed_book(M_BTC, 2, bids2, 2, asks2));
    cr_assert_eq(b->fills.n, 0);
    assert_l2(b, M_BTC, SIDE_BUY, P(49997), 500);
    assert_l2(b, M_BTC, SIDE_BUY, P(49998), 0);
    assert_l2(b, M_BTC, SIDE_BUY, P(49999), 100);
    assert_l2(b, M_BTC, SIDE_SELL, P(50002), 0);
    assert_l2(b, M_BTC, SIDE_SELL, P(50003), 200);
    if (l2_find(b, M_BTC, SIDE_SELL, P(50001), &q))
        cr_assert_eq(q, 100);
    cr_assert_eq(b->tops[M_BTC].book_seq, 2);
    cr_assert_eq(b->tops[M_BTC].bid_qty, 100);
    batch_free(b);
    cr_assert_eq(bal(LEDGER_HOUSE_LP_ID, USD).held,
                 buy_reserve(M_BTC, P(49999), 100) + buy_reserve(M_BTC, P(49997), 500));
    cr_assert_eq(bal(LEDGER_HOUSE_LP_ID, BTC).held, 300);
    assert_engine_ok();

    /* the same levels again change nothing */
    b = run1(cmd_feed_book(M_BTC, 2, bids2, 2, asks2));
    cr_assert_eq(b->l2.n, 0);
    cr_assert_not(b->tops[M_BTC].changed);
    cr_assert_eq(b->tops[M_BTC].book_seq, 2);
    batch_free(b);

    /* an empty feed withdraws every quote */
    b = run1(cmd_feed_book(M_BTC, 0, NULL, 0, NULL));
    cr_assert_eq(b->l2.n, 4);
    for (size_t i = 0; i < b->l2.n; i++)
        cr_assert_eq(b->l2.v[i].qty, 0);
    cr_assert(!b->tops[M_BTC].has_bid && !b->tops[M_BTC].has_ask);
    batch_free(b);
    assert_bal(LEDGER_HOUSE_LP_ID, USD, bal(LEDGER_HOUSE_LP_ID, USD).total, 0);
    assert_bal(LEDGER_HOUSE_LP_ID, BTC, bal(LEDGER_HOUSE_LP_ID, BTC).total, 0);
    assert_engine_ok();
}

Test(engine, house_feed_rounds_to_lots_and_skips_off_tick_levels)
{
    const int64_t bids[] = {P(49999) + 1, 500, P(49998), 250, P(49997), 50};
    struct batch *b = run1(cmd_feed_book(M_BTC, 3, bids, 0, NULL));
    cr_assert_eq(b->l2.n, 1);
    assert_l2(b, M_BTC, SIDE_BUY, P(49998), 200);
    batch_free(b);
    assert_engine_ok();
}

Test(engine, house_quote_crossing_a_user_order_fills_at_the_users_price)
{
    const int64_t bids[] = {P(50005), 300};
    const int64_t asks[] = {P(50010), 100};
    struct batch *b;
    struct order user;
    const struct fill *f;
    int64_t n = notional(M_BTC, P(50000), 100);

    deposit(100, BTC, 100);
    user = place(100, M_BTC, SIDE_SELL, P(50000), 100);
    b = run1(cmd_feed_book(M_BTC, 1, bids, 1, asks));
    cr_assert_eq(b->fills.n, 1);
    f = &b->fills.v[0];
    cr_assert_eq(f->price, P(50000));
    cr_assert_eq(f->quantity, 100);
    cr_assert_eq(f->maker_user_id, 100);
    cr_assert_eq(f->maker_order_id, user.id);
    cr_assert_eq(f->taker_user_id, LEDGER_HOUSE_LP_ID);
    cr_assert_eq(f->taker_side, SIDE_BUY);
    cr_assert_not_null(batch_order(b, user.id));
    cr_assert_eq(batch_order(b, user.id)->status, ORDER_FILLED);
    assert_l2(b, M_BTC, SIDE_SELL, P(50000), 0);
    assert_l2(b, M_BTC, SIDE_BUY, P(50005), 200);
    assert_l2(b, M_BTC, SIDE_SELL, P(50010), 100);
    batch_free(b);
    assert_bal(100, BTC, 0, 0);
    assert_bal(100, USD, n - fee(n, 1000), 0);
    assert_bal(LEDGER_FEES_ID, USD, fee(n, 1000) + fee(n, 2000), 0);
    assert_bal(LEDGER_HOUSE_LP_ID, BTC, bal(LEDGER_HOUSE_LP_ID, BTC).total, 100);
    assert_engine_ok();
}

Test(engine, user_taker_trades_with_the_house_at_the_house_price)
{
    const int64_t asks[] = {P(50001), 100, P(50002), 200};
    struct batch *b;
    int64_t n = notional(M_BTC, P(50001), 100) + notional(M_BTC, P(50002), 100);
    feed(cmd_feed_book(M_BTC, 0, NULL, 2, asks));
    deposit(100, USD, 10000000);
    b = run1(cmd_limit(100, M_BTC, SIDE_BUY, P(50005), 200));
    cr_assert_eq(b->fills.n, 2);
    cr_assert_eq(b->fills.v[0].maker_user_id, LEDGER_HOUSE_LP_ID);
    cr_assert_eq(b->fills.v[1].price, P(50002));
    cr_assert_eq(b->results.v[0].order.status, ORDER_FILLED);
    assert_l2(b, M_BTC, SIDE_SELL, P(50002), 100);
    batch_free(b);
    assert_bal(100, BTC, 200, 0);
    assert_bal(100, USD,
               10000000 - n - fee(notional(M_BTC, P(50001), 100), 2000) -
                   fee(notional(M_BTC, P(50002), 100), 2000),
               0);
    assert_engine_ok();
}

Test(engine, house_feed_price_places_a_ladder)
{
    struct batch *b;
    /* step 10 bps of 50000.00 = 50.00; 1000.00 per level: bids 0.02 BTC, asks 0.0199.. -> 0.01 */
    b = run1(cmd_feed_price(M_BTC, P(50000)));
    cr_assert_eq(b->fills.n, 0);
    cr_assert_eq(b->l2.n, 10);
    for (int k = 1; k <= 5; k++) {
        assert_l2(b, M_BTC, SIDE_BUY, P(50000) - k * P(50), 200);
        assert_l2(b, M_BTC, SIDE_SELL, P(50000) + k * P(50), 100);
    }
    cr_assert_eq(b->tops[M_BTC].bid, P(49950));
    cr_assert_eq(b->tops[M_BTC].ask, P(50050));
    batch_free(b);
    assert_engine_ok();

    /* the price jumps through the old asks: the house re-quotes without trading with itself */
    b = run1(cmd_feed_price(M_BTC, P(51000)));
    cr_assert_eq(b->fills.n, 0, "the house traded with itself");
    cr_assert_eq(b->tops[M_BTC].bid, P(51000) - P(51));
    cr_assert_eq(b->tops[M_BTC].ask, P(51000) + P(51));
    for (int k = 1; k <= 5; k++) {
        assert_l2(b, M_BTC, SIDE_SELL, P(50000) + k * P(50), 0);
        assert_l2(b, M_BTC, SIDE_BUY, P(50000) - k * P(50), 0);
        assert_l2(b, M_BTC, SIDE_SELL, P(51000) + k * P(51), 100);
    }
    batch_free(b);
    assert_engine_ok();

    /* and down again */
    b = run1(cmd_feed_price(M_BTC, P(49000)));
    cr_assert_eq(b->fills.n, 0, "the house traded with itself");
    cr_assert_eq(b->tops[M_BTC].bid, P(49000) - P(49));
    batch_free(b);
    assert_engine_ok();
}

Test(engine, house_ladder_steps_at_least_one_tick)
{
    struct batch *b;
    /* ETH at 10.00: 10 bps is 0.01, below the 0.10 tick, so levels are 1, 2, .. ticks away */
    b = run1(cmd_feed_price(M_ETH, 1000));
    cr_assert_eq(b->fills.n, 0);
    cr_assert_eq(b->tops[M_ETH].bid, 990);
    cr_assert_eq(b->tops[M_ETH].ask, 1010);
    for (int k = 1; k <= 5; k++) {
        int64_t q = -1;
        cr_assert(l2_find(b, M_ETH, SIDE_BUY, 1000 - 10 * k, &q) && q > 0, "bid level %d", k);
        cr_assert(l2_find(b, M_ETH, SIDE_SELL, 1000 + 10 * k, &q) && q > 0, "ask level %d", k);
    }
    batch_free(b);
    assert_engine_ok();
}

/*
 * ladder_levels is the number of levels per side. At 60.00 a 10 bps step is 0.06, between one
 * tenth of a tick and one tick: the levels must still be distinct (1, 2, .. 5 ticks or more away),
 * not several ladder steps rounded onto the same tick.
 */
Test(engine, house_ladder_has_the_configured_number_of_levels)
{
    struct batch *b = run1(cmd_feed_price(M_ETH, 6000));
    size_t n[2] = {0, 0};
    for (size_t i = 0; i < b->l2.n; i++) {
        const struct l2_change *c = &b->l2.v[i];
        cr_assert_eq(c->market, M_ETH);
        cr_assert_gt(c->qty, 0);
        cr_assert_eq(c->price % 10, 0);
        cr_assert(c->side == SIDE_BUY ? c->price < 6000 : c->price > 6000);
        n[c->side]++;
    }
    batch_free(b);
    cr_assert_eq(n[SIDE_BUY], (size_t)cfg.house.ladder_levels, "%zu bid levels", n[SIDE_BUY]);
    cr_assert_eq(n[SIDE_SELL], (size_t)cfg.house.ladder_levels, "%zu ask levels", n[SIDE_SELL]);
}

Test(engine, a_crossed_feed_never_trades_the_house_with_itself)
{
    const int64_t bids[] = {P(50005), 100, P(50004), 100};
    const int64_t asks[] = {P(50000), 100, P(50001), 100};
    struct batch *b = run1(cmd_feed_book(M_BTC, 2, bids, 2, asks));
    cr_assert_eq(b->fills.n, 0, "the house traded with itself");
    cr_assert_gt(b->entries.n, 0, "funding entries expected");
    for (size_t i = 0; i < b->entries.n; i++)
        cr_assert_eq(b->entries.v[i].kind, ENTRY_HOUSE_FUNDING);
    if (b->tops[M_BTC].has_bid && b->tops[M_BTC].has_ask)
        cr_assert_lt(b->tops[M_BTC].bid, b->tops[M_BTC].ask, "the book is crossed");
    batch_free(b);
    assert_engine_ok();
}

/* ---- L2 deltas and book sequence numbers ---- */

Test(engine, l2_has_the_final_quantity_of_every_touched_level)
{
    struct cmd cmds[5];
    struct batch *b;

    deposit(101, BTC, 1000);
    deposit(102, BTC, 1000);
    deposit(103, BTC, 1000);
    deposit(104, USD, 100000000);
    cmds[0] = cmd_limit(101, M_BTC, SIDE_SELL, P(50000), 100);
    cmds[1] = cmd_limit(102, M_BTC, SIDE_SELL, P(50000), 200);
    cmds[2] = cmd_limit(103, M_BTC, SIDE_SELL, P(50001), 100);
    cmds[3] = cmd_limit(104, M_BTC, SIDE_BUY, P(50000), 200);
    cmds[4] = cmd_limit(104, M_BTC, SIDE_BUY, P(49000), 300);
    b = run(cmds, 5);
    for (size_t i = 0; i < 5; i++)
        cr_assert_eq(b->results.v[i].err, CG_OK);
    cr_assert_eq(b->l2.n, 3);
    assert_l2(b, M_BTC, SIDE_BUY, P(49000), 300);
    assert_l2(b, M_BTC, SIDE_SELL, P(50000), 100);
    assert_l2(b, M_BTC, SIDE_SELL, P(50001), 100);
    cr_assert_eq(b->tops[M_BTC].book_seq, 1, "one batch, one sequence number");
    cr_assert_eq(b->tops[M_BTC].ask_qty, 100);
    cr_assert_eq(b->tops[M_BTC].bid_qty, 300);
    /* balances: one (final) entry per account */
    for (size_t i = 1; i < b->balances.n; i++)
        cr_assert(b->balances.v[i - 1].user_id < b->balances.v[i].user_id ||
                  (b->balances.v[i - 1].user_id == b->balances.v[i].user_id &&
                   b->balances.v[i - 1].asset < b->balances.v[i].asset));
    for (size_t i = 0; i < b->balances.n; i++) {
        struct balance x = bal(b->balances.v[i].user_id, b->balances.v[i].asset);
        cr_assert_eq(b->balances.v[i].total, x.total);
        cr_assert_eq(b->balances.v[i].held, x.held);
    }
    batch_free(b);
    assert_engine_ok();
}

Test(engine, l2_is_sorted_across_markets)
{
    struct cmd cmds[4];
    struct batch *b;
    deposit(100, USD, 100000000);
    deposit(100, ETH, 100000);
    cmds[0] = cmd_limit(100, M_ETH, SIDE_SELL, 300000, 1000);
    cmds[1] = cmd_limit(100, M_BTC, SIDE_BUY, P(50000), 100);
    cmds[2] = cmd_limit(100, M_ETH, SIDE_BUY, 299000, 1000);
    cmds[3] = cmd_limit(100, M_BTC, SIDE_BUY, P(49000), 100);
    b = run(cmds, 4);
    cr_assert_eq(b->l2.n, 4);
    cr_assert(b->l2.v[0].market == M_BTC && b->l2.v[0].price == P(49000));
    cr_assert(b->l2.v[1].market == M_BTC && b->l2.v[1].price == P(50000));
    cr_assert(b->l2.v[2].market == M_ETH && b->l2.v[2].side == SIDE_BUY);
    cr_assert(b->l2.v[3].market == M_ETH && b->l2.v[3].side == SIDE_SELL);
    cr_assert(b->tops[M_BTC].changed && b->tops[M_ETH].changed);
    cr_assert_eq(b->tops[M_BTC].book_seq, 1);
    cr_assert_eq(b->tops[M_ETH].book_seq, 1);
    batch_free(b);
}

Test(engine, book_seq_counts_batches_that_changed_the_book)
{
    struct batch *b;
    struct order o;

    deposit(100, USD, 100000000);
    b = engine_run_batch(eng, NULL, 0);
    cr_assert_eq(b->tops[M_BTC].book_seq, 0);
    batch_free(b);

    o = place(100, M_BTC, SIDE_BUY, P(50000), 100); /* seq 1 */
    b = run1(cmd_funds(CMD_DEPOSIT, 100, USD, 5));
    cr_assert_eq(b->tops[M_BTC].book_seq, 1, "a deposit does not change the book");
    cr_assert_not(b->tops[M_BTC].changed);
    batch_free(b);

    b = run1(cmd_limit(100, M_ETH, SIDE_BUY, 300000, 1000));
    cr_assert_eq(b->tops[M_BTC].book_seq, 1, "another market's order");
    cr_assert_eq(b->tops[M_ETH].book_seq, 1);
    batch_free(b);

    b = run1(cmd_limit(100, M_BTC, SIDE_BUY, P(1), 1000000000000)); /* EFUNDS */
    cr_assert_eq(b->results.v[0].err, CG_EFUNDS);
    cr_assert_eq(b->tops[M_BTC].book_seq, 1, "a rejected order does not change the book");
    batch_free(b);

    b = run1(cmd_cancel(101, M_BTC, o.id)); /* not found */
    cr_assert_eq(b->tops[M_BTC].book_seq, 1);
    batch_free(b);

    b = run1(cmd_limit(100, M_BTC, SIDE_BUY, P(49000), 100));
    cr_assert_eq(b->tops[M_BTC].book_seq, 2);
    cr_assert(b->tops[M_BTC].changed);
    batch_free(b);

    b = run1(cmd_cancel(100, M_BTC, o.id));
    cr_assert_eq(b->tops[M_BTC].book_seq, 3);
    cr_assert_eq(b->tops[M_BTC].bid, P(49000));
    batch_free(b);

    b = engine_run_batch(eng, NULL, 0);
    cr_assert_eq(b->tops[M_BTC].book_seq, 3);
    cr_assert_eq(b->tops[M_ETH].book_seq, 1);
    batch_free(b);
}

/* ---- the shipped config ---- */

Test(engine, trades_on_the_shipped_markets_config)
{
    static struct config real;
    char err[256] = "";
    struct engine *e2;
    struct cmd c;
    struct cmd *pc = &c;
    struct batch *b;
    int btc;
    int usdt;
    int m;
    const struct market_cfg *mc;
    int64_t price;
    int64_t qty;
    int64_t n;

    cr_assert_eq(config_load("config/markets.json", ".", &real, err, sizeof(err)), CG_OK, "%s",
                 err);
    m = config_market_index(&real, "BTC-USDT");
    btc = config_asset_index(&real, "BTC");
    usdt = config_asset_index(&real, "USDT");
    cr_assert(m >= 0 && btc >= 0 && usdt >= 0);
    mc = &real.markets[m];
    e2 = engine_new(&real);
    cr_assert_not_null(e2);
    price = 600000 * mc->tick_size; /* 6000.00 at a 0.01 tick */
    qty = 1234 * mc->lot_size;
    n = (int64_t)((__int128)price * qty / pow10_i(real.assets[btc].scale));

    c = cmd_funds(CMD_DEPOSIT, 100, (uint32_t)btc, qty);
    batch_free(engine_run_batch(e2, &pc, 1));
    c = cmd_funds(CMD_DEPOSIT, 101, (uint32_t)usdt, 2 * n);
    batch_free(engine_run_batch(e2, &pc, 1));
    c = cmd_limit(100, (uint32_t)m, SIDE_SELL, price, qty);
    batch_free(engine_run_batch(e2, &pc, 1));
    c = cmd_limit(101, (uint32_t)m, SIDE_BUY, price, qty);
    b = engine_run_batch(e2, &pc, 1);
    cr_assert_eq(b->results.v[0].err, CG_OK);
    cr_assert_eq(b->fills.n, 1);
    cr_assert_eq(b->fills.v[0].quote_quantity, n);
    cr_assert_eq(b->fills.v[0].taker_fee, fee(n, mc->taker_fee_ppm));
    cr_assert_eq(b->fills.v[0].maker_fee, fee(n, mc->maker_fee_ppm));
    batch_free(b);
    cr_assert_eq(ledger_get(engine_ledger(e2), 100, (uint32_t)usdt)->total,
                 n - fee(n, mc->maker_fee_ppm));
    cr_assert_eq(ledger_get(engine_ledger(e2), 101, (uint32_t)usdt)->total,
                 n - fee(n, mc->taker_fee_ppm));
    cr_assert_eq(ledger_get(engine_ledger(e2), 101, (uint32_t)btc)->total, qty);
    cr_assert(engine_check(e2, err, sizeof(err)), "%s", err);
    engine_free(e2);
}

/* ---- randomised: a long command stream against an independent model ---- */

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static uint64_t rng_next(uint64_t *s)
{
    *s += UINT64_C(0x9E3779B97F4A7C15);
    return mix64(*s);
}

static int64_t rng_below(uint64_t *s, uint64_t n)
{
    return (int64_t)(rng_next(s) % n);
}

static uint64_t env_u64(const char *name, uint64_t dflt, bool announce)
{
    const char *env = getenv(name);
    uint64_t v = env && *env ? strtoull(env, NULL, 0) : dflt;
    if (announce)
        fprintf(stderr, "%s=%" PRIu64 " (set it to replay)\n", name, v);
    return v;
}

#define R_USERS 20
#define R_ASSETS 3
#define R_MARKETS 2

/* A user order as the model knows it, from the batches' order snapshots. */
struct r_order {
    uint64_t user;
    uint32_t market;
    uint8_t side;
    bool open;
    int64_t price;
    int64_t remaining;
    size_t pos; /* index in r_state.open while open */
};

struct r_level {
    int64_t price, qty;
};

struct r_side {
    struct r_level *v;
    size_t n, cap;
};

struct r_state {
    uint64_t seed, rs;
    uint64_t batch_no;
    struct r_order *orders; /* indexed by order id */
    size_t n_orders;
    uint64_t *open;
    size_t n_open, cap_open;
    int64_t total[R_USERS][R_ASSETS];
    int64_t fees;
    int64_t mid[R_MARKETS];
    uint64_t book_seq[R_MARKETS];
    struct r_side l2[R_MARKETS][2];
    /* what happened, to show the stream exercised the engine */
    uint64_t n_fills, n_house_fills, n_stp, n_cancels, n_efunds, n_eliquidity, n_expired;
};

static struct r_state *rst;

static void r_state_free(void)
{
    if (!rst)
        return;
    free(rst->orders);
    free(rst->open);
    for (int m = 0; m < R_MARKETS; m++)
        for (int s = 0; s < 2; s++)
            free(rst->l2[m][s].v);
    free(rst);
    rst = NULL;
}

TestSuite(engine_random, .init = setup, .fini = teardown);

#define RASSERT(cond, ...)                                                                         \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            char m_[512];                                                                          \
            snprintf(m_, sizeof(m_), __VA_ARGS__);                                                 \
            cr_assert_fail("ENGINE_SEED=%" PRIu64 " batch %" PRIu64 ": %s", rst->seed,             \
                           rst->batch_no, m_);                                                     \
        }                                                                                          \
    } while (0)

static size_t r_user(uint64_t id)
{
    RASSERT(id >= LEDGER_FIRST_USER_ID && id < LEDGER_FIRST_USER_ID + R_USERS, "user %" PRIu64, id);
    return (size_t)(id - LEDGER_FIRST_USER_ID);
}

static bool r_is_user(uint64_t id)
{
    return id >= LEDGER_FIRST_USER_ID;
}

static void r_open_add(uint64_t id)
{
    if (rst->n_open == rst->cap_open) {
        rst->cap_open = rst->cap_open ? rst->cap_open * 2 : 1024;
        rst->open = realloc(rst->open, rst->cap_open * sizeof(*rst->open));
        cr_assert_not_null(rst->open);
    }
    rst->orders[id].pos = rst->n_open;
    rst->open[rst->n_open++] = id;
}

static void r_open_remove(uint64_t id)
{
    size_t pos = rst->orders[id].pos;
    uint64_t last = rst->open[--rst->n_open];
    rst->open[pos] = last;
    rst->orders[last].pos = pos;
}

static void r_orders_reserve(uint64_t next_id)
{
    if (next_id <= rst->n_orders)
        return;
    size_t n = rst->n_orders ? rst->n_orders : 1024;
    while (n < next_id)
        n *= 2;
    rst->orders = realloc(rst->orders, n * sizeof(*rst->orders));
    cr_assert_not_null(rst->orders);
    memset(rst->orders + rst->n_orders, 0, (n - rst->n_orders) * sizeof(*rst->orders));
    rst->n_orders = n;
}

/* ---- command generation ---- */

static int64_t r_tick(uint32_t m)
{
    return cfg.markets[m].tick_size;
}

static int64_t r_lot(uint32_t m)
{
    return cfg.markets[m].lot_size;
}

static void r_gen_feed(struct cmd *c, uint32_t m)
{
    uint64_t *s = &rst->rs;
    if (rng_below(s, 10) < 3) {
        *c = cmd_feed_price(m, rst->mid[m]);
        return;
    }
    int64_t bids[2 * 6];
    int64_t asks[2 * 6];
    size_t nb = (size_t)rng_below(s, 6);
    size_t na = (size_t)rng_below(s, 6);
    for (size_t k = 0; k < nb; k++) {
        bids[2 * k] = rst->mid[m] - r_tick(m) * (int64_t)(1 + 2 * k + (size_t)rng_below(s, 2));
        bids[2 * k + 1] = r_lot(m) * (1 + rng_below(s, 5));
    }
    for (size_t k = 0; k < na; k++) {
        asks[2 * k] = rst->mid[m] + r_tick(m) * (int64_t)(1 + 2 * k + (size_t)rng_below(s, 2));
        asks[2 * k + 1] = r_lot(m) * (1 + rng_below(s, 5));
    }
    *c = cmd_feed_book(m, nb, bids, na, asks);
}

/* expect[i]: for cancels, 1 = by the owner of an order open at batch start, 2 = by someone
 * else, 3 = of an order already closed; 0 otherwise. */
static size_t r_gen_batch(struct cmd *cmds, int *expect, size_t max)
{
    uint64_t *s = &rst->rs;
    size_t n = 1 + (size_t)rng_below(s, max);

    for (uint32_t m = 0; m < R_MARKETS; m++) {
        int64_t base = m == M_BTC ? P(50000) : 300000;
        rst->mid[m] += r_tick(m) * (rng_below(s, 5) - 2);
        if (rst->mid[m] < base / 2 || rst->mid[m] > base * 2)
            rst->mid[m] = base;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t user = LEDGER_FIRST_USER_ID + (uint64_t)rng_below(s, R_USERS);
        uint32_t m = (uint32_t)rng_below(s, R_MARKETS);
        int side = (int)rng_below(s, 2);
        int64_t r = rng_below(s, 100);
        int64_t qty = r_lot(m) * (1 + rng_below(s, 8));
        expect[i] = 0;
        if (r < 6) {
            static const int64_t top[R_ASSETS] = {10000000, 10000, 100000};
            uint32_t a = (uint32_t)rng_below(s, R_ASSETS);
            cmds[i] = cmd_funds(CMD_DEPOSIT, user, a, 1 + rng_below(s, (uint64_t)top[a]));
        } else if (r < 9) {
            uint32_t a = (uint32_t)rng_below(s, R_ASSETS);
            int64_t have = rst->total[user - LEDGER_FIRST_USER_ID][a];
            cmds[i] = cmd_funds(CMD_WITHDRAW, user, a, 1 + rng_below(s, (uint64_t)have * 2 + 10));
        } else if (r < 69) {
            /* mostly passive (up to 16 ticks away), sometimes crossing (up to 4 ticks) */
            int64_t away = r_tick(m) * (rng_below(s, 21) - 4);
            int64_t price = side == SIDE_BUY ? rst->mid[m] - away : rst->mid[m] + away;
            int64_t t = rng_below(s, 100);
            int tif = t < 80 ? TIF_GTC : t < 92 ? TIF_IOC : TIF_FOK;
            cmds[i] = cmd_order(user, m, side, ORDER_LIMIT, tif, price, qty);
        } else if (r < 79) {
            cmds[i] = cmd_market(user, m, side, qty);
        } else if (r < 94) {
            if (rst->n_open > 0 && rng_below(s, 20) != 0) {
                uint64_t id = rst->open[rng_below(s, rst->n_open)];
                const struct r_order *o = &rst->orders[id];
                bool owner = rng_below(s, 5) != 0;
                uint64_t who = owner
                                   ? o->user
                                   : LEDGER_FIRST_USER_ID + (o->user - LEDGER_FIRST_USER_ID + 1 +
                                                             (uint64_t)rng_below(s, R_USERS - 1)) %
                                                                R_USERS;
                cmds[i] = cmd_cancel(who, o->market, id);
                expect[i] = owner ? 1 : 2;
            } else {
                uint64_t id = 1 + (uint64_t)rng_below(s, rst->n_orders ? rst->n_orders : 1);
                bool closed = id < rst->n_orders && rst->orders[id].user && !rst->orders[id].open;
                cmds[i] = cmd_cancel(user, m, id);
                expect[i] = closed && rst->orders[id].market == m ? 3 : 0;
            }
        } else {
            r_gen_feed(&cmds[i], m);
        }
        cmds[i].ts = (int64_t)rst->batch_no * 10 + 1;
    }
    return n;
}

/* ---- checking one batch ---- */

static void r_check_result(const struct batch *b, size_t i, const struct cmd *c, int expect)
{
    const struct cmd_result *r = &b->results.v[i];
    const struct order *o = &r->order;

    RASSERT(r->type == c->type && r->user_id == c->user_id, "result %zu is for another command", i);
    if (c->type == CMD_DEPOSIT) {
        RASSERT(r->err == CG_OK, "deposit: %s", cg_err_code(r->err));
        rst->total[r_user(c->user_id)][c->u.funds.asset] += c->u.funds.amount;
        return;
    }
    if (c->type == CMD_WITHDRAW) {
        RASSERT(r->err == CG_OK || r->err == CG_EFUNDS, "withdraw: %s", cg_err_code(r->err));
        if (r->err == CG_OK)
            rst->total[r_user(c->user_id)][c->u.funds.asset] -= c->u.funds.amount;
        else
            rst->n_efunds++;
        return;
    }
    if (c->type == CMD_CANCEL) {
        if (expect == 1)
            RASSERT(r->err == CG_OK || r->err == CG_ENOTOPEN, "own cancel: %s",
                    cg_err_code(r->err));
        else if (expect == 2)
            RASSERT(r->err == CG_ENOTFOUND || r->err == CG_ENOTOPEN, "cancel of another's: %s",
                    cg_err_code(r->err));
        else if (expect == 3)
            RASSERT(r->err == CG_ENOTOPEN, "cancel of a closed order: %s", cg_err_code(r->err));
        else
            RASSERT(r->err == CG_OK || r->err == CG_ENOTOPEN || r->err == CG_ENOTFOUND,
                    "cancel: %s", cg_err_code(r->err));
        if (r->err == CG_OK) {
            RASSERT(o->status == ORDER_CANCELED && o->id == c->u.cancel.order_id &&
                        o->user_id == c->user_id && o->hold == 0,
                    "cancel result");
            rst->n_cancels++;
        }
        return;
    }
    RASSERT(c->type == CMD_PLACE, "unexpected result type %d", c->type);
    RASSERT(r->err == CG_OK || r->err == CG_EFUNDS ||
                (r->err == CG_ELIQUIDITY && c->u.place.type == ORDER_MARKET),
            "place: %s", cg_err_code(r->err));
    if (r->err == CG_EFUNDS)
        rst->n_efunds++;
    if (r->err == CG_ELIQUIDITY)
        rst->n_eliquidity++;
    if (r->err != CG_OK) {
        RASSERT(r->fill_count == 0, "a rejected order has fills");
        return;
    }
    RASSERT(o->user_id == c->user_id && o->quantity == c->u.place.quantity &&
                o->filled + o->remaining == o->quantity && o->filled >= 0 && o->remaining >= 0,
            "order %" PRIu64 " quantities", o->id);
    if (o->status == ORDER_NEW || o->status == ORDER_PARTIALLY_FILLED)
        RASSERT(o->type == ORDER_LIMIT && o->tif == TIF_GTC && o->remaining > 0,
                "order %" PRIu64 " rests but is not a GTC limit", o->id);
    else
        RASSERT(o->hold == 0 && (o->status == ORDER_FILLED) == (o->remaining == 0),
                "order %" PRIu64 " ended with status %d, remaining %" PRId64 ", hold %" PRId64,
                o->id, o->status, o->remaining, o->hold);
    if (o->status == ORDER_EXPIRED)
        rst->n_expired++;
    if (o->tif == TIF_FOK)
        RASSERT(o->status == ORDER_FILLED || (o->status == ORDER_EXPIRED && o->filled == 0),
                "FOK order %" PRIu64 " partly filled", o->id);
    {
        int64_t qty = 0;
        int64_t quote = 0;
        int64_t last = 0;
        RASSERT(r->fill_first + r->fill_count <= b->fills.n, "fill range");
        for (uint32_t k = r->fill_first; k < r->fill_first + r->fill_count; k++) {
            const struct fill *f = &b->fills.v[k];
            RASSERT(f->taker_order_id == o->id && f->taker_user_id == o->user_id &&
                        f->taker_side == o->side,
                    "fill %" PRIu64 " is not order %" PRIu64 "'s", f->id, o->id);
            if (o->type == ORDER_LIMIT)
                RASSERT(o->side == SIDE_BUY ? f->price <= o->price : f->price >= o->price,
                        "fill %" PRIu64 " at %" PRId64 " beyond the limit %" PRId64, f->id,
                        f->price, o->price);
            if (k > r->fill_first)
                RASSERT(o->side == SIDE_BUY ? f->price >= last : f->price <= last,
                        "fills of order %" PRIu64 " not best price first", o->id);
            last = f->price;
            qty += f->quantity;
            quote += f->quote_quantity;
        }
        RASSERT(qty == o->filled && quote == o->quote_filled,
                "order %" PRIu64 ": fills sum to %" PRId64 ", filled %" PRId64, o->id, qty,
                o->filled);
    }
}

static void r_apply_fill(const struct fill *f)
{
    const struct market_cfg *m = &cfg.markets[f->market];
    uint64_t buyer = f->taker_side == SIDE_BUY ? f->taker_user_id : f->maker_user_id;
    uint64_t seller = f->taker_side == SIDE_BUY ? f->maker_user_id : f->taker_user_id;
    int64_t bfee = f->taker_side == SIDE_BUY ? f->taker_fee : f->maker_fee;
    int64_t sfee = f->taker_side == SIDE_BUY ? f->maker_fee : f->taker_fee;

    RASSERT(f->taker_user_id != f->maker_user_id,
            "fill %" PRIu64 ": user %" PRIu64 " traded with themself", f->id, f->taker_user_id);
    RASSERT(f->quantity > 0 && f->quantity % m->lot_size == 0 && f->price % m->tick_size == 0,
            "fill %" PRIu64 " off lot/tick", f->id);
    RASSERT(f->quote_quantity == notional(f->market, f->price, f->quantity),
            "fill %" PRIu64 " notional", f->id);
    RASSERT(f->taker_fee == fee(f->quote_quantity, m->taker_fee_ppm) &&
                f->maker_fee == fee(f->quote_quantity, m->maker_fee_ppm),
            "fill %" PRIu64 " fees", f->id);
    if (r_is_user(buyer)) {
        rst->total[r_user(buyer)][m->base] += f->quantity;
        rst->total[r_user(buyer)][m->quote] -= f->quote_quantity + bfee;
    }
    if (r_is_user(seller)) {
        rst->total[r_user(seller)][m->base] -= f->quantity;
        rst->total[r_user(seller)][m->quote] += f->quote_quantity - sfee;
    }
    rst->fees += f->taker_fee + f->maker_fee;
    rst->n_fills++;
    if (!r_is_user(f->taker_user_id) || !r_is_user(f->maker_user_id))
        rst->n_house_fills++;
}

static void r_apply_order(const struct order *o)
{
    struct r_order *ro;
    bool open = o->status == ORDER_NEW || o->status == ORDER_PARTIALLY_FILLED;

    RASSERT(r_is_user(o->user_id) && !o->house, "house order %" PRIu64 " in batch->orders", o->id);
    RASSERT(o->id > 0 && o->id < rst->n_orders, "order id %" PRIu64, o->id);
    RASSERT(o->filled + o->remaining == o->quantity, "order %" PRIu64 " quantities", o->id);
    ro = &rst->orders[o->id];
    if (!ro->user) {
        ro->user = o->user_id;
        ro->market = o->market;
        ro->side = o->side;
        ro->price = o->price;
    }
    RASSERT(ro->user == o->user_id && ro->market == o->market && ro->side == o->side,
            "order %" PRIu64 " changed identity", o->id);
    if (o->reason == REASON_SELF_TRADE_PREVENTION)
        rst->n_stp++;
    if (open && !ro->open)
        r_open_add(o->id);
    if (!open && ro->open)
        r_open_remove(o->id);
    ro->open = open;
    ro->remaining = o->remaining;
}

static void r_apply_l2(const struct l2_change *c)
{
    struct r_side *sd = &rst->l2[c->market][c->side];
    size_t i;
    for (i = 0; i < sd->n; i++)
        if (sd->v[i].price == c->price)
            break;
    if (c->qty == 0) {
        if (i < sd->n)
            sd->v[i] = sd->v[--sd->n];
        return;
    }
    if (i == sd->n) {
        if (sd->n == sd->cap) {
            sd->cap = sd->cap ? sd->cap * 2 : 64;
            sd->v = realloc(sd->v, sd->cap * sizeof(*sd->v));
            cr_assert_not_null(sd->v);
        }
        sd->n++;
    }
    sd->v[i].price = c->price;
    sd->v[i].qty = c->qty;
}

static bool r_best(uint32_t m, int side, int64_t *price, int64_t *qty)
{
    const struct r_side *sd = &rst->l2[m][side];
    bool any = false;
    for (size_t i = 0; i < sd->n; i++) {
        bool better = side == SIDE_BUY ? sd->v[i].price > *price : sd->v[i].price < *price;
        if (!any || better) {
            *price = sd->v[i].price;
            *qty = sd->v[i].qty;
            any = true;
        }
    }
    return any;
}

static void r_check_books(const struct batch *b)
{
    bool touched[R_MARKETS] = {false, false};
    for (size_t i = 0; i < b->l2.n; i++) {
        const struct l2_change *c = &b->l2.v[i];
        RASSERT(c->market < R_MARKETS && c->side <= SIDE_SELL && c->qty >= 0, "l2 change %zu", i);
        if (i > 0) {
            const struct l2_change *p = &b->l2.v[i - 1];
            RASSERT(p->market < c->market ||
                        (p->market == c->market &&
                         (p->side < c->side || (p->side == c->side && p->price < c->price))),
                    "l2 not sorted or duplicated at %zu", i);
        }
        touched[c->market] = true;
        r_apply_l2(c);
    }
    for (uint32_t m = 0; m < R_MARKETS; m++) {
        const struct market_top *t = &b->tops[m];
        int64_t bid = 0;
        int64_t bid_qty = 0;
        int64_t ask = 0;
        int64_t ask_qty = 0;
        bool has_bid = r_best(m, SIDE_BUY, &bid, &bid_qty);
        bool has_ask = r_best(m, SIDE_SELL, &ask, &ask_qty);
        RASSERT(t->changed == touched[m], "market %u: changed %d but %s l2 changes", m, t->changed,
                touched[m] ? "has" : "no");
        RASSERT(t->book_seq == rst->book_seq[m] + (touched[m] ? 1 : 0),
                "market %u: book_seq %" PRIu64 " after %" PRIu64, m, t->book_seq, rst->book_seq[m]);
        rst->book_seq[m] = t->book_seq;
        RASSERT(t->has_bid == has_bid && t->has_ask == has_ask, "market %u: top sides", m);
        if (has_bid)
            RASSERT(t->bid == bid && t->bid_qty == bid_qty,
                    "market %u: top bid %" PRId64 "x%" PRId64 ", l2 deltas say %" PRId64
                    "x%" PRId64,
                    m, t->bid, t->bid_qty, bid, bid_qty);
        if (has_ask)
            RASSERT(t->ask == ask && t->ask_qty == ask_qty,
                    "market %u: top ask %" PRId64 "x%" PRId64 ", l2 deltas say %" PRId64
                    "x%" PRId64,
                    m, t->ask, t->ask_qty, ask, ask_qty);
        if (has_bid && has_ask)
            RASSERT(bid < ask, "market %u crossed: %" PRId64 " >= %" PRId64, m, bid, ask);
    }
}

static void r_check_ledger(const struct batch *b)
{
    static int64_t held[R_USERS][R_ASSETS];
    char msg[256] = "";

    memset(held, 0, sizeof(held));
    for (size_t i = 0; i < rst->n_open; i++) {
        const struct r_order *o = &rst->orders[rst->open[i]];
        const struct market_cfg *m = &cfg.markets[o->market];
        if (o->side == SIDE_BUY)
            held[r_user(o->user)][m->quote] += buy_reserve(o->market, o->price, o->remaining);
        else
            held[r_user(o->user)][m->base] += o->remaining;
    }
    for (size_t u = 0; u < R_USERS; u++) {
        for (uint32_t a = 0; a < R_ASSETS; a++) {
            struct balance x = bal(LEDGER_FIRST_USER_ID + u, a);
            RASSERT(x.total == rst->total[u][a] && x.held == held[u][a],
                    "user %" PRIu64 " asset %u: ledger %" PRId64 "/%" PRId64 ", model %" PRId64
                    "/%" PRId64,
                    (uint64_t)(LEDGER_FIRST_USER_ID + u), a, x.total, x.held, rst->total[u][a],
                    held[u][a]);
            RASSERT(x.total >= 0 && x.held >= 0 && x.held <= x.total,
                    "user %" PRIu64 " asset %u negative", (uint64_t)(LEDGER_FIRST_USER_ID + u), a);
        }
    }
    RASSERT(bal(LEDGER_FEES_ID, USD).total == rst->fees, "fees %" PRId64 ", fills say %" PRId64,
            bal(LEDGER_FEES_ID, USD).total, rst->fees);
    for (size_t i = 0; i < b->balances.n; i++) {
        const struct balance_change *c = &b->balances.v[i];
        struct balance x = bal(c->user_id, c->asset);
        RASSERT(c->total == x.total && c->held == x.held, "balance change %zu is stale", i);
    }
    {
        size_t trades = 0;
        for (size_t i = 0; i < b->entries.n; i++) {
            const struct journal_entry *je = &b->entries.v[i];
            for (uint32_t a = 0; a < R_ASSETS; a++)
                RASSERT(sum_postings(je, a) == 0, "entry %" PRIu64 " unbalanced", je->id);
            if (je->kind == ENTRY_TRADE) {
                RASSERT(trades < b->fills.n && je->ref_id == b->fills.v[trades].id,
                        "trade entry %" PRIu64 " has no fill", je->id);
                trades++;
            }
        }
        RASSERT(trades == b->fills.n, "%zu fills, %zu trade entries", b->fills.n, trades);
    }
    RASSERT(engine_check(eng, msg, sizeof(msg)), "engine_check: %s", msg);
}

static void r_check_batch(struct batch *b, const struct cmd *cmds, const int *expect, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (cmds[i].type == CMD_FEED_BOOK || cmds[i].type == CMD_FEED_PRICE)
            continue;
        RASSERT(k < b->results.n, "missing result for command %zu", i);
        r_check_result(b, k++, &cmds[i], expect[i]);
    }
    RASSERT(k == b->results.n, "%zu results for %zu commands", b->results.n, k);
    for (size_t i = 0; i < b->fills.n; i++)
        r_apply_fill(&b->fills.v[i]);
    r_orders_reserve(b->next_order_id);
    for (size_t i = 0; i < b->orders.n; i++)
        r_apply_order(&b->orders.v[i]);
    r_check_books(b);
    r_check_ledger(b);
}

Test(engine_random, long_random_stream_keeps_every_invariant, .timeout = 120)
{
    static struct cmd cmds[48];
    static int expect[48];
    uint64_t total_cmds = env_u64("ENGINE_RANDOM_CMDS", 200000, false);
    uint64_t done = 0;

    rst = calloc(1, sizeof(*rst));
    cr_assert_not_null(rst);
    rst->seed = env_u64("ENGINE_SEED", (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32), true);
    rst->rs = rst->seed;
    rst->mid[M_BTC] = P(50000);
    rst->mid[M_ETH] = 300000;
    r_orders_reserve(1024);

    /* everyone starts with some of everything */
    for (size_t u = 0; u < R_USERS; u++) {
        static const int64_t start[R_ASSETS] = {5000000, 2000, 20000};
        for (uint32_t a = 0; a < R_ASSETS; a++) {
            deposit(LEDGER_FIRST_USER_ID + u, a, start[a]);
            rst->total[u][a] = start[a];
        }
    }
    while (done < total_cmds) {
        size_t n = r_gen_batch(cmds, expect, sizeof(cmds) / sizeof(cmds[0]));
        struct batch *b = run(cmds, n);
        rst->batch_no++;
        r_check_batch(b, cmds, expect, n);
        batch_free(b);
        done += n;
    }
    fprintf(stderr,
            "engine random: %" PRIu64 " commands, %" PRIu64 " batches, %" PRIu64 " fills (%" PRIu64
            " with the house), %" PRIu64 " cancels, %" PRIu64 " self-trade cancels, %" PRIu64
            " expired, %" PRIu64 " efunds, %" PRIu64 " eliquidity, %zu open\n",
            done, rst->batch_no, rst->n_fills, rst->n_house_fills, rst->n_cancels, rst->n_stp,
            rst->n_expired, rst->n_efunds, rst->n_eliquidity, rst->n_open);
    /* the stream must have exercised what it claims to test */
    if (total_cmds >= 100000)
        cr_assert(rst->n_fills > 1000 && rst->n_house_fills > 100 && rst->n_cancels > 1000 &&
                      rst->n_stp > 10 && rst->n_expired > 100 && rst->n_efunds > 0,
                  "the random stream did too little; tune it");

    /* cancel everything that is left: every user hold returns to zero */
    while (rst->n_open > 0) {
        const struct r_order *o = &rst->orders[rst->open[0]];
        struct cmd c = cmd_cancel(o->user, o->market, rst->open[0]);
        int ex = 1;
        struct batch *b = run(&c, 1);
        rst->batch_no++;
        r_check_batch(b, &c, &ex, 1);
        RASSERT(b->results.v[0].err == CG_OK, "final cancel failed");
        batch_free(b);
    }
    for (size_t u = 0; u < R_USERS; u++)
        for (uint32_t a = 0; a < R_ASSETS; a++)
            cr_assert_eq(bal(LEDGER_FIRST_USER_ID + u, a).held, 0);
    r_state_free();
}
