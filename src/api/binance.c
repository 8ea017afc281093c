/*
 * Binance-compatible REST API, public part: parameters, errors, request weight, and the market
 * data endpoints /api/v3/{ping,time,exchangeInfo,depth,trades,aggTrades,klines,uiKlines,
 * ticker/24hr,ticker/price,ticker/bookTicker,avgPrice}, plus empty answers for the sapi/fapi/dapi
 * discovery paths ccxt calls by default. Shapes, codes and messages follow Binance's Spot API
 * reference (developers.binance.com/docs/binance-spot-api-docs/rest-api). Network thread.
 *
 * Data sources, all read-only: the config (exchangeInfo filters), the book read model (depth:
 * lastUpdateId is the book's delta seq, the same seq the WebSocket deltas carry), the fills table
 * (trades, aggTrades, 1s klines), the candles table (klines; intervals the store does not hold are
 * aggregated from the finest stored one that divides them) and the ticker read model.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/binance.h"
#include "core/clock.h"

#define BN_WEIGHT_LIMIT 6000 /* REQUEST_WEIGHT per minute per IP, Binance's default */
#define BN_RL_SLOTS 256

/* ---- errors ---- */

void bn_error(struct resp *out, int http_status, int code, const char *msg)
{
    json_t *j = json_pack("{s:i,s:s}", "code", code, "msg", msg);
    free(out->body);
    out->body = json_dumps(j, JSON_COMPACT);
    out->status = http_status;
    out->pending = false;
    json_decref(j);
}

void bn_missing(struct resp *out, const char *param)
{
    char msg[160];
    snprintf(msg, sizeof(msg),
             "Mandatory parameter '%s' was not sent, was empty/null, or malformed.", param);
    bn_error(out, 400, -1102, msg);
}

/* Native error code -> Binance code and message. */
struct bn_map {
    const char *native;
    int http;
    int code;
    const char *msg; /* NULL: keep the native message */
};

static const struct bn_map native_map[] = {
    {"insufficient_funds", 400, -2010, "Account has insufficient balance for requested action."},
    {"post_only_would_take", 400, -2010, "Order would immediately match and take."},
    {"stop_would_trigger", 400, -2010, "Stop price would trigger immediately."},
    {"duplicate_client_order_id", 400, -2010, "Duplicate order sent."},
    {"insufficient_liquidity", 400, -2010,
     "Order book liquidity is less than LOT_SIZE filter minimum quantity."},
    {"market_protection", 400, -2010, "Order would trigger market protection."},
    {"invalid_tick_size", 400, -1013, "Filter failure: PRICE_FILTER"},
    {"invalid_lot_size", 400, -1013, "Filter failure: LOT_SIZE"},
    {"quantity_out_of_range", 400, -1013, "Filter failure: LOT_SIZE"},
    {"min_notional", 400, -1013, "Filter failure: NOTIONAL"},
    {"too_many_decimals", 400, -1111, "Precision is over the maximum defined for this asset."},
    {"amount_overflow", 400, -1013, "Filter failure: NOTIONAL"},
    {"invalid_amount", 400, -1013, "Invalid quantity."},
    {"unknown_market", 400, -1121, "Invalid symbol."},
    {"not_found", 400, -2013, "Order does not exist."},
    {"order_not_open", 400, -2011, "Unknown order sent."},
    {"unauthorized", 401, -2015, "Invalid API-key, IP, or permissions for action."},
    {"forbidden", 401, -2015, "Invalid API-key, IP, or permissions for action."},
    {"rate_limited", 429, -1003,
     "Too much request weight used; current limit is 6000 request weight per 1 MINUTE. Please use "
     "WebSocket Streams for live updates to avoid polling the API."},
    {"server_busy", 503, -1008,
     "Server is currently overloaded with other requests. Please try again in a few minutes."},
    {"store_unavailable", 503, -1001,
     "Internal error; unable to process your request. Please try again."},
    {"internal_error", 500, -1000, "An unknown error occurred while processing the request."},
    {"out_of_memory", 500, -1000, "An unknown error occurred while processing the request."},
};

void bn_from_native_error(int *status, char **body)
{
    json_t *doc = *body ? json_loads(*body, 0, NULL) : NULL;
    json_t *err = json_object_get(doc, "error");
    const char *code = json_string_value(json_object_get(err, "code"));
    const char *msg = json_string_value(json_object_get(err, "message"));
    struct resp r = {0};
    bool done = false;
    for (size_t i = 0; code && i < sizeof(native_map) / sizeof(native_map[0]); i++) {
        if (!strcmp(code, native_map[i].native)) {
            bn_error(&r, native_map[i].http, native_map[i].code,
                     native_map[i].msg ? native_map[i].msg : msg);
            done = true;
            break;
        }
    }
    if (!done)
        bn_error(&r, *status >= 500 ? *status : 400, *status >= 500 ? -1000 : -1013,
                 msg ? msg : "An unknown error occurred while processing the request.");
    json_decref(doc);
    free(*body);
    *body = r.body;
    *status = r.status;
}

/* ---- parameters ---- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* x-www-form-urlencoded decoding of s[0..n) into out (cap bytes). false if malformed/long. */
static bool form_decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (o + 1 >= cap)
            return false;
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int h;
            int l;
            if (i + 2 >= n)
                return false;
            h = hexval((unsigned char)s[i + 1]);
            l = hexval((unsigned char)s[i + 2]);
            if (h < 0 || l < 0)
                return false;
            c = (char)(h * 16 + l);
            i += 2;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return true;
}

bool bn_body_is_form(const struct req *r)
{
    size_t i = 0;
    while (i < r->body_len && isspace((unsigned char)r->body[i]))
        i++;
    return i < r->body_len && r->body[i] != '{' && r->body[i] != '[';
}

enum split_err { SPLIT_OK = 0, SPLIT_TOO_MANY, SPLIT_MALFORMED };

static int add_param(struct bn_params *p, const char *k, size_t kn, const char *v, size_t vn,
                     bool decode)
{
    if (p->n >= BN_MAX_PARAMS)
        return SPLIT_TOO_MANY;
    if (kn >= BN_KEY_MAX || vn >= BN_VAL_MAX)
        return SPLIT_MALFORMED;
    if (decode) {
        if (!form_decode(k, kn, p->k[p->n], BN_KEY_MAX) ||
            !form_decode(v, vn, p->v[p->n], BN_VAL_MAX))
            return SPLIT_MALFORMED;
    } else {
        memcpy(p->k[p->n], k, kn);
        p->k[p->n][kn] = '\0';
        memcpy(p->v[p->n], v, vn);
        p->v[p->n][vn] = '\0';
    }
    p->n++;
    return SPLIT_OK;
}

/* Split s[0..n) at '&' into key=value pairs. */
static int split_params(struct bn_params *p, const char *s, size_t n, bool decode)
{
    const char *end = s + n;
    while (s < end) {
        const char *amp = memchr(s, '&', (size_t)(end - s));
        size_t len = amp ? (size_t)(amp - s) : (size_t)(end - s);
        const char *eq = memchr(s, '=', len);
        if (len) {
            size_t kn = eq ? (size_t)(eq - s) : len;
            int e = add_param(p, s, kn, eq ? eq + 1 : s + len, eq ? len - kn - 1 : 0, decode);
            if (e != SPLIT_OK)
                return e;
        }
        s += len + (amp ? 1 : 0);
    }
    return SPLIT_OK;
}

struct bn_params *bn_params_load(struct req *r, struct resp *out)
{
    struct bn_params *p = calloc(1, sizeof(*p));
    int e;
    if (!p)
        abort();
    /* the query fragments are already url-decoded by libwebsockets */
    e = r->qraw_truncated ? SPLIT_TOO_MANY : split_params(p, r->qraw, strlen(r->qraw), false);
    if (e == SPLIT_OK && bn_body_is_form(r))
        e = split_params(p, r->body, r->body_len, true);
    if (e == SPLIT_OK)
        return p;
    free(p);
    if (e == SPLIT_TOO_MANY)
        bn_error(out, 400, -1101, "Too many parameters; expected '48' and received more.");
    else
        bn_error(out, 400, -1100, "Illegal characters found in a parameter.");
    return NULL;
}

const char *bn_param(const struct bn_params *p, const char *key)
{
    for (size_t i = 0; i < p->n; i++)
        if (!strcmp(p->k[i], key))
            return p->v[i][0] ? p->v[i] : NULL;
    return NULL;
}

bool bn_int(const struct bn_params *p, const char *key, int64_t *v, bool *present, struct resp *out)
{
    const char *s = bn_param(p, key);
    char *end;
    char msg[200];
    *present = false;
    if (!s)
        return true;
    *v = strtoll(s, &end, 10);
    if (!isdigit((unsigned char)*s) || *end) {
        snprintf(msg, sizeof(msg),
                 "Illegal characters found in parameter '%s'; legal range is '^[0-9]{1,20}$'.",
                 key);
        bn_error(out, 400, -1100, msg);
        return false;
    }
    *present = true;
    return true;
}

int bn_symbol(const struct config *cfg, const struct bn_params *p, struct resp *out, bool required)
{
    const char *s = bn_param(p, "symbol");
    int m;
    if (!s) {
        if (required)
            bn_missing(out, "symbol");
        return -1;
    }
    m = config_market_by_symbol(cfg, s);
    if (m < 0)
        bn_error(out, 400, -1121, "Invalid symbol.");
    return m;
}

/* ---- request weight (per IP, fixed one-minute windows) ---- */

struct rl_slot {
    char ip[64];
    int64_t window;
    int used;
};

static struct rl_slot rl_tab[BN_RL_SLOTS];

/* The per-IP weight budget per minute: Binance's 6000, or COINAGE_API_WEIGHT_LIMIT (benchmarks,
 * private deployments). Read once. */
static int weight_limit(void)
{
    static int limit;
    if (!limit) {
        const char *e = getenv("COINAGE_API_WEIGHT_LIMIT");
        limit = e && atoi(e) > 0 ? atoi(e) : BN_WEIGHT_LIMIT;
    }
    return limit;
}

bool bn_weight(struct req *r, struct resp *out, int weight)
{
    int64_t now = clock_now_ms();
    int64_t window = now / 60000;
    uint32_t h = 2166136261u;
    struct rl_slot *s;
    for (const char *c = r->ip; *c; c++)
        h = (h ^ (unsigned char)*c) * 16777619u;
    s = &rl_tab[h % BN_RL_SLOTS];
    if (strcmp(s->ip, r->ip) || s->window != window) {
        snprintf(s->ip, sizeof(s->ip), "%s", r->ip);
        s->window = window;
        s->used = 0;
    }
    s->used += weight;
    out->mbx_weight = s->used;
    if (s->used > weight_limit()) {
        int mbx = s->used;
        char msg[200];
        snprintf(msg, sizeof(msg),
                 "Too much request weight used; current limit is %d request weight per 1 "
                 "MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.",
                 weight_limit());
        bn_error(out, 429, -1003, msg);
        out->mbx_weight = mbx;
        out->retry_after = (int)(60 - (now / 1000) % 60);
        return false;
    }
    return true;
}

/* ---- new-order counts (per user: 10-second and UTC-day windows, Binance's ORDERS limits) ---- */

#define BN_ORDER_SLOTS 1024
#define BN_ORDERS_10S 100
#define BN_ORDERS_1D 200000

struct order_slot {
    uint64_t user_id;
    int64_t win10, day;
    int n10, n1d;
};

static struct order_slot order_tab[BN_ORDER_SLOTS];

/* Orders per 10 s: Binance's 100, or COINAGE_API_ORDER_LIMIT_10S. Read once. */
static int orders_10s_limit(void)
{
    static int limit;
    if (!limit) {
        const char *e = getenv("COINAGE_API_ORDER_LIMIT_10S");
        limit = e && atoi(e) > 0 ? atoi(e) : BN_ORDERS_10S;
    }
    return limit;
}

bool bn_order_count(struct req *r, struct resp *out)
{
    int64_t now = clock_now_ms();
    struct order_slot *s = &order_tab[r->claims.user_id % BN_ORDER_SLOTS];
    char msg[120];
    if (s->user_id != r->claims.user_id) {
        memset(s, 0, sizeof(*s));
        s->user_id = r->claims.user_id;
    }
    if (s->win10 != now / 10000) {
        s->win10 = now / 10000;
        s->n10 = 0;
    }
    if (s->day != now / 86400000) {
        s->day = now / 86400000;
        s->n1d = 0;
    }
    s->n10++;
    s->n1d++;
    out->mbx_orders_10s = s->n10;
    out->mbx_orders_1d = s->n1d;
    if (s->n10 <= orders_10s_limit() && s->n1d <= BN_ORDERS_1D)
        return true;
    if (s->n10 > orders_10s_limit())
        snprintf(msg, sizeof(msg), "Too many new orders; current limit is %d orders per 10 SECOND.",
                 orders_10s_limit());
    else
        snprintf(msg, sizeof(msg), "Too many new orders; current limit is %d orders per DAY.",
                 BN_ORDERS_1D);
    bn_error(out, 429, -1015, msg);
    out->retry_after = s->n10 > orders_10s_limit() ? (int)(10 - (now / 1000) % 10) : 0;
    return false;
}

/* ---- helpers for the handlers ---- */

static struct bn_params *bn_begin(struct req *r, struct resp *out, int weight)
{
    if (!bn_weight(r, out, weight))
        return NULL;
    return bn_params_load(r, out);
}

static void bn_json(struct resp *out, json_t *doc)
{
    int w = out->mbx_weight;
    resp_json(out, 200, doc);
    out->mbx_weight = w;
}

static int base_scale(const struct config *cfg, uint32_t m)
{
    return cfg->assets[cfg->markets[m].base].scale;
}

static int quote_scale(const struct config *cfg, uint32_t m)
{
    return cfg->assets[cfg->markets[m].quote].scale;
}

/*
 * The markets a ticker-style request names: `symbol` (one, *single set), `symbols` (a JSON array
 * such as ["BTCUSDT","ETHUSDT"]), or none (every market). Returns the count; -1 with *out set.
 */
static int bn_symbols(const struct config *cfg, const struct bn_params *p, struct resp *out,
                      uint32_t *list, bool *single)
{
    const char *one = bn_param(p, "symbol");
    const char *many = bn_param(p, "symbols");
    json_t *arr;
    size_t i;
    json_t *e;
    int n = 0;
    *single = false;
    if (one && many) {
        bn_error(out, 400, -1106, "Parameter 'symbols' sent when not required.");
        return -1;
    }
    if (one) {
        int m = bn_symbol(cfg, p, out, true);
        if (m < 0)
            return -1;
        list[0] = (uint32_t)m;
        *single = true;
        return 1;
    }
    if (!many) {
        for (uint32_t m = 0; m < cfg->n_markets; m++)
            list[n++] = m;
        return n;
    }
    arr = json_loads(many, 0, NULL);
    if (!json_is_array(arr) || json_array_size(arr) == 0 ||
        json_array_size(arr) > CFG_MAX_MARKETS) {
        json_decref(arr);
        bn_error(out, 400, -1100,
                 "Illegal characters found in parameter 'symbols'; legal range is "
                 "'^\\[(\"[A-Z0-9-_.]{1,20}\"(,\"[A-Z0-9-_.]{1,20}\"){0,}){0,1}\\]$'.");
        return -1;
    }
    json_array_foreach(arr, i, e)
    {
        int m = json_is_string(e) ? config_market_by_symbol(cfg, json_string_value(e)) : -1;
        if (m < 0) {
            json_decref(arr);
            bn_error(out, 400, -1121, "Invalid symbol.");
            return -1;
        }
        list[n++] = (uint32_t)m;
    }
    json_decref(arr);
    return n;
}

/* Weight of the ticker endpoints by the number of symbols (Binance: 1-20, 21-100, 101+/all). */
static int ticker_weight(const struct bn_params *p, int per_one, int many, int all)
{
    const char *s = bn_param(p, "symbols");
    if (bn_param(p, "symbol"))
        return per_one;
    if (!s)
        return all;
    return many;
}

/* ---- general ---- */

void h_bn_ping(struct req *r, struct resp *out)
{
    if (bn_weight(r, out, 1))
        bn_json(out, json_object());
}

void h_bn_time(struct req *r, struct resp *out)
{
    if (bn_weight(r, out, 1))
        bn_json(out, json_pack("{s:I}", "serverTime", (json_int_t)clock_now_ms()));
}

void h_bn_empty_list(struct req *r, struct resp *out)
{
    if (bn_weight(r, out, 1))
        bn_json(out, json_array());
}

void h_bn_empty_exchange_info(struct req *r, struct resp *out)
{
    if (bn_weight(r, out, 1))
        bn_json(out, json_pack("{s:s,s:I,s:[],s:[],s:[],s:[]}", "timezone", "UTC", "serverTime",
                               (json_int_t)clock_now_ms(), "rateLimits", "exchangeFilters",
                               "assets", "symbols"));
}

static json_t *symbol_info(const struct config *cfg, uint32_t i)
{
    const struct market_cfg *m = &cfg->markets[i];
    int bs = base_scale(cfg, i);
    int qs = quote_scale(cfg, i);
    json_t *filters = json_array();
    json_array_append_new(filters,
                          json_pack("{s:s,s:o,s:s,s:o}", "filterType", "PRICE_FILTER", "minPrice",
                                    json_amount(m->tick_size, qs), "maxPrice", "0.00000000",
                                    "tickSize", json_amount(m->tick_size, qs)));
    json_array_append_new(filters, json_pack("{s:s,s:o,s:o,s:o}", "filterType", "LOT_SIZE",
                                             "minQty", json_amount(m->min_quantity, bs), "maxQty",
                                             json_amount(m->max_quantity, bs), "stepSize",
                                             json_amount(m->lot_size, bs)));
    json_array_append_new(filters, json_pack("{s:s,s:o,s:o,s:o}", "filterType", "MARKET_LOT_SIZE",
                                             "minQty", json_amount(m->min_quantity, bs), "maxQty",
                                             json_amount(m->max_quantity, bs), "stepSize",
                                             json_amount(m->lot_size, bs)));
    json_array_append_new(filters, json_pack("{s:s,s:o,s:b,s:b,s:i}", "filterType", "NOTIONAL",
                                             "minNotional", json_amount(m->min_notional, qs),
                                             "applyMinToMarket", 1, "applyMaxToMarket", 0,
                                             "avgPriceMins", 0));
    return json_pack(
        "{s:s,s:s,s:s,s:i,s:s,s:i,s:i,s:i,s:i,s:[sssssss],s:b,s:b,s:b,s:b,s:b,s:b,s:b,s:b,s:b,"
        "s:o,s:[s],s:[[s]],s:s,s:[sss]}",
        "symbol", m->symbol, "status", "TRADING", "baseAsset", cfg->assets[m->base].symbol,
        "baseAssetPrecision", bs, "quoteAsset", cfg->assets[m->quote].symbol, "quotePrecision", qs,
        "quoteAssetPrecision", qs, "baseCommissionPrecision", qs, "quoteCommissionPrecision", qs,
        "orderTypes", "LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT",
        "TAKE_PROFIT", "TAKE_PROFIT_LIMIT", "icebergAllowed", 0, "ocoAllowed", 0, "otoAllowed", 0,
        "quoteOrderQtyMarketAllowed", 1, "allowTrailingStop", 0, "cancelReplaceAllowed", 0,
        "amendAllowed", 0, "isSpotTradingAllowed", 1, "isMarginTradingAllowed", 0, "filters",
        filters, "permissions", "SPOT", "permissionSets", "SPOT", "defaultSelfTradePreventionMode",
        "EXPIRE_MAKER", "allowedSelfTradePreventionModes", "EXPIRE_TAKER", "EXPIRE_MAKER",
        "EXPIRE_BOTH");
}

void h_bn_exchange_info(struct req *r, struct resp *out)
{
    const struct config *cfg = r->app->cfg;
    struct bn_params *p = bn_begin(r, out, 20);
    uint32_t list[CFG_MAX_MARKETS];
    bool single;
    int n;
    json_t *syms;
    if (!p)
        return;
    n = bn_symbols(cfg, p, out, list, &single);
    free(p);
    if (n < 0)
        return;
    syms = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(syms, symbol_info(cfg, list[i]));
    bn_json(out, json_pack("{s:s,s:I,s:[{s:s,s:s,s:i,s:i},{s:s,s:s,s:i,s:i},{s:s,s:s,s:i,s:i}],"
                           "s:[],s:o}",
                           "timezone", "UTC", "serverTime", (json_int_t)clock_now_ms(),
                           "rateLimits", "rateLimitType", "REQUEST_WEIGHT", "interval", "MINUTE",
                           "intervalNum", 1, "limit", weight_limit(), "rateLimitType", "ORDERS",
                           "interval", "SECOND", "intervalNum", 10, "limit", orders_10s_limit(),
                           "rateLimitType", "ORDERS", "interval", "DAY", "intervalNum", 1, "limit",
                           BN_ORDERS_1D, "exchangeFilters", "symbols", syms));
}

/* ---- market data ---- */

void h_bn_depth(struct req *r, struct resp *out)
{
    const struct config *cfg = r->app->cfg;
    struct bn_params *p = bn_params_load(r, out);
    int64_t limit = 100;
    bool has;
    int m;
    int weight;
    json_t *snap;
    if (!p)
        return;
    m = bn_symbol(cfg, p, out, true);
    if (m < 0 || !bn_int(p, "limit", &limit, &has, out))
        goto out;
    if (limit < 1 || limit > 5000) {
        bn_error(out, 400, -1100,
                 "Illegal characters found in parameter 'limit'; legal range is '1-5000'.");
        goto out;
    }
    weight = limit <= 100 ? 5 : limit <= 500 ? 25 : limit <= 1000 ? 50 : 250;
    if (!bn_weight(r, out, weight))
        goto out;
    snap = render_book_snapshot(r->app, (uint32_t)m, (size_t)limit);
    bn_json(out, json_pack("{s:O,s:O,s:O}", "lastUpdateId", json_object_get(snap, "seq"), "bids",
                           json_object_get(snap, "bids"), "asks", json_object_get(snap, "asks")));
    json_decref(snap);
out:
    free(p);
}

static bool limit_param(const struct bn_params *p, int64_t dflt, int64_t max, int64_t *limit,
                        struct resp *out)
{
    bool has;
    char msg[160];
    if (!bn_int(p, "limit", limit, &has, out))
        return false;
    if (!has) {
        *limit = dflt;
        return true;
    }
    if (*limit < 1 || *limit > max) {
        snprintf(msg, sizeof(msg),
                 "Illegal characters found in parameter 'limit'; legal range is '1-%lld'.",
                 (long long)max);
        bn_error(out, 400, -1100, msg);
        return false;
    }
    return true;
}

#define FILL_ROW "id, price, quantity, quote_quantity, taker_side, ts, taker_order_id"

void h_bn_trades(struct req *r, struct resp *out)
{
    static const char *sql = "SELECT " FILL_ROW " FROM fills WHERE market = ? "
                             "ORDER BY id DESC LIMIT ?";
    const struct config *cfg = r->app->cfg;
    struct bn_params *p = bn_begin(r, out, 25);
    struct db_stmt *st;
    int64_t limit;
    int m;
    json_t *arr;
    if (!p)
        return;
    m = bn_symbol(cfg, p, out, true);
    if (m < 0 || !limit_param(p, 500, 1000, &limit, out))
        goto out;
    st = db_prepare(r->app->rdb, sql);
    if (!st) {
        bn_error(out, 500, -1000, "An unknown error occurred while processing the request.");
        goto out;
    }
    db_bind_text(st, 1, cfg->markets[m].name);
    db_bind_int64(st, 2, limit);
    arr = json_array();
    while (db_step(st) == DB_ROW)
        json_array_insert_new(
            arr, 0,
            json_pack("{s:I,s:o,s:o,s:o,s:I,s:b,s:b}", "id", (json_int_t)db_col_int64(st, 0),
                      "price", json_amount(db_col_int64(st, 1), quote_scale(cfg, (uint32_t)m)),
                      "qty", json_amount(db_col_int64(st, 2), base_scale(cfg, (uint32_t)m)),
                      "quoteQty", json_amount(db_col_int64(st, 3), quote_scale(cfg, (uint32_t)m)),
                      "time", (json_int_t)db_col_int64(st, 5), "isBuyerMaker",
                      store_side_parse(db_col_text(st, 4)) == SIDE_SELL, "isBestMatch", 1));
    db_reset(st);
    bn_json(out, arr);
out:
    free(p);
}

/* One aggregate trade: fills of one taker order at one price (Binance's definition). */
struct agg {
    int64_t first, last, price, qty, ts;
    uint64_t taker_order;
    bool buyer_maker;
};

static json_t *agg_json(const struct config *cfg, uint32_t m, const struct agg *a)
{
    return json_pack("{s:I,s:o,s:o,s:I,s:I,s:I,s:b,s:b}", "a", (json_int_t)a->first, "p",
                     json_amount(a->price, quote_scale(cfg, m)), "q",
                     json_amount(a->qty, base_scale(cfg, m)), "f", (json_int_t)a->first, "l",
                     (json_int_t)a->last, "T", (json_int_t)a->ts, "m", a->buyer_maker, "M", 1);
}

void h_bn_agg_trades(struct req *r, struct resp *out)
{
    static const char *sql_from = "SELECT " FILL_ROW " FROM fills WHERE market = ? AND id >= ? "
                                  "AND ts >= ? AND ts <= ? ORDER BY id ASC";
    static const char *sql_latest = "SELECT " FILL_ROW " FROM fills WHERE market = ? AND "
                                    "ts <= ? ORDER BY id DESC";
    const struct config *cfg = r->app->cfg;
    struct bn_params *p = bn_begin(r, out, 4);
    struct db_stmt *st;
    int64_t limit;
    int64_t from_id = 0;
    int64_t start = 0;
    int64_t end = INT64_MAX;
    bool has_from;
    bool has_start;
    bool has_end;
    bool asc;
    struct agg cur = {0};
    int64_t n = 0;
    bool have = false;
    int m;
    json_t *arr;
    if (!p)
        return;
    m = bn_symbol(cfg, p, out, true);
    if (m < 0 || !limit_param(p, 500, 1000, &limit, out) ||
        !bn_int(p, "fromId", &from_id, &has_from, out) ||
        !bn_int(p, "startTime", &start, &has_start, out) ||
        !bn_int(p, "endTime", &end, &has_end, out))
        goto out;
    if (!has_end)
        end = INT64_MAX;
    asc = has_from || has_start;
    st = db_prepare(r->app->rdb, asc ? sql_from : sql_latest);
    if (!st) {
        bn_error(out, 500, -1000, "An unknown error occurred while processing the request.");
        goto out;
    }
    db_bind_text(st, 1, cfg->markets[m].name);
    if (asc) {
        db_bind_int64(st, 2, has_from ? from_id : 0);
        db_bind_int64(st, 3, has_start ? start : 0);
        db_bind_int64(st, 4, end);
    } else {
        db_bind_int64(st, 2, end);
    }
    arr = json_array();
    while (db_step(st) == DB_ROW) {
        int64_t id = db_col_int64(st, 0);
        int64_t price = db_col_int64(st, 1);
        uint64_t taker = (uint64_t)db_col_int64(st, 6);
        if (have && taker == cur.taker_order && price == cur.price) {
            cur.qty += db_col_int64(st, 2);
            if (asc)
                cur.last = id;
            else
                cur.first = id;
            continue;
        }
        if (have) {
            if (asc)
                json_array_append_new(arr, agg_json(cfg, (uint32_t)m, &cur));
            else
                json_array_insert_new(arr, 0, agg_json(cfg, (uint32_t)m, &cur));
            if (++n >= limit) {
                have = false;
                break;
            }
        }
        cur.first = cur.last = id;
        cur.price = price;
        cur.qty = db_col_int64(st, 2);
        cur.ts = db_col_int64(st, 5);
        cur.taker_order = taker;
        cur.buyer_maker = store_side_parse(db_col_text(st, 4)) == SIDE_SELL;
        have = true;
    }
    db_reset(st);
    if (have && n < limit) {
        if (asc)
            json_array_append_new(arr, agg_json(cfg, (uint32_t)m, &cur));
        else
            json_array_insert_new(arr, 0, agg_json(cfg, (uint32_t)m, &cur));
    }
    bn_json(out, arr);
out:
    free(p);
}

/* ---- klines ---- */

#define DAY_MS 86400000LL
#define MONTH_IV (-1) /* calendar month */

/* Binance's kline intervals; `src` is the stored interval they are built from ("" = fills). */
static const struct bn_interval {
    const char *name;
    int64_t ms; /* MONTH_IV for 1M */
    const char *src;
    int64_t src_ms;
} intervals[] = {
    {"1s", 1000, "", 0},
    {"1m", 60000, "1m", 60000},
    {"3m", 180000, "1m", 60000},
    {"5m", 300000, "5m", 300000},
    {"15m", 900000, "15m", 900000},
    {"30m", 1800000, "15m", 900000},
    {"1h", 3600000, "1h", 3600000},
    {"2h", 7200000, "1h", 3600000},
    {"4h", 14400000, "1h", 3600000},
    {"6h", 21600000, "1h", 3600000},
    {"8h", 28800000, "1h", 3600000},
    {"12h", 43200000, "1h", 3600000},
    {"1d", DAY_MS, "1d", DAY_MS},
    {"3d", 3 * DAY_MS, "1d", DAY_MS},
    {"1w", 7 * DAY_MS, "1d", DAY_MS},
    {"1M", MONTH_IV, "1d", DAY_MS},
};

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Open time of the interval holding ts. Weeks start on Monday 00:00 UTC (1970-01-05 was a
 * Monday, as Binance's 1w klines do); 3d buckets are aligned to the epoch; months are calendar
 * months in UTC. */
static int64_t bucket_start(const struct bn_interval *iv, int64_t ts)
{
    if (iv->ms == MONTH_IV) {
        time_t t = (time_t)floor_div(ts, 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        tm.tm_mday = 1;
        tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
        return (int64_t)timegm(&tm) * 1000;
    }
    if (iv->ms == 7 * DAY_MS)
        return floor_div(ts - 4 * DAY_MS, iv->ms) * iv->ms + 4 * DAY_MS;
    return floor_div(ts, iv->ms) * iv->ms;
}

static int64_t bucket_end(const struct bn_interval *iv, int64_t start)
{
    if (iv->ms == MONTH_IV) {
        time_t t = (time_t)(start / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        tm.tm_mon += 1;
        return (int64_t)timegm(&tm) * 1000;
    }
    return start + iv->ms;
}

struct kline {
    int64_t t, o, h, l, c, v, q, n, tbv, tbq;
};

static json_t *kline_json(const struct config *cfg, uint32_t m, const struct bn_interval *iv,
                          const struct kline *k)
{
    int bs = base_scale(cfg, m);
    int qs = quote_scale(cfg, m);
    return json_pack("[I,o,o,o,o,o,I,o,I,o,o,s]", (json_int_t)k->t, json_amount(k->o, qs),
                     json_amount(k->h, qs), json_amount(k->l, qs), json_amount(k->c, qs),
                     json_amount(k->v, bs), (json_int_t)(bucket_end(iv, k->t) - 1),
                     json_amount(k->q, qs), (json_int_t)k->n, json_amount(k->tbv, bs),
                     json_amount(k->tbq, qs), "0");
}

/* Fold one source row (a stored candle, or one fill as a candle of one trade) into k. Rows come
 * in time order `asc`, or newest first. */
static void kline_add(struct kline *k, bool fresh, bool asc, const struct kline *row)
{
    if (fresh) {
        int64_t t = k->t;
        *k = *row;
        k->t = t;
        return;
    }
    if (asc)
        k->c = row->c;
    else
        k->o = row->o;
    if (row->h > k->h)
        k->h = row->h;
    if (row->l < k->l)
        k->l = row->l;
    k->v += row->v;
    k->q += row->q;
    k->n += row->n;
    k->tbv += row->tbv;
    k->tbq += row->tbq;
}

#define KLINE_MAX_TIME 253402300799999LL /* 9999-12-31T23:59:59.999Z */

/* A validated klines request. */
struct kline_query {
    const struct bn_interval *iv;
    uint32_t market;
    int64_t limit, start, end;
    bool has_start;
};

static bool kline_params(const struct config *cfg, const struct bn_params *p, struct kline_query *q,
                         struct resp *out)
{
    const char *ivs = bn_param(p, "interval");
    const char *tz = bn_param(p, "timeZone");
    bool has_end;
    int m = bn_symbol(cfg, p, out, true);
    if (m < 0)
        return false;
    q->market = (uint32_t)m;
    if (!ivs) {
        bn_missing(out, "interval");
        return false;
    }
    q->iv = NULL;
    for (size_t i = 0; i < sizeof(intervals) / sizeof(intervals[0]); i++)
        if (!strcmp(ivs, intervals[i].name))
            q->iv = &intervals[i];
    if (!q->iv) {
        bn_error(out, 400, -1120, "Invalid interval.");
        return false;
    }
    if (tz && strcmp(tz, "0") && strcmp(tz, "00:00") && strcmp(tz, "+00:00")) {
        bn_error(out, 400, -1100,
                 "Illegal characters found in parameter 'timeZone'; only UTC (0) is supported.");
        return false;
    }
    q->start = 0;
    q->end = KLINE_MAX_TIME;
    if (!limit_param(p, 500, 1000, &q->limit, out) ||
        !bn_int(p, "startTime", &q->start, &q->has_start, out) ||
        !bn_int(p, "endTime", &q->end, &has_end, out))
        return false;
    if (q->has_start && has_end && q->start > q->end) {
        bn_error(out, 400, -1023, "Start time is greater than end time.");
        return false;
    }
    /* times past the year 9999 mean "no bound" (and keep the calendar arithmetic in range) */
    if (q->start > KLINE_MAX_TIME)
        q->start = KLINE_MAX_TIME;
    if (q->end > KLINE_MAX_TIME)
        q->end = KLINE_MAX_TIME;
    /* read source rows up to the end of the interval that holds endTime, so the last kline is
     * complete */
    if (has_end)
        q->end = bucket_end(q->iv, bucket_start(q->iv, q->end)) - 1;
    return true;
}

/* One source row: a stored candle, or (1s) one fill as a candle of one trade. */
static void kline_row(struct db_stmt *st, bool fills, struct kline *row)
{
    memset(row, 0, sizeof(*row));
    if (fills) {
        bool buy = store_side_parse(db_col_text(st, 4)) == SIDE_BUY;
        row->o = row->h = row->l = row->c = db_col_int64(st, 1);
        row->v = db_col_int64(st, 2);
        row->q = db_col_int64(st, 3);
        row->n = 1;
        row->tbv = buy ? row->v : 0;
        row->tbq = buy ? row->q : 0;
        return;
    }
    row->o = db_col_int64(st, 1);
    row->h = db_col_int64(st, 2);
    row->l = db_col_int64(st, 3);
    row->c = db_col_int64(st, 4);
    row->v = db_col_int64(st, 5);
    row->q = db_col_int64(st, 6);
}

/*
 * Group the source rows into q->limit klines. With startTime the rows are read oldest first
 * from it (a kline that opened before startTime is left out); without, newest first from the
 * end, and the result is reversed. A source LIMIT of (limit + 1) x (rows per kline) always covers
 * the klines returned, so none is cut short.
 */
static json_t *kline_collect(const struct config *cfg, struct db_stmt *st,
                             const struct kline_query *q)
{
    bool fills = q->iv->src[0] == '\0';
    bool asc = q->has_start;
    bool have = false;
    int64_t n = 0;
    struct kline k = {0};
    json_t *arr = json_array();
    while (db_step(st) == DB_ROW) {
        struct kline row;
        int64_t b = bucket_start(q->iv, db_col_int64(st, 0));
        kline_row(st, fills, &row);
        if (asc && b < q->start)
            continue;
        if (have && b == k.t) {
            kline_add(&k, false, asc, &row);
            continue;
        }
        if (have) {
            json_array_insert_new(arr, asc ? json_array_size(arr) : 0,
                                  kline_json(cfg, q->market, q->iv, &k));
            if (++n >= q->limit)
                return arr;
        }
        k.t = b;
        kline_add(&k, true, asc, &row);
        have = true;
    }
    if (have)
        json_array_insert_new(arr, asc ? json_array_size(arr) : 0,
                              kline_json(cfg, q->market, q->iv, &k));
    return arr;
}

void h_bn_klines(struct req *r, struct resp *out)
{
    static const char *sql_c_asc =
        "SELECT open_time, open, high, low, close, volume, quote_volume FROM candles WHERE "
        "market = ? AND interval = ? AND open_time >= ? AND open_time <= ? ORDER BY open_time "
        "ASC LIMIT ?";
    static const char *sql_c_desc =
        "SELECT open_time, open, high, low, close, volume, quote_volume FROM candles WHERE "
        "market = ? AND interval = ? AND open_time >= ? AND open_time <= ? ORDER BY open_time "
        "DESC LIMIT ?";
    static const char *sql_f_asc =
        "SELECT ts, price, quantity, quote_quantity, taker_side FROM fills WHERE market = ? AND "
        "? = '' AND ts >= ? AND ts <= ? ORDER BY id ASC LIMIT ?";
    static const char *sql_f_desc =
        "SELECT ts, price, quantity, quote_quantity, taker_side FROM fills WHERE market = ? AND "
        "? = '' AND ts >= ? AND ts <= ? ORDER BY id DESC LIMIT ?";
    const struct config *cfg = r->app->cfg;
    struct bn_params *p = bn_begin(r, out, 2);
    struct kline_query q;
    struct db_stmt *st;
    bool fills;
    int64_t ratio;
    if (!p)
        return;
    if (!kline_params(cfg, p, &q, out))
        goto out;
    fills = q.iv->src[0] == '\0';
    ratio = fills ? 1000000 : (q.iv->ms == MONTH_IV ? 31 : q.iv->ms / q.iv->src_ms);
    st = db_prepare(r->app->rdb, fills ? (q.has_start ? sql_f_asc : sql_f_desc)
                                       : (q.has_start ? sql_c_asc : sql_c_desc));
    if (!st) {
        bn_error(out, 500, -1000, "An unknown error occurred while processing the request.");
        goto out;
    }
    db_bind_text(st, 1, cfg->markets[q.market].name);
    db_bind_text(st, 2, q.iv->src);
    db_bind_int64(st, 3, q.has_start ? q.start : 0);
    db_bind_int64(st, 4, q.end);
    db_bind_int64(st, 5, (q.limit + 1) * ratio);
    bn_json(out, kline_collect(cfg, st, &q));
    db_reset(st);
out:
    free(p);
}

/* ---- tickers ---- */

static void fill_ids(struct req *r, uint32_t m, int64_t since, int64_t *first, int64_t *last,
                     int64_t *last_qty)
{
    static const char *sql_ids = "SELECT MIN(id), MAX(id) FROM fills WHERE market = ? AND ts >= ?";
    static const char *sql_last =
        "SELECT quantity FROM fills WHERE market = ? ORDER BY id DESC LIMIT 1";
    struct db_stmt *st = db_prepare(r->app->rdb, sql_ids);
    *first = *last = -1;
    *last_qty = 0;
    if (st) {
        db_bind_text(st, 1, r->app->cfg->markets[m].name);
        db_bind_int64(st, 2, since);
        if (db_step(st) == DB_ROW && !db_col_is_null(st, 0)) {
            *first = db_col_int64(st, 0);
            *last = db_col_int64(st, 1);
        }
        db_reset(st);
    }
    st = db_prepare(r->app->rdb, sql_last);
    if (st) {
        db_bind_text(st, 1, r->app->cfg->markets[m].name);
        if (db_step(st) == DB_ROW)
            *last_qty = db_col_int64(st, 0);
        db_reset(st);
    }
}

/* 24h statistics in Binance's shape (FULL or MINI), from the ticker read model. Percent change
 * has 3 decimals, rounded toward zero; weightedAvgPrice = quoteVolume / volume, rounded down. */
static json_t *ticker_24hr(struct req *r, uint32_t m, int64_t now, bool mini)
{
    const struct config *cfg = r->app->cfg;
    int bs = base_scale(cfg, m);
    int qs = quote_scale(cfg, m);
    struct md_ticker t;
    int64_t last;
    int64_t open;
    int64_t high;
    int64_t low;
    int64_t pct = 0;
    int64_t wavg = 0;
    int64_t first_id;
    int64_t last_id;
    int64_t last_qty;
    json_t *j;
    mdata_ticker(r->app->md, m, now, &t);
    last = t.has_last ? t.last : t.has_reference ? t.reference_price : 0;
    open = t.trades > 0 ? t.open : last;
    high = t.trades > 0 ? t.high : last;
    low = t.trades > 0 ? t.low : last;
    if (open > 0 && amount_mul_div(last - open, 100000, open, false, &pct) != CG_OK)
        pct = 0;
    if (t.volume > 0 &&
        amount_mul_div(t.quote_volume, amount_pow10(bs), t.volume, false, &wavg) != CG_OK)
        wavg = 0;
    j = json_pack("{s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:I,s:I}", "symbol", cfg->markets[m].symbol,
                  "openPrice", json_amount(open, qs), "highPrice", json_amount(high, qs),
                  "lowPrice", json_amount(low, qs), "lastPrice", json_amount(last, qs), "volume",
                  json_amount(t.volume, bs), "quoteVolume", json_amount(t.quote_volume, qs),
                  "openTime", (json_int_t)(now - DAY_MS), "closeTime", (json_int_t)now);
    fill_ids(r, m, now - DAY_MS, &first_id, &last_id, &last_qty);
    json_object_set_new(j, "firstId", json_integer(first_id));
    json_object_set_new(j, "lastId", json_integer(last_id));
    json_object_set_new(j, "count", json_integer((json_int_t)t.trades));
    if (mini)
        return j;
    json_object_set_new(j, "priceChange", json_amount(last - open, qs));
    json_object_set_new(j, "priceChangePercent", json_amount(pct, 3));
    json_object_set_new(j, "weightedAvgPrice", json_amount(wavg, qs));
    json_object_set_new(j, "prevClosePrice", json_amount(open, qs));
    json_object_set_new(j, "lastQty", json_amount(last_qty, bs));
    json_object_set_new(j, "bidPrice", json_amount(t.has_bid ? t.bid : 0, qs));
    json_object_set_new(j, "bidQty", json_amount(t.has_bid ? t.bid_qty : 0, bs));
    json_object_set_new(j, "askPrice", json_amount(t.has_ask ? t.ask : 0, qs));
    json_object_set_new(j, "askQty", json_amount(t.has_ask ? t.ask_qty : 0, bs));
    return j;
}

enum ticker_kind { TK_24HR, TK_PRICE, TK_BOOK };

static void ticker_common(struct req *r, struct resp *out, int kind)
{
    static const int weights[3][3] = {{2, 40, 80}, {2, 4, 4}, {2, 4, 4}};
    const struct config *cfg = r->app->cfg;
    struct bn_params *p = bn_params_load(r, out);
    uint32_t list[CFG_MAX_MARKETS];
    int64_t now = clock_now_ms();
    bool single;
    bool mini = false;
    int n;
    json_t *arr;
    if (!p)
        return;
    if (!bn_weight(r, out, ticker_weight(p, weights[kind][0], weights[kind][1], weights[kind][2])))
        goto out;
    if (kind == TK_24HR && bn_param(p, "type")) {
        mini = !strcmp(bn_param(p, "type"), "MINI");
        if (!mini && strcmp(bn_param(p, "type"), "FULL")) {
            bn_error(out, 400, -1100,
                     "Illegal characters found in parameter 'type'; legal range is 'FULL, MINI'.");
            goto out;
        }
    }
    n = bn_symbols(cfg, p, out, list, &single);
    if (n < 0)
        goto out;
    arr = json_array();
    for (int i = 0; i < n; i++) {
        uint32_t m = list[i];
        int bs = base_scale(cfg, m);
        int qs = quote_scale(cfg, m);
        struct md_ticker t;
        json_t *j;
        if (kind == TK_24HR) {
            j = ticker_24hr(r, m, now, mini);
        } else {
            mdata_ticker(r->app->md, m, now, &t);
            /* before the first trade: the replay's last real price */
            if (kind == TK_PRICE)
                j = json_pack("{s:s,s:o}", "symbol", cfg->markets[m].symbol, "price",
                              json_amount(t.has_last        ? t.last
                                          : t.has_reference ? t.reference_price
                                                            : 0,
                                          qs));
            else
                j = json_pack("{s:s,s:o,s:o,s:o,s:o}", "symbol", cfg->markets[m].symbol, "bidPrice",
                              json_amount(t.has_bid ? t.bid : 0, qs), "bidQty",
                              json_amount(t.has_bid ? t.bid_qty : 0, bs), "askPrice",
                              json_amount(t.has_ask ? t.ask : 0, qs), "askQty",
                              json_amount(t.has_ask ? t.ask_qty : 0, bs));
        }
        json_array_append_new(arr, j);
    }
    if (single) {
        json_t *one = json_incref(json_array_get(arr, 0));
        json_decref(arr);
        arr = one;
    }
    bn_json(out, arr);
out:
    free(p);
}

void h_bn_ticker_24hr(struct req *r, struct resp *out)
{
    ticker_common(r, out, TK_24HR);
}

void h_bn_ticker_price(struct req *r, struct resp *out)
{
    ticker_common(r, out, TK_PRICE);
}

void h_bn_book_ticker(struct req *r, struct resp *out)
{
    ticker_common(r, out, TK_BOOK);
}

/* Average price over the last 5 minutes: volume-weighted over the fills (rounded down), or the
 * last price when nothing traded. */
void h_bn_avg_price(struct req *r, struct resp *out)
{
    static const char *sql = "SELECT SUM(quote_quantity), SUM(quantity), MAX(ts) FROM fills "
                             "WHERE market = ? AND ts >= ?";
    const struct config *cfg = r->app->cfg;
    struct bn_params *p = bn_begin(r, out, 2);
    int64_t now = clock_now_ms();
    int64_t price = 0;
    int64_t close = now;
    struct db_stmt *st;
    int m;
    if (!p)
        return;
    m = bn_symbol(cfg, p, out, true);
    if (m < 0)
        goto out;
    st = db_prepare(r->app->rdb, sql);
    if (st) {
        db_bind_text(st, 1, cfg->markets[m].name);
        db_bind_int64(st, 2, now - 300000);
        if (db_step(st) == DB_ROW && !db_col_is_null(st, 0) && db_col_int64(st, 1) > 0) {
            if (amount_mul_div(db_col_int64(st, 0), amount_pow10(base_scale(cfg, (uint32_t)m)),
                               db_col_int64(st, 1), false, &price) != CG_OK)
                price = 0;
            close = db_col_int64(st, 2);
        }
        db_reset(st);
    }
    if (!price) {
        struct md_ticker t;
        mdata_ticker(r->app->md, (uint32_t)m, now, &t);
        price = t.has_last ? t.last : t.has_reference ? t.reference_price : 0;
    }
    bn_json(out, json_pack("{s:i,s:o,s:I}", "mins", 5, "price",
                           json_amount(price, quote_scale(cfg, (uint32_t)m)), "closeTime",
                           (json_int_t)close));
out:
    free(p);
}
