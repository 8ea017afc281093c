#include "engine/book.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/*
 * Layout
 *
 * Price levels are found by tick, not by search. Each side maps a price to a key that grows with
 * how good the price is (bids: price / tick, asks: -(price / tick)), so "best" is always "highest
 * key" and one code path serves both sides.
 *
 * - The ladder: a window of BOOK_LADDER_TICKS consecutive keys [base, base + W) holding a level
 *   pointer per tick, with an occupancy bitmap (one bit per tick) and a summary bitmap (one bit
 *   per non-zero bitmap word). Finding, creating and dropping a level in the window is O(1); the
 *   next best level after the best empties is found by scanning the bitmap downwards with the
 *   summary (at most W / 64 / 64 + 2 word reads). The best slot is cached.
 * - The overflow: a sorted array (worst ... best) of the levels outside the window (and of any
 *   price that is not a multiple of the tick), searched by bisection as before. Normally it
 *   holds only the far, inactive levels behind the window.
 *
 * The window follows the market: when a level is created above the window (a better price than
 * the window covers), or when the ladder is empty and a level is created outside it, the side is
 * rebuilt around its best key, which is then placed at 3/4 of the window (room for W/4 ticks of
 * improvement, 3W/4 behind). A rebuild moves every level of the side once, O(levels + W / 64);
 * it needs the best price to move by W/4 ticks since the last one, so its amortised cost is
 * small for a market that drifts. The worst case, an adversary alternating far-away best prices
 * on an otherwise empty window, is O(levels of the side) per command. Correctness never depends
 * on which part holds a level: the best level is the better of the ladder's and the overflow's.
 *
 * Each level is a doubly linked FIFO of orders through order.prev/next; insertion appends at the
 * tail, so the queue is in insertion order (the engine inserts in seq order).
 *
 * The id index is open addressing over (id, order *) pairs, linear probing, Fibonacci hashing,
 * load factor at most 1/2, backward-shift deletion (no tombstones), so a lookup reads
 * consecutive slots and never dereferences an order it does not return. The duplicate-id check
 * of book_insert() is the insert's own probe, not a second lookup. It grows incrementally (as
 * redis's dict does): at load 1/2 a table twice the size is allocated and every later insert or
 * remove moves ID_MIGRATE_STEP slots of the old table into it; lookups and removals also look in
 * the old table (which marks removals with a tombstone) until it is empty. No insert ever walks
 * the whole index.
 *
 * Emptied level structs go on a free list (linked through `next_free`) and are reused, so a book
 * in steady state does not call malloc.
 */

#define BOOK_MIN_HASH_BITS 6
#define BOOK_MIN_LEVEL_CAP 16
#define LADDER_BITS 13
#define LADDER_W ((int64_t)1 << LADDER_BITS) /* ticks in the window: 8,192 */
#define LADDER_WORDS (LADDER_W / 64)
#define SUMMARY_WORDS (LADDER_WORDS / 64)
/* keys beyond +-2^61 (absurd prices) always live in the overflow: base + W never overflows */
#define KEY_LIMIT ((int64_t)1 << 61)

struct book_level {
    int64_t price;    /* quote minor units per whole base unit */
    int64_t quantity; /* sum of `remaining` of the orders below, base minor units */
    uint32_t orders;
    uint8_t side;
    int32_t slot;       /* index in the ladder window, -1 in the overflow */
    struct order *head; /* oldest: matched first */
    struct order *tail; /* newest */
    struct book_level *next_free;
};

struct id_slot {
    uint64_t id;
    struct order *o; /* NULL: empty; &id_tombstone: removed (old table only) */
};

struct id_table {
    struct id_slot *v;
    unsigned bits; /* 1 << bits slots */
    size_t n;      /* live entries */
};

struct book_side {
    /* ladder */
    int64_t base;     /* key of slot 0 */
    int32_t best;     /* highest occupied slot, -1 if the ladder is empty */
    size_t in_ladder; /* levels in the ladder */
    struct book_level *slots[LADDER_W];
    uint64_t bits[LADDER_WORDS];
    uint64_t summary[SUMMARY_WORDS];
    /* overflow, sorted worst ... best */
    struct book_level **levels;
    size_t count;
    size_t cap;
};

struct book {
    struct book_side sides[2];
    int64_t tick;            /* tick size, quote minor units */
    struct id_table ids;     /* the id index */
    struct id_table old_ids; /* while growing: the table being emptied into ids (v NULL if none) */
    size_t migrate_at;       /* next slot of old_ids to move */
    size_t order_count;
    struct book_level *free_levels;
    struct book_level **scratch; /* rebuild buffer */
    size_t scratch_cap;
};

/* True when price a is strictly better than b for `side` (higher bid, lower ask). */
static bool price_better(uint8_t side, int64_t a, int64_t b)
{
    return side == SIDE_BUY ? a > b : a < b;
}

/*
 * The ladder key of a price (higher = better), or false if the price can never be in the
 * ladder (not a multiple of the tick, or absurdly large).
 */
static bool price_key(const struct book *b, uint8_t side, int64_t price, int64_t *key)
{
    int64_t t;

    if (price % b->tick != 0)
        return false;
    t = price / b->tick;
    if (t >= KEY_LIMIT || t <= -KEY_LIMIT)
        return false;
    *key = side == SIDE_BUY ? t : -t;
    return true;
}

/* The ladder slot of a price, or -1 if it is outside the window. */
static int32_t ladder_slot(const struct book *b, uint8_t side, int64_t price)
{
    const struct book_side *bs = &b->sides[side];
    int64_t key;

    if (!price_key(b, side, price, &key) || key < bs->base || key - bs->base >= LADDER_W)
        return -1;
    return (int32_t)(key - bs->base);
}

static void bit_set(struct book_side *bs, int32_t slot)
{
    bs->bits[slot >> 6] |= UINT64_C(1) << (slot & 63);
    bs->summary[slot >> 12] |= UINT64_C(1) << ((slot >> 6) & 63);
}

static void bit_clear(struct book_side *bs, int32_t slot)
{
    uint64_t *w = &bs->bits[slot >> 6];

    *w &= ~(UINT64_C(1) << (slot & 63));
    if (*w == 0)
        bs->summary[slot >> 12] &= ~(UINT64_C(1) << ((slot >> 6) & 63));
}

/* The highest occupied slot <= `from`, or -1. */
static int32_t ladder_prev(const struct book_side *bs, int32_t from)
{
    int32_t wi;
    uint64_t w;
    int32_t si;
    uint64_t s;

    if (from < 0)
        return -1;
    wi = from >> 6;
    w = bs->bits[wi] & (~UINT64_C(0) >> (63 - (from & 63)));
    if (w)
        return (wi << 6) | (63 - __builtin_clzll(w));
    /* the nearest non-empty word below wi, through the summary */
    if (wi == 0)
        return -1;
    wi--;
    si = wi >> 6;
    s = bs->summary[si] & (~UINT64_C(0) >> (63 - (wi & 63)));
    while (!s) {
        if (si == 0)
            return -1;
        s = bs->summary[--si];
    }
    wi = (si << 6) | (63 - __builtin_clzll(s));
    w = bs->bits[wi];
    return (wi << 6) | (63 - __builtin_clzll(w));
}

/*
 * Index of the first overflow level of `bs` whose price is not worse than `price`: where a level
 * at `price` is, or would be inserted to keep the array sorted.
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

/* The overflow level at exactly (side, price), with its index in *idx, or NULL. */
static struct book_level *overflow_find(const struct book_side *bs, uint8_t side, int64_t price,
                                        size_t *idx)
{
    size_t i = side_lower_bound(bs, side, price);

    *idx = i;
    if (i < bs->count && bs->levels[i]->price == price)
        return bs->levels[i];
    return NULL;
}

/* Make room for `n` more overflow pointers. False on out of memory (nothing changed). */
static bool overflow_reserve(struct book_side *bs, size_t n)
{
    struct book_level **grown;
    size_t cap = bs->cap ? bs->cap : BOOK_MIN_LEVEL_CAP;

    if (bs->count + n <= bs->cap)
        return true;
    while (cap < bs->count + n)
        cap *= 2;
    grown = realloc(bs->levels, cap * sizeof(*grown));
    if (!grown)
        return false;
    bs->levels = grown;
    bs->cap = cap;
    return true;
}

/* The level at exactly (side, price), ladder or overflow, or NULL. */
static struct book_level *level_find(const struct book *b, uint8_t side, int64_t price)
{
    const struct book_side *bs = &b->sides[side];
    int32_t slot = ladder_slot(b, side, price);
    size_t idx;

    if (slot >= 0)
        return bs->slots[slot];
    return overflow_find(bs, side, price, &idx);
}

/* The best level of `side`, or NULL when that side is empty. */
static const struct book_level *side_best(const struct book *b, enum side side)
{
    const struct book_side *bs = &b->sides[side];
    const struct book_level *l = bs->best >= 0 ? bs->slots[bs->best] : NULL;
    const struct book_level *o = bs->count ? bs->levels[bs->count - 1] : NULL;

    if (!l)
        return o;
    if (o && price_better((uint8_t)side, o->price, l->price))
        return o;
    return l;
}

static void ladder_put(struct book_side *bs, struct book_level *l, int32_t slot)
{
    l->slot = slot;
    bs->slots[slot] = l;
    bit_set(bs, slot);
    bs->in_ladder++;
    if (slot > bs->best)
        bs->best = slot;
}

/*
 * Visit every level of `side` best first: a merge of the ladder (bitmap scan downwards) and the
 * overflow (from its end), which may hold levels on both sides of the window and off-tick prices.
 * fn returns false to stop.
 */
static void side_walk(const struct book *b, enum side side,
                      bool (*fn)(const struct book_level *l, void *ctx), void *ctx)
{
    const struct book_side *bs = &b->sides[side];
    size_t over = bs->count;
    int32_t s = bs->best;

    while (over > 0 || s >= 0) {
        const struct book_level *l;

        if (s < 0 || (over > 0 && price_better((uint8_t)side, bs->levels[over - 1]->price,
                                               bs->slots[s]->price))) {
            l = bs->levels[--over];
        } else {
            l = bs->slots[s];
            s = ladder_prev(bs, s - 1);
        }
        if (!fn(l, ctx))
            return;
    }
}

struct gather_ctx {
    struct book_level **out;
    size_t n;
};

static bool gather_visit(const struct book_level *l, void *ctx)
{
    struct gather_ctx *g = ctx;

    g->out[g->n++] = (struct book_level *)l;
    return true;
}

/*
 * Move the window of `side` so that `anchor` (a key) sits at 3/4 of it, and redistribute every
 * level between ladder and overflow. O(levels of the side + W / 64). False on out of memory
 * (nothing changed).
 */
static bool side_rebuild(struct book *b, uint8_t side, int64_t anchor)
{
    struct book_side *bs = &b->sides[side];
    size_t total = bs->count + bs->in_ladder;
    struct gather_ctx g;

    if (total > b->scratch_cap) {
        size_t cap = b->scratch_cap ? b->scratch_cap : BOOK_MIN_LEVEL_CAP;
        struct book_level **grown;

        while (cap < total)
            cap *= 2;
        grown = realloc(b->scratch, cap * sizeof(*grown));
        if (!grown)
            return false;
        b->scratch = grown;
        b->scratch_cap = cap;
    }
    /* every level may end in the overflow */
    if (!overflow_reserve(bs, bs->in_ladder))
        return false;
    g.out = b->scratch;
    g.n = 0;
    side_walk(b, (enum side)side, gather_visit, &g); /* best first */
    assert(g.n == total);
    for (size_t i = 0; i < g.n; i++)
        if (g.out[i]->slot >= 0)
            bs->slots[g.out[i]->slot] = NULL;
    memset(bs->bits, 0, sizeof(bs->bits));
    memset(bs->summary, 0, sizeof(bs->summary));
    bs->best = -1;
    bs->in_ladder = 0;
    bs->count = 0;
    bs->base = anchor - LADDER_W * 3 / 4;
    for (size_t i = g.n; i-- > 0;) { /* worst first keeps the overflow sorted */
        struct book_level *l = g.out[i];
        int32_t slot = ladder_slot(b, side, l->price);

        if (slot >= 0) {
            ladder_put(bs, l, slot);
        } else {
            l->slot = -1;
            bs->levels[bs->count++] = l;
        }
    }
    return true;
}

struct book *book_new(int64_t tick_size)
{
    struct book *b;

    if (tick_size <= 0)
        return NULL;
    b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->tick = tick_size;
    for (int s = 0; s < 2; s++) {
        b->sides[s].best = -1;
        b->sides[s].base = 0;
    }
    b->ids.bits = BOOK_MIN_HASH_BITS;
    b->ids.v = calloc((size_t)1 << b->ids.bits, sizeof(*b->ids.v));
    if (!b->ids.v) {
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
        for (int32_t k = ladder_prev(bs, LADDER_W - 1); k >= 0; k = ladder_prev(bs, k - 1))
            free(bs->slots[k]);
        free(bs->levels);
    }
    while (b->free_levels) {
        struct book_level *l = b->free_levels;

        b->free_levels = l->next_free;
        free(l);
    }
    free(b->scratch);
    free(b->ids.v);
    free(b->old_ids.v);
    free(b);
}

#define ID_MIGRATE_STEP 16

static struct order id_tombstone;

static size_t hash_slot(uint64_t id, unsigned bits)
{
    /* Fibonacci hashing (Knuth, TAOCP vol. 3, 6.4): 2^64 / golden ratio, keep the top bits. */
    return (size_t)((id * UINT64_C(0x9E3779B97F4A7C15)) >> (64 - bits));
}

/*
 * Put (id, o) in t, which has room. Returns false, changing nothing, if the id is already there
 * (the probe passes every entry that could hold it).
 */
static bool id_put(struct id_table *t, uint64_t id, struct order *o)
{
    size_t mask = ((size_t)1 << t->bits) - 1;
    size_t i = hash_slot(id, t->bits);

    while (t->v[i].o) {
        if (t->v[i].id == id)
            return false;
        i = (i + 1) & mask;
    }
    t->v[i] = (struct id_slot){id, o};
    t->n++;
    return true;
}

/* The slot holding id in t, or NULL. Skips tombstones. */
static inline struct id_slot *id_lookup(const struct id_table *t, uint64_t id)
{
    size_t mask;
    size_t i;

    if (!t->v)
        return NULL;
    mask = ((size_t)1 << t->bits) - 1;
    i = hash_slot(id, t->bits);
    while (t->v[i].o) {
        if (t->v[i].id == id && t->v[i].o != &id_tombstone)
            return &t->v[i];
        i = (i + 1) & mask;
    }
    return NULL;
}

/* Remove the entry at slot `hole` of t by shifting later entries of its cluster back. */
static void id_delete_at(struct id_table *t, size_t hole)
{
    size_t mask = ((size_t)1 << t->bits) - 1;
    size_t j = hole;

    for (;;) {
        size_t home;

        j = (j + 1) & mask;
        if (!t->v[j].o)
            break;
        home = hash_slot(t->v[j].id, t->bits);
        /* the entry at j may move to the hole if the hole lies on its probe path home..j */
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            t->v[hole] = t->v[j];
            hole = j;
        }
    }
    t->v[hole] = (struct id_slot){0, NULL};
    t->n--;
}

/* Move up to `steps` slots of the old table into the new one; drop the old table when done. */
static void id_migrate_some(struct book *b, size_t steps)
{
    size_t size;

    size = (size_t)1 << b->old_ids.bits;
    while (steps-- > 0 && b->migrate_at < size) {
        struct id_slot *sl = &b->old_ids.v[b->migrate_at++];

        if (sl->o && sl->o != &id_tombstone) {
            bool fresh = id_put(&b->ids, sl->id, sl->o);

            assert(fresh && "id in both tables");
            (void)fresh;
            sl->o = &id_tombstone; /* moved: lookups in the old table must not find it */
            b->old_ids.n--;
        }
    }
    if (b->migrate_at == size) {
        free(b->old_ids.v);
        b->old_ids = (struct id_table){NULL, 0, 0};
    }
}

static inline void id_migrate(struct book *b, size_t steps)
{
    if (b->old_ids.v)
        id_migrate_some(b, steps);
}

/*
 * Make room in the id index for one more order (load <= 1/2). Starts an incremental growth when
 * needed. False on out of memory (the index is unchanged).
 */
static bool hash_reserve(struct book *b)
{
    struct id_slot *grown;
    unsigned bits;

    id_migrate(b, ID_MIGRATE_STEP);
    if (2 * (b->ids.n + b->old_ids.n + 1) <= (size_t)1 << b->ids.bits)
        return true;
    /* a growth still in progress (only when removals were rare): finish it first */
    id_migrate(b, SIZE_MAX);
    bits = b->ids.bits + 1;
    grown = calloc((size_t)1 << bits, sizeof(*grown));
    if (!grown)
        return false;
    b->old_ids = b->ids;
    b->ids = (struct id_table){grown, bits, 0};
    b->migrate_at = 0;
    return true;
}

/* Take o out of the id index. */
static void hash_unlink(struct book *b, struct order *o)
{
    struct id_slot *sl = id_lookup(&b->ids, o->id);

    if (sl) {
        assert(sl->o == o);
        id_delete_at(&b->ids, (size_t)(sl - b->ids.v));
    } else {
        sl = id_lookup(&b->old_ids, o->id);
        assert(sl && sl->o == o && "order not in the id index");
        sl->o = &id_tombstone;
        b->old_ids.n--;
    }
    id_migrate(b, ID_MIGRATE_STEP);
}

/* A fresh level struct from the free list, or malloc'd. NULL on out of memory. */
static struct book_level *level_alloc(struct book *b, uint8_t side, int64_t price)
{
    struct book_level *l = b->free_levels;

    if (l) {
        b->free_levels = l->next_free;
    } else {
        l = malloc(sizeof(*l));
        if (!l)
            return NULL;
    }
    *l = (struct book_level){.price = price, .side = side, .slot = -1};
    return l;
}

/*
 * The level for (side, price), created if it does not exist yet (in the ladder when the price is
 * in the window, else in the overflow, moving the window when the market has left it). NULL on
 * out of memory (nothing changed).
 */
static struct book_level *level_get(struct book *b, uint8_t side, int64_t price)
{
    struct book_side *bs = &b->sides[side];
    int32_t slot = ladder_slot(b, side, price);
    struct book_level *l;
    int64_t key;
    size_t idx;

    if (slot >= 0) {
        l = bs->slots[slot];
        if (l)
            return l;
        l = level_alloc(b, side, price);
        if (l)
            ladder_put(bs, l, slot);
        return l;
    }
    l = overflow_find(bs, side, price, &idx);
    if (l)
        return l;
    if (!overflow_reserve(bs, 1))
        return NULL;
    l = level_alloc(b, side, price);
    if (!l)
        return NULL;
    memmove(&bs->levels[idx + 1], &bs->levels[idx], (bs->count - idx) * sizeof(*bs->levels));
    bs->levels[idx] = l;
    bs->count++;
    /* a new best beyond the window, or nothing in the window: move the window to the best */
    if (price_key(b, side, price, &key) && (key >= bs->base || bs->in_ladder == 0)) {
        const struct book_level *best = side_best(b, (enum side)side);
        int64_t anchor;

        if (price_key(b, side, best->price, &anchor))
            (void)side_rebuild(b, side, anchor); /* on failure the level stays in the overflow */
    }
    return l;
}

/* Take an empty level out of its side and put it on the free list. */
static void level_drop(struct book *b, struct book_level *l)
{
    struct book_side *bs = &b->sides[l->side];

    assert(l->orders == 0 && l->head == NULL);
    if (l->slot >= 0) {
        int32_t slot = l->slot;

        bs->slots[slot] = NULL;
        bit_clear(bs, slot);
        bs->in_ladder--;
        if (slot == bs->best)
            bs->best = ladder_prev(bs, slot - 1);
    } else if (bs->levels[bs->count - 1] == l) {
        bs->count--;
    } else {
        size_t idx;
        struct book_level *found = overflow_find(bs, l->side, l->price, &idx);

        assert(found == l);
        (void)found;
        memmove(&bs->levels[idx], &bs->levels[idx + 1],
                (bs->count - idx - 1) * sizeof(*bs->levels));
        bs->count--;
    }
    l->next_free = b->free_levels;
    b->free_levels = l;
}

bool book_insert(struct book *b, struct order *o)
{
    struct book_level *l;
    bool overflow;

    assert(o->remaining > 0);
    assert(o->side == SIDE_BUY || o->side == SIDE_SELL);
    /* the id must not be in the book: checked by the insert's probe (and in a growing index's
     * old table) */
    assert(id_lookup(&b->old_ids, o->id) == NULL && "order id already in the book");
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

    if (!id_put(&b->ids, o->id, o)) {
        assert(!"order id already in the book");
        abort();
    }
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
    const struct id_slot *sl = id_lookup(&b->ids, id);

    if (!sl)
        sl = id_lookup(&b->old_ids, id);
    return sl ? sl->o : NULL;
}

struct order *book_best(const struct book *b, enum side side)
{
    const struct book_level *l = side_best(b, side);

    return l ? l->head : NULL;
}

bool book_best_level(const struct book *b, enum side side, struct book_level_view *out)
{
    const struct book_level *l = side_best(b, side);

    if (!l)
        return false;
    *out =
        (struct book_level_view){.price = l->price, .quantity = l->quantity, .orders = l->orders};
    return true;
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
    const struct book_level *l = level_find(b, (uint8_t)side, price);

    return l ? l->quantity : 0;
}

struct depth_ctx {
    struct book_level_view *out;
    size_t n, max;
};

static bool depth_visit(const struct book_level *l, void *ctx)
{
    struct depth_ctx *d = ctx;

    if (d->n >= d->max)
        return false;
    d->out[d->n++] =
        (struct book_level_view){.price = l->price, .quantity = l->quantity, .orders = l->orders};
    return true;
}

size_t book_depth(const struct book *b, enum side side, struct book_level_view *out, size_t max)
{
    struct depth_ctx d = {out, 0, max};

    if (max > 0)
        side_walk(b, side, depth_visit, &d);
    return d.n;
}

size_t book_level_count(const struct book *b, enum side side)
{
    return b->sides[side].count + b->sides[side].in_ladder;
}

size_t book_order_count(const struct book *b)
{
    return b->order_count;
}

struct foreach_ctx {
    void (*fn)(const struct order *o, void *ctx);
    void *ctx;
};

static bool foreach_visit(const struct book_level *l, void *ctx)
{
    struct foreach_ctx *f = ctx;

    for (const struct order *o = l->head; o; o = o->next)
        f->fn(o, f->ctx);
    return true;
}

void book_foreach(const struct book *b, enum side side,
                  void (*fn)(const struct order *o, void *ctx), void *ctx)
{
    struct foreach_ctx f = {fn, ctx};

    side_walk(b, side, foreach_visit, &f);
}

struct walk_ctx {
    bool (*fn)(const struct order *o, void *ctx);
    void *ctx;
};

static bool walk_visit_level(const struct book_level *l, void *ctx)
{
    struct walk_ctx *w = ctx;

    for (const struct order *o = l->head; o; o = o->next)
        if (!w->fn(o, w->ctx))
            return false;
    return true;
}

void book_walk(const struct book *b, enum side side, bool (*fn)(const struct order *o, void *ctx),
               void *ctx)
{
    struct walk_ctx w = {fn, ctx};

    side_walk(b, side, walk_visit_level, &w);
}
