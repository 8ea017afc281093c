/*
 * Import the shipped Binance kline history (config: markets[].history.1h / .1d) into the
 * candles table, once per (market, interval): 1h and 1d as shipped, 4h aggregated from the 1h
 * bars (open of the first, max high, min low, close of the last, summed volume). Quote volume
 * is not in the files and is stored as 0. Source is recorded as "binance".
 * Thread: the caller's, with its own db connection; before serving.
 */
#ifndef CG_MARKET_HISTORY_H
#define CG_MARKET_HISTORY_H

#include "core/config.h"
#include "store/db.h"

/* Import what is missing. CG_OK, or the first error (logged) with nothing of that set kept. */
enum cg_err history_import(struct db *db, const struct config *cfg)
    __attribute__((warn_unused_result));

#endif
