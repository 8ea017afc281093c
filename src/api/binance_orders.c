/*
 * Binance-compatible REST API, signed part: /api/v3/account, order (POST/GET/DELETE),
 * order/test, openOrders (GET/DELETE), allOrders, myTrades. Network thread.
 *
 * Only translation: orders go through the native handlers (h_order_create, h_order_cancel,
 * h_orders_cancel_all) into the same engine commands, so an order placed here is the same order
 * in /api/v1 and vice versa. Answers of engine commands arrive after the store committed them;
 * bn_finish_* then reads the order and its fills back from the store and writes them in
 * Binance's shapes (ACK / RESULT / FULL). Binance's order ids are the native ids.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "api/binance.h"
#include "auth/apikey.h"
#include "core/clock.h"

enum bn_shape { SH_ACK = 0, SH_RESULT, SH_FULL, SH_QUERY, SH_CANCEL };

/* finish_arg: shape in the low byte; FIN_CANCEL_ALL marks a cancel-all answer */
#define FIN_CANCEL_ALL 0x100u

static const char *bn_type(const struct order *o)
{
    static const char *const names[] = {"LIMIT",           "MARKET",      "STOP_LOSS",
                                        "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"};
    if (o->type == ORDER_LIMIT && o->post_only)
        return "LIMIT_MAKER";
    return o->type <= ORDER_TAKE_PROFIT_LIMIT ? names[o->type] : "LIMIT";
}

static const char *bn_status(const struct order *o)
{
    static const char *const names[] = {"NEW",      "PARTIALLY_FILLED", "FILLED",
                                        "CANCELED", "REJECTED",         "EXPIRED"};
    if (o->status == ORDER_EXPIRED && o->reason == REASON_SELF_TRADE_PREVENTION)
        return "EXPIRED_IN_MATCH";
    return o->status <= ORDER_EXPIRED ? names[o->status] : "NEW";
}

static const char *bn_tif(const struct order *o)
{
    static const char *const names[] = {"GTC", "IOC", "FOK"};
    if (order_type_is_market(o->type))
        return "GTC"; /* what Binance reports for market orders */
    return o->tif <= TIF_FOK ? names[o->tif] : "GTC";
}

static const char *bn_stp(int stp)
{
    return stp == STP_EXPIRE_TAKER  ? "EXPIRE_TAKER"
           : stp == STP_EXPIRE_BOTH ? "EXPIRE_BOTH"
                                    : "EXPIRE_MAKER";
}

static bool load_order(struct req *r, uint64_t id, uint64_t user_id, struct order *o)
{
    static const char *sql = "SELECT " ORDER_COLS " FROM orders WHERE id = ? AND user_id = ?";
    struct db_stmt *st = db_prepare(r->app->rdb, sql);
    bool found = false;
    if (!st)
        return false;
    db_bind_int64(st, 1, (int64_t)id);
    db_bind_int64(st, 2, (int64_t)user_id);
    if (db_step(st) == DB_ROW)
        found = order_from_row(r->app->cfg, st, o);
    db_reset(st);
    return found;
}

static bool load_order_by_client_id(struct req *r, const char *coid, struct order *o)
{
    static const char *sql = "SELECT " ORDER_COLS " FROM orders WHERE user_id = ? AND "
                             "client_order_id = ? ORDER BY id DESC LIMIT 1";
    struct db_stmt *st = db_prepare(r->app->rdb, sql);
    bool found = false;
    if (!st)
        return false;
    db_bind_int64(st, 1, (int64_t)r->claims.user_id);
    db_bind_text(st, 2, coid);
    if (db_step(st) == DB_ROW)
        found = order_from_row(r->app->cfg, st, o);
    db_reset(st);
    return found;
}

static json_t *order_fills_json(struct app *app, const struct order *o)
{
    static const char *sql = "SELECT " FILL_COLS " FROM fills WHERE taker_order_id = ? OR "
                             "maker_order_id = ? ORDER BY id LIMIT 1000";
    const struct config *cfg = app->cfg;
    const struct market_cfg *m = &cfg->markets[o->market];
    json_t *arr = json_array();
    struct db_stmt *st = db_prepare(app->rdb, sql);
    if (!st)
        return arr;
    db_bind_int64(st, 1, (int64_t)o->id);
    db_bind_int64(st, 2, (int64_t)o->id);
    while (db_step(st) == DB_ROW) {
        struct fill f;
        bool taker;
        if (!fill_from_row(cfg, st, &f))
            continue;
        taker = f.taker_order_id == o->id;
        json_array_append_new(
            arr,
            json_pack(
                "{s:o,s:o,s:o,s:s,s:I}", "price", json_amount(f.price, cfg->assets[m->quote].scale),
                "qty", json_amount(f.quantity, cfg->assets[m->base].scale), "commission",
                json_amount(taker ? f.taker_fee : f.maker_fee, cfg->assets[m->quote].scale),
                "commissionAsset", cfg->assets[m->quote].symbol, "tradeId", (json_int_t)f.id));
    }
    db_reset(st);
    return arr;
}

/* An order in one of Binance's shapes (new-order ACK/RESULT/FULL, query, cancel). */
static json_t *bn_order_json(struct app *app, const struct order *o, int shape)
{
    const struct config *cfg = app->cfg;
    const struct market_cfg *m = &cfg->markets[o->market];
    int bs = cfg->assets[m->base].scale;
    int qs = cfg->assets[m->quote].scale;
    bool working = !order_type_is_stop(o->type) || o->triggered;
    json_t *j = json_object();
    json_object_set_new(j, "symbol", json_string(m->symbol));
    if (shape == SH_CANCEL)
        json_object_set_new(j, "origClientOrderId", json_string(o->client_order_id));
    json_object_set_new(j, "orderId", json_integer((json_int_t)o->id));
    json_object_set_new(j, "orderListId", json_integer(-1));
    json_object_set_new(j, "clientOrderId", json_string(o->client_order_id));
    if (shape != SH_QUERY)
        json_object_set_new(j, "transactTime", json_integer(o->updated_at));
    if (shape == SH_ACK)
        return j;
    json_object_set_new(j, "price", json_amount(o->price, qs));
    json_object_set_new(j, "origQty", json_amount(o->quantity, bs));
    json_object_set_new(j, "executedQty", json_amount(o->filled, bs));
    json_object_set_new(j, "origQuoteOrderQty", json_amount(o->quote_quantity, qs));
    json_object_set_new(j, "cummulativeQuoteQty", json_amount(o->quote_filled, qs));
    json_object_set_new(j, "status", json_string(bn_status(o)));
    json_object_set_new(j, "timeInForce", json_string(bn_tif(o)));
    json_object_set_new(j, "type", json_string(bn_type(o)));
    json_object_set_new(j, "side", json_string(o->side == SIDE_BUY ? "BUY" : "SELL"));
    if (order_type_is_stop(o->type))
        json_object_set_new(j, "stopPrice", json_amount(o->stop_price, qs));
    if (shape == SH_QUERY) {
        if (!order_type_is_stop(o->type))
            json_object_set_new(j, "stopPrice", json_amount(0, qs));
        json_object_set_new(j, "icebergQty", json_amount(0, bs));
        json_object_set_new(j, "time", json_integer(o->created_at));
        json_object_set_new(j, "updateTime", json_integer(o->updated_at));
        json_object_set_new(j, "isWorking", json_boolean(working));
    }
    if (shape != SH_CANCEL)
        json_object_set_new(j, "workingTime", json_integer(working ? o->created_at : -1));
    json_object_set_new(j, "selfTradePreventionMode", json_string(bn_stp(o->stp)));
    if (shape == SH_FULL)
        json_object_set_new(j, "fills", order_fills_json(app, o));
    return j;
}

static void finish_error(int *status, char **body, int http, int code, const char *msg)
{
    struct resp e = {0};
    bn_error(&e, http, code, msg);
    free(*body);
    *body = e.body;
    *status = e.status;
}

/*
 * The completion of a native order command -> Binance. The order (and its fills) are read back
 * from the store, which committed them before the completion was sent. arg: the caller's user id
 * << 16 | FIN_CANCEL_ALL? | shape. Network thread (pending finish, or at once).
 */
static void bn_finish_order(struct app *app, int *status, char **body, uint64_t arg)
{
    struct req r = {.app = app};
    uint64_t uid = arg >> 16;
    int shape = (int)(arg & 0xff);
    struct order o;
    json_t *doc;
    json_t *out;
    if (*status >= 400) {
        bn_from_native_error(status, body);
        return;
    }
    doc = json_loads(*body, 0, NULL);
    if (arg & FIN_CANCEL_ALL) {
        size_t i;
        json_t *e;
        out = json_array();
        json_array_foreach(json_object_get(doc, "canceled"), i, e)
        {
            uint64_t id = (uint64_t)json_integer_value(json_object_get(e, "id"));
            if (load_order(&r, id, uid, &o))
                json_array_append_new(out, bn_order_json(app, &o, SH_CANCEL));
        }
    } else {
        uint64_t id = (uint64_t)json_integer_value(json_object_get(doc, "id"));
        bool found = load_order(&r, id, uid, &o);
        json_decref(doc);
        if (!found) {
            finish_error(status, body, 500, -1000,
                         "An unknown error occurred while processing the request.");
            return;
        }
        /* Binance refuses a LIMIT_MAKER that would take; the engine records it as rejected */
        if (o.status == ORDER_REJECTED && o.reason == REASON_POST_ONLY) {
            finish_error(status, body, 400, -2010, "Order would immediately match and take.");
            return;
        }
        doc = NULL;
        out = bn_order_json(app, &o, shape);
    }
    json_decref(doc);
    free(*body);
    *body = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    *status = 200;
}

/* ---- parameter checks ---- */

static bool client_id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 36)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
            return false;
    return true;
}

static void not_required(struct resp *out, const char *param)
{
    char msg[120];
    snprintf(msg, sizeof(msg), "Parameter '%s' sent when not required.", param);
    bn_error(out, 400, -1106, msg);
}

/* A decimal parameter at `scale`: positive and exact. -1100/-1111/-1013 otherwise. */
static bool bn_decimal(const struct bn_params *p, const char *key, int scale, int64_t *v,
                       struct resp *out)
{
    const char *s = bn_param(p, key);
    char msg[200];
    enum cg_err e;
    if (!s) {
        bn_missing(out, key);
        return false;
    }
    e = amount_parse(s, scale, v);
    if (e == CG_ESCALE) {
        bn_error(out, 400, -1111, "Precision is over the maximum defined for this asset.");
        return false;
    }
    if (e != CG_OK) {
        snprintf(msg, sizeof(msg),
                 "Illegal characters found in parameter '%s'; legal range is "
                 "'^([0-9]{1,20})(\\.[0-9]{1,20})?$'.",
                 key);
        bn_error(out, 400, -1100, msg);
        return false;
    }
    if (*v <= 0) {
        bn_error(out, 400, -1013, !strcmp(key, "price") ? "Invalid price." : "Invalid quantity.");
        return false;
    }
    return true;
}

struct bn_order_req {
    int market;
    int side;
    int type; /* native type */
    bool post_only;
    int tif;
    int stp;
    int64_t qty, quote_qty, price, stop_price;
    int resp_type;
    char coid[40];
};

/* side, type and timeInForce (mandatory or refused per type). */
static bool parse_kind(const struct bn_params *p, struct bn_order_req *o, struct resp *out)
{
    static const char *const types[] = {"LIMIT",           "MARKET",      "STOP_LOSS",
                                        "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT",
                                        "LIMIT_MAKER"};
    const char *side = bn_param(p, "side");
    const char *type = bn_param(p, "type");
    const char *tif = bn_param(p, "timeInForce");
    int t = -1;
    if (!side || !type) {
        bn_missing(out, side ? "type" : "side");
        return false;
    }
    if (strcmp(side, "BUY") && strcmp(side, "SELL")) {
        bn_error(out, 400, -1117, "Invalid side.");
        return false;
    }
    o->side = !strcmp(side, "BUY") ? SIDE_BUY : SIDE_SELL;
    for (int i = 0; i < 7; i++)
        if (!strcmp(type, types[i]))
            t = i;
    if (t < 0) {
        bn_error(out, 400, -1116, "Invalid orderType.");
        return false;
    }
    o->post_only = t == 6;
    o->type = t == 6 ? ORDER_LIMIT : t;
    o->tif = TIF_GTC;
    if (order_type_is_market(o->type) || o->post_only) {
        if (tif) {
            not_required(out, "timeInForce");
            return false;
        }
        return true;
    }
    if (!tif) {
        bn_missing(out, "timeInForce");
        return false;
    }
    o->tif = !strcmp(tif, "GTC")   ? TIF_GTC
             : !strcmp(tif, "IOC") ? TIF_IOC
             : !strcmp(tif, "FOK") ? TIF_FOK
                                   : -1;
    if (o->tif < 0) {
        bn_error(out, 400, -1115, "Invalid timeInForce.");
        return false;
    }
    return true;
}

/* quantity, or quoteOrderQty (MARKET: spend on a buy, receive on a sell), against LOT_SIZE /
 * MARKET_LOT_SIZE / NOTIONAL. */
static bool parse_size(const struct config *cfg, const struct bn_params *p, struct bn_order_req *o,
                       struct resp *out)
{
    const struct market_cfg *m = &cfg->markets[o->market];
    bool has_qty = bn_param(p, "quantity") != NULL;
    bool has_quote = bn_param(p, "quoteOrderQty") != NULL;
    if (has_quote && (o->type != ORDER_MARKET || has_qty)) {
        not_required(out, "quoteOrderQty");
        return false;
    }
    if (has_quote) {
        if (!bn_decimal(p, "quoteOrderQty", cfg->assets[m->quote].scale, &o->quote_qty, out))
            return false;
        if (o->quote_qty < m->min_notional) {
            bn_error(out, 400, -1013, "Filter failure: NOTIONAL");
            return false;
        }
        return true;
    }
    if (!has_qty && o->type == ORDER_MARKET) {
        bn_error(out, 400, -1102,
                 "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty!");
        return false;
    }
    if (!bn_decimal(p, "quantity", cfg->assets[m->base].scale, &o->qty, out))
        return false;
    if (o->qty % m->lot_size || o->qty < m->min_quantity || o->qty > m->max_quantity) {
        bn_error(out, 400, -1013,
                 o->type == ORDER_MARKET ? "Filter failure: MARKET_LOT_SIZE"
                                         : "Filter failure: LOT_SIZE");
        return false;
    }
    return true;
}

/* price and stopPrice (mandatory or refused per type) against PRICE_FILTER and NOTIONAL. */
static bool parse_prices(const struct config *cfg, const struct bn_params *p,
                         struct bn_order_req *o, struct resp *out)
{
    const struct market_cfg *m = &cfg->markets[o->market];
    int qs = cfg->assets[m->quote].scale;
    int64_t notional = 0;
    bool exact;
    if (!order_type_is_market(o->type)) {
        if (!bn_decimal(p, "price", qs, &o->price, out))
            return false;
    } else if (bn_param(p, "price")) {
        not_required(out, "price");
        return false;
    }
    if (order_type_is_stop(o->type)) {
        if (!bn_decimal(p, "stopPrice", qs, &o->stop_price, out))
            return false;
    } else if (bn_param(p, "stopPrice")) {
        not_required(out, "stopPrice");
        return false;
    }
    if (o->price % m->tick_size || o->stop_price % m->tick_size) {
        bn_error(out, 400, -1013, "Filter failure: PRICE_FILTER");
        return false;
    }
    /* a limit price, or a stop-market's trigger price, prices the notional; a market order's
     * is checked by the native layer at the best opposite price */
    if (o->qty && (o->price || o->stop_price) &&
        (amount_notional(o->price ? o->price : o->stop_price, o->qty, cfg->assets[m->base].scale,
                         &notional, &exact) != CG_OK ||
         notional < m->min_notional)) {
        bn_error(out, 400, -1013, "Filter failure: NOTIONAL");
        return false;
    }
    return true;
}

/* newOrderRespType, selfTradePreventionMode, newClientOrderId. */
static bool parse_options(const struct bn_params *p, struct bn_order_req *o, struct resp *out)
{
    const char *rt = bn_param(p, "newOrderRespType");
    const char *stp = bn_param(p, "selfTradePreventionMode");
    const char *coid = bn_param(p, "newClientOrderId");
    /* Binance: MARKET and LIMIT default to FULL, every other type to ACK */
    o->resp_type =
        (o->type == ORDER_MARKET || (o->type == ORDER_LIMIT && !o->post_only)) ? SH_FULL : SH_ACK;
    if (rt) {
        o->resp_type = !strcmp(rt, "ACK")      ? SH_ACK
                       : !strcmp(rt, "RESULT") ? SH_RESULT
                       : !strcmp(rt, "FULL")   ? SH_FULL
                                               : -1;
        if (o->resp_type < 0) {
            bn_error(out, 400, -1100,
                     "Illegal characters found in parameter 'newOrderRespType'; legal range is "
                     "'ACK, RESULT, FULL'.");
            return false;
        }
    }
    o->stp = STP_EXPIRE_MAKER;
    if (stp) {
        o->stp = !strcmp(stp, "EXPIRE_MAKER")   ? STP_EXPIRE_MAKER
                 : !strcmp(stp, "EXPIRE_TAKER") ? STP_EXPIRE_TAKER
                 : !strcmp(stp, "EXPIRE_BOTH")  ? STP_EXPIRE_BOTH
                                                : -1;
        if (o->stp < 0) {
            bn_error(out, 400, -1100,
                     "Illegal characters found in parameter 'selfTradePreventionMode'; legal "
                     "range is 'EXPIRE_TAKER, EXPIRE_MAKER, EXPIRE_BOTH'.");
            return false;
        }
    }
    if (!coid) {
        apikey_random(o->coid, 22); /* Binance assigns a random id when none is sent */
        return true;
    }
    if (!client_id_ok(coid)) {
        bn_error(out, 400, -1100,
                 "Illegal characters found in parameter 'newClientOrderId'; legal range is "
                 "'^[\\.A-Za-z0-9_-]{1,36}$'.");
        return false;
    }
    snprintf(o->coid, sizeof(o->coid), "%s", coid);
    return true;
}

/*
 * Parse and check a new order as Binance does: mandatory/unneeded parameters per type, then
 * the symbol's filters (PRICE_FILTER, LOT_SIZE, NOTIONAL). false with *out set.
 */
static bool parse_order(struct req *r, const struct bn_params *p, struct bn_order_req *o,
                        struct resp *out)
{
    const struct config *cfg = r->app->cfg;
    memset(o, 0, sizeof(*o));
    o->market = bn_symbol(cfg, p, out, true);
    return o->market >= 0 && parse_kind(p, o, out) && parse_size(cfg, p, o, out) &&
           parse_prices(cfg, p, o, out) && parse_options(p, o, out);
}

/* The native order-create body for a parsed Binance order. */
static char *native_body(const struct config *cfg, const struct bn_order_req *o)
{
    static const char *const types[] = {"limit",           "market",      "stop_loss",
                                        "stop_loss_limit", "take_profit", "take_profit_limit"};
    static const char *const tifs[] = {"gtc", "ioc", "fok"};
    const struct market_cfg *m = &cfg->markets[o->market];
    int bs = cfg->assets[m->base].scale;
    int qs = cfg->assets[m->quote].scale;
    json_t *j =
        json_pack("{s:s,s:s,s:s,s:s,s:s}", "market", m->name, "side",
                  o->side == SIDE_BUY ? "buy" : "sell", "type", types[o->type], "client_order_id",
                  o->coid, "self_trade_prevention", store_stp_name(o->stp));
    char *s;
    if (o->qty)
        json_object_set_new(j, "quantity", json_amount(o->qty, bs));
    if (o->quote_qty)
        json_object_set_new(j, "quote_quantity", json_amount(o->quote_qty, qs));
    if (o->price)
        json_object_set_new(j, "price", json_amount(o->price, qs));
    if (o->stop_price)
        json_object_set_new(j, "stop_price", json_amount(o->stop_price, qs));
    if (!order_type_is_market(o->type))
        json_object_set_new(j, "time_in_force", json_string(tifs[o->tif]));
    if (o->post_only)
        json_object_set_new(j, "post_only", json_true());
    s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

/* Run a native handler for this Binance request and translate its answer. */
static void call_native(struct req *r, struct resp *out, void (*fn)(struct req *, struct resp *),
                        uint64_t finish_arg)
{
    int w = out->mbx_weight;
    finish_arg |= r->claims.user_id << 16;
    fn(r, out);
    out->mbx_weight = w;
    if (out->pending) {
        out->finish = bn_finish_order;
        out->finish_arg = finish_arg;
    } else if (out->status >= 400) {
        bn_from_native_error(&out->status, &out->body);
    } else {
        bn_finish_order(r->app, &out->status, &out->body, finish_arg);
    }
}

static struct bn_params *signed_begin(struct req *r, struct resp *out, int weight, bool trade)
{
    struct bn_params *p;
    if (!bn_weight(r, out, weight))
        return NULL;
    p = bn_params_load(r, out);
    if (!p)
        return NULL;
    if (!apikey_auth_binance(r, out, trade)) {
        free(p);
        return NULL;
    }
    return p;
}

static void bn_json(struct resp *out, json_t *doc)
{
    int w = out->mbx_weight;
    resp_json(out, 200, doc);
    out->mbx_weight = w;
}

void h_bn_order_create(struct req *r, struct resp *out)
{
    struct bn_params *p = signed_begin(r, out, 1, true);
    struct bn_order_req o;
    char *body;
    if (!p)
        return;
    if (!bn_order_count(r, out) || !parse_order(r, p, &o, out))
        goto out;
    body = native_body(r->app->cfg, &o);
    r->body = body;
    r->body_len = strlen(body);
    call_native(r, out, h_order_create, (uint64_t)o.resp_type);
    free(body);
    r->body = "";
    r->body_len = 0;
out:
    free(p);
}

void h_bn_order_test(struct req *r, struct resp *out)
{
    struct bn_params *p = signed_begin(r, out, 1, true);
    struct bn_order_req o;
    if (!p)
        return;
    if (parse_order(r, p, &o, out))
        bn_json(out, json_object());
    free(p);
}

/* The caller's order named by orderId or origClientOrderId, in `symbol`. */
static bool find_order(struct req *r, const struct bn_params *p, int market, struct order *o,
                       struct resp *out, int missing_code, const char *missing_msg)
{
    int64_t id;
    bool has_id;
    const char *coid = bn_param(p, "origClientOrderId");
    bool found;
    if (!bn_int(p, "orderId", &id, &has_id, out))
        return false;
    if (!has_id && !coid) {
        bn_error(out, 400, -1102,
                 "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!");
        return false;
    }
    found = has_id ? load_order(r, (uint64_t)id, r->claims.user_id, o)
                   : load_order_by_client_id(r, coid, o);
    if (found && has_id && coid && strcmp(coid, o->client_order_id))
        found = false;
    if (!found || o->market != (uint32_t)market) {
        bn_error(out, 400, missing_code, missing_msg);
        return false;
    }
    return true;
}

void h_bn_order_get(struct req *r, struct resp *out)
{
    struct bn_params *p = signed_begin(r, out, 4, false);
    struct order o;
    int m;
    if (!p)
        return;
    m = bn_symbol(r->app->cfg, p, out, true);
    if (m >= 0 && find_order(r, p, m, &o, out, -2013, "Order does not exist."))
        bn_json(out, bn_order_json(r->app, &o, SH_QUERY));
    free(p);
}

void h_bn_order_cancel(struct req *r, struct resp *out)
{
    struct bn_params *p = signed_begin(r, out, 1, true);
    struct order o;
    int m;
    if (!p)
        return;
    m = bn_symbol(r->app->cfg, p, out, true);
    if (m < 0 || !find_order(r, p, m, &o, out, -2011, "Unknown order sent."))
        goto out;
    if (o.status != ORDER_NEW && o.status != ORDER_PARTIALLY_FILLED) {
        bn_error(out, 400, -2011, "Unknown order sent.");
        goto out;
    }
    snprintf(r->param_buf, sizeof(r->param_buf), "%llu", (unsigned long long)o.id);
    r->param = r->param_buf;
    call_native(r, out, h_order_cancel, SH_CANCEL);
out:
    free(p);
}

void h_bn_open_orders_cancel(struct req *r, struct resp *out)
{
    struct bn_params *p = signed_begin(r, out, 1, true);
    int m;
    if (!p)
        return;
    m = bn_symbol(r->app->cfg, p, out, true);
    if (m >= 0) {
        /* the native handler reads ?market=: hand it the market's native name */
        if (r->n_query < API_MAX_QUERY) {
            snprintf(r->qk[r->n_query], sizeof(r->qk[0]), "market");
            snprintf(r->qv[r->n_query], sizeof(r->qv[0]), "%s", r->app->cfg->markets[m].name);
            /* put it first so an earlier client-sent "market" cannot shadow it */
            for (size_t i = r->n_query; i > 0; i--) {
                char k[32];
                char v[256];
                memcpy(k, r->qk[i], sizeof(k));
                memcpy(v, r->qv[i], sizeof(v));
                memcpy(r->qk[i], r->qk[i - 1], sizeof(k));
                memcpy(r->qv[i], r->qv[i - 1], sizeof(v));
                memcpy(r->qk[i - 1], k, sizeof(k));
                memcpy(r->qv[i - 1], v, sizeof(v));
            }
            r->n_query++;
            call_native(r, out, h_orders_cancel_all, FIN_CANCEL_ALL | SH_CANCEL);
        } else {
            bn_error(out, 400, -1101, "Too many parameters; expected '31' and received more.");
        }
    }
    free(p);
}

/* allOrders / myTrades paging: endTime defaults to no bound, limit to 500 and must be in
 * 1..1000 (Binance's -1100 otherwise). false with *out set. */
static bool window_defaults(bool has_end, int64_t *end, bool has_limit, int64_t *limit,
                            struct resp *out)
{
    if (!has_end)
        *end = INT64_MAX;
    if (!has_limit)
        *limit = 500;
    if (*limit < 1 || *limit > 1000) {
        bn_error(out, 400, -1100,
                 "Illegal characters found in parameter 'limit'; legal range is '1-1000'.");
        return false;
    }
    return true;
}

static void order_list(struct req *r, struct resp *out, bool open_only)
{
    static const char *sql_open =
        "SELECT " ORDER_COLS " FROM orders WHERE user_id = ? AND (? = '' OR market = ?) AND "
        "status IN ('new', 'partially_filled') ORDER BY id LIMIT 1000";
    static const char *sql_all =
        "SELECT " ORDER_COLS " FROM orders WHERE user_id = ? AND market = ? AND id >= ? AND "
        "created_at >= ? AND created_at <= ? ORDER BY id LIMIT ?";
    static const char *sql_all_latest =
        "SELECT " ORDER_COLS " FROM orders WHERE user_id = ? AND market = ? AND "
        "created_at >= ? AND created_at <= ? ORDER BY id DESC LIMIT ?";
    const struct config *cfg = r->app->cfg;
    struct bn_params *p;
    struct db_stmt *st;
    int64_t limit = 500;
    int64_t from = 0;
    int64_t start = 0;
    int64_t end = INT64_MAX;
    bool has_from = false;
    bool has_start = false;
    bool has_end = false;
    bool latest;
    json_t *arr;
    int m;
    if (!bn_weight(r, out, 0))
        return;
    p = bn_params_load(r, out);
    if (!p)
        return;
    m = bn_symbol(cfg, p, out, !open_only);
    if (m < 0 && (!open_only || bn_param(p, "symbol")))
        goto out;
    if (!bn_weight(r, out, open_only ? (m < 0 ? 80 : 6) : 20) ||
        !apikey_auth_binance(r, out, false))
        goto out;
    if (!open_only) {
        bool has_limit;
        if (!bn_int(p, "orderId", &from, &has_from, out) ||
            !bn_int(p, "startTime", &start, &has_start, out) ||
            !bn_int(p, "endTime", &end, &has_end, out) ||
            !bn_int(p, "limit", &limit, &has_limit, out) ||
            !window_defaults(has_end, &end, has_limit, &limit, out))
            goto out;
    }
    latest = !open_only && !has_from && !has_start;
    st = db_prepare(r->app->rdb, open_only ? sql_open : latest ? sql_all_latest : sql_all);
    if (!st) {
        bn_error(out, 500, -1000, "An unknown error occurred while processing the request.");
        goto out;
    }
    db_bind_int64(st, 1, (int64_t)r->claims.user_id);
    if (open_only) {
        db_bind_text(st, 2, m < 0 ? "" : cfg->markets[m].name);
        db_bind_text(st, 3, m < 0 ? "" : cfg->markets[m].name);
    } else if (latest) {
        db_bind_text(st, 2, cfg->markets[m].name);
        db_bind_int64(st, 3, start);
        db_bind_int64(st, 4, end);
        db_bind_int64(st, 5, limit);
    } else {
        db_bind_text(st, 2, cfg->markets[m].name);
        db_bind_int64(st, 3, from);
        db_bind_int64(st, 4, start);
        db_bind_int64(st, 5, end);
        db_bind_int64(st, 6, limit);
    }
    arr = json_array();
    while (db_step(st) == DB_ROW) {
        struct order o;
        if (!order_from_row(cfg, st, &o))
            continue;
        if (latest)
            json_array_insert_new(arr, 0, bn_order_json(r->app, &o, SH_QUERY));
        else
            json_array_append_new(arr, bn_order_json(r->app, &o, SH_QUERY));
    }
    db_reset(st);
    bn_json(out, arr);
out:
    free(p);
}

void h_bn_open_orders(struct req *r, struct resp *out)
{
    order_list(r, out, true);
}

void h_bn_all_orders(struct req *r, struct resp *out)
{
    order_list(r, out, false);
}

void h_bn_my_trades(struct req *r, struct resp *out)
{
    static const char *sql =
        "SELECT " FILL_COLS " FROM fills WHERE id IN (SELECT id FROM fills WHERE taker_user_id = "
        "?1 UNION SELECT id FROM fills WHERE maker_user_id = ?1) AND market = ?2 AND id >= ?3 AND "
        "ts >= ?4 AND ts <= ?5 AND (CAST(?6 AS BIGINT) = 0 OR taker_order_id = ?6 OR "
        "maker_order_id = ?6) "
        "ORDER BY id ASC LIMIT ?7";
    static const char *sql_latest =
        "SELECT " FILL_COLS " FROM fills WHERE id IN (SELECT id FROM fills WHERE taker_user_id = "
        "?1 UNION SELECT id FROM fills WHERE maker_user_id = ?1) AND market = ?2 AND id >= ?3 AND "
        "ts >= ?4 AND ts <= ?5 AND (CAST(?6 AS BIGINT) = 0 OR taker_order_id = ?6 OR "
        "maker_order_id = ?6) "
        "ORDER BY id DESC LIMIT ?7";
    const struct config *cfg = r->app->cfg;
    struct bn_params *p = signed_begin(r, out, 20, false);
    struct db_stmt *st;
    int64_t limit = 500;
    int64_t from = 0;
    int64_t start = 0;
    int64_t end = INT64_MAX;
    int64_t order_id = 0;
    bool has_from;
    bool has_start;
    bool has_end;
    bool has_order;
    bool has_limit;
    bool latest;
    json_t *arr;
    int m;
    if (!p)
        return;
    m = bn_symbol(cfg, p, out, true);
    if (m < 0 || !bn_int(p, "fromId", &from, &has_from, out) ||
        !bn_int(p, "startTime", &start, &has_start, out) ||
        !bn_int(p, "endTime", &end, &has_end, out) ||
        !bn_int(p, "orderId", &order_id, &has_order, out) ||
        !bn_int(p, "limit", &limit, &has_limit, out) ||
        !window_defaults(has_end, &end, has_limit, &limit, out))
        goto out;
    latest = !has_from && !has_start;
    st = db_prepare(r->app->rdb, latest ? sql_latest : sql);
    if (!st) {
        bn_error(out, 500, -1000, "An unknown error occurred while processing the request.");
        goto out;
    }
    db_bind_int64(st, 1, (int64_t)r->claims.user_id);
    db_bind_text(st, 2, cfg->markets[m].name);
    db_bind_int64(st, 3, from);
    db_bind_int64(st, 4, start);
    db_bind_int64(st, 5, end);
    db_bind_int64(st, 6, has_order ? order_id : 0);
    db_bind_int64(st, 7, limit);
    arr = json_array();
    while (db_step(st) == DB_ROW) {
        struct fill f;
        bool taker;
        int side;
        const struct market_cfg *mc;
        json_t *j;
        if (!fill_from_row(cfg, st, &f))
            continue;
        mc = &cfg->markets[f.market];
        taker = f.taker_user_id == r->claims.user_id;
        side = taker ? f.taker_side : !f.taker_side;
        j = json_pack("{s:s,s:I,s:I,s:i,s:o,s:o,s:o,s:o,s:s,s:I,s:b,s:b,s:b}", "symbol", mc->symbol,
                      "id", (json_int_t)f.id, "orderId",
                      (json_int_t)(taker ? f.taker_order_id : f.maker_order_id), "orderListId", -1,
                      "price", json_amount(f.price, cfg->assets[mc->quote].scale), "qty",
                      json_amount(f.quantity, cfg->assets[mc->base].scale), "quoteQty",
                      json_amount(f.quote_quantity, cfg->assets[mc->quote].scale), "commission",
                      json_amount(taker ? f.taker_fee : f.maker_fee, cfg->assets[mc->quote].scale),
                      "commissionAsset", cfg->assets[mc->quote].symbol, "time", (json_int_t)f.ts,
                      "isBuyer", side == SIDE_BUY, "isMaker", !taker, "isBestMatch", 1);
        if (latest)
            json_array_insert_new(arr, 0, j);
        else
            json_array_append_new(arr, j);
    }
    db_reset(st);
    bn_json(out, arr);
out:
    free(p);
}

void h_bn_account(struct req *r, struct resp *out)
{
    const struct config *cfg = r->app->cfg;
    struct bn_params *p = signed_begin(r, out, 20, false);
    int64_t total[CFG_MAX_ASSETS];
    int64_t held[CFG_MAX_ASSETS];
    const struct market_cfg *m0 = &cfg->markets[0];
    const char *omit;
    bool omit_zero;
    json_t *bal;
    json_t *rates;
    if (!p)
        return;
    omit = bn_param(p, "omitZeroBalances");
    omit_zero = omit && !strcmp(omit, "true");
    if (!balances_load(r->app->rdb, cfg, r->claims.user_id, total, held)) {
        bn_error(out, 500, -1000, "An unknown error occurred while processing the request.");
        goto out;
    }
    bal = json_array();
    for (size_t a = 0; a < cfg->n_assets; a++) {
        int sc = cfg->assets[a].scale;
        if (omit_zero && total[a] == 0)
            continue;
        json_array_append_new(bal, json_pack("{s:s,s:o,s:o}", "asset", cfg->assets[a].symbol,
                                             "free", json_amount(total[a] - held[a], sc), "locked",
                                             json_amount(held[a], sc)));
    }
    /* commissions: Binance gives them in basis points and as rates; Coinage's fee rates are per
     * market, these are the first market's (the shipped config uses one rate for all) */
    rates = json_pack("{s:o,s:o,s:s,s:s}", "maker", json_amount(m0->maker_fee_ppm * 100, 8),
                      "taker", json_amount(m0->taker_fee_ppm * 100, 8), "buyer", "0.00000000",
                      "seller", "0.00000000");
    bn_json(out,
            json_pack("{s:I,s:I,s:i,s:i,s:o,s:b,s:b,s:b,s:b,s:b,s:b,s:I,s:s,s:o,s:[s],s:I}",
                      "makerCommission", (json_int_t)(m0->maker_fee_ppm / 100), "takerCommission",
                      (json_int_t)(m0->taker_fee_ppm / 100), "buyerCommission", 0,
                      "sellerCommission", 0, "commissionRates", rates, "canTrade",
                      (r->key_perm & APIKEY_PERM_TRADE) != 0, "canWithdraw", 0, "canDeposit", 0,
                      "brokered", 0, "requireSelfTradePrevention", 0, "preventSor", 0, "updateTime",
                      (json_int_t)clock_now_ms(), "accountType", "SPOT", "balances", bal,
                      "permissions", "SPOT", "uid", (json_int_t)r->claims.user_id));
out:
    free(p);
}
