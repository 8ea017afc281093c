/*
 * The engine: the single writer of balances and order books.
 *
 * Other threads submit commands (engine_submit, any thread). The engine thread takes every
 * queued command, applies them in order, and hands the resulting batch of effects (results,
 * changed orders, fills, journal entries, changed balances, book deltas) to the `emit` callback,
 * which belongs to the store: it commits the batch in one transaction and only then answers the
 * requests of that batch (ack after durable, group commit).
 *
 * Determinism: the engine never reads the clock; time comes from cmd->ts, stamped on intake.
 *
 * Money rules (see ARCHITECTURE.md):
 * - notional = price x quantity / 10^base_scale, exact (config checks tick x lot fits the quote
 *   scale);
 * - fee = floor(notional x fee_ppm / 10^6), in the quote asset, paid by the buyer on top of the
 *   notional and by the seller out of the proceeds, to the fee account. Rounding down means the
 *   trader never pays above the stated rate, and keeps holds sufficient across partial fills;
 * - reserve (hold) of an open order: sell = remaining base; limit buy = notional(price,
 *   remaining) + floor(that x max(maker, taker) ppm / 10^6); market buy = exact cost found by
 *   walking the book before matching; market buy by quote = the quote budget; market sell by
 *   quote = the exact base found by walking the bids before matching (see below).
 * - market orders by quote amount (Binance's quoteOrderQty): a buy spends at most the budget,
 *   fees included; a sell sells whole lots while the gross proceeds (notional before the fee,
 *   which comes out of them as for any sell) stay within the target, and ends at the first
 *   resting order where not one more lot fits. Either is refused (CG_EAMOUNT) if not one lot
 *   fits at the first price it would trade at; its quantity becomes what it filled.
 * - market protection: a market order never trades beyond ref x (1 +/- market_protection),
 *   ref = the last trade price (Coinage fills and the replay's real trades), else the mid, else
 *   the best opposite price; what would need more is not filled (refused if nothing fills).
 * - stops: stop-loss buys and take-profit sells trigger when the last price rises to the stop
 *   price; stop-loss sells and take-profit buys when it falls to it. Triggered in order of stop
 *   price (nearest first), then time. A stop that would trigger at once is refused.
 * - self-trade prevention (per taker): expire_maker (default) cancels the resting order,
 *   expire_taker ends the taker, expire_both does both (Binance's EXPIRED_IN_MATCH).
 */
#ifndef CG_ENGINE_ENGINE_H
#define CG_ENGINE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/err.h"
#include "engine/book.h"
#include "ledger/ledger.h"

#define ENGINE_FEED_LEVELS 50
#define IDEM_KEY_MAX 65
#define ENGINE_ALL_MARKETS 0xFFFFFFFFu

enum cmd_type {
    CMD_DEPOSIT = 1,
    CMD_WITHDRAW,
    CMD_PLACE,
    CMD_CANCEL,
    CMD_FEED_BOOK,  /* house: mirror these real L2 levels */
    CMD_FEED_PRICE, /* house: quote a ladder around this real price */
    CMD_AMEND,      /* change a resting limit order's quantity and/or price */
    CMD_CANCEL_ALL, /* cancel a user's open orders (one market or all) */
    CMD_FEED_TRADE, /* the replay's real trades since the last one: last/high/low price */
};

enum order_reason {
    REASON_NONE = 0,
    REASON_CANCELED_BY_USER,
    REASON_SELF_TRADE_PREVENTION,
    REASON_NO_LIQUIDITY, /* market/IOC remainder found no more counterparty */
    REASON_HOUSE_REQUOTE,
    REASON_POST_ONLY,        /* a post-only order would have taken liquidity */
    REASON_PRICE_PROTECTION, /* a market remainder would trade beyond the protection band */
    REASON_FILL_OR_KILL,     /* a FOK order could not fill completely at once */
};

struct px_level {
    int64_t price;
    int64_t qty;
};

struct cmd {
    uint8_t type;    /* enum cmd_type */
    uint64_t req_id; /* the API request waiting for this command; 0 for none */
    uint64_t user_id;
    int64_t ts;                   /* ms, stamped on intake */
    char idem_key[IDEM_KEY_MAX];  /* Idempotency-Key, "" if none */
    char idem_hash[IDEM_KEY_MAX]; /* hex SHA-256 of the request */
    union {
        struct {
            uint32_t asset;
            int64_t amount; /* minor units > 0 */
        } funds;
        struct {
            uint32_t market;
            uint8_t side; /* enum side */
            uint8_t type; /* enum order_type */
            uint8_t tif;  /* enum order_tif */
            uint8_t post_only;
            uint8_t stp; /* enum stp_mode */
            int64_t price;
            int64_t quantity;       /* base; 0 for market orders by quote */
            int64_t quote_quantity; /* market by quote: buy budget incl. fees / sell target */
            int64_t stop_price;     /* stop and take-profit types */
            char client_order_id[40];
        } place;
        /* cancel: market may be ENGINE_ALL_MARKETS (the engine finds the open order by id in
         * every market). Errors: CG_ENOTFOUND if the open order belongs to another user,
         * CG_ENOTOPEN if no open order has this id (filled, canceled, or never existed: the
         * caller tells these apart from the store, see api_orders.c). */
        struct {
            uint32_t market;
            uint64_t order_id;
        } cancel;
        struct {
            uint32_t market;
            uint64_t order_id;
            int64_t price;    /* new limit price, 0 = unchanged */
            int64_t quantity; /* new total quantity (incl. what is filled), 0 = unchanged */
        } amend;
        struct {
            uint32_t market; /* ENGINE_ALL_MARKETS for every market */
        } cancel_all;
        struct {
            uint32_t market;
            int64_t last, high, low;
        } feed_trade;
        struct {
            uint32_t market;
            uint16_t n_bids;
            uint16_t n_asks;
            struct px_level bids[ENGINE_FEED_LEVELS]; /* best first */
            struct px_level asks[ENGINE_FEED_LEVELS];
        } feed_book;
        struct {
            uint32_t market;
            int64_t price;
        } feed_price;
    } u;
    struct cmd *next; /* queue link, owned by the engine */
};

struct fill {
    uint64_t id;
    uint32_t market;
    int64_t price;    /* the maker's price */
    int64_t quantity; /* base minor units */
    int64_t quote_quantity;
    uint8_t taker_side; /* enum side */
    uint64_t taker_order_id;
    uint64_t maker_order_id;
    uint64_t taker_user_id;
    uint64_t maker_user_id;
    int64_t taker_fee; /* quote minor units */
    int64_t maker_fee;
    int64_t ts;
};

struct cmd_result {
    uint64_t req_id;
    uint8_t type; /* enum cmd_type */
    enum cg_err err;
    uint64_t user_id;
    int64_t ts;
    char idem_key[IDEM_KEY_MAX];
    char idem_hash[IDEM_KEY_MAX];
    /* deposits / withdrawals */
    uint64_t entry_id;
    uint32_t asset;
    int64_t amount;
    /* orders: the order after the command, and its fills in batch->fills[fill_first..+count) */
    struct order order;
    uint32_t fill_first;
    uint32_t fill_count;
    /* cancel-all: the canceled orders are batch->orders[orders_first..+orders_count) */
    uint32_t orders_first;
    uint32_t orders_count;
};

struct l2_change {
    uint32_t market;
    uint8_t side;
    int64_t price;
    int64_t qty; /* new total at this price; 0 = level gone */
};

struct balance_change {
    uint64_t user_id;
    uint32_t asset;
    int64_t total;
    int64_t held;
};

#define VEC(T)                                                                                     \
    struct {                                                                                       \
        T *v;                                                                                      \
        size_t n;                                                                                  \
        size_t cap;                                                                                \
    }

struct market_top {
    uint64_t book_seq; /* seq of the last L2 delta of this market (0 = none yet) */
    bool changed;      /* this batch changed the book */
    bool has_bid, has_ask;
    int64_t bid, ask, bid_qty, ask_qty;
};

/*
 * Everything one engine batch changed. Owned by whoever receives it; freed with batch_free (any
 * thread), which returns it to a small pool the engine reuses (vectors keep their capacity).
 */
struct batch {
    uint64_t id;
    VEC(struct cmd_result) results;
    VEC(struct order) orders; /* snapshots of changed user (non-house) orders, in change order */
    VEC(struct fill) fills;
    VEC(struct journal_entry) entries;
    VEC(struct balance_change) balances;
    VEC(struct l2_change) l2; /* sorted by market, side, price */
    struct market_top *tops;  /* n_markets entries */
    size_t n_markets;
    size_t tops_cap; /* allocated entries of tops (batches are pooled and reused) */
    uint64_t next_order_id, next_fill_id, next_entry_id, next_seq;
    uint64_t persisted_hash; /* engine_persisted_hash() after the batch, 0 unless enabled */
    /* set by the store's render hook before commit: one HTTP response per result */
    int *statuses;
    char **bodies;
};

void batch_free(struct batch *b);

struct engine;

/* emit: called on the engine thread with each batch; takes ownership of it. */
typedef void (*engine_emit_fn)(struct batch *b, void *ctx);

/* A new engine over the (borrowed, read-only) config. NULL on out of memory. */
struct engine *engine_new(const struct config *cfg);
/* Stop (if started) and free. Pending commands are dropped. NULL is a no-op. */
void engine_free(struct engine *e);

/* Recovery, before engine_start, single-threaded. */
struct ledger *engine_ledger(struct engine *e);
void engine_set_ids(struct engine *e, uint64_t next_order_id, uint64_t next_fill_id,
                    uint64_t next_entry_id, uint64_t next_seq);
/* The market's last trade price at recovery (stops trigger against it). */
void engine_set_last_price(struct engine *e, uint32_t market, int64_t price);
/* Re-insert an open user order (copied) in seq order: resting limit orders into the book,
 * untriggered stops into the stop book. The caller restores balances and holds. */
enum cg_err engine_restore_order(struct engine *e, const struct order *o)
    __attribute__((warn_unused_result));
/*
 * Check the invariants: ledger_check, and held == sum of the reserves of open orders for every
 * account. Engine thread, or before start. true if all hold; else false with msg.
 */
bool engine_check(struct engine *e, char *msg, size_t msglen);

/* Start the engine thread. */
enum cg_err engine_start(struct engine *e, engine_emit_fn emit, void *ctx)
    __attribute__((warn_unused_result));
/* Stop the thread after the commands already queued. */
void engine_stop(struct engine *e);

/*
 * Queue a command (takes ownership of a malloc'ed cmd). Any thread. CG_EBUSY when the queue
 * holds more than its bound (the cmd is then freed).
 */
enum cg_err engine_submit(struct engine *e, struct cmd *c) __attribute__((warn_unused_result));

/*
 * Run one batch of commands synchronously on the calling thread (tests and tools; the engine
 * thread must not be running). cmds are borrowed. Returns the batch (caller frees).
 */
struct batch *engine_run_batch(struct engine *e, struct cmd *const *cmds, size_t n);

/*
 * Reserve for an open order under the rules above (quote for buys, base for sells). A stop-market
 * buy reserves as a limit buy at its protection cap: stop_price x (1 + market_protection),
 * rounded up to the tick (the worst price it may trade at once triggered).
 */
int64_t engine_order_reserve(const struct config *cfg, const struct order *o);
/* Stop-market protection cap of a buy (ceil to tick) or floor of a sell, in quote minor units. */
int64_t engine_protection_limit(const struct config *cfg, uint32_t market, int side, int64_t ref);
/*
 * Deterministic hash of the engine state: every resting and stop order (in priority order),
 * every account balance and hold (sorted), the id counters and last prices. Replaying the same
 * commands on a fresh engine gives the same hash. Engine thread, or while stopped.
 */
uint64_t engine_state_hash(struct engine *e);
/*
 * The same over what the store persists and recovery restores: users' resting orders in
 * priority order (so a restart that lost time priority changes it) and their stops, every
 * account with a non-zero balance (the house liquidity provider's total only: its quotes and
 * their holds are not persisted), the id counters. After store_recover() it must equal the hash
 * of the last batch committed before the stop or crash. Engine thread, or while stopped.
 */
uint64_t engine_persisted_hash(struct engine *e);
/* Test hook (crash harness): compute engine_persisted_hash() at the end of every batch into
 * batch.persisted_hash, which the store commits with the batch. O(state) per batch: tests
 * only. Call before engine_start. */
void engine_hash_every_batch(struct engine *e, bool on);
/* Whether a type is a stop/take-profit (waits for its trigger). */
bool order_type_is_stop(int type);
/* Whether a type executes as a market order (market, stop-loss, take-profit). */
bool order_type_is_market(int type);
/* floor(notional x ppm / 10^6). */
int64_t engine_fee(int64_t notional, int64_t ppm);

const char *order_status_name(int status);
const char *order_reason_name(int reason);

#endif
