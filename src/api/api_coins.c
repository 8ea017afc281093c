/*
 * Coin listings: GET /api/v1/coins, /coins/top/{gainers|losers|volume}, /coins/{symbol},
 * /coins/{symbol}/candles.
 *
 * A coin is the base asset of a {SYMBOL}-USDT market. Rank, market cap and supplies come from the
 * shipped CoinGecko snapshot (analytics/coins.h, data/coins/SOURCE.md: 2025-03-04, market cap
 * in EUR); price, 24h change and volume come from the live replay (the native ticker read model,
 * the same numbers as GET /markets/{m}/ticker). Money fields are decimal strings.
 * Network thread; reads only in-memory models (no store access, well under 1 ms for the
 * handful of listed coins), except /candles, which is GET /markets/{m}/candles.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "analytics/coins.h"
#include "api/api.h"
#include "core/amount.h"
#include "core/clock.h"

struct coin_row {
    uint32_t market;
    const struct coin_meta *meta; /* NULL if the snapshot lacks the coin */
    struct md_ticker t;
    bool has_change;
    int64_t change_bp; /* 24h change in hundredths of a percent (rounded toward zero) */
};

static const char *quote_symbol = "USDT";

static bool coin_market(const struct config *cfg, uint32_t m)
{
    return strcmp(cfg->assets[cfg->markets[m].quote].symbol, quote_symbol) == 0;
}

static void row_fill(struct app *app, uint32_t m, int64_t now, struct coin_row *row)
{
    const struct config *cfg = app->cfg;
    row->market = m;
    row->meta = coins_find(app->coins, cfg->assets[cfg->markets[m].base].symbol);
    mdata_ticker(app->md, m, now, &row->t);
    row->has_change = row->t.trades > 0 && row->t.has_last && row->t.open > 0 &&
                      amount_mul_div(row->t.last - row->t.open, 10000, row->t.open, false,
                                     &row->change_bp) == CG_OK;
}

static json_t *opt_text(const char *s)
{
    return s && s[0] ? json_string(s) : json_null();
}

static json_t *render_coin(struct app *app, const struct coin_row *row)
{
    const struct config *cfg = app->cfg;
    const struct market_cfg *mk = &cfg->markets[row->market];
    const struct asset_cfg *base = &cfg->assets[mk->base];
    int bs = base->scale;
    int qs = cfg->assets[mk->quote].scale;
    const struct coin_meta *c = row->meta;
    json_t *j = json_object();
    json_t *price = json_null();
    const char *price_source = NULL;

    if (row->t.has_last) {
        price = json_amount(row->t.last, qs);
        price_source = "last_trade";
    } else if (row->t.has_reference) {
        price = json_amount(row->t.reference_price, qs);
        price_source = "replay_reference";
    }
    json_object_set_new(j, "symbol", json_string(base->symbol));
    json_object_set_new(j, "name", json_string(c ? c->name : base->name));
    json_object_set_new(j, "rank", c && c->rank > 0 ? json_integer(c->rank) : json_null());
    json_object_set_new(j, "market", json_string(mk->name));
    json_object_set_new(j, "market_cap", c ? json_string(c->market_cap) : json_null());
    json_object_set_new(j, "market_cap_currency", json_string(app->coins->currency));
    json_object_set_new(j, "circulating_supply", c ? opt_text(c->circulating_supply) : json_null());
    json_object_set_new(j, "total_supply", c ? opt_text(c->total_supply) : json_null());
    json_object_set_new(j, "max_supply", c ? opt_text(c->max_supply) : json_null());
    json_object_set_new(j, "metadata_as_of", c ? json_string(c->last_updated) : json_null());
    json_object_set_new(j, "price", price);
    json_object_set_new(j, "price_currency", json_string(quote_symbol));
    json_object_set_new(j, "price_source", price_source ? json_string(price_source) : json_null());
    json_object_set_new(j, "change_24h",
                        row->has_change ? json_amount(row->t.last - row->t.open, qs) : json_null());
    json_object_set_new(j, "change_percent_24h",
                        row->has_change ? json_amount(row->change_bp, 2) : json_null());
    json_object_set_new(j, "volume_24h", json_amount(row->t.volume, bs));
    json_object_set_new(j, "quote_volume_24h", json_amount(row->t.quote_volume, qs));
    json_object_set_new(j, "replay_time",
                        row->t.has_reference ? json_time(row->t.replay_time) : json_null());
    return j;
}

enum coin_sort { SORT_MARKET_CAP = 0, SORT_VOLUME, SORT_CHANGE, SORT_PRICE, SORT_NAME };

static int g_sort; /* qsort has no context argument; network thread only */
static int g_desc;

/* Rows without the sort key (no metadata, no change yet) go last in either order. */
static int cmp_rows(const void *pa, const void *pb)
{
    const struct coin_row *a = pa;
    const struct coin_row *b = pb;
    int missing_a = 0;
    int missing_b = 0;
    int c = 0;
    switch (g_sort) {
    case SORT_MARKET_CAP:
        missing_a = !a->meta;
        missing_b = !b->meta;
        if (!missing_a && !missing_b)
            c = (a->meta->market_cap_value > b->meta->market_cap_value) -
                (a->meta->market_cap_value < b->meta->market_cap_value);
        break;
    case SORT_VOLUME:
        c = (a->t.quote_volume > b->t.quote_volume) - (a->t.quote_volume < b->t.quote_volume);
        break;
    case SORT_CHANGE:
        missing_a = !a->has_change;
        missing_b = !b->has_change;
        if (!missing_a && !missing_b)
            c = (a->change_bp > b->change_bp) - (a->change_bp < b->change_bp);
        break;
    case SORT_PRICE: {
        int64_t pa_ = a->t.has_last ? a->t.last : a->t.reference_price;
        int64_t pb_ = b->t.has_last ? b->t.last : b->t.reference_price;
        /* prices of different markets share the quote asset (USDT), so minor units compare */
        c = (pa_ > pb_) - (pa_ < pb_);
        break;
    }
    default:
        c = strcmp(a->meta ? a->meta->name : "", b->meta ? b->meta->name : "");
        break;
    }
    if (missing_a != missing_b)
        return missing_a - missing_b;
    if (g_desc)
        c = -c;
    return c ? c : (int)a->market - (int)b->market;
}

static bool parse_sort(const char *s, int *sort)
{
    static const char *const names[] = {"market_cap", "volume", "change", "price", "name"};
    if (!s) {
        *sort = SORT_MARKET_CAP;
        return true;
    }
    if (strcmp(s, "rank") == 0) {
        *sort = SORT_MARKET_CAP;
        return true;
    }
    for (int i = 0; i < 5; i++) {
        if (strcmp(s, names[i]) == 0) {
            *sort = i;
            return true;
        }
    }
    return false;
}

static bool symbol_listed(const char *list, const char *symbol)
{
    char buf[256];
    char *save = NULL;
    snprintf(buf, sizeof(buf), "%s", list);
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (strcasecmp(t, symbol) == 0)
            return true;
    }
    return false;
}

/* Build, filter and sort the rows; returns the count (rows has CFG_MAX_MARKETS slots). */
static size_t collect(struct app *app, const char *symbols, const char *q, int sort, bool desc,
                      struct coin_row *rows)
{
    const struct config *cfg = app->cfg;
    int64_t now = clock_now_ms();
    size_t n = 0;
    for (uint32_t m = 0; m < cfg->n_markets; m++) {
        const char *sym = cfg->assets[cfg->markets[m].base].symbol;
        if (!coin_market(cfg, m) || (symbols && !symbol_listed(symbols, sym)))
            continue;
        row_fill(app, m, now, &rows[n]);
        if (q) {
            const char *name =
                rows[n].meta ? rows[n].meta->name : cfg->assets[cfg->markets[m].base].name;
            if (!strcasestr(sym, q) && !strcasestr(name, q))
                continue;
        }
        n++;
    }
    g_sort = sort;
    g_desc = desc;
    qsort(rows, n, sizeof(rows[0]), cmp_rows);
    return n;
}

static json_t *coins_envelope(struct app *app, json_t *data)
{
    return json_pack("{s:o,s:{s:s,s:s,s:s}}", "data", data, "metadata", "source",
                     app->coins->source, "as_of", app->coins->as_of, "market_cap_currency",
                     app->coins->currency);
}

void h_coins(struct req *r, struct resp *out)
{
    struct coin_row rows[CFG_MAX_MARKETS];
    const char *order = req_query(r, "order");
    const char *sort_s = req_query(r, "sort");
    int sort;
    int limit;
    bool desc;
    size_t n;
    json_t *arr;
    if (!parse_sort(sort_s, &sort)) {
        resp_error(out, CG_EINVAL,
                   "sort must be one of market_cap, rank, volume, change, price, name");
        return;
    }
    if (order && strcmp(order, "asc") != 0 && strcmp(order, "desc") != 0) {
        resp_error(out, CG_EINVAL, "order must be asc or desc");
        return;
    }
    if (!req_limit(r, CFG_MAX_MARKETS, CFG_MAX_MARKETS, &limit, out))
        return;
    /* rank ascending is market cap descending; names default to A..Z; the rest high first */
    if (order)
        desc = strcmp(order, "desc") == 0;
    else
        desc = sort != SORT_NAME;
    if (sort_s && strcmp(sort_s, "rank") == 0)
        desc = !(order && strcmp(order, "desc") == 0);
    n = collect(r->app, req_query(r, "symbols"), req_query(r, "q"), sort, desc, rows);
    arr = json_array();
    for (size_t i = 0; i < n && i < (size_t)limit; i++)
        json_array_append_new(arr, render_coin(r->app, &rows[i]));
    resp_json(out, 200, coins_envelope(r->app, arr));
}

void h_coins_top(struct req *r, struct resp *out)
{
    struct coin_row rows[CFG_MAX_MARKETS];
    const char *cat = r->param;
    int limit;
    int sort;
    bool desc;
    size_t n;
    json_t *arr;
    if (strcmp(cat, "gainers") == 0) {
        sort = SORT_CHANGE;
        desc = true;
    } else if (strcmp(cat, "losers") == 0) {
        sort = SORT_CHANGE;
        desc = false;
    } else if (strcmp(cat, "volume") == 0) {
        sort = SORT_VOLUME;
        desc = true;
    } else {
        resp_error(out, CG_ENOTFOUND, "top lists are gainers, losers and volume");
        return;
    }
    if (!req_limit(r, 5, CFG_MAX_MARKETS, &limit, out))
        return;
    n = collect(r->app, NULL, NULL, sort, desc, rows);
    arr = json_array();
    for (size_t i = 0; i < n && i < (size_t)limit; i++) {
        /* gainers are coins that rose, losers coins that fell */
        if (sort == SORT_CHANGE &&
            (!rows[i].has_change || (desc ? rows[i].change_bp <= 0 : rows[i].change_bp >= 0)))
            continue;
        json_array_append_new(arr, render_coin(r->app, &rows[i]));
    }
    resp_json(out, 200, json_pack("{s:s,s:o}", "category", cat, "data", arr));
}

/* The {SYMBOL}-USDT market of a coin symbol (case-insensitive), or -1. */
static int coin_market_index(const struct config *cfg, const char *symbol)
{
    for (uint32_t m = 0; m < cfg->n_markets; m++) {
        if (coin_market(cfg, m) &&
            strcasecmp(cfg->assets[cfg->markets[m].base].symbol, symbol) == 0)
            return (int)m;
    }
    return -1;
}

void h_coin(struct req *r, struct resp *out)
{
    struct coin_row row;
    int m = coin_market_index(r->app->cfg, r->param);
    if (m < 0) {
        resp_error(out, CG_ENOTFOUND, "no such coin");
        return;
    }
    row_fill(r->app, (uint32_t)m, clock_now_ms(), &row);
    resp_json(out, 200, render_coin(r->app, &row));
}

void h_coin_candles(struct req *r, struct resp *out)
{
    int m = coin_market_index(r->app->cfg, r->param);
    if (m < 0) {
        resp_error(out, CG_ENOTFOUND, "no such coin");
        return;
    }
    /* the coin's price history is its USDT market's candles */
    snprintf(r->param_buf, sizeof(r->param_buf), "%s", r->app->cfg->markets[m].name);
    r->param = r->param_buf;
    h_candles(r, out);
}
