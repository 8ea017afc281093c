/*
 * capture: Binance spot WebSocket capture loader and replay cursor, on the real hftbacktest
 * captures in ../shared/data (see its SOURCE.md) and on small synthetic files.
 * Run from the repo root.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "core/amount.h"
#include "market/capture.h"

/* The copies shipped in the project's data/ (byte-identical to ../shared/data's); the USD-M
 * file is only in ../shared/data and its test is skipped where that folder is absent. */
#define DATA "data/replay/binance_spot_l2_20240808/"
#define SHARED "../shared/data/ws_binance_l2_trades_hftbacktest/"
#define PS 8 /* price scale */
#define QS 8 /* qty scale */

static const char *const btc_files[] = {DATA "spot_btcusdt_20240808.gz",
                                        DATA "spot_btcusdt_20240809.gz"};
static const char *const eth_files[] = {DATA "spot_ethusdt_20240808.gz",
                                        DATA "spot_ethusdt_20240809.gz"};

static struct capture *load2(const char *const *files)
{
    enum cg_err err = CG_OK;
    struct capture *c = capture_load(files, 2, PS, QS, &err);

    cr_assert_not_null(c, "load %s: %s", files[0], cg_err_code(err));
    return c;
}

static int64_t px(const char *s)
{
    int64_t v = 0;

    cr_assert_eq(amount_parse(s, PS, &v), CG_OK, "%s", s);
    return v;
}

static void count_kinds(const struct capture *c, size_t *depth, size_t *trades, size_t *levels)
{
    *depth = *trades = *levels = 0;
    for (size_t i = 0; i < capture_event_count(c); i++) {
        const struct capture_event *e = capture_event(c, i);

        if (e->kind == CAPTURE_DEPTH) {
            (*depth)++;
            *levels += e->n_bids + e->n_asks;
        } else {
            cr_assert_eq(e->kind, CAPTURE_TRADE);
            (*trades)++;
        }
    }
}

/* Events are in exchange-time order, trades before depth at equal times, and every depth
 * range lies inside the level array with price > 0 and qty >= 0. */
static void check_order(const struct capture *c)
{
    const struct px_qty *lv = capture_levels(c);
    size_t nlv = 0, ties = 0;

    for (size_t i = 0; i < capture_event_count(c); i++) {
        const struct capture_event *e = capture_event(c, i);

        if (e->kind == CAPTURE_DEPTH) {
            cr_assert_eq(e->first_bid, nlv, "levels are packed in event order");
            cr_assert_eq(e->first_ask, e->first_bid + e->n_bids);
            nlv = e->first_ask + e->n_asks;
        }
        if (i == 0)
            continue;
        const struct capture_event *p = capture_event(c, i - 1);

        cr_assert_geq(e->ts_ms, p->ts_ms, "event %zu goes back in time", i);
        if (e->ts_ms == p->ts_ms && e->kind != p->kind) {
            cr_assert(p->kind == CAPTURE_TRADE && e->kind == CAPTURE_DEPTH);
            ties++;
        }
    }
    for (size_t k = 0; k < nlv; k++)
        cr_assert(lv[k].price > 0 && lv[k].qty >= 0);
    cr_expect_gt(ties, 0, "the data has trades stamped with a diff's E; they must come first");
}

/*
 * SOURCE.md counts 6,495 diffs and 19,904 trades in the two BTC files. The snapshot has
 * lastUpdateId 50093239218 and arrives after three diffs: the first two (u = ...202, ...207)
 * are <= L and dropped; the third (U = ...208, u = ...224) straddles L+1 and starts the capture
 * at its E = 1723161255408. One trade (t = 3735683259, 61837.63 x 0.02, T = ...342) is older
 * than that, so 6,493 diffs and 19,903 trades are kept. The first kept trade (t = 3735683260)
 * is at the same price, 61837.63.
 */
Test(capture, btc_events)
{
    struct capture *c = load2(btc_files);
    const struct capture_event *first_trade = NULL;
    size_t depth, trades, levels;

    count_kinds(c, &depth, &trades, &levels);
    cr_expect_eq(depth, 6493);
    cr_expect_eq(trades, 19903);
    cr_expect_eq(capture_event_count(c), 6493 + 19903);
    cr_expect_eq(levels, 298094);
    cr_expect_str_eq(capture_symbol(c), "BTCUSDT");
    cr_expect_eq(capture_start_ms(c), 1723161255408);
    cr_expect_eq(capture_end_ms(c), 1723161905809); /* 2024-08-09 00:05:05.809 UTC */
    check_order(c);

    for (size_t i = 0; i < capture_event_count(c) && !first_trade; i++) {
        if (capture_event(c, i)->kind == CAPTURE_TRADE)
            first_trade = capture_event(c, i);
    }
    cr_assert_not_null(first_trade);
    cr_expect_eq(first_trade->price, px("61837.63"));
    cr_expect_eq(first_trade->qty, 4800000); /* 0.048 BTC */
    cr_expect_eq(first_trade->ts_ms, 1723161255617);
    cr_expect_eq(first_trade->buyer_maker, 1);
    capture_free(c);
}

/* ETH: 6,470 diffs and 14,515 trades in the files; two diffs precede the snapshot point
 * (lastUpdateId 35346513512), no trade does. */
Test(capture, eth_counts_and_span)
{
    struct capture *c = load2(eth_files);
    size_t depth, trades, levels;

    count_kinds(c, &depth, &trades, &levels);
    cr_expect_eq(depth, 6468);
    cr_expect_eq(trades, 14515);
    cr_expect_str_eq(capture_symbol(c), "ETHUSDT");
    cr_expect_eq(capture_start_ms(c), 1723161255508);
    check_order(c);
    capture_free(c);
}

/* A new cursor shows the REST snapshot: 1000 levels a side, best 61837.63 / 61837.64. */
Test(capture, cursor_starts_at_snapshot)
{
    struct capture *c = load2(btc_files);
    struct capture_cursor *cur = capture_cursor_new(c);
    static struct px_qty lv[2000];

    cr_assert_not_null(cur);
    cr_assert_eq(capture_cursor_top(cur, 0, lv, 2000), 1000);
    cr_expect_eq(lv[0].price, px("61837.63"));
    cr_expect_eq(lv[0].qty, px("3.78826"));
    cr_expect_eq(lv[999].price, px("61631.55"));
    cr_assert_eq(capture_cursor_top(cur, 1, lv, 2000), 1000);
    cr_expect_eq(lv[0].price, px("61837.64"));
    cr_expect_eq(lv[0].qty, px("1.54698"));
    cr_expect_eq(lv[999].price, px("62053.18"));
    cr_expect_eq(capture_cursor_top(cur, 1, lv, 3), 3);
    capture_cursor_free(cur);
    capture_free(c);
}

/* Every side of the book is strictly sorted best-first with qty > 0. */
static void check_side(const struct px_qty *lv, size_t n, int side)
{
    for (size_t k = 0; k < n; k++) {
        cr_assert_gt(lv[k].qty, 0);
        if (k > 0 && side == 0)
            cr_assert_lt(lv[k].price, lv[k - 1].price);
        if (k > 0 && side == 1)
            cr_assert_gt(lv[k].price, lv[k - 1].price);
    }
}

/* Replays the whole capture; after every depth event the book is sorted and not crossed. */
static void replay_never_crossed(const char *const *files, int64_t final_bid, int64_t final_ask)
{
    struct capture *c = load2(files);
    struct capture_cursor *cur = capture_cursor_new(c);
    static struct px_qty bids[8192], asks[8192];
    const struct capture_event *e;
    size_t nb = 0, na = 0, ndepth = 0;

    cr_assert_not_null(cur);
    while ((e = capture_cursor_next(cur)) != NULL) {
        if (e->kind != CAPTURE_DEPTH)
            continue;
        ndepth++;
        nb = capture_cursor_top(cur, 0, bids, 8192);
        na = capture_cursor_top(cur, 1, asks, 8192);
        cr_assert(nb > 0 && na > 0);
        cr_assert_lt(bids[0].price, asks[0].price, "crossed after depth event %zu", ndepth);
        check_side(bids, nb, 0);
        check_side(asks, na, 1);
    }
    cr_expect_lt(nb, 8192);
    cr_expect_lt(na, 8192);
    cr_expect_eq(bids[0].price, final_bid);
    cr_expect_eq(asks[0].price, final_ask);
    capture_cursor_free(cur);
    capture_free(c);
}

Test(capture, btc_book_never_crossed)
{
    replay_never_crossed(btc_files, px("61602.01"), px("61602.02"));
}

Test(capture, eth_book_never_crossed)
{
    replay_never_crossed(eth_files, px("2677.60"), px("2677.61"));
}

/* ---- cross-check against Binance's own bookTicker stream ---- */

struct ticker {
    int64_t u, bid, bid_qty, ask, ask_qty;
};

struct raw {
    int64_t last_update_id;
    int64_t *depth_u; /* u of every diff, file order */
    size_t n_depth;
    struct ticker *bt; /* every bookTicker, sorted by u */
    size_t n_bt;
};

static int64_t str_amount(const char *s)
{
    int64_t out = 0;

    cr_assert_eq(amount_parse(s, PS, &out), CG_OK, "%s", s);
    return out;
}

static int cmp_ticker(const void *a, const void *b)
{
    const struct ticker *x = a, *y = b;

    return (x->u > y->u) - (x->u < y->u);
}

/*
 * The test's own reading of the files, with sscanf rather than the loader's JSON parser:
 * the snapshot id, the u of every diff (file order) and every bookTicker.
 */
static void read_raw(const char *const *files, struct raw *r)
{
    size_t cap_d = 1 << 14, cap_b = 1 << 17;
    char *line = malloc(1 << 18);
    char b[32], bq[32], a[32], aq[32];
    long long id;

    memset(r, 0, sizeof(*r));
    r->depth_u = malloc(cap_d * sizeof(*r->depth_u));
    r->bt = malloc(cap_b * sizeof(*r->bt));
    cr_assert(line && r->depth_u && r->bt);
    for (int f = 0; f < 2; f++) {
        gzFile gz = gzopen(files[f], "rb");

        cr_assert_not_null(gz);
        while (gzgets(gz, line, 1 << 18)) {
            const char *json = strchr(line, ' ') + 1;
            const char *u = strstr(json, ",\"u\":");

            if (sscanf(json, "{\"lastUpdateId\":%lld,", &id) == 1) {
                r->last_update_id = id;
            } else if (strstr(json, "\"e\":\"depthUpdate\"")) {
                cr_assert(u && r->n_depth < cap_d);
                r->depth_u[r->n_depth++] = strtoll(u + 5, NULL, 10);
            } else if (sscanf(json,
                              "{\"stream\":\"%*[a-z]@bookTicker\",\"data\":{\"u\":%lld,"
                              "\"s\":\"%*[A-Z]\",\"b\":\"%31[0-9.]\",\"B\":\"%31[0-9.]\","
                              "\"a\":\"%31[0-9.]\",\"A\":\"%31[0-9.]\"}}",
                              &id, b, bq, a, aq) == 5) {
                cr_assert_lt(r->n_bt, cap_b);
                r->bt[r->n_bt++] = (struct ticker){id, str_amount(b), str_amount(bq), str_amount(a),
                                                   str_amount(aq)};
            } else {
                cr_assert(strstr(json, "\"e\":\"trade\""), "unexpected line %.80s", json);
            }
        }
        gzclose(gz);
    }
    qsort(r->bt, r->n_bt, sizeof(*r->bt), cmp_ticker);
    free(line);
}

/* Latest bookTicker with u <= id, or NULL. */
static const struct ticker *ticker_at(const struct raw *r, int64_t id)
{
    size_t lo = 0, hi = r->n_bt;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (r->bt[mid].u <= id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo ? &r->bt[lo - 1] : NULL;
}

/*
 * After the diff ending at update id u, the rebuilt top of book must equal the latest
 * bookTicker with id <= u (the top cannot have changed without a bookTicker). Returns the
 * number of depth events where it does not.
 */
static size_t ticker_mismatches(const char *const *files, size_t *compared)
{
    struct capture *c = load2(files);
    struct capture_cursor *cur = capture_cursor_new(c);
    const struct capture_event *e;
    struct raw r;
    size_t k, bad = 0;

    read_raw(files, &r);
    for (k = 0; k < r.n_depth && r.depth_u[k] <= r.last_update_id; k++)
        ;
    *compared = 0;
    while ((e = capture_cursor_next(cur)) != NULL) {
        struct px_qty b, a;
        const struct ticker *t;

        if (e->kind != CAPTURE_DEPTH)
            continue;
        cr_assert_lt(k, r.n_depth);
        t = ticker_at(&r, r.depth_u[k++]);
        if (!t)
            continue;
        capture_cursor_top(cur, 0, &b, 1);
        capture_cursor_top(cur, 1, &a, 1);
        (*compared)++;
        if (b.price != t->bid || b.qty != t->bid_qty || a.price != t->ask || a.qty != t->ask_qty)
            bad++;
    }
    cr_assert_eq(k, r.n_depth, "every diff after the sync point is replayed");
    free(r.depth_u);
    free(r.bt);
    capture_cursor_free(cur);
    capture_free(c);
    return bad;
}

/* ETH matches at all 6,468 diffs. BTC matches at 6,491 of 6,493: at u = 50093478174 and
 * 50093480542 the stream carries no bookTicker for a best-bid change (the latest one is a few
 * ids older and still shows the previous best bid), so the book is right and the ticker stale. */
Test(capture, top_of_book_matches_book_ticker)
{
    size_t compared = 0;

    cr_expect_eq(ticker_mismatches(eth_files, &compared), 0);
    cr_expect_eq(compared, 6468);
    cr_expect_eq(ticker_mismatches(btc_files, &compared), 2);
    cr_expect_eq(compared, 6493);
}

/* ---- rewind ---- */

struct top {
    struct px_qty bid[5], ask[5];
};

static void top5(const struct capture_cursor *cur, struct top *t)
{
    memset(t, 0, sizeof(*t));
    capture_cursor_top(cur, 0, t->bid, 5);
    capture_cursor_top(cur, 1, t->ask, 5);
}

Test(capture, rewind_reproduces_book)
{
    struct capture *c = load2(btc_files);
    struct capture_cursor *cur = capture_cursor_new(c);
    struct capture_cursor *other = capture_cursor_new(c);
    size_t n = capture_event_count(c);
    struct top *seen = calloc(n + 1, sizeof(*seen));
    struct top t;
    const struct capture_event *e;
    size_t i = 0;

    cr_assert(cur && other && seen);
    top5(cur, &seen[0]);
    while ((e = capture_cursor_next(cur)) != NULL) {
        cr_assert_eq(e, capture_event(c, i), "cursor walks the events in order");
        top5(cur, &seen[++i]);
    }
    cr_assert_eq(i, n);
    cr_assert_null(capture_cursor_next(cur), "stays at the end");
    cr_assert_neq(memcmp(&seen[0], &seen[n], sizeof(t)), 0, "the book moved");

    /* A second cursor is independent of the first. */
    top5(other, &t);
    cr_assert_eq(memcmp(&t, &seen[0], sizeof(t)), 0);

    /* Rewind twice: once from the end, once from the middle. */
    for (int round = 0; round < 2; round++) {
        capture_cursor_rewind(cur);
        top5(cur, &t);
        cr_assert_eq(memcmp(&t, &seen[0], sizeof(t)), 0, "round %d: snapshot restored", round);
        for (i = 1; i <= (round == 0 ? n : n / 2); i++) {
            cr_assert_not_null(capture_cursor_next(cur));
            top5(cur, &t);
            cr_assert_eq(memcmp(&t, &seen[i], sizeof(t)), 0, "round %d: event %zu", round, i);
        }
    }
    free(seen);
    capture_cursor_free(other);
    capture_cursor_free(cur);
    capture_free(c);
}

/* ---- errors on the real files ---- */

Test(capture, rejects_unusable_real_input)
{
    const char *const usdm[] = {SHARED "usdm_btcusdt_20240808.gz"};
    const char *const day2[] = {DATA "spot_btcusdt_20240809.gz"};
    const char *const missing[] = {DATA "no_such_file.gz"};
    const char *const swapped[] = {btc_files[1], btc_files[0]};
    enum cg_err err = CG_OK;

    /* USD-M futures chain diffs by "pu", so U != previous u + 1: the spot rule must fail. */
    if (access(usdm[0], R_OK) == 0) {
        cr_expect_null(capture_load(usdm, 1, PS, QS, &err));
        cr_expect_eq(err, CG_EINVAL);
        err = CG_OK;
    }
    cr_expect_null(capture_load(day2, 1, PS, QS, &err), "no snapshot in the second file");
    cr_expect_eq(err, CG_EINVAL);
    err = CG_OK;
    cr_expect_null(capture_load(swapped, 2, PS, QS, &err), "files out of order");
    cr_expect_eq(err, CG_EINVAL);
    err = CG_OK;
    cr_expect_null(capture_load(missing, 1, PS, QS, &err));
    cr_expect_eq(err, CG_EIO);
    err = CG_OK;
    cr_expect_null(capture_load(btc_files, 2, 1, QS, &err), "61737.63 at 1 decimal");
    cr_expect_eq(err, CG_ESCALE);
    err = CG_OK;
    cr_expect_null(capture_load(btc_files, 0, PS, QS, &err));
    cr_expect_eq(err, CG_EINVAL);
}

/* ---- synthetic captures ---- */

static char tmp_path[64];

static void write_gz(const char *text)
{
    gzFile gz;
    int fd;

    strcpy(tmp_path, "/tmp/test_capture_XXXXXX");
    fd = mkstemp(tmp_path);
    cr_assert_geq(fd, 0);
    gz = gzdopen(fd, "wb");
    cr_assert_not_null(gz);
    cr_assert_eq(gzputs(gz, text), (int)strlen(text));
    cr_assert_eq(gzclose(gz), Z_OK);
}

static enum cg_err load_text(const char *text, struct capture **out)
{
    const char *files[] = {tmp_path};
    enum cg_err err = CG_OK;

    write_gz(text);
    *out = capture_load(files, 1, PS, QS, &err);
    unlink(tmp_path);
    return *out ? CG_OK : err;
}

#define SNAP                                                                                       \
    "4 {\"lastUpdateId\":10,\"bids\":[[\"10.00\",\"1\"],[\"9.50\",\"2\"]],"                        \
    "\"asks\":[[\"11.00\",\"1\"],[\"12.00\",\"4\"]]}\n"
#define DEPTH(E, U, u, b, a)                                                                       \
    "1 {\"stream\":\"xyzusdt@depth@100ms\",\"data\":{\"e\":\"depthUpdate\",\"E\":" #E              \
    ",\"s\":\"XYZUSDT\",\"U\":" #U ",\"u\":" #u ",\"b\":[" b "],\"a\":[" a "]}}\n"
#define TRADE(T, p, q, m)                                                                          \
    "2 {\"stream\":\"xyzusdt@trade\",\"data\":{\"e\":\"trade\",\"E\":" #T                          \
    ",\"s\":\"XYZUSDT\",\"t\":1,\"p\":\"" p "\",\"q\":\"" q "\",\"T\":" #T ",\"m\":" #m            \
    ",\"M\":true}}\n"
#define TICKER                                                                                     \
    "3 {\"stream\":\"xyzusdt@bookTicker\",\"data\":{\"u\":12,\"s\":\"XYZUSDT\",\"b\":\"10.50\","   \
    "\"B\":\"2\",\"a\":\"11.00\",\"A\":\"3\"}}\n"

/* Buffered diffs before the snapshot line, one dropped (u <= L), one straddling L+1; a trade
 * before the start; a bookTicker; a trade and a diff at the same ms. */
#define GOOD                                                                                       \
    DEPTH(1000, 5, 9, "[\"9.00\",\"1\"]", "")                                                      \
    TRADE(1050, "10.00", "1", true)                                                                \
    DEPTH(1100, 10, 12, "[\"10.00\",\"0\"],[\"10.50\",\"2\"]", "[\"11.00\",\"3\"]")                \
    SNAP TICKER TRADE(1150, "10.50", "0.5", false) DEPTH(1200, 13, 13, "", "[\"11.00\",\"0\"]")    \
        TRADE(1200, "12.00", "0.25", false)

Test(capture, synthetic_sync_and_order)
{
    struct capture *c;
    struct capture_cursor *cur;
    const struct capture_event *e;
    struct px_qty lv[4];

    cr_assert_eq(load_text(GOOD, &c), CG_OK);
    cr_assert_eq(capture_event_count(c), 4);
    cr_expect_str_eq(capture_symbol(c), "XYZUSDT");
    cr_expect_eq(capture_start_ms(c), 1100);
    cr_expect_eq(capture_end_ms(c), 1200);
    cur = capture_cursor_new(c);
    cr_assert_not_null(cur);

    cr_assert_eq(capture_cursor_top(cur, 0, lv, 4), 2);
    cr_expect(lv[0].price == px("10") && lv[0].qty == px("1") && lv[1].price == px("9.5"));

    e = capture_cursor_next(cur);
    cr_assert(e->kind == CAPTURE_DEPTH && e->ts_ms == 1100 && e->n_bids == 2 && e->n_asks == 1);
    cr_assert_eq(capture_cursor_top(cur, 0, lv, 4), 2);
    cr_expect(lv[0].price == px("10.5") && lv[0].qty == px("2") && lv[1].price == px("9.5"));
    cr_assert_eq(capture_cursor_top(cur, 1, lv, 4), 2);
    cr_expect(lv[0].price == px("11") && lv[0].qty == px("3") && lv[1].price == px("12"));

    e = capture_cursor_next(cur);
    cr_assert(e->kind == CAPTURE_TRADE && e->ts_ms == 1150 && e->price == px("10.5"));
    cr_expect(e->qty == px("0.5") && e->buyer_maker == 0);
    e = capture_cursor_next(cur);
    cr_assert(e->kind == CAPTURE_TRADE && e->ts_ms == 1200, "trade before depth at equal ms");
    e = capture_cursor_next(cur);
    cr_assert(e->kind == CAPTURE_DEPTH && e->ts_ms == 1200);
    cr_assert_eq(capture_cursor_top(cur, 1, lv, 4), 1);
    cr_expect_eq(lv[0].price, px("12"));
    cr_assert_null(capture_cursor_next(cur));

    capture_cursor_free(cur);
    capture_free(c);
}

Test(capture, synthetic_malformed)
{
    static const struct {
        const char *name, *text;
        enum cg_err want;
    } cases[] = {
        {"no snapshot", DEPTH(1100, 10, 12, "", ""), CG_EINVAL},
        {"no diff after the snapshot", DEPTH(1000, 5, 9, "", "") SNAP, CG_EINVAL},
        {"first diff starts after L+1", SNAP DEPTH(1100, 12, 14, "", ""), CG_EINVAL},
        {"gap", SNAP DEPTH(1100, 10, 12, "", "") DEPTH(1200, 14, 15, "", ""), CG_EINVAL},
        {"depth time goes back", SNAP DEPTH(1100, 10, 12, "", "") DEPTH(1000, 13, 15, "", ""),
         CG_EINVAL},
        {"trade time goes back",
         SNAP DEPTH(1100, 10, 12, "", "") TRADE(1300, "10", "1", true) TRADE(1200, "10", "1", true),
         CG_EINVAL},
        {"two snapshots", SNAP SNAP DEPTH(1100, 10, 12, "", ""), CG_EINVAL},
        {"not <ns> <json>", SNAP "hello\n", CG_EINVAL},
        {"bad json", SNAP "5 {\"stream\":\n", CG_EINVAL},
        {"unknown event", SNAP "5 {\"stream\":\"x@aggTrade\",\"data\":{\"e\":\"aggTrade\"}}\n",
         CG_EINVAL},
        {"price as number", SNAP DEPTH(1100, 10, 12, "[10.5,\"1\"]", ""), CG_EINVAL},
        {"zero price", SNAP DEPTH(1100, 10, 12, "[\"0\",\"1\"]", ""), CG_EINVAL},
        {"too many decimals", SNAP DEPTH(1100, 10, 12, "[\"10.123456789\",\"1\"]", ""), CG_ESCALE},
        {"empty", "", CG_EINVAL},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct capture *c;

        cr_expect_eq(load_text(cases[i].text, &c), cases[i].want, "%s", cases[i].name);
        capture_free(c);
    }
}

/* A gzip stream cut short is a read error, not a shorter capture. */
Test(capture, truncated_gzip_is_eio)
{
    const char *files[] = {tmp_path};
    enum cg_err err = CG_OK;
    FILE *f;
    long size;

    write_gz(GOOD);
    f = fopen(tmp_path, "r+");
    cr_assert_not_null(f);
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    size = ftell(f);
    cr_assert_eq(ftruncate(fileno(f), size - 12), 0);
    fclose(f);
    cr_expect_null(capture_load(files, 1, PS, QS, &err));
    cr_expect_eq(err, CG_EIO);
    unlink(tmp_path);
}
