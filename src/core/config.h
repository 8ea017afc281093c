/*
 * Assets and markets, loaded once at start from the user-editable JSON file
 * (config/markets.json) and read-only afterwards, so any thread may read it without locks.
 *
 * Units: every amount is int64 minor units: tick_size and prices at the quote asset's scale,
 * lot_size and quantities at the base asset's scale, min_notional at the quote scale. Fees are in
 * parts per million of the notional (0.001 = 0.1% = 1000 ppm).
 */
#ifndef CG_CORE_CONFIG_H
#define CG_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/amount.h"
#include "core/err.h"

#define CFG_MAX_ASSETS 32
#define CFG_MAX_MARKETS 32
#define CFG_MAX_FILES 4
#define CFG_PATH_MAX 512

struct asset_cfg {
    char symbol[16];
    char name[48];
    int scale;             /* decimals of one minor unit */
    int64_t deposit_limit; /* per-request paper top-up cap, minor units */
};

enum replay_kind { REPLAY_NONE = 0, REPLAY_L2 = 1, REPLAY_KLINES = 2 };

struct market_cfg {
    char name[24];        /* "BTC-USDT" */
    char symbol[16];      /* "BTCUSDT" (Binance form) */
    uint32_t base;        /* asset index */
    uint32_t quote;       /* asset index */
    int64_t tick_size;    /* quote minor units */
    int64_t lot_size;     /* base minor units */
    int64_t min_quantity; /* base minor units */
    int64_t max_quantity; /* base minor units */
    int64_t min_notional; /* quote minor units */
    int64_t maker_fee_ppm;
    int64_t taker_fee_ppm;
    int64_t protection_ppm; /* market protection band, parts per million of the reference */
    int replay_kind;        /* enum replay_kind */
    char replay_source[200];
    char replay_files[CFG_MAX_FILES][CFG_PATH_MAX];
    size_t n_replay_files;
    char history_1h[CFG_PATH_MAX];
    char history_1d[CFG_PATH_MAX];
};

struct house_cfg {
    int levels;                    /* L2 mirror: levels per side */
    int ladder_levels;             /* kline ladder: levels per side */
    int64_t ladder_step_bps;       /* distance between ladder levels, basis points of price */
    int64_t ladder_level_notional; /* quote minor units per ladder level */
};

/* Portfolio risk settings (issue 6), optional "analytics" object of the config file. */
struct analytics_cfg {
    int64_t risk_free_ppm;     /* annual risk-free rate for Sharpe/Sortino, ppm (40000 = 4%) */
    int64_t concentration_ppm; /* warn when one asset is above this share of equity, ppm */
};

struct config {
    struct asset_cfg assets[CFG_MAX_ASSETS];
    size_t n_assets;
    struct market_cfg markets[CFG_MAX_MARKETS];
    size_t n_markets;
    struct house_cfg house;
    struct analytics_cfg analytics;
};

/*
 * Load and validate the config at `path`. Relative data paths inside are resolved against
 * `root` (the project directory). Checks: known assets, positive tick/lot, tick x lot exact at
 * the quote scale (so every notional is an exact number of quote minor units), fees < 100%.
 * Returns CG_OK, CG_EIO, CG_EJSON or CG_EINVAL with a human message in errbuf.
 */
enum cg_err config_load(const char *path, const char *root, struct config *cfg, char *errbuf,
                        size_t errlen) __attribute__((warn_unused_result));

/* Index of the asset/market with this symbol/name, or -1. Case-sensitive. */
int config_asset_index(const struct config *cfg, const char *symbol);
int config_market_index(const struct config *cfg, const char *name);
/* Index of the market whose Binance symbol is `symbol` ("BTCUSDT"), or -1. */
int config_market_by_symbol(const struct config *cfg, const char *symbol);

#endif
