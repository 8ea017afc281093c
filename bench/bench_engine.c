/*
 * Matching-engine benchmark: `make bench-engine`. docs/benchmarks.md explains the method, the
 * conditions and the figures.
 *
 * Two workloads, generated up front from a seed and then replayed; only the replay is timed:
 *  - "mix": exchange-core's benchmark mix on one order book: 9% GTC limit, 3% IOC limit, 6%
 *    cancel, 82% move (new price for a resting order); ~1,000 resting orders over ~750 price
 *    levels; 1,000 accounts; prices around the book's mid, which drifts with trading; ~6% of the
 *    commands trade. The generator runs its own model of the book (the variant (a) matcher) to
 *    pick live orders, to steer the share of trading commands and to hold the book size.
 *  - "liquibook": liquibook's insert test (test/perf/pt_order_book.cpp): alternating buy/sell
 *    limit orders, buys at 1880-1889 ticks, sells at 1884-1893, 1-10 lots; the bands overlap by
 *    6 ticks so many orders cross.
 *
 * Two variants:
 *  (a) "engine alone": src/engine/book.c driven by a minimal price-time matching loop written
 *      here (pooled orders, no malloc per operation, self-trade prevention as in the engine: the
 *      resting order is canceled). The cost of the data structure plus matching.
 *  (b) "full engine": engine_run_batch() (ledger holds and releases, fees, journal entries,
 *      fills, order snapshots, L2 deltas, balance changes); batch_free() is timed with it, as the
 *      engine thread's consumer frees every batch.
 *
 * Latency is measured at a fixed offered rate without coordinated omission: command i is due at
 * t0 + i / rate; if it comes early the loop spins until it is due, if late it starts at once;
 * latency = completion - due time, so waiting behind slow commands counts.
 *
 * Environment (all optional): BENCH_SEED, BENCH_OPS, BENCH_LAT_OPS, BENCH_LQ_OPS, BENCH_RUNS,
 * BENCH_LAT_RUNS, BENCH_ONLY (comma list of mix, lat, lq), BENCH_CPU (pin to that CPU),
 * BENCH_MOVE (amend | cancel_place), BENCH_PROFILE (see profile_main).
 *
 * Single-threaded: the engine thread is never started; engine_run_batch() runs on this thread.
 */
#include <inttypes.h>
#include <sched.h>
#include <sys/resource.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#include "core/config.h"
#include "engine/book.h"
#include "engine/engine.h"
#include "ledger/ledger.h"

#ifndef BENCH_CFLAGS
#define BENCH_CFLAGS "(unknown)"
#endif

#define INLINE static inline __attribute__((always_inline))

#define ACCOUNTS 1000u
#define USER0 LEDGER_FIRST_USER_ID
#define TICK 100 /* quote minor units per tick: 1.00 USD (USD scale 2) */
#define LOT 100  /* base minor units per lot: 0.01 BTC (BTC scale 4) */
#define MARKET 0u
#define CMD_TS                                                                                     \
    1767225600000LL     /* every command's intake time, ms (the engine never reads a clock) */
#define BATCH_CMDS 4096 /* the engine thread's own bound (BATCH_MAX in engine.c) */
#define ORDER_CHUNK 4096
#define MAX_RUNS 15

enum op_kind { OP_GTC = 0, OP_IOC, OP_CANCEL, OP_MOVE, OP_KINDS };

static const char *const op_names[OP_KINDS] = {"GTC", "IOC", "cancel", "move"};

/* One benchmark command. Prices in ticks, sizes in lots (the engine gets x TICK, x LOT). */
struct op {
    uint64_t id;   /* cancel/move: the target order, numbered as the engine numbers orders */
    int64_t price; /* GTC/IOC: limit price; move: the new price */
    int32_t qty;   /* GTC/IOC: size; move: the order's remaining (used by cancel + place) */
    uint16_t user; /* account index 0 .. ACCOUNTS-1; cancel/move: the order's owner */
    uint8_t kind;  /* enum op_kind */
    uint8_t side;  /* enum side */
};

static void die(const char *msg) __attribute__((noreturn));
static void die(const char *msg)
{
    fprintf(stderr, "bench_engine: %s\n", msg);
    exit(1);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die("out of memory");
    return p;
}

static size_t env_size(const char *name, size_t dflt)
{
    const char *v = getenv(name);
    return v && *v ? (size_t)strtoull(v, NULL, 10) : dflt;
}

/* ---- random numbers: xoshiro256** (Blackman & Vigna 2018), seeded by splitmix64 ---- */

struct rng {
    uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static void rng_seed(struct rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *r)
{
    uint64_t res = rotl(r->s[1] * 5, 7) * 9;
    uint64_t t = r->s[1] << 17;
    r->s[2] ^= r->s[0];
    r->s[3] ^= r->s[1];
    r->s[1] ^= r->s[2];
    r->s[0] ^= r->s[3];
    r->s[2] ^= t;
    r->s[3] = rotl(r->s[3], 45);
    return res;
}

/* Uniform in [0, n) (Lemire's multiply-shift; the bias is below 2^-32). */
static uint32_t rng_below(struct rng *r, uint32_t n)
{
    return (uint32_t)(((rng_next(r) >> 32) * n) >> 32);
}

/* ---- time: TSC ticks calibrated against CLOCK_MONOTONIC ---- */

static double g_ticks_per_ns = 1.0;

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

INLINE uint64_t now_ticks(void)
{
#if defined(__x86_64__)
    _mm_lfence(); /* do not let rdtsc run ahead of the work being timed */
    return __rdtsc();
#else
    return mono_ns();
#endif
}

static void timer_calibrate(void)
{
#if defined(__x86_64__)
    uint64_t n0 = mono_ns();
    uint64_t t0 = now_ticks();
    uint64_t n1;
    uint64_t t1;
    while (mono_ns() - n0 < 200000000u)
        ;
    n1 = mono_ns();
    t1 = now_ticks();
    g_ticks_per_ns = (double)(t1 - t0) / (double)(n1 - n0);
#endif
}

static double ticks_to_ns(uint64_t t)
{
    return (double)t / g_ticks_per_ns;
}

/* ---- statistics over repeated runs ---- */

struct runs {
    double v[MAX_RUNS];
    size_t n;
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void runs_add(struct runs *r, double v)
{
    if (r->n < MAX_RUNS)
        r->v[r->n++] = v;
}

static double runs_median(const struct runs *r)
{
    double s[MAX_RUNS];
    if (!r->n)
        return 0;
    memcpy(s, r->v, r->n * sizeof(*s));
    qsort(s, r->n, sizeof(*s), cmp_double);
    return r->n % 2 ? s[r->n / 2] : (s[r->n / 2 - 1] + s[r->n / 2]) / 2;
}

static double runs_min(const struct runs *r)
{
    double m = r->n ? r->v[0] : 0;
    for (size_t i = 1; i < r->n; i++)
        m = r->v[i] < m ? r->v[i] : m;
    return m;
}

static double runs_max(const struct runs *r)
{
    double m = r->n ? r->v[0] : 0;
    for (size_t i = 1; i < r->n; i++)
        m = r->v[i] > m ? r->v[i] : m;
    return m;
}

static const char *fmt_ns(double ns, char *buf, size_t len)
{
    if (ns < 10000)
        snprintf(buf, len, "%.0f ns", ns);
    else if (ns < 1e6)
        snprintf(buf, len, "%.1f us", ns / 1e3);
    else if (ns < 1e9)
        snprintf(buf, len, "%.1f ms", ns / 1e6);
    else
        snprintf(buf, len, "%.1f s", ns / 1e9);
    return buf;
}

static const char *fmt_rate(double per_s, char *buf, size_t len)
{
    if (per_s >= 1e5)
        snprintf(buf, len, "%.2fM", per_s / 1e6);
    else
        snprintf(buf, len, "%.0fk", per_s / 1e3);
    return buf;
}

/* ---- variant (a): book.c + a minimal price-time matching loop ---- */

/* Live orders by id, for the generator's random picks (O(1) add, remove and pick). */
struct tracker {
    struct order **live;
    size_t n;
    uint32_t *pos; /* index in live[] by order id */
    size_t max_id;
};

static void tracker_init(struct tracker *t, size_t max_id)
{
    t->live = xmalloc(max_id * sizeof(*t->live));
    t->pos = xmalloc((max_id + 1) * sizeof(*t->pos));
    t->n = 0;
    t->max_id = max_id;
}

static void tracker_release(struct tracker *t)
{
    free(t->live);
    free(t->pos);
}

static void tracker_add(struct tracker *t, struct order *o)
{
    if (o->id > t->max_id)
        die("tracker: order id out of range");
    t->pos[o->id] = (uint32_t)t->n;
    t->live[t->n++] = o;
}

static void tracker_del(struct tracker *t, const struct order *o)
{
    uint32_t i = t->pos[o->id];
    t->live[i] = t->live[--t->n];
    t->pos[t->live[i]->id] = i;
}

/* Units inside the mini matcher: ticks and lots. */
struct mini {
    struct book *book;
    struct order *free_orders;
    struct order **chunks;
    size_t n_chunks, cap_chunks;
    uint64_t next_id, next_seq;
    uint64_t fills;      /* fills so far */
    uint64_t fill_qty;   /* lots */
    bool move_keeps_id;  /* move = amend (keeps the id) or cancel + place (new id) */
    struct tracker *trk; /* generator only */
};

static void mini_init(struct mini *m, bool move_keeps_id, struct tracker *trk)
{
    memset(m, 0, sizeof(*m));
    m->book = book_new(1); /* the model works in ticks */
    if (!m->book)
        die("out of memory");
    m->next_id = 1;
    m->next_seq = 1;
    m->move_keeps_id = move_keeps_id;
    m->trk = trk;
}

static void mini_release(struct mini *m)
{
    book_free(m->book);
    for (size_t i = 0; i < m->n_chunks; i++)
        free(m->chunks[i]);
    free(m->chunks);
}

/*
 * Cold path: one malloc per ORDER_CHUNK orders when the pool is empty (the engine mallocs one
 * order then). Growing on demand hands out fresh, sequential memory as a book grows; a pool
 * reserved up front would hand out cold lines instead (liquibook: 2.5x slower on this machine).
 */
static __attribute__((noinline)) void mini_grow(struct mini *m)
{
    struct order *c = xmalloc(ORDER_CHUNK * sizeof(*c));
    if (m->n_chunks == m->cap_chunks) {
        m->cap_chunks = m->cap_chunks ? m->cap_chunks * 2 : 16;
        m->chunks = realloc(m->chunks, m->cap_chunks * sizeof(*m->chunks));
        if (!m->chunks)
            die("out of memory");
    }
    m->chunks[m->n_chunks++] = c;
    for (size_t i = 0; i < ORDER_CHUNK; i++) {
        c[i].next = m->free_orders;
        m->free_orders = &c[i];
    }
}

INLINE struct order *mini_order_get(struct mini *m)
{
    struct order *o = m->free_orders;
    if (__builtin_expect(!o, 0)) {
        mini_grow(m);
        o = m->free_orders;
    }
    m->free_orders = o->next;
    return o;
}

INLINE void mini_order_put(struct mini *m, struct order *o)
{
    o->next = m->free_orders;
    m->free_orders = o;
}

/* Take a resting order out of the book for good. */
INLINE void mini_retire(struct mini *m, struct order *o, bool track)
{
    book_remove(m->book, o);
    if (track)
        tracker_del(m->trk, o);
    mini_order_put(m, o);
}

/* Match taker t against the opposite side while it crosses. Returns the number of fills. */
INLINE uint32_t mini_match(struct mini *m, struct order *t, bool track)
{
    enum side opp = t->side == SIDE_BUY ? SIDE_SELL : SIDE_BUY;
    uint32_t fills = 0;

    while (t->remaining > 0) {
        struct order *mk = book_best(m->book, opp);
        int64_t q;
        if (!mk || (t->side == SIDE_BUY ? mk->price > t->price : mk->price < t->price))
            break;
        if (mk->user_id == t->user_id) {
            mini_retire(m, mk, track); /* self-trade prevention: cancel the resting order */
            continue;
        }
        q = t->remaining < mk->remaining ? t->remaining : mk->remaining;
        book_reduce(m->book, mk, q);
        t->remaining -= q;
        t->filled += q;
        mk->filled += q;
        m->fill_qty += (uint64_t)q;
        fills++;
        if (mk->remaining == 0)
            mini_retire(m, mk, track);
    }
    m->fills += fills;
    return fills;
}

/* After matching: rest the remainder (GTC) or drop the order. */
INLINE void mini_finish(struct mini *m, struct order *o, bool rest, bool track)
{
    if (rest && o->remaining > 0) {
        if (!book_insert(m->book, o))
            die("out of memory");
        if (track)
            tracker_add(m->trk, o);
    } else {
        mini_order_put(m, o);
    }
}

INLINE struct order *mini_find(struct mini *m, uint64_t id)
{
    struct order *o = book_find(m->book, id);
    if (__builtin_expect(!o, 0))
        die("the stream names an order that is not in the book");
    return o;
}

/* Apply one command. Returns its number of fills. */
INLINE uint32_t mini_apply(struct mini *m, const struct op *op, bool track)
{
    struct order *o;
    uint32_t fills;

    if (op->kind == OP_CANCEL) {
        mini_retire(m, mini_find(m, op->id), track);
        return 0;
    }
    if (op->kind == OP_MOVE) {
        o = mini_find(m, op->id);
        book_remove(m->book, o);
        if (track)
            tracker_del(m->trk, o);
        if (!m->move_keeps_id)
            o->id = m->next_id++;
        o->price = op->price;
        o->seq = m->next_seq++; /* a new price goes to the back of its level */
        fills = mini_match(m, o, track);
        mini_finish(m, o, true, track);
        return fills;
    }
    o = mini_order_get(m);
    o->id = m->next_id++;
    o->seq = m->next_seq++;
    o->user_id = USER0 + op->user;
    o->side = op->side;
    o->price = op->price;
    o->quantity = o->remaining = op->qty;
    o->filled = 0;
    fills = mini_match(m, o, track);
    mini_finish(m, o, op->kind == OP_GTC, track);
    return fills;
}

static __attribute__((noinline)) uint32_t mini_apply_tracked(struct mini *m, const struct op *op)
{
    return mini_apply(m, op, true);
}

/* Replay ops[from, to) at full speed. */
static __attribute__((noinline)) void mini_replay(struct mini *m, const struct op *ops, size_t from,
                                                  size_t to)
{
    for (size_t i = from; i < to; i++)
        (void)mini_apply(m, &ops[i], false);
}

/* ---- workloads ---- */

struct gen_cfg {
    uint64_t seed;
    size_t n_ops;
    uint32_t target_orders; /* resting orders to hold the book at */
    uint32_t width;         /* passive prices: 1 .. width ticks from the mid */
    uint32_t trade_ppm;     /* share of commands that should trade, parts per million */
    int64_t start_mid;      /* ticks */
    bool move_keeps_id;
};

struct gen_stats {
    size_t kinds[OP_KINDS];
    size_t trading; /* commands with at least one fill */
    size_t steered; /* GTC <-> cancel swaps made to hold the book size */
    uint64_t fills, fill_qty;
    double avg_orders, avg_levels;
    size_t min_orders, max_orders;
    int64_t min_mid, max_mid;
    /* the model's final state: the engine must end the same */
    size_t end_orders;
    bool has_bid, has_ask;
    int64_t bid, ask;
};

struct stream {
    struct op *ops;
    size_t n_prefill; /* ops[0 .. n_prefill): untimed book building */
    size_t n;         /* all ops */
    struct gen_stats st;
};

/* The book's mid in ticks (fallback when a side is empty). */
static int64_t book_mid(const struct book *b, int64_t fallback)
{
    int64_t bid;
    int64_t ask;
    bool hb = book_best_price(b, SIDE_BUY, &bid);
    bool ha = book_best_price(b, SIDE_SELL, &ask);
    if (hb && ha)
        return bid + (ask - bid) / 2;
    if (hb)
        return bid + 1;
    if (ha)
        return ask - 1;
    return fallback;
}

/* A price 1..width ticks behind the mid on `side`'s own side, never crossing. */
static int64_t passive_price(const struct book *b, struct rng *r, int side, int64_t mid,
                             uint32_t width)
{
    int64_t off = 1 + (int64_t)rng_below(r, width);
    int64_t opp;
    int64_t p;
    if (side == SIDE_BUY) {
        p = mid - off;
        if (book_best_price(b, SIDE_SELL, &opp) && p >= opp)
            p = opp - 1;
    } else {
        p = mid + off;
        if (book_best_price(b, SIDE_BUY, &opp) && p <= opp)
            p = opp + 1;
    }
    return p < 1 ? 1 : p;
}

/* The best opposite price plus `depth` ticks through it: a price that trades. */
static bool crossing_price(const struct book *b, int side, int64_t depth, int64_t *price)
{
    if (!book_best_price(b, side == SIDE_BUY ? SIDE_SELL : SIDE_BUY, price))
        return false;
    *price += side == SIDE_BUY ? depth : -depth;
    return *price >= 1;
}

static int pick_kind(struct rng *r, size_t live, const struct gen_cfg *gc, struct gen_stats *st)
{
    uint32_t u = rng_below(r, 1000000);
    int kind = u < 90000 ? OP_GTC : u < 120000 ? OP_IOC : u < 180000 ? OP_CANCEL : OP_MOVE;
    /* hold the book near its target size: the counts above are exchange-core's outcome */
    if (kind == OP_CANCEL && live * 100 < gc->target_orders * 97u) {
        kind = OP_GTC;
        st->steered++;
    } else if (kind == OP_GTC && live * 100 > gc->target_orders * 103u) {
        kind = OP_CANCEL;
        st->steered++;
    }
    if ((kind == OP_CANCEL || kind == OP_MOVE) && live == 0)
        kind = OP_GTC;
    return kind;
}

/* The next command of the mix, given the model's current book. */
static struct op gen_next(struct mini *m, struct rng *r, const struct gen_cfg *gc,
                          struct gen_stats *st, size_t i)
{
    struct op op = {0};
    int64_t mid = book_mid(m->book, gc->start_mid);
    /* behind the wanted share of trading commands: moves may cross */
    bool behind = (double)st->trading < (double)gc->trade_ppm * (double)(i + 1) / 1e6;
    const struct order *o;

    op.kind = (uint8_t)pick_kind(r, m->trk->n, gc, st);
    switch (op.kind) {
    case OP_GTC:
        op.side = (uint8_t)rng_below(r, 2);
        op.user = (uint16_t)rng_below(r, ACCOUNTS);
        op.qty = 1 + (int32_t)rng_below(r, 20);
        if (!(behind && rng_below(r, 100) < 10 && crossing_price(m->book, op.side, 0, &op.price)))
            op.price = passive_price(m->book, r, op.side, mid, gc->width);
        break;
    case OP_IOC:
        op.side = (uint8_t)rng_below(r, 2);
        op.user = (uint16_t)rng_below(r, ACCOUNTS);
        op.qty = 1 + (int32_t)rng_below(r, 5);
        if (!crossing_price(m->book, op.side, rng_below(r, 3), &op.price))
            op.price = passive_price(m->book, r, op.side, mid, gc->width);
        break;
    default: /* cancel or move a random resting order */
        o = m->trk->live[rng_below(r, (uint32_t)m->trk->n)];
        op.id = o->id;
        op.side = o->side;
        op.user = (uint16_t)(o->user_id - USER0);
        op.qty = (int32_t)o->remaining;
        if (op.kind == OP_CANCEL)
            break;
        if (!(behind && rng_below(r, 100) < 20 && crossing_price(m->book, op.side, 0, &op.price)))
            op.price = passive_price(m->book, r, op.side, mid, gc->width);
        if (op.price == o->price) /* a move must change the price */
            op.price += op.side == SIDE_BUY ? -1 : 1;
        break;
    }
    return op;
}

static void gen_sample(const struct mini *m, struct gen_stats *st, double *sum_o, double *sum_l,
                       int64_t mid)
{
    size_t n = book_order_count(m->book);
    *sum_o += (double)n;
    *sum_l += (double)(book_level_count(m->book, SIDE_BUY) + book_level_count(m->book, SIDE_SELL));
    st->min_orders = n < st->min_orders ? n : st->min_orders;
    st->max_orders = n > st->max_orders ? n : st->max_orders;
    st->min_mid = mid < st->min_mid ? mid : st->min_mid;
    st->max_mid = mid > st->max_mid ? mid : st->max_mid;
}

static void gen_final(struct mini *m, struct gen_stats *st)
{
    st->fills = m->fills;
    st->fill_qty = m->fill_qty;
    st->end_orders = book_order_count(m->book);
    st->has_bid = book_best_price(m->book, SIDE_BUY, &st->bid);
    st->has_ask = book_best_price(m->book, SIDE_SELL, &st->ask);
}

/* Generate the mix: a prefill of passive GTC orders up to the target size, then n_ops commands. */
static void gen_mix(const struct gen_cfg *gc, struct stream *s)
{
    size_t cap = gc->n_ops + gc->target_orders + 1;
    struct tracker trk;
    struct mini m;
    struct rng r;
    double sum_o = 0;
    double sum_l = 0;
    size_t samples = 0;
    size_t k = 0;

    memset(s, 0, sizeof(*s));
    s->ops = xmalloc(cap * sizeof(*s->ops));
    tracker_init(&trk, cap + 1);
    mini_init(&m, gc->move_keeps_id, &trk);
    rng_seed(&r, gc->seed);
    while (trk.n < gc->target_orders && k < cap) {
        struct op op = {.kind = OP_GTC, .side = (uint8_t)(k % 2)};
        op.user = (uint16_t)rng_below(&r, ACCOUNTS);
        op.qty = 1 + (int32_t)rng_below(&r, 20);
        op.price = passive_price(m.book, &r, op.side, gc->start_mid, gc->width);
        (void)mini_apply_tracked(&m, &op);
        s->ops[k++] = op;
    }
    s->n_prefill = k;
    s->st.min_orders = SIZE_MAX;
    s->st.min_mid = s->st.max_mid = book_mid(m.book, gc->start_mid);
    for (size_t i = 0; i < gc->n_ops; i++) {
        struct op op = gen_next(&m, &r, gc, &s->st, i);
        if (mini_apply_tracked(&m, &op) > 0)
            s->st.trading++;
        s->st.kinds[op.kind]++;
        s->ops[k++] = op;
        if (i % 64 == 0) {
            gen_sample(&m, &s->st, &sum_o, &sum_l, book_mid(m.book, gc->start_mid));
            samples++;
        }
    }
    s->n = k;
    s->st.avg_orders = sum_o / (double)(samples ? samples : 1);
    s->st.avg_levels = sum_l / (double)(samples ? samples : 1);
    gen_final(&m, &s->st);
    mini_release(&m);
    tracker_release(&trk);
}

/* liquibook's test/perf/pt_order_book.cpp, with our seeded generator instead of rand(). */
static void gen_liquibook(uint64_t seed, size_t n, struct stream *s)
{
    struct rng r;
    memset(s, 0, sizeof(*s));
    s->ops = xmalloc((n ? n : 1) * sizeof(*s->ops));
    rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) {
        struct op *op = &s->ops[i];
        memset(op, 0, sizeof(*op));
        op->kind = OP_GTC;
        op->side = i % 2 == 0 ? SIDE_BUY : SIDE_SELL;
        op->price = (op->side == SIDE_BUY ? 1880 : 1884) + (int64_t)rng_below(&r, 10);
        op->qty = 1 + (int32_t)rng_below(&r, 10);
        op->user = (uint16_t)rng_below(&r, ACCOUNTS);
    }
    s->n = n;
}

/* ---- variant (b): the real engine through engine_run_batch() ---- */

struct eng {
    struct config cfg;
    struct engine *e;
    struct cmd *cmds; /* BATCH_CMDS reusable commands */
    struct cmd **ptrs;
    bool amend; /* moves as CMD_AMEND; else cancel + place */
};

/* What a validation run saw: every command must succeed and the fills must match the model. */
struct eng_check {
    size_t results, orders, entries, balances, l2; /* batch effects, summed */
    size_t errors;
    int first_err;
    uint64_t fills, fill_qty; /* base minor units */
    bool has_bid, has_ask;
    int64_t bid, ask; /* quote minor units */
};

static void bench_config(struct config *c)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->assets[0].symbol, sizeof(c->assets[0].symbol), "USD");
    c->assets[0].scale = 2;
    c->assets[0].deposit_limit = INT64_MAX / 4;
    snprintf(c->assets[1].symbol, sizeof(c->assets[1].symbol), "BTC");
    c->assets[1].scale = 4;
    c->assets[1].deposit_limit = INT64_MAX / 4;
    c->n_assets = 2;
    snprintf(c->markets[0].name, sizeof(c->markets[0].name), "BTC-USD");
    snprintf(c->markets[0].symbol, sizeof(c->markets[0].symbol), "BTCUSD");
    c->markets[0].base = 1;
    c->markets[0].quote = 0;
    c->markets[0].tick_size = TICK;
    c->markets[0].lot_size = LOT;
    c->markets[0].min_quantity = LOT;
    c->markets[0].max_quantity = 1000000LL * LOT;
    c->markets[0].maker_fee_ppm = 1000; /* 0.1% */
    c->markets[0].taker_fee_ppm = 2000; /* 0.2% */
    c->n_markets = 1;
}

static void cmd_head(struct cmd *c, uint8_t type, uint64_t uid)
{
    c->type = type;
    c->req_id = 0;
    c->user_id = uid;
    c->ts = CMD_TS;
}

static void cmd_place(struct cmd *c, uint64_t uid, int side, int tif, int64_t price, int64_t qty)
{
    cmd_head(c, CMD_PLACE, uid);
    memset(&c->u.place, 0, sizeof(c->u.place));
    c->u.place.market = MARKET;
    c->u.place.side = (uint8_t)side;
    c->u.place.type = ORDER_LIMIT;
    c->u.place.tif = (uint8_t)tif;
    c->u.place.price = price * TICK;
    c->u.place.quantity = qty * LOT;
}

static void cmd_cancel(struct cmd *c, uint64_t uid, uint64_t id)
{
    cmd_head(c, CMD_CANCEL, uid);
    memset(&c->u.cancel, 0, sizeof(c->u.cancel));
    c->u.cancel.market = MARKET;
    c->u.cancel.order_id = id;
}

static void cmd_amend(struct cmd *c, uint64_t uid, uint64_t id, int64_t price)
{
    cmd_head(c, CMD_AMEND, uid);
    memset(&c->u.amend, 0, sizeof(c->u.amend));
    c->u.amend.market = MARKET;
    c->u.amend.order_id = id;
    c->u.amend.price = price * TICK;
    c->u.amend.quantity = 0; /* unchanged */
}

/* The engine commands of one op into c[0..2). Returns how many (1, or 2 for cancel + place). */
INLINE size_t op_to_cmds(const struct op *op, bool amend, struct cmd *c)
{
    uint64_t uid = USER0 + op->user;
    switch (op->kind) {
    case OP_GTC:
    case OP_IOC:
        cmd_place(c, uid, op->side, op->kind == OP_IOC ? TIF_IOC : TIF_GTC, op->price, op->qty);
        return 1;
    case OP_CANCEL:
        cmd_cancel(c, uid, op->id);
        return 1;
    default:
        if (amend) {
            cmd_amend(c, uid, op->id, op->price);
            return 1;
        }
        cmd_cancel(c, uid, op->id);
        cmd_place(c + 1, uid, op->side, TIF_GTC, op->price, op->qty);
        return 2;
    }
}

static void check_batch(struct eng_check *chk, const struct batch *b)
{
    chk->results += b->results.n;
    chk->orders += b->orders.n;
    chk->entries += b->entries.n;
    chk->balances += b->balances.n;
    chk->l2 += b->l2.n;
    for (size_t i = 0; i < b->results.n; i++) {
        if (b->results.v[i].err != CG_OK) {
            if (!chk->errors)
                chk->first_err = b->results.v[i].err;
            chk->errors++;
        }
    }
    for (size_t i = 0; i < b->fills.n; i++)
        chk->fill_qty += (uint64_t)b->fills.v[i].quantity;
    chk->fills += b->fills.n;
    chk->has_bid = b->tops[MARKET].has_bid;
    chk->has_ask = b->tops[MARKET].has_ask;
    chk->bid = b->tops[MARKET].bid;
    chk->ask = b->tops[MARKET].ask;
}

static void eng_flush(struct eng *g, size_t k, struct eng_check *chk)
{
    struct batch *b = engine_run_batch(g->e, g->ptrs, k);
    if (chk)
        check_batch(chk, b);
    batch_free(b);
}

/* Replay ops[from, to) in batches of at most batch_cmds engine commands. */
static __attribute__((noinline)) void eng_replay(struct eng *g, const struct op *ops, size_t from,
                                                 size_t to, size_t batch_cmds,
                                                 struct eng_check *chk)
{
    size_t k = 0;
    for (size_t i = from; i < to; i++) {
        if (k + 2 > batch_cmds && k > 0) {
            eng_flush(g, k, chk);
            k = 0;
        }
        k += op_to_cmds(&ops[i], g->amend, &g->cmds[k]);
    }
    if (k)
        eng_flush(g, k, chk);
}

/* A fresh engine: 1,000 funded accounts, then the stream's prefill (untimed). */
static void eng_open(struct eng *g, bool amend, const struct stream *s)
{
    size_t k = 0;
    memset(g, 0, sizeof(*g));
    bench_config(&g->cfg);
    g->amend = amend;
    g->e = engine_new(&g->cfg);
    g->cmds = calloc(BATCH_CMDS + 2, sizeof(*g->cmds));
    g->ptrs = xmalloc((BATCH_CMDS + 2) * sizeof(*g->ptrs));
    if (!g->e || !g->cmds)
        die("out of memory");
    for (size_t i = 0; i < BATCH_CMDS + 2; i++)
        g->ptrs[i] = &g->cmds[i];
    for (uint32_t u = 0; u < ACCOUNTS; u++) {
        /* 100 billion USD and 1 million BTC each: no command fails for want of funds */
        for (uint32_t a = 0; a < 2; a++) {
            cmd_head(&g->cmds[k], CMD_DEPOSIT, USER0 + u);
            memset(&g->cmds[k].u.funds, 0, sizeof(g->cmds[k].u.funds));
            g->cmds[k].u.funds.asset = a;
            g->cmds[k].u.funds.amount = a == 0 ? 10000000000000LL : 10000000000LL;
            k++;
        }
        if (k + 2 > BATCH_CMDS || u + 1 == ACCOUNTS) {
            eng_flush(g, k, NULL);
            k = 0;
        }
    }
    eng_replay(g, s->ops, 0, s->n_prefill, BATCH_CMDS, NULL);
}

static void eng_close(struct eng *g)
{
    engine_free(g->e);
    free(g->cmds);
    free(g->ptrs);
}

/* ---- latency at a fixed offered rate ---- */

/*
 * HDR-style histogram of TSC ticks: values below 256 exact, above that 128 sub-buckets per power
 * of two (relative error < 0.8%), so recording is O(1) and needs no big sample arrays.
 */
#define HIST_SUB_BITS 7
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_BUCKETS (2 * HIST_SUB + (64 - HIST_SUB_BITS - 1) * HIST_SUB)

struct hist {
    uint64_t count[HIST_BUCKETS];
    uint64_t n;
    uint64_t max;
};

INLINE size_t hist_index(uint64_t v)
{
    int e;
    int shift;
    if (v < 2 * HIST_SUB)
        return (size_t)v;
    e = 63 - __builtin_clzll(v);
    shift = e - HIST_SUB_BITS;
    return 2 * HIST_SUB + (size_t)(shift - 1) * HIST_SUB + (size_t)((v >> shift) - HIST_SUB);
}

/* The middle of bucket i's value range. */
static double hist_value(size_t i)
{
    size_t shift;
    uint64_t m;
    if (i < 2 * HIST_SUB)
        return (double)i;
    shift = (i - 2 * HIST_SUB) / HIST_SUB + 1;
    m = (i - 2 * HIST_SUB) % HIST_SUB + HIST_SUB;
    return (double)(m << shift) + (double)((uint64_t)1 << shift) / 2;
}

INLINE void hist_add(struct hist *h, uint64_t v)
{
    h->count[hist_index(v)]++;
    h->n++;
    if (v > h->max)
        h->max = v;
}

/* The p-quantile (0 < p < 1) in ns. */
static double hist_pct(const struct hist *h, double p)
{
    uint64_t want = (uint64_t)(p * (double)h->n) + 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < HIST_BUCKETS; i++) {
        seen += h->count[i];
        if (seen >= want) {
            double v = hist_value(i);
            return ticks_to_ns((uint64_t)(v < (double)h->max ? v : (double)h->max));
        }
    }
    return ticks_to_ns(h->max);
}

struct lat_result {
    double p50, p99, p999, p9999, max; /* ns, completion - due time */
    double s50, s99, s999, smax;       /* ns, completion - actual start (service time) */
    double achieved;                   /* commands per second actually completed */
};

static void lat_summarise(const struct hist *lat, const struct hist *svc, uint64_t span,
                          struct lat_result *res)
{
    res->p50 = hist_pct(lat, 0.50);
    res->p99 = hist_pct(lat, 0.99);
    res->p999 = hist_pct(lat, 0.999);
    res->p9999 = hist_pct(lat, 0.9999);
    res->max = ticks_to_ns(lat->max);
    res->s50 = hist_pct(svc, 0.50);
    res->s99 = hist_pct(svc, 0.99);
    res->s999 = hist_pct(svc, 0.999);
    res->smax = ticks_to_ns(svc->max);
    res->achieved = (double)lat->n / (ticks_to_ns(span) / 1e9);
}

struct lat_target {
    int kind; /* 0 = empty (harness floor), 1 = variant (a), 2 = variant (b) */
    struct mini *m;
    struct eng *g;
};

INLINE void lat_apply(const struct lat_target *t, const struct op *op)
{
    if (t->kind == 1) {
        (void)mini_apply(t->m, op, false);
    } else if (t->kind == 2) {
        size_t k = op_to_cmds(op, t->g->amend, t->g->cmds);
        batch_free(engine_run_batch(t->g->e, t->g->ptrs, k));
    }
}

/* Run ops[0..n) with op i due at t0 + i / rate; lat/svc record ticks. Returns the span. */
static __attribute__((noinline)) uint64_t lat_loop(const struct lat_target *t, const struct op *ops,
                                                   size_t n, double rate, struct hist *lat,
                                                   struct hist *svc)
{
    double period = g_ticks_per_ns * 1e9 / rate;
    uint64_t t0 = now_ticks();
    uint64_t done = t0;
    for (size_t i = 0; i < n; i++) {
        uint64_t due = t0 + (uint64_t)(period * (double)i);
        uint64_t start = now_ticks();
        while (start < due)
            start = now_ticks();
        lat_apply(t, &ops[i]);
        done = now_ticks();
        hist_add(lat, done - due);
        hist_add(svc, done - start);
    }
    return done - t0;
}

/* ---- reporting ---- */

struct bench {
    uint64_t seed;
    size_t n_ops, lat_ops, lq_ops, runs, lat_runs;
    bool amend;
    bool do_mix, do_lat, do_lq;
    struct hist *lat, *svc;
};

static void read_first_line(const char *cmd, char *out, size_t len)
{
    FILE *p = popen(cmd, "r");
    out[0] = 0;
    if (!p)
        return;
    if (fgets(out, (int)len, p))
        out[strcspn(out, "\n")] = 0;
    pclose(p);
}

static void cpu_model(char *out, size_t len)
{
    char line[512];
    FILE *f = fopen("/proc/cpuinfo", "r");
    int family = -1;
    int model = -1;
    bool hyper = false;
    snprintf(out, len, "unknown");
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        char *v = strchr(line, ':');
        if (!v)
            continue;
        v += 2;
        v[strcspn(v, "\n")] = 0;
        if (!strncmp(line, "model name", 10) && !strcmp(out, "unknown"))
            snprintf(out, len, "%s", v);
        else if (!strncmp(line, "cpu family", 10) && family < 0)
            family = atoi(v);
        else if (!strncmp(line, "model\t", 6) && model < 0)
            model = atoi(v);
        else if (!strncmp(line, "flags", 5) && strstr(v, " hypervisor"))
            hyper = true;
    }
    fclose(f);
    snprintf(out + strlen(out), len - strlen(out), " (family %d model %d%s)", family, model,
             hyper ? ", virtual machine" : "");
}

static void print_conditions(const struct bench *bn)
{
    char cpu[256];
    char git[128];
    char dirty[256];
    char load[128];
    char date[64];
    time_t now = time(NULL);
    FILE *f = fopen("/proc/loadavg", "r");

    cpu_model(cpu, sizeof(cpu));
    read_first_line("git rev-parse --short HEAD 2>/dev/null", git, sizeof(git));
    read_first_line("git status --porcelain -- src 2>/dev/null | wc -l", dirty, sizeof(dirty));
    load[0] = 0;
    if (f) {
        if (!fgets(load, sizeof(load), f))
            load[0] = 0;
        load[strcspn(load, "\n")] = 0;
        fclose(f);
    }
    strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S UTC", gmtime(&now));
    printf("Coinage matching-engine benchmark (bench/bench_engine.c)\n");
    printf("  CPU        %s; %ld online cores; TSC %.3f GHz (calibrated)\n", cpu,
           sysconf(_SC_NPROCESSORS_ONLN), g_ticks_per_ns);
#if defined(__clang__)
    printf("  compiler   clang %s; flags %s (bench and build/libcoinage.a)\n", __VERSION__,
           BENCH_CFLAGS);
#else
    printf("  compiler   gcc %s; flags %s (bench and build/libcoinage.a)\n", __VERSION__,
           BENCH_CFLAGS);
#endif
    if (atoi(dirty))
        printf("  commit     %s + uncommitted changes in %d files under src/\n",
               git[0] ? git : "unknown", atoi(dirty));
    else
        printf("  commit     %s (src/ clean)\n", git[0] ? git : "unknown");
    printf("  date       %s; load average %s\n", date, load);
    printf("  seeds      mix %" PRIu64 ", liquibook %" PRIu64 "; runs: %zu (throughput), %zu "
           "(latency); single thread, %s%s\n",
           bn->seed, bn->seed + 1, bn->runs, bn->lat_runs,
           getenv("BENCH_CPU") ? "pinned to CPU " : "not pinned",
           getenv("BENCH_CPU") ? getenv("BENCH_CPU") : "");
}

static void print_mix_stream(const struct stream *s, const struct bench *bn)
{
    const struct gen_stats *st = &s->st;
    size_t n = s->n - s->n_prefill;
    printf("\nWorkload \"mix\" (exchange-core's): %zu commands after a %zu-order prefill\n", n,
           s->n_prefill);
    printf("  realised mix  ");
    for (int k = 0; k < OP_KINDS; k++)
        printf("%s %.1f%%  ", op_names[k], 100.0 * (double)st->kinds[k] / (double)n);
    printf("(%zu GTC/cancel swaps held the book size)\n", st->steered);
    printf("  trading       %.2f%% of commands trade; %" PRIu64 " fills\n",
           100.0 * (double)st->trading / (double)n, st->fills);
    printf("  book          %.0f resting orders on average (min %zu, max %zu) over %.0f price "
           "levels\n",
           st->avg_orders, st->min_orders, st->max_orders, st->avg_levels);
    printf("  mid           moved within %" PRId64 " .. %" PRId64 " ticks (1 tick = 1.00 USD); "
           "1,000 accounts\n",
           st->min_mid, st->max_mid);
    printf("  move          %s\n",
           bn->amend ? "CMD_AMEND (new price, keeps the id, loses priority) in (b); in-place in (a)"
                     : "cancel + place (2 engine commands) in (b); in-place with a new id in (a)");
}

/* ---- the measurements ---- */

static void validate_engine(const struct stream *s, bool amend, const char *what)
{
    struct eng g;
    struct eng_check chk = {0};
    char msg[256];
    bool ok;
    double c;
    eng_open(&g, amend, s);
    eng_replay(&g, s->ops, s->n_prefill, s->n, BATCH_CMDS, &chk);
    ok = engine_check(g.e, msg, sizeof(msg));
    c = (double)(chk.results ? chk.results : 1);
    printf("  batch effects per engine command (4096-command batches, after the batch's "
           "de-duplication):\n    %.2f order snapshots x %zu B, %.2f fills x %zu B, %.2f journal "
           "entries x %zu B, %.2f balance changes x %zu B, %.2f L2 deltas x %zu B, 1 result x %zu "
           "B = %.0f B/command\n",
           (double)chk.orders / c, sizeof(struct order), (double)chk.fills / c, sizeof(struct fill),
           (double)chk.entries / c, sizeof(struct journal_entry), (double)chk.balances / c,
           sizeof(struct balance_change), (double)chk.l2 / c, sizeof(struct l2_change),
           sizeof(struct cmd_result),
           ((double)chk.orders * sizeof(struct order) + (double)chk.fills * sizeof(struct fill) +
            (double)chk.entries * sizeof(struct journal_entry) +
            (double)chk.balances * sizeof(struct balance_change) +
            (double)chk.l2 * sizeof(struct l2_change) +
            (double)chk.results * sizeof(struct cmd_result)) /
               c);
    printf("  check (%s): engine %zu failed commands%s; fills %" PRIu64 " (model %" PRIu64
           "); top %" PRId64 "/%" PRId64 " (model %" PRId64 "/%" PRId64 "); engine_check %s\n",
           what, chk.errors, chk.errors ? " (see stderr)" : "", chk.fills, s->st.fills,
           chk.bid / TICK, chk.ask / TICK, s->st.bid, s->st.ask, ok ? "ok" : msg);
    if (chk.errors || (s->st.fills && chk.fills != s->st.fills) ||
        (s->st.fills && chk.fill_qty != s->st.fill_qty * LOT) || !ok ||
        (s->st.has_bid && chk.bid != s->st.bid * TICK) ||
        (s->st.has_ask && chk.ask != s->st.ask * TICK)) {
        fprintf(stderr, "bench_engine: first failed command: %s\n",
                cg_err_code((enum cg_err)chk.first_err));
        die("the engine did not replay the stream as the model did: figures would be wrong");
    }
    eng_close(&g);
}

/* Full-speed replay: returns ops/s of ops[n_prefill..n). */
static double run_mini(const struct stream *s, bool keeps_id)
{
    struct mini m;
    uint64_t t0;
    uint64_t t1;
    mini_init(&m, keeps_id, NULL);
    mini_replay(&m, s->ops, 0, s->n_prefill);
    t0 = now_ticks();
    mini_replay(&m, s->ops, s->n_prefill, s->n);
    t1 = now_ticks();
    mini_release(&m);
    return (double)(s->n - s->n_prefill) / (ticks_to_ns(t1 - t0) / 1e9);
}

static double run_engine(const struct stream *s, bool amend, size_t batch_cmds)
{
    struct eng g;
    uint64_t t0;
    uint64_t t1;
    eng_open(&g, amend, s);
    t0 = now_ticks();
    eng_replay(&g, s->ops, s->n_prefill, s->n, batch_cmds, NULL);
    t1 = now_ticks();
    eng_close(&g);
    return (double)(s->n - s->n_prefill) / (ticks_to_ns(t1 - t0) / 1e9);
}

static void print_runs_row(const char *label, const struct runs *r, const char *extra)
{
    char a[32];
    char b[32];
    char c[32];
    char d[32];
    double med = runs_median(r);
    printf("  %-46s %9s/s  [%s .. %s]  %8s/op %s\n", label, fmt_rate(med, a, sizeof(a)),
           fmt_rate(runs_min(r), b, sizeof(b)), fmt_rate(runs_max(r), c, sizeof(c)),
           fmt_ns(med > 0 ? 1e9 / med : 0, d, sizeof(d)), extra);
}

static void measure_throughput(const struct stream *s, const struct bench *bn, bool liquibook)
{
    struct runs a = {0};
    struct runs b = {0};
    struct runs b1 = {0};
    struct runs ratio = {0};
    char n_a[32];
    char n_b1[32];
    for (size_t r = 0; r < bn->runs; r++) {
        double ra = run_mini(s, bn->amend);
        double rb = run_engine(s, bn->amend, BATCH_CMDS);
        runs_add(&a, ra);
        runs_add(&b, rb);
        runs_add(&ratio, ra / rb);
        if (r < (bn->runs + 1) / 2) /* the slow one: half the runs */
            runs_add(&b1, run_engine(s, bn->amend, 1));
    }
    snprintf(n_a, sizeof(n_a), "(%zu runs)", a.n);
    snprintf(n_b1, sizeof(n_b1), "(%zu runs)", b1.n);
    printf("\n%s at full speed: %s/s, median [min .. max]\n",
           liquibook ? "2. Liquibook-style inserts" : "1a. Mix throughput",
           liquibook ? "inserts" : "commands (exchange-core ops)");
    print_runs_row("(a) book.c + minimal matcher", &a, n_a);
    print_runs_row("(b) engine_run_batch, <= 4096 commands/batch", &b, n_a);
    print_runs_row(bn->amend || liquibook ? "(b) engine_run_batch, 1 command/batch"
                                          : "(b) engine_run_batch, 1 op (1-2 cmds)/batch",
                   &b1, n_b1);
    printf("  (a)/(b) speed ratio, same round: median %.1fx [%.1f .. %.1f]\n", runs_median(&ratio),
           runs_min(&ratio), runs_max(&ratio));
    printf("  target %s: (a) %s, (b) %s\n", liquibook ? ">= 5M inserts/s" : ">= 10M ops/s",
           runs_median(&a) >= (liquibook ? 5e6 : 10e6) ? "MET" : "not met",
           runs_median(&b) >= (liquibook ? 5e6 : 10e6) ? "MET" : "not met");
}

/* Commands replayed per latency run at `rate`: 3 s of offered load, at most BENCH_LAT_OPS. */
static size_t lat_count(const struct stream *s, const struct bench *bn, double rate)
{
    size_t n = s->n - s->n_prefill;
    size_t cap = (size_t)(rate * 3);
    n = n < bn->lat_ops ? n : bn->lat_ops;
    return n < cap ? n : cap;
}

/* One latency run of `kind` at `rate` on a fresh book. */
static void lat_run(const struct stream *s, const struct bench *bn, int kind, double rate,
                    struct lat_result *res)
{
    struct mini m;
    struct eng g;
    struct lat_target t = {kind, &m, &g};
    uint64_t span;
    if (kind == 1) {
        mini_init(&m, bn->amend, NULL);
        mini_replay(&m, s->ops, 0, s->n_prefill);
    } else if (kind == 2) {
        eng_open(&g, bn->amend, s);
    }
    memset(bn->lat, 0, sizeof(*bn->lat));
    memset(bn->svc, 0, sizeof(*bn->svc));
    span = lat_loop(&t, s->ops + s->n_prefill, lat_count(s, bn, rate), rate, bn->lat, bn->svc);
    lat_summarise(bn->lat, bn->svc, span, res);
    if (kind == 1)
        mini_release(&m);
    else if (kind == 2)
        eng_close(&g);
}

struct lat_cell {
    struct runs p50, p99, p999, p9999, max, s50, s99, achieved;
};

static void lat_cell_add(struct lat_cell *c, const struct lat_result *r)
{
    runs_add(&c->p50, r->p50);
    runs_add(&c->p99, r->p99);
    runs_add(&c->p999, r->p999);
    runs_add(&c->p9999, r->p9999);
    runs_add(&c->max, r->max);
    runs_add(&c->s50, r->s50);
    runs_add(&c->s99, r->s99);
    runs_add(&c->achieved, r->achieved);
}

static void lat_cell_print(const char *label, double rate, size_t n, const struct lat_cell *c)
{
    char b[11][32];
    printf("  %-28s %6s/s %8zu %6s/s %8s %8s %8s %8s %8s | %8s %8s  [p99 %s .. %s]\n", label,
           fmt_rate(rate, b[0], 32), n, fmt_rate(runs_median(&c->achieved), b[1], 32),
           fmt_ns(runs_median(&c->p50), b[2], 32), fmt_ns(runs_median(&c->p99), b[3], 32),
           fmt_ns(runs_median(&c->p999), b[4], 32), fmt_ns(runs_median(&c->p9999), b[5], 32),
           fmt_ns(runs_median(&c->max), b[6], 32), fmt_ns(runs_median(&c->s50), b[7], 32),
           fmt_ns(runs_median(&c->s99), b[8], 32), fmt_ns(runs_min(&c->p99), b[9], 32),
           fmt_ns(runs_max(&c->p99), b[10], 32));
}

#define LAT_RATES 3

static void measure_latency(const struct stream *s, const struct bench *bn)
{
    static const double rates[LAT_RATES] = {250e3, 1e6, 5e6};
    const char *const labels[3] = {"empty op (harness floor)", "(a) book.c + matcher",
                                   bn->amend ? "(b) engine, 1 command/batch"
                                             : "(b) engine, 1 op/batch"};
    struct lat_cell cells[3][LAT_RATES];
    struct lat_result res;
    memset(cells, 0, sizeof(cells));
    for (size_t r = 0; r < bn->lat_runs; r++) {
        for (int k = 0; k < 3; k++) {
            for (int ri = 0; ri < LAT_RATES; ri++) {
                if (k == 0 && r > 0)
                    continue; /* the floor needs one run */
                lat_run(s, bn, k, rates[ri], &res);
                lat_cell_add(&cells[k][ri], &res);
            }
        }
    }
    printf("\n1b. Mix latency at a fixed offered rate, no coordinated omission. Each run replays "
           "the first n commands\n    (3 s of offered load) on a fresh book; median over %zu runs "
           "of each percentile (the floor: 1 run).\n    latency = completion - due time; svc = "
           "completion - actual start (service time)\n",
           bn->lat_runs);
    printf("  %-28s %8s %8s %8s %8s %8s %8s %8s %8s | %8s %8s\n", "variant", "offered", "n",
           "achieved", "p50", "p99", "p99.9", "p99.99", "max", "svc p50", "svc p99");
    for (int k = 0; k < 3; k++)
        for (int ri = 0; ri < LAT_RATES; ri++)
            lat_cell_print(labels[k], rates[ri], lat_count(s, bn, rates[ri]), &cells[k][ri]);
    printf("  target p99 < 1 us at 1M/s offered: (a) %s, (b) %s\n",
           runs_median(&cells[1][1].p99) < 1000 ? "MET" : "not met",
           runs_median(&cells[2][1].p99) < 1000 ? "MET" : "not met");
}

/* What else ran: CPU time and involuntary switches of this process, steal of the whole VM. */
struct contention {
    uint64_t wall_ns;
    double cpu_s;
    long nivcsw;
    unsigned long long steal, total; /* /proc/stat jiffies, all CPUs */
};

static void contention_read(struct contention *c)
{
    struct rusage ru;
    unsigned long long v[10] = {0};
    FILE *f = fopen("/proc/stat", "r");
    c->wall_ns = mono_ns();
    getrusage(RUSAGE_SELF, &ru);
    c->cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
               (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    c->nivcsw = ru.ru_nivcsw;
    c->steal = c->total = 0;
    if (f) {
        if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                   &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]) >= 8) {
            c->steal = v[7];
            for (int i = 0; i < 8; i++)
                c->total += v[i];
        }
        fclose(f);
    }
}

static void contention_print(const struct contention *a)
{
    struct contention b;
    double wall;
    contention_read(&b);
    wall = (double)(b.wall_ns - a->wall_ns) / 1e9;
    printf("  contention this process had a CPU %.0f%% of the %.0f s (%ld involuntary context "
           "switches); hypervisor steal %.1f%% of the VM's CPU time\n",
           100.0 * (b.cpu_s - a->cpu_s) / wall, wall, b.nivcsw - a->nivcsw,
           b.total > a->total ? 100.0 * (double)(b.steal - a->steal) / (double)(b.total - a->total)
                              : 0.0);
}

/*
 * The mix's shape: ~1,000 resting orders, passive prices 1-800 ticks behind the mid (which gives
 * ~750 levels), 6% of commands trading, mid starting at 100,000 ticks (100,000.00 USD).
 */
static struct gen_cfg mix_cfg(const struct bench *bn)
{
    struct gen_cfg gc = {
        .seed = bn->seed,
        .n_ops = bn->n_ops,
        .target_orders = 1000,
        .width = 800,
        .trade_ppm = 60000,
        .start_mid = 100000,
        .move_keeps_id = bn->amend,
    };
    return gc;
}

/*
 * Spin reading the TSC for `seconds` and count the pauses between consecutive reads: how often
 * and how long this machine takes the CPU away (interrupts, other tenants, the hypervisor).
 * At an offered rate R a pause of d delays about d x R commands, so this is the latency floor.
 */
static void noise_scan(double seconds)
{
    uint64_t thr1 = (uint64_t)(1000 * g_ticks_per_ns);
    uint64_t thr10 = 10 * thr1;
    uint64_t thr100 = 100 * thr1;
    uint64_t start = now_ticks();
    uint64_t end = start + (uint64_t)(seconds * 1e9 * g_ticks_per_ns);
    uint64_t prev = start;
    uint64_t stolen = 0;
    uint64_t longest = 0;
    size_t n1 = 0;
    size_t n10 = 0;
    size_t n100 = 0;
    char a[32];
    char b[32];
    while (prev < end) {
        uint64_t t = now_ticks();
        uint64_t d = t - prev;
        if (d > thr1) {
            n1++;
            n10 += d > thr10;
            n100 += d > thr100;
            stolen += d;
            longest = d > longest ? d : longest;
        }
        prev = t;
    }
    printf("  noise      spinning %.1f s: %zu pauses > 1 us (%zu > 10 us, %zu > 100 us), longest "
           "%s, %s in all (%.2f%% of the time)\n",
           seconds, n1, n10, n100, fmt_ns(ticks_to_ns(longest), a, sizeof(a)),
           fmt_ns(ticks_to_ns(stolen), b, sizeof(b)),
           100.0 * ticks_to_ns(stolen) / (seconds * 1e9));
}

/*
 * BENCH_PROFILE=mix-a|mix-b|mix-b1|lq-a|lq-b: only that replay, BENCH_RUNS times, no
 * validation, for perf record / valgrind --tool=callgrind.
 */
static int profile_main(const struct bench *bn, const char *what)
{
    struct gen_cfg gc = mix_cfg(bn);
    struct stream s;
    bool lq = !strncmp(what, "lq", 2);
    if (lq)
        gen_liquibook(bn->seed + 1, bn->lq_ops, &s);
    else
        gen_mix(&gc, &s);
    for (size_t r = 0; r < bn->runs; r++) {
        double rate;
        if (!strcmp(what + (lq ? 2 : 3), "-a"))
            rate = run_mini(&s, bn->amend);
        else if (!strcmp(what + (lq ? 2 : 3), "-b"))
            rate = run_engine(&s, bn->amend, BATCH_CMDS);
        else if (!strcmp(what + (lq ? 2 : 3), "-b1"))
            rate = run_engine(&s, bn->amend, 1);
        else
            die("BENCH_PROFILE: mix-a, mix-b, mix-b1, lq-a or lq-b");
        printf("%s: %.0f ops/s\n", what, rate);
    }
    free(s.ops);
    return 0;
}

static void parse_env(struct bench *bn)
{
    const char *only = getenv("BENCH_ONLY");
    const char *move = getenv("BENCH_MOVE");
    bn->seed = env_size("BENCH_SEED", 20261123);
    bn->n_ops = env_size("BENCH_OPS", 3000000);
    bn->lat_ops = env_size("BENCH_LAT_OPS", 3000000);
    bn->lq_ops = env_size("BENCH_LQ_OPS", 1000000);
    bn->runs = env_size("BENCH_RUNS", 5);
    bn->lat_runs = env_size("BENCH_LAT_RUNS", 3);
    bn->runs = bn->runs < 1 ? 1 : bn->runs > MAX_RUNS ? MAX_RUNS : bn->runs;
    bn->lat_runs = bn->lat_runs < 1 ? 1 : bn->lat_runs > MAX_RUNS ? MAX_RUNS : bn->lat_runs;
    bn->amend = !(move && !strcmp(move, "cancel_place"));
    bn->do_mix = !only || strstr(only, "mix");
    bn->do_lat = !only || strstr(only, "lat");
    bn->do_lq = !only || strstr(only, "lq");
    if (bn->n_ops < 1000 || bn->lat_ops < 1000 || bn->lq_ops < 1000)
        die("BENCH_OPS, BENCH_LAT_OPS and BENCH_LQ_OPS must be >= 1000");
}

static void pin_cpu(void)
{
    const char *v = getenv("BENCH_CPU");
    cpu_set_t set;
    if (!v || !*v)
        return;
    CPU_ZERO(&set);
    CPU_SET(atoi(v), &set);
    if (sched_setaffinity(0, sizeof(set), &set) != 0)
        die("BENCH_CPU: sched_setaffinity failed");
}

static void bench_mix(struct bench *bn)
{
    struct gen_cfg gc = mix_cfg(bn);
    struct stream s;
    uint64_t t0 = mono_ns();
    gen_mix(&gc, &s);
    print_mix_stream(&s, bn);
    printf("  generated in %.1f s\n", (double)(mono_ns() - t0) / 1e9);
    validate_engine(&s, bn->amend, "whole stream replayed through the engine");
    if (bn->do_mix)
        measure_throughput(&s, bn, false);
    if (bn->do_lat)
        measure_latency(&s, bn);
    free(s.ops);
}

static void bench_liquibook(struct bench *bn)
{
    struct stream s;
    struct mini m;
    gen_liquibook(bn->seed + 1, bn->lq_ops, &s);
    /* the model run gives the fills and the end state the engine must reproduce */
    mini_init(&m, true, NULL);
    mini_replay(&m, s.ops, 0, s.n);
    s.st.fills = m.fills;
    s.st.fill_qty = m.fill_qty;
    s.st.end_orders = book_order_count(m.book);
    s.st.has_bid = book_best_price(m.book, SIDE_BUY, &s.st.bid);
    s.st.has_ask = book_best_price(m.book, SIDE_SELL, &s.st.ask);
    mini_release(&m);
    printf("\nWorkload \"liquibook\": %zu limit orders, buys 1880-1889, sells 1884-1893 ticks, "
           "1-10 lots;\n  %" PRIu64 " fills; %zu orders rest at the end (%.0f%% of the orders "
           "matched away)",
           s.n, s.st.fills, s.st.end_orders, 100.0 * (1.0 - (double)s.st.end_orders / (double)s.n));
    printf("\n");
    validate_engine(&s, bn->amend, "all orders replayed through the engine");
    measure_throughput(&s, bn, true);
    free(s.ops);
}

int main(void)
{
    struct bench bn;
    struct contention cont;

    memset(&bn, 0, sizeof(bn));
    parse_env(&bn);
    pin_cpu();
    timer_calibrate();
    if (getenv("BENCH_PROFILE"))
        return profile_main(&bn, getenv("BENCH_PROFILE"));
    contention_read(&cont);
    print_conditions(&bn);
    noise_scan(1.0);
    bn.lat = xmalloc(sizeof(*bn.lat));
    bn.svc = xmalloc(sizeof(*bn.svc));
    if (bn.do_mix || bn.do_lat)
        bench_mix(&bn);
    if (bn.do_lq)
        bench_liquibook(&bn);
    printf("\nTargets: >= 10M ops/s (mix), p99 < 1 us at 1M/s offered, >= 5M inserts/s "
           "(liquibook).\n");
    contention_print(&cont);
    free(bn.lat);
    free(bn.svc);
    return 0;
}
