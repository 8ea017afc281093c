/*
 * The feed thread: replays the shipped real market data on a clock and drives the house
 * liquidity provider through engine commands.
 *
 * - L2 markets (BTC, ETH): the Binance depth + trades capture is replayed at `speed` x real
 *   time; after each step the top `house.levels` real levels per side go to the engine as
 *   CMD_FEED_BOOK (the house mirrors them, sizes as in the data). Real trades are not fills (no
 *   fill bypasses the engine): they set the reference price and, as CMD_FEED_TRADE, the
 *   engine's last price that stop orders trigger on.
 * - Kline markets: each 1h bar lasts 1 h / speed; the house ladder is centred on the bar's real
 *   open, then its high and low (in the order the bar's direction implies: a rising bar visits
 *   its low first), then its close, a quarter of the bar each. No price between them is made up.
 * Both loop when they reach the end of their data.
 * Thread: feed_start/feed_stop from the main thread; everything else runs on the feed thread.
 */
#ifndef CG_MARKET_FEED_H
#define CG_MARKET_FEED_H

#include <stdint.h>

#include "core/config.h"
#include "engine/engine.h"
#include "market/mdata.h"

struct feed_info {
    int kind;         /* enum replay_kind */
    int64_t first_ms; /* original time range of the replayed data, ms */
    int64_t last_ms;
    uint64_t events; /* depth diffs + trades, or bars */
};

struct feed;

/* A feed over every market's replay data. The files are only checked here (NULL with a
 * message in errbuf if one cannot be read); the feed thread parses them when it starts, so the
 * server answers at once. speed_milli: replay speed x 1000 (1000 = real time). */
struct feed *feed_new(const struct config *cfg, struct engine *eng, struct mdata *md,
                      int64_t speed_milli, char *errbuf, size_t errlen);
void feed_free(struct feed *f);
enum cg_err feed_start(struct feed *f) __attribute__((warn_unused_result));
void feed_stop(struct feed *f);
/* What market i replays, or NULL while its data is still loading (or failed to load). Any
 * thread; the pointed-to info does not change once published. */
const struct feed_info *feed_market_info(const struct feed *f, uint32_t market);

#endif
