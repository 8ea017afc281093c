/*
 * Unit tests for src/ledger/ledger.h: balanced postings, the non-negative rule for everyone but
 * the mint, holds and their consumption by from_held, ledger_check, and table growth. A randomised
 * test compares the ledger with a naive model (prints its seed; set LEDGER_SEED to replay).
 */
#include <criterion/criterion.h>

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ledger/ledger.h"

#define N_ASSETS 3
#define USD 0
#define BTC 1
#define ETH 2

static struct ledger *lg;

static void setup(void)
{
    lg = ledger_new(N_ASSETS);
    cr_assert_not_null(lg);
}

static void teardown(void)
{
    ledger_free(lg);
    lg = NULL;
}

TestSuite(ledger, .init = setup, .fini = teardown);

/* ---- helpers ---- */

static struct posting post(uint64_t user, uint32_t asset, int64_t amount, int64_t from_held)
{
    struct posting p = {user, asset, amount, from_held};
    return p;
}

static struct journal_entry entry2(struct posting a, struct posting b)
{
    struct journal_entry e;
    memset(&e, 0, sizeof(e));
    e.kind = ENTRY_DEPOSIT;
    e.n = 2;
    e.p[0] = a;
    e.p[1] = b;
    return e;
}

/* Move `amount` of `asset` from `from` to `to` (no holds). */
static enum cg_err transfer(uint64_t from, uint64_t to, uint32_t asset, int64_t amount)
{
    struct journal_entry e = entry2(post(from, asset, -amount, 0), post(to, asset, amount, 0));
    return ledger_post(lg, &e);
}

static void mint_to(uint64_t user, uint32_t asset, int64_t amount)
{
    enum cg_err err = transfer(LEDGER_MINT_ID, user, asset, amount);
    cr_assert_eq(err, CG_OK, "mint %" PRId64 " to %" PRIu64 ": %s", amount, user, cg_err_code(err));
}

static struct balance bal(uint64_t user, uint32_t asset)
{
    const struct balance *b = ledger_get(lg, user, asset);
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

static void assert_check_ok(void)
{
    char msg[256] = "";
    cr_assert(ledger_check(lg, msg, sizeof(msg)), "ledger_check: %s", msg);
}

/*
 * A copy of every account, sorted, to compare "before" and "after" a failed call. Fixed size so
 * that a failing assertion (which leaves the test early) leaks nothing.
 */
#define SNAP_MAX 64

struct acct {
    uint64_t user;
    uint32_t asset;
    struct balance b;
};

struct snapshot {
    struct acct a[SNAP_MAX];
    size_t n;
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
    s->n = 0;
    ledger_foreach(lg, snap_visit, s);
    if (s->n > 1)
        qsort(s->a, s->n, sizeof(*s->a), cmp_acct);
}

/*
 * Asserts every account of `before` is unchanged and any other account is all zero. (That a
 * failed post leaves no new zero account is asserted once, in failed_post_creates_no_account.)
 */
static void assert_unchanged(const struct snapshot *before)
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
        cr_assert(b->b.total == 0 && b->b.held == 0,
                  "new account %" PRIu64 "/%u: %" PRId64 "/%" PRId64, b->user, b->asset, b->b.total,
                  b->b.held);
    }
    cr_assert_eq(j, before->n, "an account disappeared");
}

/* ---- basics ---- */

Test(ledger, empty_ledger_has_no_accounts_and_checks_ok)
{
    static struct snapshot s;
    snap_take(&s);
    cr_assert_eq(s.n, 0);
    cr_assert_null(ledger_get(lg, 100, USD));
    cr_assert_eq(ledger_available(lg, 100, USD), 0);
    assert_check_ok();
}

Test(ledger, only_the_mint_is_an_issuer)
{
    cr_assert(ledger_is_issuer(LEDGER_MINT_ID));
    cr_assert_not(ledger_is_issuer(LEDGER_FEES_ID));
    cr_assert_not(ledger_is_issuer(LEDGER_HOUSE_LP_ID));
    cr_assert_not(ledger_is_issuer(LEDGER_FIRST_USER_ID));
}

Test(ledger, mint_may_go_negative_and_totals_sum_to_zero)
{
    mint_to(100, USD, 5000);
    mint_to(101, USD, 700);
    mint_to(100, BTC, 3);
    assert_bal(LEDGER_MINT_ID, USD, -5700, 0);
    assert_bal(LEDGER_MINT_ID, BTC, -3, 0);
    assert_bal(100, USD, 5000, 0);
    assert_bal(101, USD, 700, 0);
    assert_bal(100, BTC, 3, 0);
    cr_assert_eq(ledger_available(lg, 100, USD), 5000);
    assert_check_ok();
    /* A withdrawal back to the mint. */
    cr_assert_eq(transfer(100, LEDGER_MINT_ID, USD, 1000), CG_OK);
    assert_bal(100, USD, 4000, 0);
    assert_bal(LEDGER_MINT_ID, USD, -4700, 0);
    assert_check_ok();
}

Test(ledger, post_rejects_entries_that_do_not_sum_to_zero_per_asset)
{
    static struct snapshot before;
    struct journal_entry e;

    mint_to(100, USD, 1000);
    mint_to(100, BTC, 1000);
    snap_take(&before);

    e = entry2(post(100, USD, -100, 0), post(101, USD, 99, 0));
    cr_assert_eq(ledger_post(lg, &e), CG_EINVAL);
    /* Zero in total but not per asset. */
    e = entry2(post(100, USD, -100, 0), post(101, BTC, 100, 0));
    cr_assert_eq(ledger_post(lg, &e), CG_EINVAL);
    /* Three postings, one asset off by one. */
    e = entry2(post(100, USD, -100, 0), post(101, USD, 100, 0));
    e.n = 3;
    e.p[2] = post(102, BTC, 1, 0);
    cr_assert_eq(ledger_post(lg, &e), CG_EINVAL);
    assert_unchanged(&before);
    cr_assert_null(ledger_get(lg, 101, USD));
    assert_check_ok();
}

Test(ledger, post_rejects_malformed_entries)
{
    static struct snapshot before;
    struct journal_entry e;

    mint_to(100, USD, 1000);
    snap_take(&before);
    e = entry2(post(100, USD, -1, 0), post(101, USD, 1, 0));
    e.n = 0;
    cr_assert_eq(ledger_post(lg, &e), CG_EINVAL, "empty entry");
    e.n = LEDGER_MAX_POSTINGS + 1;
    cr_assert_eq(ledger_post(lg, &e), CG_EINVAL, "too many postings");
    e = entry2(post(100, N_ASSETS, -1, 0), post(101, N_ASSETS, 1, 0));
    cr_assert_eq(ledger_post(lg, &e), CG_EINVAL, "unknown asset");
    assert_unchanged(&before);
}

Test(ledger, post_with_the_maximum_number_of_postings)
{
    struct journal_entry e;
    memset(&e, 0, sizeof(e));
    e.kind = ENTRY_TRADE;
    e.n = LEDGER_MAX_POSTINGS;
    e.p[0] = post(LEDGER_MINT_ID, USD, -15, 0);
    for (uint32_t i = 1; i < LEDGER_MAX_POSTINGS; i++)
        e.p[i] = post(100 + i, USD, (int64_t)i, 0);
    cr_assert_eq(ledger_post(lg, &e), CG_OK);
    for (uint32_t i = 1; i < LEDGER_MAX_POSTINGS; i++)
        assert_bal(100 + i, USD, i, 0);
    assert_check_ok();
}

Test(ledger, non_issuer_going_negative_fails_and_changes_nothing)
{
    static struct snapshot before;

    mint_to(100, USD, 50);
    mint_to(101, USD, 10);
    mint_to(LEDGER_FEES_ID, USD, 5);
    mint_to(LEDGER_HOUSE_LP_ID, USD, 5);
    snap_take(&before);
    cr_assert_eq(transfer(100, 101, USD, 51), CG_EFUNDS);
    cr_assert_eq(transfer(100, LEDGER_MINT_ID, USD, 51), CG_EFUNDS, "withdrawal above total");
    cr_assert_eq(transfer(LEDGER_FEES_ID, 100, USD, 6), CG_EFUNDS, "fee account is no issuer");
    cr_assert_eq(transfer(LEDGER_HOUSE_LP_ID, 100, USD, 6), CG_EFUNDS, "house is no issuer");
    assert_unchanged(&before);
    /* Spending exactly everything is fine. */
    cr_assert_eq(transfer(100, 101, USD, 50), CG_OK);
    assert_bal(100, USD, 0, 0);
    assert_bal(101, USD, 60, 0);
    assert_check_ok();
}

/*
 * "On error nothing changes": a rejected entry must not create the accounts it names. Today
 * ledger_post creates every account of the entry before it checks funds, so a failed transfer to
 * a new user leaves a zero account behind (ledger_get no longer returns NULL, ledger_foreach
 * visits it, and each such failure takes a table slot).
 */
Test(ledger, failed_post_creates_no_account)
{
    static struct snapshot before;

    mint_to(100, USD, 50);
    snap_take(&before);
    cr_assert_eq(transfer(100, 101, USD, 51), CG_EFUNDS);
    cr_assert_eq(transfer(102, LEDGER_MINT_ID, ETH, 1), CG_EFUNDS);
    cr_assert_null(ledger_get(lg, 101, USD), "a failed post created account 101/USD");
    cr_assert_null(ledger_get(lg, 102, ETH), "a failed withdrawal created account 102/ETH");
    assert_unchanged(&before);
}

/*
 * User id 0 marks an empty slot in the account table, so it cannot be an account. An entry naming
 * it must be rejected; if it were accepted the value posted to it would vanish (the totals no
 * longer sum to zero) and linger in a free slot for the next new account to inherit.
 */
Test(ledger, user_id_zero_is_not_an_account)
{
    enum cg_err err = transfer(LEDGER_MINT_ID, 0, USD, 1000);
    if (err == CG_OK) {
        cr_assert_not_null(ledger_get(lg, 0, USD), "posted to user 0 but it has no account");
        assert_check_ok();
    } else {
        cr_assert_eq(err, CG_EINVAL);
        assert_bal(LEDGER_MINT_ID, USD, 0, 0);
        assert_check_ok();
    }
}

Test(ledger, postings_to_one_account_apply_in_order)
{
    struct journal_entry e;

    mint_to(100, USD, 10);
    /* Receive then spend within one entry: the running balance never goes below zero. */
    memset(&e, 0, sizeof(e));
    e.kind = ENTRY_TRADE;
    e.n = 3;
    e.p[0] = post(101, USD, 40, 0);
    e.p[1] = post(101, USD, -40, 0);
    e.p[2] = post(100, USD, 0, 0);
    cr_assert_eq(ledger_post(lg, &e), CG_OK);
    assert_bal(101, USD, 0, 0);
    /* Net result below zero is still rejected. */
    e.p[0] = post(100, USD, 5, 0);
    e.p[1] = post(100, USD, -20, 0);
    e.p[2] = post(101, USD, 15, 0);
    cr_assert_eq(ledger_post(lg, &e), CG_EFUNDS);
    assert_bal(100, USD, 10, 0);
    assert_check_ok();
}

Test(ledger, overflowing_a_total_is_rejected)
{
    static struct snapshot before;
    struct journal_entry e;

    mint_to(100, USD, INT64_MAX - 5);
    mint_to(101, USD, 6); /* the mint is now at INT64_MIN */
    snap_take(&before);
    cr_assert_eq(transfer(101, 100, USD, 6), CG_EOVERFLOW, "user total above INT64_MAX");
    cr_assert_eq(transfer(LEDGER_MINT_ID, 102, USD, 1), CG_EOVERFLOW, "mint below INT64_MIN");
    e = entry2(post(102, USD, INT64_MAX, 0), post(103, USD, 1, 0));
    e.n = 3;
    e.p[2] = post(101, USD, -6, 0);
    cr_assert_eq(ledger_post(lg, &e), CG_EOVERFLOW, "the per-asset sum overflows");
    assert_unchanged(&before);
}

/* ---- holds ---- */

Test(ledger, hold_bounds)
{
    static struct snapshot before;

    mint_to(100, USD, 100);
    snap_take(&before);
    cr_assert_eq(ledger_hold(lg, 100, USD, 0), CG_EINVAL);
    cr_assert_eq(ledger_hold(lg, 100, USD, -1), CG_EINVAL);
    cr_assert_eq(ledger_hold(lg, 100, USD, 101), CG_EFUNDS);
    cr_assert_eq(ledger_hold(lg, 100, BTC, 1), CG_EFUNDS, "never-touched account");
    cr_assert_eq(ledger_hold(lg, 999, USD, 1), CG_EFUNDS, "unknown user");
    assert_unchanged(&before);

    cr_assert_eq(ledger_hold(lg, 100, USD, 60), CG_OK);
    assert_bal(100, USD, 100, 60);
    cr_assert_eq(ledger_available(lg, 100, USD), 40);
    cr_assert_eq(ledger_hold(lg, 100, USD, 41), CG_EFUNDS);
    assert_bal(100, USD, 100, 60);
    cr_assert_eq(ledger_hold(lg, 100, USD, 40), CG_OK, "hold exactly the available");
    assert_bal(100, USD, 100, 100);
    cr_assert_eq(ledger_available(lg, 100, USD), 0);
    cr_assert_eq(ledger_hold(lg, 100, USD, 1), CG_EFUNDS);

    ledger_release(lg, 100, USD, 0);
    assert_bal(100, USD, 100, 100);
    ledger_release(lg, 100, USD, 30);
    assert_bal(100, USD, 100, 70);
    ledger_release(lg, 100, USD, 70);
    assert_bal(100, USD, 100, 0);
    assert_check_ok();
}

Test(ledger, release_above_held_asserts, .signal = SIGABRT)
{
    mint_to(100, USD, 100);
    cr_assert_eq(ledger_hold(lg, 100, USD, 10), CG_OK);
    ledger_release(lg, 100, USD, 11);
}

Test(ledger, held_funds_cannot_be_spent_without_from_held)
{
    static struct snapshot before;

    mint_to(100, USD, 100);
    cr_assert_eq(ledger_hold(lg, 100, USD, 80), CG_OK);
    snap_take(&before);
    /* total would be 70 < held 80 */
    cr_assert_eq(transfer(100, 101, USD, 30), CG_EFUNDS);
    cr_assert_eq(transfer(100, LEDGER_MINT_ID, USD, 21), CG_EFUNDS);
    assert_unchanged(&before);
    cr_assert_eq(transfer(100, 101, USD, 20), CG_OK, "the available part can be spent");
    assert_bal(100, USD, 80, 80);
    assert_check_ok();
}

Test(ledger, from_held_consumes_the_hold)
{
    struct journal_entry e;

    mint_to(100, USD, 100);
    cr_assert_eq(ledger_hold(lg, 100, USD, 80), CG_OK);
    e = entry2(post(100, USD, -30, 30), post(101, USD, 30, 0));
    cr_assert_eq(ledger_post(lg, &e), CG_OK);
    assert_bal(100, USD, 70, 50);
    assert_bal(101, USD, 30, 0);
    /* Part from the hold, part from the available balance. */
    e = entry2(post(100, USD, -40, 25), post(101, USD, 40, 0));
    cr_assert_eq(ledger_post(lg, &e), CG_OK);
    assert_bal(100, USD, 30, 25);
    /* Everything that is left, all of it held. */
    e = entry2(post(100, USD, -30, 25), post(101, USD, 30, 0));
    cr_assert_eq(ledger_post(lg, &e), CG_OK);
    assert_bal(100, USD, 0, 0);
    assert_bal(101, USD, 100, 0);
    assert_check_ok();
}

Test(ledger, from_held_out_of_bounds_is_rejected)
{
    static struct snapshot before;
    struct journal_entry e;

    mint_to(100, USD, 100);
    cr_assert_eq(ledger_hold(lg, 100, USD, 20), CG_OK);
    snap_take(&before);
    e = entry2(post(100, USD, -30, 21), post(101, USD, 30, 0));
    cr_assert_eq(ledger_post(lg, &e), CG_EINVAL, "from_held above held");
    e = entry2(post(100, USD, -10, 11), post(101, USD, 10, 0));
    cr_assert_eq(ledger_post(lg, &e), CG_EINVAL, "from_held above the amount");
    e = entry2(post(100, USD, -10, -1), post(101, USD, 10, 0));
    cr_assert_eq(ledger_post(lg, &e), CG_EINVAL, "negative from_held");
    e = entry2(post(101, USD, -10, 0), post(100, USD, 10, 5));
    cr_assert_eq(ledger_post(lg, &e), CG_EINVAL, "from_held on a credit");
    /* Two postings of one account whose from_held together exceed its hold. */
    memset(&e, 0, sizeof(e));
    e.n = 3;
    e.p[0] = post(100, USD, -15, 15);
    e.p[1] = post(100, USD, -15, 15);
    e.p[2] = post(101, USD, 30, 0);
    cr_assert_eq(ledger_post(lg, &e), CG_EINVAL, "cumulative from_held above held");
    assert_unchanged(&before);
    assert_check_ok();
}

/* ---- ledger_check ---- */

Test(ledger, check_detects_a_negative_account)
{
    char msg[256] = "";
    mint_to(101, USD, 100);
    /* Keep the asset summing to zero so only the negative account is wrong. */
    cr_assert_eq(ledger_restore(lg, 100, USD, -5, 0), CG_OK);
    cr_assert_eq(ledger_restore(lg, LEDGER_MINT_ID, USD, -95, 0), CG_OK);
    cr_assert_not(ledger_check(lg, msg, sizeof(msg)));
    cr_assert(strstr(msg, "100") != NULL, "message names the account: %s", msg);
}

Test(ledger, check_detects_a_negative_house_account)
{
    char msg[256] = "";
    cr_assert_eq(ledger_restore(lg, LEDGER_FEES_ID, BTC, -1, 0), CG_OK);
    cr_assert_eq(ledger_restore(lg, 100, BTC, 1, 0), CG_OK);
    cr_assert_not(ledger_check(lg, msg, sizeof(msg)));
}

Test(ledger, check_detects_bad_holds)
{
    char msg[256] = "";
    mint_to(100, USD, 100);
    cr_assert_eq(ledger_restore(lg, 100, USD, 100, 101), CG_OK);
    cr_assert_not(ledger_check(lg, msg, sizeof(msg)), "held > total");
    cr_assert_eq(ledger_restore(lg, 100, USD, 100, -1), CG_OK);
    cr_assert_not(ledger_check(lg, msg, sizeof(msg)), "held < 0");
    cr_assert_eq(ledger_restore(lg, 100, USD, 100, 100), CG_OK);
    assert_check_ok();
}

Test(ledger, check_detects_an_asset_not_summing_to_zero)
{
    char msg[256] = "";
    mint_to(100, USD, 100);
    cr_assert_eq(ledger_restore(lg, 101, ETH, 7, 0), CG_OK);
    cr_assert_not(ledger_check(lg, msg, sizeof(msg)));
    cr_assert(strstr(msg, "2") != NULL, "message names asset 2: %s", msg);
}

Test(ledger, restore_rejects_unknown_asset)
{
    cr_assert_eq(ledger_restore(lg, 100, N_ASSETS, 1, 0), CG_EINVAL);
    cr_assert_null(ledger_get(lg, 100, N_ASSETS));
}

/* ---- growth ---- */

struct count_ctx {
    size_t n;
    int64_t sum[N_ASSETS];
};

static void count_visit(uint64_t user, uint32_t asset, const struct balance *b, void *ctx)
{
    struct count_ctx *c = ctx;
    (void)user;
    cr_assert_lt(asset, N_ASSETS);
    c->n++;
    c->sum[asset] += b->total;
}

Test(ledger, grows_past_the_initial_table)
{
    const uint64_t users = 6000;
    struct count_ctx c;

    for (uint64_t u = 0; u < users; u++) {
        uint64_t id = LEDGER_FIRST_USER_ID + u * 7919; /* spread ids */
        mint_to(id, USD, (int64_t)(u + 1));
        mint_to(id, (uint32_t)(1 + u % 2), (int64_t)(2 * u + 1));
        if (u % 3 == 0)
            cr_assert_eq(ledger_hold(lg, id, USD, 1), CG_OK);
    }
    for (uint64_t u = 0; u < users; u++) {
        uint64_t id = LEDGER_FIRST_USER_ID + u * 7919;
        assert_bal(id, USD, (int64_t)(u + 1), u % 3 == 0 ? 1 : 0);
        assert_bal(id, (uint32_t)(1 + u % 2), (int64_t)(2 * u + 1), 0);
        cr_assert_null(ledger_get(lg, id, (uint32_t)(2 - u % 2)));
    }
    memset(&c, 0, sizeof(c));
    ledger_foreach(lg, count_visit, &c);
    /* 2 accounts per user + the mint in each of the 3 assets */
    cr_assert_eq(c.n, 2 * users + N_ASSETS, "foreach saw %zu accounts", c.n);
    for (int a = 0; a < N_ASSETS; a++)
        cr_assert_eq(c.sum[a], 0, "asset %d sums to %" PRId64, a, c.sum[a]);
    assert_check_ok();
}

/* ---- randomised comparison with a naive model ---- */

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

static uint64_t rng_below(uint64_t *s, uint64_t n)
{
    return rng_next(s) % n;
}

static uint64_t test_seed(const char *name)
{
    const char *env = getenv(name);
    uint64_t seed;
    if (env && *env)
        seed = strtoull(env, NULL, 0);
    else
        seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    fprintf(stderr, "%s=%" PRIu64 " (set it to replay)\n", name, seed);
    return seed;
}

#define R_USERS 30

struct model_acct {
    int64_t total, held;
};

Test(ledger, random_operations_match_a_model)
{
    const uint64_t seed = test_seed("LEDGER_SEED");
    uint64_t rs = seed;
    /* index 0 = the mint, 1..R_USERS = users 100.. */
    static struct model_acct m[R_USERS + 1][N_ASSETS];
    memset(m, 0, sizeof(m));

    for (int step = 0; step < 100000; step++) {
        uint32_t asset = (uint32_t)rng_below(&rs, N_ASSETS);
        size_t a = 1 + rng_below(&rs, R_USERS);
        size_t b = 1 + rng_below(&rs, R_USERS);
        uint64_t ua = LEDGER_FIRST_USER_ID + a - 1;
        uint64_t ub = LEDGER_FIRST_USER_ID + b - 1;
        int64_t amt = (int64_t)rng_below(&rs, 1000) + 1;
        struct model_acct *ma = &m[a][asset];
        struct model_acct *mb = &m[b][asset];
        uint64_t op = rng_below(&rs, 5);
        enum cg_err err;

        if (op == 0) { /* deposit */
            mint_to(ua, asset, amt);
            ma->total += amt;
            m[0][asset].total -= amt;
        } else if (op == 1) { /* hold */
            bool ok = ma->total - ma->held >= amt;
            err = ledger_hold(lg, ua, asset, amt);
            cr_assert_eq(err, ok ? CG_OK : CG_EFUNDS, "seed %" PRIu64 " step %d: hold", seed, step);
            if (ok)
                ma->held += amt;
        } else if (op == 2) { /* release */
            int64_t r = ma->held ? (int64_t)rng_below(&rs, (uint64_t)ma->held + 1) : 0;
            ledger_release(lg, ua, asset, r);
            ma->held -= r;
        } else { /* transfer, partly from the hold */
            int64_t fh = ma->held ? (int64_t)rng_below(&rs, (uint64_t)ma->held + 1) : 0;
            struct journal_entry e;
            bool ok;
            if (fh > amt)
                fh = amt;
            e = entry2(post(ua, asset, -amt, fh), post(ub, asset, amt, 0));
            /* Postings apply in order: the debit is checked before any credit (also a == b). */
            ok = ma->total - amt >= 0 && ma->total - amt >= ma->held - fh;
            err = ledger_post(lg, &e);
            cr_assert_eq(err, ok ? CG_OK : CG_EFUNDS,
                         "seed %" PRIu64 " step %d: transfer %" PRId64 " (from_held %" PRId64
                         ") of %" PRId64 "/%" PRId64 ": %s",
                         seed, step, amt, fh, ma->total, ma->held, cg_err_code(err));
            if (ok) {
                ma->total -= amt;
                ma->held -= fh;
                mb->total += amt;
                cr_assert_eq(e.p[0].from_held, fh);
            }
        }
        if (step % 97 == 0 || step == 99999) {
            for (size_t i = 0; i <= R_USERS; i++) {
                uint64_t uid = i ? LEDGER_FIRST_USER_ID + i - 1 : LEDGER_MINT_ID;
                for (uint32_t k = 0; k < N_ASSETS; k++) {
                    struct balance bb = bal(uid, k);
                    cr_assert(bb.total == m[i][k].total && bb.held == m[i][k].held,
                              "seed %" PRIu64 " step %d: account %" PRIu64 "/%u is %" PRId64
                              "/%" PRId64 ", model %" PRId64 "/%" PRId64,
                              seed, step, uid, k, bb.total, bb.held, m[i][k].total, m[i][k].held);
                }
            }
            assert_check_ok();
        }
    }
}
