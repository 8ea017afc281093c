#include "engine/book.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/*
 * Layout
 *
 * Each side keeps an array of level pointers sorted from the worst price to the best, so the best
 * level is the last element: reading it, and dropping it once a fill empties it, is O(1) and the
 * common case (activity near the top of the book) moves few pointers on insert. Bids are
 * therefore in ascending price order and asks in descending price order.
 *
 * Each level is a doubly linked FIFO of orders through order.prev/next; insertion appends at the
 * tail, so the queue is in insertion order (the engine inserts in seq order).
 *
 * The id index is a chained hash (order.id_next) with a power-of-two bucket count, Fibonacci
 * hashing, and a load factor of at most 1.
 *
 * Emptied level structs go on a free list (linked through `next_free`) and are reused, so a book
 * in steady state does not call malloc.
 */

#define BOOK_MIN_HASH_BITS 6
#define BOOK_MIN_LEVEL_CAP 16

struct book_level {
    int64_t price;    /* quote minor units per whole base unit */
    int64_t quantity; /* sum of `remaining` of the orders below, base minor units */
    uint32_t orders;
    uint8_t side;
    struct order *head; /* oldest: matched first */
    struct order *tail; /* newest */
    struct book_level *next_free;
};

struct book_side {
    struct book_level **levels; /* worst ... best */
    size_t count;
    size_t cap;
};

struct book {
    struct book_side sides[2];
    struct order **buckets;
    unsigned hash_bits; /* buckets has 1 << hash_bits entries */
    size_t order_count;
    struct book_level *free_levels;
};

/* True when price a is strictly better than b for `side` (higher bid, lower ask). */
static bool price_better(uint8_t side, int64_t a, int64_t b)
{
    return side == SIDE_BUY ? a > b : a < b;
}

/*
 * Index of the first level of `bs` whose price is not worse than `price`: where a level at
 * `price` is, or would be inserted to keep the array sorted.
 */
static size_t side_lower_bound(const struct book_side *bs, uint8_t side, int64_t price)
{
    size_t lo = 0;
    size_t hi = bs->count;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (price_better(side, price, bs->levels[mid]->price))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The level at exactly (side, price), with its index in *idx, or NULL. */
static struct book_level *side_find(const struct book_side *bs, uint8_t side, int64_t price,
                                    size_t *idx)
{
    size_t i = side_lower_bound(bs, side, price);

    *idx = i;
    if (i < bs->count && bs->levels[i]->price == price)
        return bs->levels[i];
    return NULL;
}

/* Make room for one more level pointer. False on out of memory (nothing changed). */
static bool side_reserve(struct book_side *bs)
{
    struct book_level **grown;
    size_t cap;

    if (bs->count < bs->cap)
        return true;
    cap = bs->cap ? bs->cap * 2 : BOOK_MIN_LEVEL_CAP;
    grown = realloc(bs->levels, cap * sizeof(*grown));
    if (!grown)
        return false;
    bs->levels = grown;
    bs->cap = cap;
    return true;
}

static size_t hash_slot(uint64_t id, unsigned bits)
{
    /* Fibonacci hashing (Knuth, TAOCP vol. 3, 6.4): 2^64 / golden ratio, keep the top bits. */
    return (size_t)((id * UINT64_C(0x9E3779B97F4A7C15)) >> (64 - bits));
}

/*
 * Grow the id index so that one more order keeps the load factor <= 1. False on out of memory
 * (the index is unchanged).
 */
static bool hash_reserve(struct book *b)
{
    size_t n = (size_t)1 << b->hash_bits;
    unsigned bits = b->hash_bits + 1;
    struct order **grown;

    if (b->order_count < n)
        return true;
    grown = calloc((size_t)1 << bits, sizeof(*grown));
    if (!grown)
        return false;
    for (size_t i = 0; i < n; i++) {
        struct order *o = b->buckets[i];

        while (o) {
            struct order *next = o->id_next;
            size_t slot = hash_slot(o->id, bits);

            o->id_next = grown[slot];
            grown[slot] = o;
            o = next;
        }
    }
    free(b->buckets);
    b->buckets = grown;
    b->hash_bits = bits;
    return true;
}

static void hash_unlink(struct book *b, struct order *o)
{
    struct order **pp = &b->buckets[hash_slot(o->id, b->hash_bits)];

    while (*pp != o) {
        assert(*pp && "order not in the id index");
        pp = &(*pp)->id_next;
    }
    *pp = o->id_next;
    o->id_next = NULL;
}

struct book *book_new(void)
{
    struct book *b = calloc(1, sizeof(*b));

    if (!b)
        return NULL;
    b->hash_bits = BOOK_MIN_HASH_BITS;
    b->buckets = calloc((size_t)1 << b->hash_bits, sizeof(*b->buckets));
    if (!b->buckets) {
        free(b);
        return NULL;
    }
    return b;
}

void book_free(struct book *b)
{
    if (!b)
        return;
    for (int s = 0; s < 2; s++) {
        struct book_side *bs = &b->sides[s];

        for (size_t i = 0; i < bs->count; i++)
            free(bs->levels[i]);
        free(bs->levels);
    }
    while (b->free_levels) {
        struct book_level *l = b->free_levels;

        b->free_levels = l->next_free;
        free(l);
    }
    free(b->buckets);
    free(b);
}

/*
 * The level for (side, price), taken from the free list or malloc'd and inserted into the side
 * array if it does not exist yet. NULL on out of memory (nothing changed).
 */
static struct book_level *level_get(struct book *b, uint8_t side, int64_t price)
{
    struct book_side *bs = &b->sides[side];
    size_t idx;
    struct book_level *l = side_find(bs, side, price, &idx);

    if (l)
        return l;
    if (!side_reserve(bs))
        return NULL;
    if (b->free_levels) {
        l = b->free_levels;
        b->free_levels = l->next_free;
    } else {
        l = malloc(sizeof(*l));
        if (!l)
            return NULL;
    }
    *l = (struct book_level){.price = price, .side = side};
    memmove(&bs->levels[idx + 1], &bs->levels[idx], (bs->count - idx) * sizeof(*bs->levels));
    bs->levels[idx] = l;
    bs->count++;
    return l;
}

/* Take an empty level out of its side array and put it on the free list. */
static void level_drop(struct book *b, struct book_level *l)
{
    struct book_side *bs = &b->sides[l->side];
    size_t idx;

    assert(l->orders == 0 && l->head == NULL);
    if (bs->levels[bs->count - 1] == l) {
        /* The best level: the usual case when fills empty it. */
        idx = bs->count - 1;
    } else {
        struct book_level *found = side_find(bs, l->side, l->price, &idx);

        assert(found == l);
        (void)found;
        memmove(&bs->levels[idx], &bs->levels[idx + 1],
                (bs->count - idx - 1) * sizeof(*bs->levels));
    }
    bs->count--;
    l->next_free = b->free_levels;
    b->free_levels = l;
}

bool book_insert(struct book *b, struct order *o)
{
    struct book_level *l;
    size_t slot;
    bool overflow;

    assert(o->remaining > 0);
    assert(o->side == SIDE_BUY || o->side == SIDE_SELL);
    assert(book_find(b, o->id) == NULL && "order id already in the book");
    /* Grow the index first: if the level allocation then fails the book is still unchanged. */
    if (!hash_reserve(b))
        return false;
    l = level_get(b, o->side, o->price);
    if (!l)
        return false;

    overflow = __builtin_add_overflow(l->quantity, o->remaining, &l->quantity);
    assert(!overflow && "level quantity overflows int64");
    (void)overflow;
    o->level = l;
    o->next = NULL;
    o->prev = l->tail;
    if (l->tail)
        l->tail->next = o;
    else
        l->head = o;
    l->tail = o;
    l->orders++;

    slot = hash_slot(o->id, b->hash_bits);
    o->id_next = b->buckets[slot];
    b->buckets[slot] = o;
    b->order_count++;
    return true;
}

void book_remove(struct book *b, struct order *o)
{
    struct book_level *l = o->level;

    assert(l && "order is not resting in a book");
    if (o->prev)
        o->prev->next = o->next;
    else
        l->head = o->next;
    if (o->next)
        o->next->prev = o->prev;
    else
        l->tail = o->prev;
    l->quantity -= o->remaining;
    l->orders--;
    if (l->orders == 0)
        level_drop(b, l);

    hash_unlink(b, o);
    b->order_count--;
    o->prev = NULL;
    o->next = NULL;
    o->level = NULL;
}

struct order *book_find(const struct book *b, uint64_t id)
{
    struct order *o = b->buckets[hash_slot(id, b->hash_bits)];

    while (o && o->id != id)
        o = o->id_next;
    return o;
}

/* The best level of `side`, or NULL when that side is empty. */
static const struct book_level *side_best(const struct book *b, enum side side)
{
    const struct book_side *bs = &b->sides[side];

    return bs->count ? bs->levels[bs->count - 1] : NULL;
}

struct order *book_best(const struct book *b, enum side side)
{
    const struct book_level *l = side_best(b, side);

    return l ? l->head : NULL;
}

bool book_best_price(const struct book *b, enum side side, int64_t *price)
{
    const struct book_level *l = side_best(b, side);

    if (!l)
        return false;
    *price = l->price;
    return true;
}

void book_reduce(struct book *b, struct order *o, int64_t qty)
{
    (void)b;
    assert(o->level && "order is not resting in a book");
    assert(qty > 0 && qty <= o->remaining);
    o->remaining -= qty;
    o->level->quantity -= qty;
}

int64_t book_level_quantity(const struct book *b, enum side side, int64_t price)
{
    size_t idx;
    const struct book_level *l = side_find(&b->sides[side], (uint8_t)side, price, &idx);

    return l ? l->quantity : 0;
}

size_t book_depth(const struct book *b, enum side side, struct book_level_view *out, size_t max)
{
    const struct book_side *bs = &b->sides[side];
    size_t n = bs->count < max ? bs->count : max;

    for (size_t i = 0; i < n; i++) {
        const struct book_level *l = bs->levels[bs->count - 1 - i];

        out[i] = (struct book_level_view){
            .price = l->price, .quantity = l->quantity, .orders = l->orders};
    }
    return n;
}

size_t book_level_count(const struct book *b, enum side side)
{
    return b->sides[side].count;
}

size_t book_order_count(const struct book *b)
{
    return b->order_count;
}

void book_foreach(const struct book *b, enum side side,
                  void (*fn)(const struct order *o, void *ctx), void *ctx)
{
    const struct book_side *bs = &b->sides[side];

    for (size_t i = bs->count; i-- > 0;) {
        for (const struct order *o = bs->levels[i]->head; o; o = o->next)
            fn(o, ctx);
    }
}
