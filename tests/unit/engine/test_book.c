/*
 * Unit tests for src/engine/book.h: price-time priority, level bookkeeping, the id index, and a
 * randomised comparison against a naive reference book (prints its seed; set BOOK_SEED to replay).
 */
#include <criterion/criterion.h>

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/book.h"

/* splitmix64 (Steele, Lea, Flood 2014). The output function alone is a bijection on uint64. */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static uint64_t rng_next(uint64_t *state)
{
    *state += UINT64_C(0x9E3779B97F4A7C15);
    return mix64(*state);
}

/* Uniform-enough integer in [0, n) for small n. */
static uint64_t rng_below(uint64_t *state, uint64_t n)
{
    return rng_next(state) % n;
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

static struct order *order_set(struct order *o, uint64_t id, uint64_t seq, enum side side,
                               int64_t price, int64_t qty)
{
    memset(o, 0, sizeof(*o));
    o->id = id;
    o->seq = seq;
    o->side = (uint8_t)side;
    o->type = ORDER_LIMIT;
    o->price = price;
    o->quantity = qty;
    o->remaining = qty;
    return o;
}

static void insert_ok(struct book *b, struct order *o)
{
    cr_assert(book_insert(b, o), "book_insert(id %" PRIu64 ") failed", o->id);
}

/* Collects the ids seen by book_foreach. */
struct id_list {
    uint64_t ids[64];
    size_t n;
};

static void collect_id(const struct order *o, void *ctx)
{
    struct id_list *l = ctx;

    cr_assert_lt(l->n, sizeof(l->ids) / sizeof(l->ids[0]));
    l->ids[l->n++] = o->id;
}

/* Assert that book_foreach(side) yields exactly `want` (n ids), best first, FIFO in a level. */
static void expect_queue(const struct book *b, enum side side, const uint64_t *want, size_t n)
{
    struct id_list got = {.n = 0};

    book_foreach(b, side, collect_id, &got);
    cr_assert_eq(got.n, n, "side %d: %zu orders, want %zu", (int)side, got.n, n);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(got.ids[i], want[i], "side %d position %zu: id %" PRIu64 ", want %" PRIu64,
                     (int)side, i, got.ids[i], want[i]);
}

/* Walk a level's queue from its first order and check that prev links mirror next links. */
static void expect_links(const struct order *head)
{
    const struct order *prev = NULL;

    cr_assert(head == NULL || head->prev == NULL, "queue head has a prev link");
    for (const struct order *o = head; o; o = o->next) {
        cr_assert_eq(o->prev, prev, "order %" PRIu64 ": prev link broken", o->id);
        cr_assert_eq(o->level, head->level, "order %" PRIu64 ": level link differs", o->id);
        prev = o;
    }
}

#define EXPECT_QUEUE(b, side, ...)                                                                 \
    do {                                                                                           \
        static const uint64_t want_[] = {__VA_ARGS__};                                             \
        expect_queue((b), (side), want_, sizeof(want_) / sizeof(want_[0]));                        \
    } while (0)

Test(book, empty_book)
{
    struct book *b = book_new(1);
    struct book_level_view v[4];
    int64_t price = 12345;

    cr_assert_not_null(b);
    cr_assert_null(book_best(b, SIDE_BUY));
    cr_assert_null(book_best(b, SIDE_SELL));
    cr_assert_not(book_best_price(b, SIDE_BUY, &price));
    cr_assert_not(book_best_price(b, SIDE_SELL, &price));
    cr_assert_eq(price, 12345, "best_price wrote *price on an empty side");
    cr_assert_eq(book_depth(b, SIDE_BUY, v, 4), 0);
    cr_assert_eq(book_depth(b, SIDE_SELL, v, 4), 0);
    cr_assert_eq(book_level_count(b, SIDE_BUY), 0);
    cr_assert_eq(book_order_count(b), 0);
    cr_assert_null(book_find(b, 1));
    cr_assert_eq(book_level_quantity(b, SIDE_SELL, 100), 0);
    book_free(b);
    book_free(NULL);
}

Test(book, price_time_priority)
{
    struct book *b = book_new(1);
    struct order o[6];
    int64_t price = 0;

    insert_ok(b, order_set(&o[0], 1, 1, SIDE_SELL, 101, 5));
    insert_ok(b, order_set(&o[1], 2, 2, SIDE_SELL, 101, 5));
    insert_ok(b, order_set(&o[2], 3, 3, SIDE_SELL, 100, 5)); /* better price, later */
    insert_ok(b, order_set(&o[3], 4, 4, SIDE_BUY, 99, 5));
    insert_ok(b, order_set(&o[4], 5, 5, SIDE_BUY, 99, 5));
    insert_ok(b, order_set(&o[5], 6, 6, SIDE_BUY, 98, 5));

    cr_assert_eq(book_best(b, SIDE_SELL), &o[2], "lowest ask first");
    cr_assert_eq(book_best(b, SIDE_BUY), &o[3], "highest bid first, earliest in its level");
    cr_assert(book_best_price(b, SIDE_SELL, &price));
    cr_assert_eq(price, 100);
    cr_assert(book_best_price(b, SIDE_BUY, &price));
    cr_assert_eq(price, 99);
    EXPECT_QUEUE(b, SIDE_SELL, 3, 1, 2);
    EXPECT_QUEUE(b, SIDE_BUY, 4, 5, 6);

    book_remove(b, &o[2]);
    cr_assert_eq(book_best(b, SIDE_SELL), &o[0], "first in, first out");
    book_remove(b, &o[0]);
    cr_assert_eq(book_best(b, SIDE_SELL), &o[1]);
    book_remove(b, &o[1]);
    cr_assert_null(book_best(b, SIDE_SELL));

    book_remove(b, &o[3]);
    cr_assert_eq(book_best(b, SIDE_BUY), &o[4]);
    book_remove(b, &o[4]);
    cr_assert_eq(book_best(b, SIDE_BUY), &o[5]);
    cr_assert(book_best_price(b, SIDE_BUY, &price));
    cr_assert_eq(price, 98);
    book_free(b);
}

Test(book, partial_reduce_keeps_position)
{
    struct book *b = book_new(1);
    struct order o[3];
    struct book_level_view v[2];

    insert_ok(b, order_set(&o[0], 10, 1, SIDE_SELL, 100, 7));
    insert_ok(b, order_set(&o[1], 11, 2, SIDE_SELL, 100, 3));
    insert_ok(b, order_set(&o[2], 12, 3, SIDE_SELL, 100, 4));
    cr_assert_eq(book_level_quantity(b, SIDE_SELL, 100), 14);

    book_reduce(b, &o[0], 5);
    cr_assert_eq(o[0].remaining, 2);
    cr_assert_eq(o[0].quantity, 7, "reduce must not touch the original quantity");
    cr_assert_eq(book_level_quantity(b, SIDE_SELL, 100), 9);
    cr_assert_eq(book_best(b, SIDE_SELL), &o[0], "a partially filled order keeps its place");
    EXPECT_QUEUE(b, SIDE_SELL, 10, 11, 12);

    book_reduce(b, &o[1], 1); /* reducing a later order does not reorder either */
    EXPECT_QUEUE(b, SIDE_SELL, 10, 11, 12);
    cr_assert_eq(book_depth(b, SIDE_SELL, v, 2), 1);
    cr_assert_eq(v[0].quantity, 8);
    cr_assert_eq(v[0].orders, 3);

    book_reduce(b, &o[0], 2); /* to zero: still linked until book_remove */
    cr_assert_eq(book_best(b, SIDE_SELL), &o[0]);
    cr_assert_eq(book_find(b, 10), &o[0]);
    cr_assert_eq(book_level_quantity(b, SIDE_SELL, 100), 6);
    book_remove(b, &o[0]);
    cr_assert_eq(book_level_quantity(b, SIDE_SELL, 100), 6, "removing a 0-remaining order");
    cr_assert_eq(book_best(b, SIDE_SELL), &o[1]);
    book_free(b);
}

Test(book, cancel_from_middle_head_tail)
{
    struct book *b = book_new(1);
    struct order o[7];
    struct book_level_view v[2];

    for (int i = 0; i < 5; i++)
        insert_ok(b, order_set(&o[i], (uint64_t)(100 + i), (uint64_t)i, SIDE_BUY, 500, i + 1));
    EXPECT_QUEUE(b, SIDE_BUY, 100, 101, 102, 103, 104);
    cr_assert_eq(book_level_quantity(b, SIDE_BUY, 500), 15);

    book_remove(b, &o[2]); /* middle */
    EXPECT_QUEUE(b, SIDE_BUY, 100, 101, 103, 104);
    expect_links(book_best(b, SIDE_BUY));
    cr_assert_eq(book_level_quantity(b, SIDE_BUY, 500), 12);
    cr_assert_null(o[2].level);

    book_remove(b, &o[0]); /* head */
    EXPECT_QUEUE(b, SIDE_BUY, 101, 103, 104);
    expect_links(book_best(b, SIDE_BUY));
    cr_assert_eq(book_best(b, SIDE_BUY), &o[1]);
    cr_assert_eq(book_level_quantity(b, SIDE_BUY, 500), 11);

    book_remove(b, &o[4]); /* tail */
    EXPECT_QUEUE(b, SIDE_BUY, 101, 103);
    expect_links(book_best(b, SIDE_BUY));
    cr_assert_eq(book_level_quantity(b, SIDE_BUY, 500), 6);

    /* A new order goes behind the survivors, i.e. after the new tail. */
    insert_ok(b, order_set(&o[5], 105, 5, SIDE_BUY, 500, 10));
    EXPECT_QUEUE(b, SIDE_BUY, 101, 103, 105);
    expect_links(book_best(b, SIDE_BUY));
    cr_assert_eq(book_depth(b, SIDE_BUY, v, 2), 1);
    cr_assert_eq(v[0].price, 500);
    cr_assert_eq(v[0].quantity, 16);
    cr_assert_eq(v[0].orders, 3);
    cr_assert_eq(book_order_count(b), 3);

    /* A removed order can be inserted again (the engine reuses order structs). */
    insert_ok(b, order_set(&o[0], 100, 6, SIDE_BUY, 500, 1));
    EXPECT_QUEUE(b, SIDE_BUY, 101, 103, 105, 100);
    expect_links(book_best(b, SIDE_BUY));
    book_free(b);
}

Test(book, level_removed_when_empty)
{
    struct book *b = book_new(1);
    struct order o[5];
    struct book_level_view v[4];
    int64_t price = 0;

    insert_ok(b, order_set(&o[0], 1, 1, SIDE_SELL, 100, 1));
    insert_ok(b, order_set(&o[1], 2, 2, SIDE_SELL, 101, 2));
    insert_ok(b, order_set(&o[2], 3, 3, SIDE_SELL, 101, 3));
    insert_ok(b, order_set(&o[3], 4, 4, SIDE_SELL, 102, 4));
    cr_assert_eq(book_level_count(b, SIDE_SELL), 3);

    book_remove(b, &o[1]);
    cr_assert_eq(book_level_count(b, SIDE_SELL), 3, "level 101 still has an order");
    book_remove(b, &o[2]);
    cr_assert_eq(book_level_count(b, SIDE_SELL), 2, "empty middle level dropped");
    cr_assert_eq(book_level_quantity(b, SIDE_SELL, 101), 0);
    cr_assert_eq(book_depth(b, SIDE_SELL, v, 4), 2);
    cr_assert_eq(v[0].price, 100);
    cr_assert_eq(v[1].price, 102);

    book_remove(b, &o[0]); /* the best level */
    cr_assert_eq(book_level_count(b, SIDE_SELL), 1);
    cr_assert(book_best_price(b, SIDE_SELL, &price));
    cr_assert_eq(price, 102);
    cr_assert_eq(book_best(b, SIDE_SELL), &o[3]);

    /* A recycled level starts from zero. */
    insert_ok(b, order_set(&o[4], 5, 5, SIDE_SELL, 99, 7));
    cr_assert_eq(book_level_quantity(b, SIDE_SELL, 99), 7);
    cr_assert_eq(book_depth(b, SIDE_SELL, v, 4), 2);
    cr_assert_eq(v[0].price, 99);
    cr_assert_eq(v[0].orders, 1);
    EXPECT_QUEUE(b, SIDE_SELL, 5, 4);

    book_remove(b, &o[3]);
    book_remove(b, &o[4]);
    cr_assert_eq(book_level_count(b, SIDE_SELL), 0);
    cr_assert_null(book_best(b, SIDE_SELL));
    cr_assert_not(book_best_price(b, SIDE_SELL, &price));
    cr_assert_eq(book_order_count(b), 0);
    book_free(b);
}

Test(book, depth_ordering_and_aggregation)
{
    struct book *b = book_new(1);
    struct order o[9];
    struct book_level_view v[8];

    insert_ok(b, order_set(&o[0], 1, 1, SIDE_BUY, 100, 2));
    insert_ok(b, order_set(&o[1], 2, 2, SIDE_BUY, 99, 5));
    insert_ok(b, order_set(&o[2], 3, 3, SIDE_BUY, 100, 3));
    insert_ok(b, order_set(&o[3], 4, 4, SIDE_BUY, 101, 1));
    insert_ok(b, order_set(&o[4], 5, 5, SIDE_SELL, 105, 8));
    insert_ok(b, order_set(&o[5], 6, 6, SIDE_SELL, 103, 1));
    insert_ok(b, order_set(&o[6], 7, 7, SIDE_SELL, 102, 4));
    insert_ok(b, order_set(&o[7], 8, 8, SIDE_SELL, 103, 2));
    insert_ok(b, order_set(&o[8], 9, 9, SIDE_SELL, 103, 3));

    cr_assert_eq(book_depth(b, SIDE_BUY, v, 8), 3);
    cr_assert_eq(v[0].price, 101);
    cr_assert_eq(v[0].quantity, 1);
    cr_assert_eq(v[0].orders, 1);
    cr_assert_eq(v[1].price, 100);
    cr_assert_eq(v[1].quantity, 5);
    cr_assert_eq(v[1].orders, 2);
    cr_assert_eq(v[2].price, 99);
    cr_assert_eq(v[2].quantity, 5);
    cr_assert_eq(v[2].orders, 1);

    cr_assert_eq(book_depth(b, SIDE_SELL, v, 8), 3);
    cr_assert_eq(v[0].price, 102);
    cr_assert_eq(v[0].quantity, 4);
    cr_assert_eq(v[1].price, 103);
    cr_assert_eq(v[1].quantity, 6);
    cr_assert_eq(v[1].orders, 3);
    cr_assert_eq(v[2].price, 105);
    cr_assert_eq(v[2].quantity, 8);

    memset(v, 0xab, sizeof(v));
    cr_assert_eq(book_depth(b, SIDE_SELL, v, 2), 2, "max limits the copy");
    cr_assert_eq(v[0].price, 102);
    cr_assert_eq(v[1].price, 103);
    cr_assert_eq(v[2].price, (int64_t)0xabababababababab, "wrote past max");
    cr_assert_eq(book_depth(b, SIDE_BUY, v, 0), 0);

    cr_assert_eq(book_level_count(b, SIDE_BUY), 3);
    cr_assert_eq(book_level_count(b, SIDE_SELL), 3);
    cr_assert_eq(book_order_count(b), 9);
    cr_assert_eq(book_level_quantity(b, SIDE_BUY, 100), 5);
    cr_assert_eq(book_level_quantity(b, SIDE_SELL, 100), 0, "sides are separate");
    cr_assert_eq(book_level_quantity(b, SIDE_SELL, 104), 0);
    EXPECT_QUEUE(b, SIDE_BUY, 4, 1, 3, 2);
    EXPECT_QUEUE(b, SIDE_SELL, 7, 6, 8, 9, 5);
    book_free(b);
}

Test(book, find_after_remove_is_null)
{
    struct book *b = book_new(1);
    struct order o[3];

    insert_ok(b, order_set(&o[0], 42, 1, SIDE_BUY, 10, 1));
    insert_ok(b, order_set(&o[1], 43, 2, SIDE_BUY, 10, 1));
    insert_ok(b, order_set(&o[2], UINT64_MAX, 3, SIDE_SELL, 11, 1));
    cr_assert_eq(book_find(b, 42), &o[0]);
    cr_assert_eq(book_find(b, 43), &o[1]);
    cr_assert_eq(book_find(b, UINT64_MAX), &o[2]);
    cr_assert_null(book_find(b, 0));
    cr_assert_null(book_find(b, 44));

    book_remove(b, &o[0]);
    cr_assert_null(book_find(b, 42));
    cr_assert_eq(book_find(b, 43), &o[1]);
    cr_assert_null(o[0].level);
    cr_assert_null(o[0].prev);
    cr_assert_null(o[0].next);
    book_remove(b, &o[2]);
    cr_assert_null(book_find(b, UINT64_MAX));
    cr_assert_eq(book_order_count(b), 1);
    book_free(b); /* with an order still resting: the book must not free it */
    cr_assert_eq(o[1].id, 43);
}

#ifndef NDEBUG
Test(book, duplicate_id_is_a_bug, .signal = SIGABRT)
{
    struct book *b = book_new(1);
    struct order o[2];

    insert_ok(b, order_set(&o[0], 7, 1, SIDE_BUY, 10, 1));
    insert_ok(b, order_set(&o[1], 7, 2, SIDE_SELL, 20, 1));
}
#endif

/* Fisher-Yates. */
static void shuffle(struct order **v, size_t n, uint64_t *rng)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)rng_below(rng, i);
        struct order *t = v[i - 1];

        v[i - 1] = v[j];
        v[j] = t;
    }
}

#define MANY 100000
#define MANY_PRICES 2000

/*
 * 100k resting orders at once (the id index grows from its minimum through several resizes),
 * removed in random order, twice, so the second round runs on recycled levels.
 */
Test(book, many_orders)
{
    uint64_t seed = test_seed("BOOK_SEED");
    uint64_t rng = seed;
    struct book *b = book_new(1);
    struct order *o = calloc(MANY, sizeof(*o));
    struct order **perm = calloc(MANY, sizeof(*perm));
    int64_t *level_sum = calloc(2 * MANY_PRICES, sizeof(*level_sum));

    cr_assert(b && o && perm && level_sum);
    for (int round = 0; round < 2; round++) {
        struct book_level_view v[4];

        memset(level_sum, 0, 2 * MANY_PRICES * sizeof(*level_sum));
        for (size_t i = 0; i < MANY; i++) {
            /* round 0: scattered ids; round 1: dense sequential ids */
            uint64_t id = round == 0 ? mix64(i + 1) : i + 1;
            enum side side = rng_below(&rng, 2) ? SIDE_SELL : SIDE_BUY;
            int64_t price = 1 + (int64_t)rng_below(&rng, MANY_PRICES);
            int64_t qty = 1 + (int64_t)rng_below(&rng, 1000);

            order_set(&o[i], id, i, side, price, qty);
            insert_ok(b, &o[i]);
            level_sum[side * MANY_PRICES + price - 1] += qty;
            perm[i] = &o[i];
        }
        cr_assert_eq(book_order_count(b), MANY);
        for (size_t i = 0; i < MANY; i++)
            cr_assert_eq(book_find(b, o[i].id), &o[i], "seed %" PRIu64 ": find %zu", seed, i);
        for (int64_t p = 1; p <= MANY_PRICES; p++) {
            cr_assert_eq(book_level_quantity(b, SIDE_BUY, p), level_sum[p - 1]);
            cr_assert_eq(book_level_quantity(b, SIDE_SELL, p), level_sum[MANY_PRICES + p - 1]);
        }

        shuffle(perm, MANY, &rng);
        for (size_t i = 0; i < MANY; i++) {
            struct order *x = perm[i];
            uint64_t id = x->id;

            book_remove(b, x);
            if (book_find(b, id) != NULL)
                cr_assert_fail("seed %" PRIu64 ": id %" PRIu64 " found after remove", seed, id);
            if (i % 4096 == 0) {
                cr_assert_eq(book_order_count(b), MANY - i - 1);
                cr_assert_eq(book_find(b, perm[MANY - 1]->id), perm[MANY - 1]);
            }
        }
        cr_assert_eq(book_order_count(b), 0);
        cr_assert_eq(book_level_count(b, SIDE_BUY), 0);
        cr_assert_eq(book_level_count(b, SIDE_SELL), 0);
        cr_assert_eq(book_depth(b, SIDE_BUY, v, 4), 0);
        cr_assert_null(book_best(b, SIDE_SELL));
    }
    book_free(b);
    free(level_sum);
    free(perm);
    free(o);
}

/* ---------------------------------------------------------------------------------------------
 * Randomised comparison against a naive reference book.
 *
 * The reference keeps, per side, a plain array of orders sorted by priority (bids: price
 * descending, asks: price ascending; then seq ascending), so the best order is element 0. A small
 * matching loop is written twice, once over book_best/book_reduce/book_remove and once over the
 * arrays; every step compares depth, best orders, counts and the fills produced.
 */

#define SIM_STEPS 200000
#define SIM_POOL 1024
#define SIM_MAX_LIVE 800
#define SIM_DEPTH 256
#define SIM_MAX_FILLS 1024

struct ref_order {
    uint64_t id;
    uint64_t seq;
    int64_t price;
    int64_t remaining;
};

struct ref_book {
    struct ref_order side[2][SIM_POOL];
    size_t n[2];
};

struct fill {
    uint64_t maker_id;
    int64_t price;
    int64_t qty;
};

struct sim {
    uint64_t seed;
    uint64_t rng;
    size_t step;
    uint64_t seq;
    struct book *book;
    struct ref_book ref;
    struct order pool[SIM_POOL];
    struct order *free_orders[SIM_POOL];
    size_t nfree;
    uint64_t dead_ids[64]; /* recently removed ids: must not be found */
    size_t ndead;
    int64_t mid;
    int64_t scale; /* price steps of `scale` ticks: > 1 spreads the book beyond the ladder window */
    int64_t tick;  /* the book's tick size; prices that are not multiples of it are also used */
};

#define SIM_REQUIRE(s, cond, fmt, ...)                                                             \
    do {                                                                                           \
        if (!(cond))                                                                               \
            cr_assert_fail("BOOK_SEED=%" PRIu64 " step %zu: " fmt, (s)->seed, (s)->step,           \
                           ##__VA_ARGS__);                                                         \
    } while (0)

/* True when `a` has priority over `b` on `side`. */
static bool ref_ahead(enum side side, const struct ref_order *a, const struct ref_order *b)
{
    if (a->price != b->price)
        return side == SIDE_BUY ? a->price > b->price : a->price < b->price;
    return a->seq < b->seq;
}

static void ref_insert(struct ref_book *r, enum side side, struct ref_order o)
{
    struct ref_order *v = r->side[side];
    size_t i = 0;

    while (i < r->n[side] && ref_ahead(side, &v[i], &o))
        i++;
    memmove(&v[i + 1], &v[i], (r->n[side] - i) * sizeof(*v));
    v[i] = o;
    r->n[side]++;
}

static void ref_remove_at(struct ref_book *r, enum side side, size_t i)
{
    struct ref_order *v = r->side[side];

    memmove(&v[i], &v[i + 1], (r->n[side] - i - 1) * sizeof(*v));
    r->n[side]--;
}

static size_t ref_depth(const struct ref_book *r, enum side side, struct book_level_view *out,
                        size_t max)
{
    size_t n = 0;

    for (size_t i = 0; i < r->n[side]; i++) {
        const struct ref_order *o = &r->side[side][i];

        if (n > 0 && out[n - 1].price == o->price) {
            out[n - 1].quantity += o->remaining;
            out[n - 1].orders++;
        } else {
            if (n == max)
                break;
            out[n++] =
                (struct book_level_view){.price = o->price, .quantity = o->remaining, .orders = 1};
        }
    }
    return n;
}

static bool crosses(enum side taker, int64_t limit, int64_t maker_price)
{
    return taker == SIDE_BUY ? maker_price <= limit : maker_price >= limit;
}

static enum side opposite(enum side s)
{
    return s == SIDE_BUY ? SIDE_SELL : SIDE_BUY;
}

static void sim_release(struct sim *s, struct order *o)
{
    s->dead_ids[s->ndead++ % 64] = o->id;
    s->free_orders[s->nfree++] = o;
}

/* Match on the real book; returns what is left of qty, appends fills. */
static int64_t real_match(struct sim *s, enum side taker, int64_t limit, int64_t qty,
                          struct fill *fills, size_t *nfills)
{
    while (qty > 0) {
        struct order *m = book_best(s->book, opposite(taker));
        int64_t q;

        if (!m || !crosses(taker, limit, m->price))
            break;
        q = m->remaining < qty ? m->remaining : qty;
        book_reduce(s->book, m, q);
        fills[(*nfills)++] = (struct fill){.maker_id = m->id, .price = m->price, .qty = q};
        qty -= q;
        if (m->remaining == 0) {
            book_remove(s->book, m);
            sim_release(s, m);
        }
    }
    return qty;
}

static int64_t ref_match(struct ref_book *r, enum side taker, int64_t limit, int64_t qty,
                         struct fill *fills, size_t *nfills)
{
    enum side maker = opposite(taker);

    while (qty > 0 && r->n[maker] > 0) {
        struct ref_order *m = &r->side[maker][0];
        int64_t q;

        if (!crosses(taker, limit, m->price))
            break;
        q = m->remaining < qty ? m->remaining : qty;
        m->remaining -= q;
        fills[(*nfills)++] = (struct fill){.maker_id = m->id, .price = m->price, .qty = q};
        qty -= q;
        if (m->remaining == 0)
            ref_remove_at(r, maker, 0);
    }
    return qty;
}

/* An incoming order on both books: match, then rest the remainder unless `ioc`. */
static void sim_order(struct sim *s, enum side side, int64_t price, int64_t qty, bool ioc)
{
    static struct fill real_fills[SIM_MAX_FILLS];
    static struct fill ref_fills[SIM_MAX_FILLS];
    size_t nreal = 0;
    size_t nref = 0;
    struct order *o;
    uint64_t seq = ++s->seq;
    uint64_t id = mix64(seq); /* unique (mix64 is a bijection) and scattered */
    int64_t left_real = real_match(s, side, price, qty, real_fills, &nreal);
    int64_t left_ref = ref_match(&s->ref, side, price, qty, ref_fills, &nref);

    SIM_REQUIRE(s, nreal == nref, "%zu fills, reference %zu", nreal, nref);
    SIM_REQUIRE(s, left_real == left_ref, "left %" PRId64 ", reference %" PRId64, left_real,
                left_ref);
    for (size_t i = 0; i < nreal; i++)
        SIM_REQUIRE(s,
                    real_fills[i].maker_id == ref_fills[i].maker_id &&
                        real_fills[i].price == ref_fills[i].price &&
                        real_fills[i].qty == ref_fills[i].qty,
                    "fill %zu: maker %" PRIu64 " %" PRId64 "@%" PRId64 ", reference maker %" PRIu64
                    " %" PRId64 "@%" PRId64,
                    i, real_fills[i].maker_id, real_fills[i].qty, real_fills[i].price,
                    ref_fills[i].maker_id, ref_fills[i].qty, ref_fills[i].price);
    if (ioc || left_real == 0)
        return;

    SIM_REQUIRE(s, s->nfree > 0, "order pool exhausted");
    o = s->free_orders[--s->nfree];
    order_set(o, id, seq, side, price, qty);
    o->remaining = left_real;
    SIM_REQUIRE(s, book_insert(s->book, o), "book_insert failed");
    ref_insert(&s->ref, side,
               (struct ref_order){.id = id, .seq = seq, .price = price, .remaining = left_real});
}

/* Cancel the k-th live order (counting bids then asks in priority order). */
static void sim_cancel(struct sim *s, size_t k)
{
    enum side side = k < s->ref.n[SIDE_BUY] ? SIDE_BUY : SIDE_SELL;
    size_t i = side == SIDE_BUY ? k : k - s->ref.n[SIDE_BUY];
    struct ref_order want = s->ref.side[side][i];
    struct order *o = book_find(s->book, want.id);

    SIM_REQUIRE(s, o != NULL, "live id %" PRIu64 " not found", want.id);
    SIM_REQUIRE(s,
                o->id == want.id && o->side == side && o->price == want.price &&
                    o->remaining == want.remaining,
                "find(%" PRIu64 ") returned a different order", want.id);
    book_remove(s->book, o);
    sim_release(s, o);
    ref_remove_at(&s->ref, side, i);
}

static void sim_compare_side(struct sim *s, enum side side)
{
    static struct book_level_view got[SIM_DEPTH];
    static struct book_level_view want[SIM_DEPTH];
    size_t ngot = book_depth(s->book, side, got, SIM_DEPTH);
    size_t nwant = ref_depth(&s->ref, side, want, SIM_DEPTH);
    const struct order *best = book_best(s->book, side);
    int64_t price = 0;
    bool has_price = book_best_price(s->book, side, &price);

    SIM_REQUIRE(s, ngot == nwant, "side %d: %zu levels, reference %zu", (int)side, ngot, nwant);
    SIM_REQUIRE(s, book_level_count(s->book, side) == nwant, "side %d: level count", (int)side);
    for (size_t i = 0; i < ngot; i++)
        SIM_REQUIRE(s,
                    got[i].price == want[i].price && got[i].quantity == want[i].quantity &&
                        got[i].orders == want[i].orders,
                    "side %d level %zu: %" PRId64 " x %" PRId64 " (%u), reference %" PRId64
                    " x %" PRId64 " (%u)",
                    (int)side, i, got[i].price, got[i].quantity, got[i].orders, want[i].price,
                    want[i].quantity, want[i].orders);
    if (s->ref.n[side] == 0) {
        SIM_REQUIRE(s, best == NULL && !has_price, "side %d should be empty", (int)side);
        return;
    }
    SIM_REQUIRE(s, best != NULL && best->id == s->ref.side[side][0].id,
                "side %d: best id %" PRIu64 ", reference %" PRIu64, (int)side, best ? best->id : 0,
                s->ref.side[side][0].id);
    SIM_REQUIRE(s, best->remaining == s->ref.side[side][0].remaining, "best remaining");
    SIM_REQUIRE(s, has_price && price == s->ref.side[side][0].price, "best price");
}

struct queue_check {
    struct sim *s;
    enum side side;
    size_t i;
};

static void check_queue_entry(const struct order *o, void *ctx)
{
    struct queue_check *q = ctx;
    const struct ref_order *want = &q->s->ref.side[q->side][q->i];

    SIM_REQUIRE(q->s, q->i < q->s->ref.n[q->side], "side %d: more orders than the reference",
                (int)q->side);
    SIM_REQUIRE(q->s, o->id == want->id && o->remaining == want->remaining,
                "side %d position %zu: id %" PRIu64 ", reference %" PRIu64, (int)q->side, q->i,
                o->id, want->id);
    q->i++;
}

/* The slower checks: full queue order, the id index, and per-price lookups. */
static void sim_compare_full(struct sim *s)
{
    for (int side = 0; side < 2; side++) {
        struct queue_check q = {.s = s, .side = (enum side)side, .i = 0};

        book_foreach(s->book, (enum side)side, check_queue_entry, &q);
        SIM_REQUIRE(s, q.i == s->ref.n[side], "side %d: foreach saw %zu orders, reference %zu",
                    side, q.i, s->ref.n[side]);
        for (size_t i = 0; i < s->ref.n[side]; i++) {
            const struct order *o = book_find(s->book, s->ref.side[side][i].id);

            SIM_REQUIRE(s, o && o->id == s->ref.side[side][i].id, "find live order");
        }
    }
    for (size_t i = 0; i < 64 && i < s->ndead; i++)
        SIM_REQUIRE(s, book_find(s->book, s->dead_ids[i]) == NULL,
                    "removed id %" PRIu64 " still found", s->dead_ids[i]);
    for (int side = 0; side < 2; side++) {
        struct book_level_view want[SIM_DEPTH];
        size_t n = ref_depth(&s->ref, (enum side)side, want, SIM_DEPTH);

        for (size_t i = 0; i < n; i++)
            SIM_REQUIRE(
                s, book_level_quantity(s->book, (enum side)side, want[i].price) == want[i].quantity,
                "side %d level quantity at %" PRId64, side, want[i].price);
    }
    for (int64_t p = s->mid - 40 * s->scale; p <= s->mid + 40 * s->scale; p += s->scale) {
        struct book_level_view want[SIM_DEPTH];
        int64_t sum[2] = {0, 0};

        for (int side = 0; side < 2; side++) {
            size_t n = ref_depth(&s->ref, (enum side)side, want, SIM_DEPTH);

            for (size_t i = 0; i < n; i++)
                if (want[i].price == p)
                    sum[side] = want[i].quantity;
            SIM_REQUIRE(s, book_level_quantity(s->book, (enum side)side, p) == sum[side],
                        "level quantity at %" PRId64, p);
        }
    }
}

/* A limit price for `side`: mostly passive (rests), sometimes through the spread. */
static int64_t sim_price(struct sim *s, enum side side)
{
    int64_t off = (int64_t)rng_below(&s->rng, 30) * s->scale;

    if (rng_below(&s->rng, 5) == 0)
        off = -(int64_t)rng_below(&s->rng, 10) * s->scale;
    /* now and then an odd price, off the tick grid (restored orders after a tick change) */
    if (s->tick > 1 && rng_below(&s->rng, 50) == 0)
        off += 1 + (int64_t)rng_below(&s->rng, (uint64_t)s->tick - 1);
    return side == SIDE_BUY ? s->mid - off : s->mid + s->tick + off;
}

/*
 * One random command. Cancels become likelier as the book fills (probability live / 1000), which
 * keeps a few hundred orders resting over a few dozen levels per side.
 */
static void sim_step(struct sim *s)
{
    size_t live = s->ref.n[SIDE_BUY] + s->ref.n[SIDE_SELL];
    uint64_t r = rng_below(&s->rng, 1000);
    enum side side = rng_below(&s->rng, 2) ? SIDE_SELL : SIDE_BUY;

    if (rng_below(&s->rng, 20) == 0)
        s->mid += rng_below(&s->rng, 2) ? s->tick : -s->tick;
    /* wide books: the market jumps by up to 30 steps now and then (moves the ladder window) */
    if (s->scale > 1 && rng_below(&s->rng, 200) == 0)
        s->mid += ((int64_t)rng_below(&s->rng, 61) - 30) * s->scale;
    if (s->mid < 100 * s->scale)
        s->mid = 100 * s->scale; /* prices stay > 0 */
    if (live >= SIM_MAX_LIVE || rng_below(&s->rng, 1000) < live) {
        sim_cancel(s, (size_t)rng_below(&s->rng, live));
    } else if (r < 700) {
        sim_order(s, side, sim_price(s, side), 1 + (int64_t)rng_below(&s->rng, 100), false);
    } else if (r < 900) {
        int64_t price = s->mid + ((int64_t)rng_below(&s->rng, 41) - 20) * s->scale;

        sim_order(s, side, price, 1 + (int64_t)rng_below(&s->rng, 500), true);
    } else if (r < 999) {
        /* an id that is not (or no longer) in the book */
        uint64_t id = s->ndead ? s->dead_ids[rng_below(&s->rng, s->ndead < 64 ? s->ndead : 64)]
                               : mix64(s->seq + 1);

        SIM_REQUIRE(s, book_find(s->book, id) == NULL, "dead id %" PRIu64 " found", id);
    } else {
        /* a sweep that empties the opposite side */
        sim_order(s, side, side == SIDE_BUY ? INT64_MAX : 1, INT64_MAX / 2, true);
        SIM_REQUIRE(s, book_best(s->book, opposite(side)) == NULL, "sweep left orders");
    }
}

static void sim_run(int64_t tick, int64_t scale)
{
    struct sim *s = calloc(1, sizeof(*s));

    cr_assert_not_null(s);
    s->seed = test_seed("BOOK_SEED");
    s->rng = s->seed;
    s->tick = tick;
    s->scale = scale * tick;
    s->mid = 100000 * tick;
    s->book = book_new(tick);
    cr_assert_not_null(s->book);
    for (size_t i = 0; i < SIM_POOL; i++)
        s->free_orders[s->nfree++] = &s->pool[SIM_POOL - 1 - i];

    for (s->step = 0; s->step < SIM_STEPS; s->step++) {
        sim_step(s);
        SIM_REQUIRE(s, book_order_count(s->book) == s->ref.n[SIDE_BUY] + s->ref.n[SIDE_SELL],
                    "order count %zu, reference %zu", book_order_count(s->book),
                    s->ref.n[SIDE_BUY] + s->ref.n[SIDE_SELL]);
        sim_compare_side(s, SIDE_BUY);
        sim_compare_side(s, SIDE_SELL);
        if (s->step % 512 == 0)
            sim_compare_full(s);
    }
    sim_compare_full(s);
    book_free(s->book);
    free(s);
}

/* A book within a few dozen ticks of the mid: every level in the ladder window. */
Test(book, random_against_reference, .timeout = 60)
{
    sim_run(1, 1);
}

/*
 * Levels up to 30 x 500 ticks from a mid that jumps by up to 15,000 ticks: most levels are
 * outside the 8,192-tick ladder window, the window moves often, and 2% of prices are off the
 * tick grid (always in the overflow).
 */
Test(book, random_wide_book_against_reference, .timeout = 60)
{
    sim_run(100, 500);
}

/* Price steps of 150 ticks: levels straddle the window's edges. */
Test(book, random_window_edges_against_reference, .timeout = 60)
{
    sim_run(5, 150);
}

static bool collect_first_three(const struct order *o, void *ctx)
{
    struct id_list *l = ctx;

    l->ids[l->n++] = o->id;
    return l->n < 3;
}

/* book_walk visits in priority order (across levels and within one) and stops when told. */
Test(book, walk_stops_when_told)
{
    struct book *b = book_new(1);
    struct order o[5];
    struct id_list got = {.n = 0};

    cr_assert_not_null(b);
    insert_ok(b, order_set(&o[0], 1, 1, SIDE_SELL, 101, 1));
    insert_ok(b, order_set(&o[1], 2, 2, SIDE_SELL, 100, 1));
    insert_ok(b, order_set(&o[2], 3, 3, SIDE_SELL, 100, 1));
    insert_ok(b, order_set(&o[3], 4, 4, SIDE_SELL, 102, 1));
    insert_ok(b, order_set(&o[4], 5, 5, SIDE_SELL, 50000, 1)); /* far: in the overflow */
    book_walk(b, SIDE_SELL, collect_first_three, &got);
    cr_assert_eq(got.n, 3);
    cr_assert_eq(got.ids[0], 2);
    cr_assert_eq(got.ids[1], 3);
    cr_assert_eq(got.ids[2], 1);
    got.n = 0;
    book_walk(b, SIDE_BUY, collect_first_three, &got);
    cr_assert_eq(got.n, 0);
    for (int i = 0; i < 5; i++)
        book_remove(b, &o[i]);
    book_free(b);
}
