/*
 * Market-data read models and the event stream for WebSocket fan-out.
 *
 * The store thread updates the models after each commit (L2 books with their delta seq, recent
 * trades, 24h ticker buckets, current candles) and pushes ready-made messages; the network
 * thread reads the models (REST, WS snapshots) and drains the messages. The feed thread sets the
 * replay reference (the real last price and the original time being replayed).
 * Every function here takes the internal mutex itself, except the *_locked ones, which need
 * mdata_lock() held. Units: prices/quantities in minor units (see config.h), times in ms.
 */
#ifndef CG_MARKET_MDATA_H
#define CG_MARKET_MDATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "engine/engine.h"

enum md_channel { MD_TICKER = 0, MD_TRADES, MD_BOOK, MD_CANDLES, MD_ORDERS, MD_BALANCES };

#define MD_INTERVALS 6
extern const int64_t md_interval_ms[MD_INTERVALS];
extern const char *const md_interval_name[MD_INTERVALS];
/* Index of an interval name ("1m".."1d") or -1. */
int md_interval_parse(const char *s);

/* A ready-to-send message. Refcounted by the network thread only (after mdata_drain). */
struct md_msg {
    int refs;
    uint8_t channel;  /* enum md_channel */
    uint8_t interval; /* candles */
    uint32_t market;
    uint64_t user_id; /* private channels; 0 = public */
    uint64_t seq;     /* book deltas */
    struct md_msg *next;
    size_t len;
    char data[];
};

/* Allocate a message holding a copy of json (len bytes). NULL on out of memory. */
struct md_msg *md_msg_new(int channel, uint32_t market, uint64_t user_id, const char *json,
                          size_t len);
void md_msg_unref(struct md_msg *m);

struct md_candle {
    int64_t open_time, open, high, low, close, volume, quote_volume;
};

struct md_trade {
    uint64_t id;
    int64_t price, quantity, quote_quantity, ts;
    uint8_t taker_side;
};

struct md_ticker {
    bool has_last;
    int64_t last, open, high, low, volume, quote_volume;
    bool has_bid, has_ask;
    int64_t bid, bid_qty, ask, ask_qty;
    uint64_t trades;
    bool has_reference;
    int64_t reference_price; /* last real price of the replay */
    int64_t replay_time;     /* original time of the data being replayed now, ms */
};

struct mdata;

struct mdata *mdata_new(const struct config *cfg);
void mdata_free(struct mdata *md);

void mdata_lock(struct mdata *md);
void mdata_unlock(struct mdata *md);

/* Store thread, lock held: apply one batch's book changes, trades and tops. */
void mdata_apply_batch_locked(struct mdata *md, const struct batch *b);
/* Current candle of (market, interval) after the batch, false if none. Lock held. */
bool mdata_candle_locked(struct mdata *md, uint32_t market, int interval, struct md_candle *out);
/* Seed the current candle from the store (start-up). */
void mdata_seed_candle(struct mdata *md, uint32_t market, int interval, const struct md_candle *c);
/* Seed 24h ticker state from a recent fill (start-up). */
void mdata_seed_trade(struct mdata *md, uint32_t market, const struct md_trade *t);

/* Feed thread: the real reference price and original time being replayed. */
void mdata_set_reference(struct mdata *md, uint32_t market, int64_t price, int64_t replay_time);

/* Copy the book: up to `depth` levels per side, best first; returns the book's seq. Lock held. */
uint64_t mdata_book_locked(struct mdata *md, uint32_t market, size_t depth, int64_t *bid_px,
                           int64_t *bid_qty, size_t *n_bids, int64_t *ask_px, int64_t *ask_qty,
                           size_t *n_asks);
/* 24h ticker at time now (ms). */
void mdata_ticker(struct mdata *md, uint32_t market, int64_t now, struct md_ticker *out);
/*
 * Change counters of a market's read model, for caches of rendered answers (api/mdcache.h):
 * *version changes with every change of anything the functions above return for this market
 * (book, top, trades, 24h buckets, candles, reference); *trade_version with every fill of the
 * market (after mdata_apply_batch_locked, so after the store committed the fills' candle rows).
 * Any thread.
 */
void mdata_versions(struct mdata *md, uint32_t market, uint64_t *version, uint64_t *trade_version);
/* Most recent trades, newest first; returns count (<= max). */
size_t mdata_trades(struct mdata *md, uint32_t market, struct md_trade *out, size_t max);

/* Queue a message for the network thread (takes ownership). Any thread. */
void mdata_push(struct mdata *md, struct md_msg *m);
/* Network thread: take every queued message, in order (a linked list via ->next). */
struct md_msg *mdata_drain(struct mdata *md);

#endif
