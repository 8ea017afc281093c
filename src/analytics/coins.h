/*
 * Coin listings metadata: the CoinGecko /coins/markets snapshot shipped in data/coins/ (see
 * data/coins/SOURCE.md: 2025-03-04, money columns in EUR). Loaded once at start-up; read-only
 * afterwards, so any thread may read a loaded `struct coins` without locking.
 *
 * Numbers are kept as the file's decimal text (exact; the API returns them as decimal strings);
 * market_cap_value is the same market cap as a double, for sorting only.
 */
#ifndef CG_ANALYTICS_COINS_H
#define CG_ANALYTICS_COINS_H

#include <stddef.h>

#include "core/err.h"

#define COINS_MAX 256

struct coin_meta {
    int rank;                    /* CoinGecko market-cap rank; 0 = unranked */
    char id[64];                 /* CoinGecko id ("bitcoin") */
    char symbol[16];             /* upper case ("BTC") */
    char name[64];               /* "Bitcoin" */
    char market_cap[32];         /* decimal text, EUR */
    double market_cap_value;     /* for sorting only */
    char circulating_supply[40]; /* decimal text, coin units */
    char total_supply[40];       /* decimal text, coin units; "" = unknown */
    char max_supply[40];         /* decimal text, coin units; "" = none/unknown */
    char last_updated[32];       /* ISO-8601 UTC */
};

struct coins {
    struct coin_meta c[COINS_MAX];
    size_t n;
    char as_of[16];   /* date of the snapshot, "2025-03-04" (from the newest last_updated) */
    char currency[8]; /* currency of market_cap, "EUR" */
    char source[128]; /* human description of the source */
};

/*
 * Load the CSV at path (header `market_cap_rank,id,symbol,name,market_cap,circulating_supply,
 * total_supply,max_supply,fully_diluted_valuation,current_price,total_volume,last_updated`).
 * Every row must have 12 fields, a symbol, and decimal numbers where numbers go.
 * Returns CG_OK, CG_EIO (cannot read), CG_EINVAL (bad header or row, or more than COINS_MAX
 * rows; *out unchanged). Caller's thread; before serving.
 */
enum cg_err coins_load(const char *path, struct coins *out) __attribute__((warn_unused_result));

/* The coin with this symbol (case-insensitive), or NULL. */
const struct coin_meta *coins_find(const struct coins *cs, const char *symbol);

#endif
