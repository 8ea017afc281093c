/* Orders and fills: POST/GET /api/v1/orders, GET/DELETE /api/v1/orders/{id}, GET /fills. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"

static int reason_parse(const char *s)
{
    for (int i = 1; i <= REASON_FILL_OR_KILL; i++)
        if (s && !strcmp(s, order_reason_name(i)))
            return i;
    return REASON_NONE;
}

/* Row (ORDER_COLS) -> struct order. false if the market is no longer configured. */
bool order_from_row(const struct config *cfg, struct db_stmt *st, struct order *o)
{
    int m = config_market_index(cfg, db_col_text(st, 2));
    const char *coid = db_col_text(st, 15);
    memset(o, 0, sizeof(*o));
    if (m < 0)
        return false;
    o->id = (uint64_t)db_col_int64(st, 0);
    o->user_id = (uint64_t)db_col_int64(st, 1);
    o->market = (uint32_t)m;
    o->side = (uint8_t)store_side_parse(db_col_text(st, 3));
    o->type = (uint8_t)store_type_parse(db_col_text(st, 4));
    o->tif = (uint8_t)store_tif_parse(db_col_text(st, 5));
    o->status = (uint8_t)store_status_parse(db_col_text(st, 6));
    o->reason = (uint8_t)reason_parse(db_col_text(st, 7));
    o->price = db_col_int64(st, 8);
    o->quantity = db_col_int64(st, 9);
    o->filled = db_col_int64(st, 10);
    o->remaining = o->quantity - o->filled;
    o->quote_filled = db_col_int64(st, 11);
    o->fee_total = db_col_int64(st, 12);
    o->hold = db_col_int64(st, 13);
    o->seq = (uint64_t)db_col_int64(st, 14);
    if (coid)
        snprintf(o->client_order_id, sizeof(o->client_order_id), "%s", coid);
    o->created_at = db_col_int64(st, 16);
    o->updated_at = db_col_int64(st, 17);
    o->stop_price = db_col_int64(st, 18);
    o->quote_quantity = db_col_int64(st, 19);
    o->post_only = (uint8_t)db_col_int64(st, 20);
    o->stp =
        (uint8_t)(store_stp_parse(db_col_text(st, 21)) < 0 ? 0
                                                           : store_stp_parse(db_col_text(st, 21)));
    o->triggered = (uint8_t)db_col_int64(st, 22);
    return true;
}

bool fill_from_row(const struct config *cfg, struct db_stmt *st, struct fill *f)
{
    int m = config_market_index(cfg, db_col_text(st, 1));
    if (m < 0)
        return false;
    f->id = (uint64_t)db_col_int64(st, 0);
    f->market = (uint32_t)m;
    f->price = db_col_int64(st, 2);
    f->quantity = db_col_int64(st, 3);
    f->quote_quantity = db_col_int64(st, 4);
    f->taker_side = (uint8_t)store_side_parse(db_col_text(st, 5));
    f->taker_order_id = (uint64_t)db_col_int64(st, 6);
    f->maker_order_id = (uint64_t)db_col_int64(st, 7);
    f->taker_user_id = (uint64_t)db_col_int64(st, 8);
    f->maker_user_id = (uint64_t)db_col_int64(st, 9);
    f->taker_fee = db_col_int64(st, 10);
    f->maker_fee = db_col_int64(st, 11);
    f->ts = db_col_int64(st, 12);
    return true;
}

static bool client_order_id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 36)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return false;
    return true;
}

static void bad(struct resp *out, enum cg_err e, const char *msg)
{
    resp_error(out, e, msg);
    if (out->status == 404)
        out->status = 400; /* a bad field in a body is a 400, not a missing resource */
}

static bool opt_bool(json_t *doc, const char *key, bool *v, struct resp *out)
{
    json_t *j = json_object_get(doc, key);
    char msg[80];
    if (!j)
        return true;
    if (!json_is_boolean(j)) {
        snprintf(msg, sizeof(msg), "'%s' must be true or false", key);
        bad(out, CG_ETYPE, msg);
        return false;
    }
    *v = json_is_true(j);
    return true;
}

/* Check price/stop_price against the tick; CG_OK or a response. */
static bool on_tick(const struct market_cfg *m, int qs, int64_t v, const char *field,
                    struct resp *out)
{
    char tick[AMOUNT_STR_MAX];
    char msg[160];
    if (v % m->tick_size == 0)
        return true;
    snprintf(msg, sizeof(msg), "%s must be a multiple of the tick size %s", field,
             amount_format(m->tick_size, qs, true, tick));
    bad(out, CG_ETICK, msg);
    return false;
}

static bool check_notional(const struct config *cfg, const struct market_cfg *m, int64_t price,
                           int64_t qty, struct resp *out)
{
    int bs = cfg->assets[m->base].scale;
    int qs = cfg->assets[m->quote].scale;
    int64_t notional = 0;
    bool exact;
    char mn[AMOUNT_STR_MAX];
    char msg[160];
    if (amount_notional(price, qty, bs, &notional, &exact) != CG_OK || notional > INT64_MAX / 2) {
        bad(out, CG_EOVERFLOW, NULL);
        return false;
    }
    if (notional >= m->min_notional)
        return true;
    snprintf(msg, sizeof(msg), "price x quantity must be at least %s %s",
             amount_format(m->min_notional, qs, true, mn), cfg->assets[m->quote].symbol);
    bad(out, CG_EMINNOTIONAL, msg);
    return false;
}

static bool check_quantity(const struct config *cfg, const struct market_cfg *m, json_t *v,
                           int64_t *qty, struct resp *out)
{
    int bs = cfg->assets[m->base].scale;
    char lot[AMOUNT_STR_MAX];
    char msg[160];
    if (!req_amount(v, "quantity", bs, false, qty, out)) {
        if (out->status == 404)
            out->status = 400;
        return false;
    }
    if (*qty % m->lot_size != 0) {
        snprintf(msg, sizeof(msg), "quantity must be a multiple of the lot size %s",
                 amount_format(m->lot_size, bs, true, lot));
        bad(out, CG_ELOT, msg);
        return false;
    }
    if (*qty < m->min_quantity || *qty > m->max_quantity) {
        bad(out, CG_EMINQTY, NULL);
        return false;
    }
    return true;
}

void h_order_create(struct req *r, struct resp *out)
{
    static const char *const allowed[] = {
        "market",          "side",       "type",          "quantity",  "price",
        "quote_quantity",  "stop_price", "time_in_force", "post_only", "self_trade_prevention",
        "client_order_id", NULL};
    const struct config *cfg = r->app->cfg;
    const struct market_cfg *m;
    const char *s;
    json_t *doc;
    json_t *v;
    int mi;
    int side;
    int type;
    int tif = TIF_GTC;
    int stp = STP_EXPIRE_MAKER;
    bool post_only = false;
    int64_t qty = 0;
    int64_t quote_qty = 0;
    int64_t price = 0;
    int64_t stop_price = 0;
    int qs;
    struct cmd *c;

    if (!req_auth(r, out, ROLE_TRADER))
        return;
    if (r->idem_too_long) {
        resp_error(out, CG_EINVAL, "Idempotency-Key must be at most 64 characters");
        return;
    }
    doc = req_json_object(r, out, allowed);
    if (!doc)
        return;
    s = json_string_value(json_object_get(doc, "market"));
    mi = s ? config_market_index(cfg, s) : -1;
    if (mi < 0) {
        bad(out, s ? CG_EMARKET : CG_EINVAL, s ? "no such market" : "'market' is required");
        goto out;
    }
    m = &cfg->markets[mi];
    qs = cfg->assets[m->quote].scale;
    side = store_side_parse(json_string_value(json_object_get(doc, "side")));
    if (side < 0) {
        bad(out, CG_EINVAL, "'side' must be \"buy\" or \"sell\"");
        goto out;
    }
    type = store_type_parse(json_string_value(json_object_get(doc, "type")));
    if (type < 0) {
        bad(out, CG_EINVAL,
            "'type' must be limit, market, stop_loss, stop_loss_limit, take_profit or "
            "take_profit_limit");
        goto out;
    }
    v = json_object_get(doc, "time_in_force");
    if (v) {
        tif = store_tif_parse(json_string_value(v));
        if (tif < 0 || (order_type_is_market(type) && tif != TIF_IOC)) {
            bad(out, CG_EINVAL,
                order_type_is_market(type) ? "market orders are ioc"
                                           : "'time_in_force' must be \"gtc\", \"ioc\" or \"fok\"");
            goto out;
        }
    }
    v = json_object_get(doc, "self_trade_prevention");
    if (v) {
        stp = store_stp_parse(json_string_value(v));
        if (stp < 0) {
            bad(out, CG_EINVAL,
                "'self_trade_prevention' must be expire_maker, expire_taker or expire_both");
            goto out;
        }
    }
    if (!opt_bool(doc, "post_only", &post_only, out))
        goto out;
    if (post_only && (type != ORDER_LIMIT || tif != TIF_GTC)) {
        bad(out, CG_EINVAL, "post_only is for gtc limit orders");
        goto out;
    }
    /* size: quantity, or (market orders only) quote_quantity: what a buy spends, fees included,
     * or what a sell sells for before its fee (engine.h) */
    v = json_object_get(doc, "quote_quantity");
    if (v) {
        if (type != ORDER_MARKET || json_object_get(doc, "quantity")) {
            bad(out, CG_EINVAL, "quote_quantity is for market orders, instead of quantity");
            goto out;
        }
        if (!req_amount(v, "quote_quantity", qs, false, &quote_qty, out))
            goto out;
        if (quote_qty < m->min_notional) {
            bad(out, CG_EMINNOTIONAL, "quote_quantity is below the market's minimum notional");
            goto out;
        }
    } else if (!check_quantity(cfg, m, json_object_get(doc, "quantity"), &qty, out)) {
        goto out;
    }
    v = json_object_get(doc, "price");
    if (order_type_is_market(type) && v) {
        bad(out, CG_EINVAL, "market and stop-market orders take no price");
        goto out;
    }
    if (!order_type_is_market(type)) {
        if (!req_amount(v, "price", qs, false, &price, out) || !on_tick(m, qs, price, "price", out))
            goto out;
    }
    v = json_object_get(doc, "stop_price");
    if (order_type_is_stop(type)) {
        if (!req_amount(v, "stop_price", qs, false, &stop_price, out) ||
            !on_tick(m, qs, stop_price, "stop_price", out))
            goto out;
    } else if (v) {
        bad(out, CG_EINVAL, "stop_price is for stop_loss and take_profit orders");
        goto out;
    }
    if (qty > 0) {
        int64_t ref = price ? price : stop_price;
        if (!ref) {
            /* a market order: estimate at the best opposite price */
            struct md_ticker t;
            mdata_ticker(r->app->md, (uint32_t)mi, 0, &t);
            if (side == SIDE_BUY ? t.has_ask : t.has_bid)
                ref = side == SIDE_BUY ? t.ask : t.bid;
        }
        if (ref && !check_notional(cfg, m, ref, qty, out))
            goto out;
    }
    v = json_object_get(doc, "client_order_id");
    if (v && (!json_is_string(v) || !client_order_id_ok(json_string_value(v)))) {
        bad(out, CG_EINVAL, "'client_order_id' is 1..36 characters of [A-Za-z0-9._-]");
        goto out;
    }
    c = calloc(1, sizeof(*c));
    if (!c)
        abort();
    c->type = CMD_PLACE;
    c->user_id = r->claims.user_id;
    c->u.place.market = (uint32_t)mi;
    c->u.place.side = (uint8_t)side;
    c->u.place.type = (uint8_t)type;
    c->u.place.tif = (uint8_t)(order_type_is_market(type) ? TIF_IOC : tif);
    c->u.place.post_only = post_only;
    c->u.place.stp = (uint8_t)stp;
    c->u.place.price = price;
    c->u.place.quantity = qty;
    c->u.place.quote_quantity = quote_qty;
    c->u.place.stop_price = stop_price;
    if (v)
        snprintf(c->u.place.client_order_id, sizeof(c->u.place.client_order_id), "%s",
                 json_string_value(v));
    if (api_idempotency_begin(r, out, c)) {
        free(c);
        goto out;
    }
    api_submit(r, out, c);
out:
    json_decref(doc);
}

static bool parse_id(const char *s, uint64_t *id)
{
    char *end;
    unsigned long long v;
    if (!s || !*s || !isdigit((unsigned char)*s))
        return false;
    v = strtoull(s, &end, 10);
    if (*end || v == 0 || v > INT64_MAX)
        return false;
    *id = v;
    return true;
}

/* The caller's order by id; 404 for missing and for other users' orders alike. */
static bool load_own_order(struct req *r, struct resp *out, struct order *o)
{
    static const char *sql = "SELECT " ORDER_COLS " FROM orders WHERE id = ? AND user_id = ?";
    uint64_t id;
    struct db_stmt *st;
    bool found = false;
    if (!parse_id(r->param, &id)) {
        resp_error(out, CG_ENOTFOUND, "no such order");
        return false;
    }
    st = db_prepare(r->app->rdb, sql);
    if (!st) {
        resp_error(out, CG_ESTORE, NULL);
        return false;
    }
    db_bind_int64(st, 1, (int64_t)id);
    db_bind_int64(st, 2, (int64_t)r->claims.user_id);
    if (db_step(st) == DB_ROW)
        found = order_from_row(r->app->cfg, st, o);
    db_reset(st);
    if (!found)
        resp_error(out, CG_ENOTFOUND, "no such order");
    return found;
}

static json_t *order_fills(struct req *r, uint64_t order_id)
{
    static const char *sql = "SELECT " FILL_COLS " FROM fills WHERE taker_order_id = ? OR "
                             "maker_order_id = ? ORDER BY id LIMIT 1000";
    json_t *arr = json_array();
    struct db_stmt *st = db_prepare(r->app->rdb, sql);
    if (!st)
        return arr;
    db_bind_int64(st, 1, (int64_t)order_id);
    db_bind_int64(st, 2, (int64_t)order_id);
    while (db_step(st) == DB_ROW) {
        struct fill f;
        if (fill_from_row(r->app->cfg, st, &f))
            json_array_append_new(arr, render_fill_for(r->app->cfg, &f, r->claims.user_id));
    }
    db_reset(st);
    return arr;
}

void h_order_get(struct req *r, struct resp *out)
{
    struct order o;
    json_t *j;
    if (!req_auth(r, out, ROLE_VIEWER) || !load_own_order(r, out, &o))
        return;
    j = render_order(r->app->cfg, &o);
    json_object_set_new(j, "fills", order_fills(r, o.id));
    resp_json(out, 200, j);
}

/*
 * The committed answer of a cancel (network thread, after the store committed its batch).
 * The engine checked ownership and status from memory: another user's open order came back as
 * CG_ENOTFOUND, and an id that is not open anywhere as CG_ENOTOPEN, which covers the caller's
 * filled or canceled orders but also other users' closed orders and ids that never existed.
 * Only that (rare) case reads the store, by id AND the caller's user id, so that another
 * user's order, open or not, is answered exactly like a missing one: 404 "no such order".
 * The read sees the order's row: its batch was committed before (or with) the cancel's.
 */
static void cancel_finish(struct app *app, int *status, char **body, uint64_t order_id,
                          uint64_t user_id)
{
    static const char *sql = "SELECT status FROM orders WHERE id = ? AND user_id = ?";
    struct db_stmt *st;
    bool own = false;
    if (*status == cg_err_http_status(CG_ENOTOPEN) && *body &&
        strstr(*body, cg_err_code(CG_ENOTOPEN))) {
        st = db_prepare(app->rdb, sql);
        if (!st) {
            free(*body);
            *body = json_error_body(CG_ESTORE, NULL);
            *status = cg_err_http_status(CG_ESTORE);
            return;
        }
        db_bind_int64(st, 1, (int64_t)order_id);
        db_bind_int64(st, 2, (int64_t)user_id);
        own = db_step(st) == DB_ROW;
        db_reset(st);
        if (own)
            return; /* the caller's own order, no longer open: 400 order_not_open */
    } else if (*status != cg_err_http_status(CG_ENOTFOUND)) {
        return;
    }
    free(*body);
    *body = json_error_body(CG_ENOTFOUND, "no such order");
    *status = cg_err_http_status(CG_ENOTFOUND);
}

/* DELETE /api/v1/orders/{id}: no store read on the way in (see cancel_finish). */
void h_order_cancel(struct req *r, struct resp *out)
{
    uint64_t id;
    struct cmd *c;
    if (!req_auth(r, out, ROLE_TRADER))
        return;
    if (!parse_id(r->param, &id)) {
        resp_error(out, CG_ENOTFOUND, "no such order");
        return;
    }
    c = calloc(1, sizeof(*c));
    if (!c)
        abort();
    c->type = CMD_CANCEL;
    c->user_id = r->claims.user_id;
    c->u.cancel.market = ENGINE_ALL_MARKETS;
    c->u.cancel.order_id = id;
    api_submit(r, out, c);
    if (out->pending) {
        out->finish2 = cancel_finish;
        out->finish2_a = id;
        out->finish2_b = r->claims.user_id;
    }
}

void h_order_amend(struct req *r, struct resp *out)
{
    static const char *const allowed[] = {"price", "quantity", NULL};
    const struct config *cfg = r->app->cfg;
    const struct market_cfg *m;
    struct order o;
    struct cmd *c;
    json_t *doc;
    int64_t price = 0;
    int64_t qty = 0;
    if (!req_auth(r, out, ROLE_TRADER) || !load_own_order(r, out, &o))
        return;
    if (o.status != ORDER_NEW && o.status != ORDER_PARTIALLY_FILLED) {
        resp_error(out, CG_ENOTOPEN, NULL);
        return;
    }
    if (o.type != ORDER_LIMIT) {
        resp_error(out, CG_EINVAL, "only open limit orders can be amended");
        return;
    }
    m = &cfg->markets[o.market];
    doc = req_json_object(r, out, allowed);
    if (!doc)
        return;
    if (!json_object_get(doc, "price") && !json_object_get(doc, "quantity")) {
        bad(out, CG_EINVAL, "send a new price and/or quantity");
        goto out;
    }
    if (json_object_get(doc, "price") &&
        (!req_amount(json_object_get(doc, "price"), "price", cfg->assets[m->quote].scale, false,
                     &price, out) ||
         !on_tick(m, cfg->assets[m->quote].scale, price, "price", out)))
        goto out;
    if (json_object_get(doc, "quantity") &&
        !check_quantity(cfg, m, json_object_get(doc, "quantity"), &qty, out))
        goto out;
    if (qty && qty <= o.filled) {
        bad(out, CG_EMINQTY, "the new quantity must exceed what is already filled");
        goto out;
    }
    if (!check_notional(cfg, m, price ? price : o.price, qty ? qty : o.quantity, out))
        goto out;
    c = calloc(1, sizeof(*c));
    if (!c)
        abort();
    c->type = CMD_AMEND;
    c->user_id = r->claims.user_id;
    c->u.amend.market = o.market;
    c->u.amend.order_id = o.id;
    c->u.amend.price = price;
    c->u.amend.quantity = qty;
    api_submit(r, out, c);
out:
    json_decref(doc);
}

void h_orders_cancel_all(struct req *r, struct resp *out)
{
    const char *market = req_query(r, "market");
    struct cmd *c;
    int mi = -1;
    if (!req_auth(r, out, ROLE_TRADER))
        return;
    if (market) {
        mi = config_market_index(r->app->cfg, market);
        if (mi < 0) {
            resp_error(out, CG_EMARKET, NULL);
            return;
        }
    }
    c = calloc(1, sizeof(*c));
    if (!c)
        abort();
    c->type = CMD_CANCEL_ALL;
    c->user_id = r->claims.user_id;
    c->u.cancel_all.market = mi < 0 ? ENGINE_ALL_MARKETS : (uint32_t)mi;
    api_submit(r, out, c);
}

void h_orders_list(struct req *r, struct resp *out)
{
    static const char *sql =
        "SELECT " ORDER_COLS " FROM orders WHERE user_id = ?1 AND id < ?2 AND "
        "(CAST(?3 AS TEXT) IS NULL OR market = ?3) AND (?4 = 'all' OR (?4 = 'open' AND status IN "
        "('new', "
        "'partially_filled')) OR (?4 = 'closed' AND status NOT IN ('new', 'partially_filled'))) "
        "AND (CAST(?6 AS TEXT) IS NULL OR client_order_id = ?6) ORDER BY id DESC LIMIT ?5";
    const char *status = req_query(r, "status");
    const char *market = req_query(r, "market");
    int64_t cursor;
    bool has_cursor;
    int limit;
    int n = 0;
    uint64_t last = 0;
    struct db_stmt *st;
    json_t *arr;

    if (!req_auth(r, out, ROLE_VIEWER) || !req_limit(r, 50, 500, &limit, out) ||
        !req_int_param(r, "cursor", &cursor, &has_cursor, out))
        return;
    if (!has_cursor)
        cursor = INT64_MAX;
    if (!status)
        status = "all";
    if (strcmp(status, "all") && strcmp(status, "open") && strcmp(status, "closed")) {
        resp_error(out, CG_EINVAL, "status must be open, closed or all");
        return;
    }
    if (market && config_market_index(r->app->cfg, market) < 0) {
        resp_error(out, CG_EMARKET, NULL);
        return;
    }
    st = db_prepare(r->app->rdb, sql);
    if (!st) {
        resp_error(out, CG_ESTORE, NULL);
        return;
    }
    db_bind_int64(st, 1, (int64_t)r->claims.user_id);
    db_bind_int64(st, 2, cursor);
    db_bind_text(st, 3, market);
    db_bind_text(st, 4, status);
    db_bind_int64(st, 5, limit);
    db_bind_text(st, 6, req_query(r, "client_order_id"));
    arr = json_array();
    while (db_step(st) == DB_ROW) {
        struct order o;
        if (!order_from_row(r->app->cfg, st, &o))
            continue;
        json_array_append_new(arr, render_order(r->app->cfg, &o));
        last = o.id;
        n++;
    }
    db_reset(st);
    resp_json(out, 200,
              json_pack("{s:o,s:o}", "data", arr, "next_cursor",
                        n == limit ? json_sprintf("%llu", (unsigned long long)last) : json_null()));
}

void h_fills(struct req *r, struct resp *out)
{
    static const char *sql =
        "SELECT " FILL_COLS " FROM fills WHERE id IN (SELECT id FROM fills WHERE taker_user_id = "
        "?1 UNION SELECT id FROM fills WHERE maker_user_id = ?1) AND id < ?2 AND (CAST(?3 AS TEXT) "
        "IS NULL OR "
        "market = ?3) ORDER BY id DESC LIMIT ?4";
    const char *market = req_query(r, "market");
    int64_t cursor;
    bool has_cursor;
    int limit;
    int n = 0;
    uint64_t last = 0;
    struct db_stmt *st;
    json_t *arr;

    if (!req_auth(r, out, ROLE_VIEWER) || !req_limit(r, 50, 500, &limit, out) ||
        !req_int_param(r, "cursor", &cursor, &has_cursor, out))
        return;
    if (!has_cursor)
        cursor = INT64_MAX;
    if (market && config_market_index(r->app->cfg, market) < 0) {
        resp_error(out, CG_EMARKET, NULL);
        return;
    }
    st = db_prepare(r->app->rdb, sql);
    if (!st) {
        resp_error(out, CG_ESTORE, NULL);
        return;
    }
    db_bind_int64(st, 1, (int64_t)r->claims.user_id);
    db_bind_int64(st, 2, cursor);
    db_bind_text(st, 3, market);
    db_bind_int64(st, 4, limit);
    arr = json_array();
    while (db_step(st) == DB_ROW) {
        struct fill f;
        if (!fill_from_row(r->app->cfg, st, &f))
            continue;
        json_array_append_new(arr, render_fill_for(r->app->cfg, &f, r->claims.user_id));
        last = f.id;
        n++;
    }
    db_reset(st);
    resp_json(out, 200,
              json_pack("{s:o,s:o}", "data", arr, "next_cursor",
                        n == limit ? json_sprintf("%llu", (unsigned long long)last) : json_null()));
}
