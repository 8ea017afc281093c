/*
 * One market's order book: price levels on each side, a FIFO of resting orders per level
 * (price-time priority), and an id index for O(1) lookup on cancel.
 *
 * Levels are indexed by tick in a window of 8,192 ticks per side that follows the best price
 * (a "price ladder"), with a sorted overflow array for prices outside it (book.c explains the
 * layout). Complexity, L = levels of a side outside the window, N = resting orders:
 * - insert, remove, find-by-id, best, level quantity, reduce: O(1) inside the window (the id
 *   index: expected O(1), open addressing at load <= 1/2 that grows incrementally, 16 slots
 *   moved per insert/remove, so no single insert rehashes all N orders); O(log L) to find a
 *   level outside the window and O(L) to create or drop one there;
 * - when the best price leaves the window, the next insert moves the window: O(levels of the
 *   side + 128), amortised over the >= 2,048 ticks the price must move for that;
 * - depth and foreach: O(levels visited + 128).
 *
 * The book only stores and orders resting orders; matching, holds and fees live in engine.c,
 * which walks the book with book_best()/book_reduce()/book_remove().
 *
 * Ownership: orders are owned by the caller (the engine allocates them from its pool); the book
 * links them intrusively (prev/next/level) and never frees them.
 * Thread: engine thread only. No locks. No malloc per operation once levels are warmed up
 * (level structs come from a free list inside the book).
 */
#ifndef CG_ENGINE_BOOK_H
#define CG_ENGINE_BOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum side { SIDE_BUY = 0, SIDE_SELL = 1 };

enum order_type {
    ORDER_LIMIT = 0,
    ORDER_MARKET,
    ORDER_STOP_LOSS,         /* market order once the last price reaches stop_price */
    ORDER_STOP_LOSS_LIMIT,   /* limit order at price once the last price reaches stop_price */
    ORDER_TAKE_PROFIT,       /* market, triggered from the other direction */
    ORDER_TAKE_PROFIT_LIMIT, /* limit, triggered from the other direction */
};

/* Self-trade prevention: what happens when a taker meets its own user's resting order. */
enum stp_mode { STP_EXPIRE_MAKER = 0, STP_EXPIRE_TAKER, STP_EXPIRE_BOTH };

enum order_tif { TIF_GTC = 0, TIF_IOC = 1, TIF_FOK = 2 };

enum order_status {
    ORDER_NEW = 0,
    ORDER_PARTIALLY_FILLED,
    ORDER_FILLED,
    ORDER_CANCELED,
    ORDER_REJECTED,
    ORDER_EXPIRED,
};

struct book_level;

/*
 * An order. Units: price in quote minor units per whole base unit; quantities in base minor
 * units; quote amounts and fees in quote minor units; times in ms since the Unix epoch (UTC).
 */
struct order {
    uint64_t id;
    uint64_t user_id;
    uint64_t seq;           /* time priority: lower seq is earlier in its level's queue */
    uint32_t market;        /* index into the market table */
    uint8_t side;           /* enum side */
    uint8_t type;           /* enum order_type */
    uint8_t tif;            /* enum order_tif */
    uint8_t status;         /* enum order_status */
    uint8_t reason;         /* enum order_reason (engine.h): why it ended as it did */
    uint8_t house;          /* 1 for the house liquidity provider's quotes (not persisted) */
    uint8_t post_only;      /* 1: rejected instead of taking liquidity */
    uint8_t stp;            /* enum stp_mode */
    uint8_t triggered;      /* stop orders: 1 once the trigger fired */
    int64_t price;          /* limit price; 0 for market and stop-market orders */
    int64_t stop_price;     /* stop orders: the trigger price; 0 otherwise */
    int64_t quote_quantity; /* market by quote: buy budget incl. fees / sell target; else 0 */
    int64_t exec_limit;     /* while executing: worst price it may trade at (0 = none) */
    int64_t quantity;       /* original quantity */
    int64_t remaining;      /* quantity - filled; what rests in the book */
    int64_t filled;         /* base filled so far */
    int64_t quote_filled;   /* sum of price x qty of fills, quote minor units */
    int64_t fee_total;      /* fees charged so far, quote minor units */
    int64_t hold;       /* amount still reserved for this order (quote for buys, base for sells) */
    int64_t created_at; /* ms */
    int64_t updated_at; /* ms */
    char client_order_id[40];
    /* intrusive links, owned by the book while the order rests */
    struct order *prev;
    struct order *next;
    struct book_level *level;
};

/* A price level as seen from outside: price and the sum of `remaining` of its orders. */
struct book_level_view {
    int64_t price;
    int64_t quantity;
    uint32_t orders;
};

struct book;

/*
 * Allocate an empty book for a market whose prices are multiples of tick_size (quote minor
 * units, > 0). Prices that are not multiples of it still work (they live in the overflow, the
 * slower path). Returns NULL on out of memory or tick_size <= 0.
 */
struct book *book_new(int64_t tick_size);
/* Free the book and its levels (not the orders). NULL is a no-op. */
void book_free(struct book *b);

/*
 * Append a resting order at the tail of its price level's queue (o->side, o->price), creating
 * the level if needed, and index it by o->id. o->remaining must be > 0 and the id not already
 * in the book (asserted). Returns false only on out of memory (nothing changed).
 */
bool book_insert(struct book *b, struct order *o) __attribute__((warn_unused_result));

/* Unlink a resting order from its level (removing an emptied level) and from the id index. */
void book_remove(struct book *b, struct order *o);

/* The resting order with this id, or NULL. */
struct order *book_find(const struct book *b, uint64_t id);

/* The first order in the queue of the best level of `side` (highest bid / lowest ask), or NULL. */
struct order *book_best(const struct book *b, enum side side);

/* The best level of `side` (price, total remaining, orders) into *out, O(1); false if empty. */
bool book_best_level(const struct book *b, enum side side, struct book_level_view *out);

/* Best price of `side` into *price; false if that side is empty. */
bool book_best_price(const struct book *b, enum side side, int64_t *price);

/*
 * Reduce a resting order's remaining by `qty` (0 < qty <= remaining) and its level's total.
 * Does not unlink the order when remaining reaches 0: the caller calls book_remove().
 */
void book_reduce(struct book *b, struct order *o, int64_t qty);

/* Sum of remaining at exactly (side, price); 0 if there is no such level. */
int64_t book_level_quantity(const struct book *b, enum side side, int64_t price);

/*
 * Copy up to `max` levels of `side`, best first, into out. Returns the number copied.
 */
size_t book_depth(const struct book *b, enum side side, struct book_level_view *out, size_t max);

/* Number of price levels on `side`; number of resting orders in the whole book. */
size_t book_level_count(const struct book *b, enum side side);
size_t book_order_count(const struct book *b);

/*
 * Call fn(o, ctx) for every resting order of `side`, best level first, FIFO within a level.
 * fn must not modify the book.
 */
void book_foreach(const struct book *b, enum side side,
                  void (*fn)(const struct order *o, void *ctx), void *ctx);

/*
 * Like book_foreach, but fn returns false to stop: a walk that ends once it has what it needs
 * costs O(orders visited + 128), not O(side).
 */
void book_walk(const struct book *b, enum side side, bool (*fn)(const struct order *o, void *ctx),
               void *ctx);

#endif
