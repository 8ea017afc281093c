/*
 * A recorded Binance spot WebSocket capture (diff depth + trades + one REST depth snapshot),
 * loaded into memory and replayed through a cursor that rebuilds the L2 book.
 *
 * Input: gzip text files, one message per line, `<local_receive_ns> <json>`. The JSON is a
 * combined-stream message (`{"stream":..,"data":{..}}`) whose data is a "depthUpdate" or a
 * "trade" (bookTicker messages, which have no "e", are skipped), or the single REST snapshot
 * `{"lastUpdateId":L,"bids":[[p,q]..],"asks":[..]}`. Several files are read as one capture, in
 * the order given (e.g. spot_btcusdt_20240808.gz then spot_btcusdt_20240809.gz).
 *
 * Sync (Binance "How to manage a local order book correctly"): diffs with u <= L are dropped;
 * the first kept diff must have U <= L+1 <= u; every later diff must have U == previous u + 1.
 * The capture starts at the first kept diff's event time E; trades with T before it are dropped
 * (the snapshot already reflects most of them). Kept events are ordered by exchange time
 * (depth E, trade T); at equal times trades come before depth, because a diff stamped E
 * reports book changes up to E, including those made by trades at E.
 *
 * Units: prices are quote minor units per whole base unit at `price_scale` decimals; quantities
 * are base minor units at `qty_scale` decimals; times are ms since the Unix epoch (UTC).
 *
 * Thread: a loaded capture is immutable; any number of threads may read it and run their own
 * cursors concurrently. A cursor must be used by one thread at a time.
 */
#ifndef CG_MARKET_CAPTURE_H
#define CG_MARKET_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* One price level. price: quote minor units per whole base unit at price_scale decimals;
 * qty: base minor units at qty_scale decimals. */
struct px_qty {
    int64_t price;
    int64_t qty;
};

enum capture_kind { CAPTURE_DEPTH = 1, CAPTURE_TRADE = 2 };

struct capture_event {
    uint8_t kind;        /* enum capture_kind */
    uint8_t buyer_maker; /* trades: Binance "m" (1 = the buyer was the maker, i.e. a sell hit the
                            bid); 0 for depth */
    int64_t ts_ms;       /* exchange time: depth "E", trade "T"; ms since epoch */
    /* Depth: levels [first_bid, first_bid + n_bids) and [first_ask, first_ask + n_asks) of the
     * capture's level array (see capture_levels), in message order; qty 0 = level removed.
     * All zero for trades. */
    uint32_t first_bid, n_bids, first_ask, n_asks;
    int64_t price, qty; /* trades: price at price_scale, qty at qty_scale; 0 for depth */
};

struct capture;

/*
 * Load `nfiles` (>= 1) capture files, in order, as one capture. Prices are parsed exactly at
 * `price_scale`, quantities at `qty_scale` decimals (0..AMOUNT_MAX_SCALE).
 * Returns the capture, or NULL with *err set to:
 *   CG_EIO       a file cannot be opened or read (including a truncated gzip stream);
 *   CG_EINVAL    bad arguments or malformed content: a line that is not `<ns> <json>`, JSON that
 *                does not parse, an unknown message type, a missing/mistyped field, a price <= 0
 *                or qty < 0, mixed symbols, no snapshot or more than one, no diff after the
 *                snapshot, a first kept diff that does not straddle L+1, a sequence gap, depth or
 *                trade times going backwards, an unsorted or crossed snapshot;
 *   CG_ESCALE    a price or quantity has more decimals than its scale;
 *   CG_EOVERFLOW a value does not fit int64 at its scale;
 *   CG_ETOOLARGE more than UINT32_MAX levels;
 *   CG_ENOMEM.
 * The caller owns the result and frees it with capture_free. Any thread.
 */
struct capture *capture_load(const char *const *files, size_t nfiles, int price_scale,
                             int qty_scale, enum cg_err *err);

/* Free a capture (NULL is a no-op). All its cursors must be freed first. */
void capture_free(struct capture *c);

/* Number of kept events (depth diffs and trades). */
size_t capture_event_count(const struct capture *c);

/* Kept event i (i < capture_event_count), ordered by ts_ms. On loan while c lives. */
const struct capture_event *capture_event(const struct capture *c, size_t i);

/* The level array that depth events index into. On loan while c lives. */
const struct px_qty *capture_levels(const struct capture *c);

/* ts_ms of the first / last kept event (ms since epoch). */
int64_t capture_start_ms(const struct capture *c);
int64_t capture_end_ms(const struct capture *c);

/* Binance symbol from the messages' "s", e.g. "BTCUSDT". On loan while c lives. */
const char *capture_symbol(const struct capture *c);

/*
 * A replay cursor: walks the events in order and owns an L2 book rebuilt from the snapshot and
 * the diffs. It never allocates after capture_cursor_new.
 */
struct capture_cursor;

/* New cursor positioned before the first event, its book equal to the snapshot. The caller
 * owns it (capture_cursor_free); it borrows c, which must outlive it. NULL when out of memory. */
struct capture_cursor *capture_cursor_new(const struct capture *c);

/* Free a cursor (NULL is a no-op). */
void capture_cursor_free(struct capture_cursor *cur);

/* Back to the first event, book reset to the snapshot (one memcpy per side). */
void capture_cursor_rewind(struct capture_cursor *cur);

/* The next event, or NULL at the end. A depth event has been applied to the cursor's book when
 * it is returned. The pointer is on loan from the capture. */
const struct capture_event *capture_cursor_next(struct capture_cursor *cur);

/*
 * Copy up to `max` levels of one side of the cursor's book into out, best first: side 0 = bids
 * (highest price first), side 1 = asks (lowest price first). Returns the number copied
 * (min(max, levels on that side)). Levels always have qty > 0.
 */
size_t capture_cursor_top(const struct capture_cursor *cur, int side, struct px_qty *out,
                          size_t max);

#endif
