/*
 * Historical candles (klines) from the gzip CSV files shipped under data/klines_binance_spot_*.
 *
 * Two layouts are recognised by their header line:
 *   `date,open,high,low,close,volume,ticker`  date = `YYYY-MM-DD HH:MM:SS` (UTC candle open)
 *   `timestamp,open,high,low,close,volume`    timestamp = `YYYY-MM-DD` (UTC, candle opens 00:00)
 * Numbers are plain decimals ("57953.86000000", "4261.48") or, as in SHIBUSDT_1d, decimal
 * exponent notation ("1.412e-05"); both are converted exactly, never through float.
 * Thread: no shared state; any thread.
 */
#ifndef CG_MARKET_KLINES_H
#define CG_MARKET_KLINES_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* One candle. open_time_ms: ms since the Unix epoch (UTC) of the candle's open; open/high/low/
 * close: quote minor units per whole base unit at price_scale decimals; volume: base minor units
 * at qty_scale decimals. */
struct kline {
    int64_t open_time_ms;
    int64_t open, high, low, close;
    int64_t volume;
};

/*
 * Read every row of the gzip (or plain) CSV at `path` into a new array *out of *n klines, in
 * file order. Each row must be well formed, with prices > 0, low <= open, close <= high,
 * volume >= 0, open times strictly ascending, and (1h layout) one ticker throughout; the
 * loader rejects the whole file rather than skip a row. A header-only file gives *n = 0 and
 * *out = NULL.
 * Returns CG_OK; CG_EIO (cannot open or read, including truncated gzip); CG_EINVAL (bad
 * arguments, unknown header, malformed or out-of-order row, line longer than 1 KiB);
 * CG_ESCALE (more decimals than the scale); CG_EOVERFLOW (value does not fit int64 at its
 * scale); CG_ENOMEM. On error *out and *n are unchanged.
 * Ownership: the caller frees *out with free().
 */
enum cg_err klines_load(const char *path, int price_scale, int qty_scale, struct kline **out,
                        size_t *n) __attribute__((warn_unused_result));

#endif
