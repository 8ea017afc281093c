/* JSON shapes of the native API (see ARCHITECTURE.md "Native API shapes"). Any thread. */
#include "api/api.h"

json_t *render_order(const struct config *cfg, const struct order *o)
{
    const struct market_cfg *m = &cfg->markets[o->market];
    int bs = cfg->assets[m->base].scale;
    int qs = cfg->assets[m->quote].scale;
    json_t *j = json_object();
    const char *reason = order_reason_name(o->reason);

    json_object_set_new(j, "id", json_integer((json_int_t)o->id));
    json_object_set_new(j, "market", json_string(m->name));
    json_object_set_new(j, "side", json_string(store_side_name(o->side)));
    json_object_set_new(j, "type", json_string(store_type_name(o->type)));
    json_object_set_new(j, "time_in_force", json_string(store_tif_name(o->tif)));
    json_object_set_new(j, "status", json_string(order_status_name(o->status)));
    json_object_set_new(j, "reason", reason ? json_string(reason) : json_null());
    json_object_set_new(j, "price",
                        order_type_is_market(o->type) ? json_null() : json_amount(o->price, qs));
    json_object_set_new(j, "stop_price",
                        order_type_is_stop(o->type) ? json_amount(o->stop_price, qs) : json_null());
    json_object_set_new(j, "triggered",
                        order_type_is_stop(o->type) ? json_boolean(o->triggered) : json_null());
    json_object_set_new(j, "quote_quantity",
                        o->quote_quantity ? json_amount(o->quote_quantity, qs) : json_null());
    json_object_set_new(j, "post_only", json_boolean(o->post_only));
    json_object_set_new(j, "self_trade_prevention", json_string(store_stp_name(o->stp)));
    json_object_set_new(j, "quantity", json_amount(o->quantity, bs));
    json_object_set_new(j, "filled_quantity", json_amount(o->filled, bs));
    json_object_set_new(j, "remaining_quantity",
                        json_amount((o->status == ORDER_NEW || o->status == ORDER_PARTIALLY_FILLED)
                                        ? o->quantity - o->filled
                                        : 0,
                                    bs));
    json_object_set_new(j, "quote_filled", json_amount(o->quote_filled, qs));
    if (o->filled > 0) {
        /* volume-weighted average fill price, rounded down to the quote minor unit */
        int64_t avg = 0;
        if (amount_mul_div(o->quote_filled, amount_pow10(bs), o->filled, false, &avg) != CG_OK)
            avg = 0;
        json_object_set_new(j, "average_price", json_amount(avg, qs));
    } else {
        json_object_set_new(j, "average_price", json_null());
    }
    json_object_set_new(j, "fee", json_amount(o->fee_total, qs));
    json_object_set_new(j, "fee_asset", json_string(cfg->assets[m->quote].symbol));
    json_object_set_new(j, "held", json_amount(o->hold, o->side == SIDE_BUY ? qs : bs));
    json_object_set_new(j, "client_order_id",
                        o->client_order_id[0] ? json_string(o->client_order_id) : json_null());
    json_object_set_new(j, "created_at", json_time(o->created_at));
    json_object_set_new(j, "updated_at", json_time(o->updated_at));
    json_object_set_new(j, "created_at_ms", json_integer(o->created_at));
    return j;
}

json_t *render_fill_for(const struct config *cfg, const struct fill *f, uint64_t user_id)
{
    const struct market_cfg *m = &cfg->markets[f->market];
    int bs = cfg->assets[m->base].scale;
    int qs = cfg->assets[m->quote].scale;
    bool taker = f->taker_user_id == user_id;
    int side = taker ? f->taker_side : !f->taker_side;
    json_t *j = json_object();
    json_object_set_new(j, "id", json_integer((json_int_t)f->id));
    json_object_set_new(j, "market", json_string(m->name));
    json_object_set_new(j, "order_id",
                        json_integer((json_int_t)(taker ? f->taker_order_id : f->maker_order_id)));
    json_object_set_new(j, "side", json_string(store_side_name(side)));
    json_object_set_new(j, "role", json_string(taker ? "taker" : "maker"));
    json_object_set_new(j, "price", json_amount(f->price, qs));
    json_object_set_new(j, "quantity", json_amount(f->quantity, bs));
    json_object_set_new(j, "quote_quantity", json_amount(f->quote_quantity, qs));
    json_object_set_new(j, "fee", json_amount(taker ? f->taker_fee : f->maker_fee, qs));
    json_object_set_new(j, "fee_asset", json_string(cfg->assets[m->quote].symbol));
    json_object_set_new(j, "created_at", json_time(f->ts));
    json_object_set_new(j, "ts", json_integer(f->ts));
    return j;
}

json_t *render_market(const struct app *app, uint32_t i)
{
    const struct config *cfg = app->cfg;
    const struct market_cfg *m = &cfg->markets[i];
    int bs = cfg->assets[m->base].scale;
    int qs = cfg->assets[m->quote].scale;
    const struct feed_info *fi = app->feed ? feed_market_info(app->feed, i) : NULL;
    json_t *j = json_object();
    json_t *rp = json_object();
    json_object_set_new(j, "name", json_string(m->name));
    json_object_set_new(j, "symbol", json_string(m->symbol));
    json_object_set_new(j, "base", json_string(cfg->assets[m->base].symbol));
    json_object_set_new(j, "quote", json_string(cfg->assets[m->quote].symbol));
    json_object_set_new(j, "base_scale", json_integer(bs));
    json_object_set_new(j, "quote_scale", json_integer(qs));
    json_object_set_new(j, "tick_size", json_amount(m->tick_size, qs));
    json_object_set_new(j, "lot_size", json_amount(m->lot_size, bs));
    json_object_set_new(j, "min_quantity", json_amount(m->min_quantity, bs));
    json_object_set_new(j, "max_quantity", json_amount(m->max_quantity, bs));
    json_object_set_new(j, "min_notional", json_amount(m->min_notional, qs));
    json_object_set_new(j, "maker_fee", json_amount(m->maker_fee_ppm, 6));
    json_object_set_new(j, "taker_fee", json_amount(m->taker_fee_ppm, 6));
    json_object_set_new(j, "market_protection", json_amount(m->protection_ppm, 6));
    json_object_set_new(rp, "replay", json_true());
    json_object_set_new(rp, "kind",
                        json_string(m->replay_kind == REPLAY_L2       ? "l2_depth_and_trades"
                                    : m->replay_kind == REPLAY_KLINES ? "klines_1h"
                                                                      : "none"));
    json_object_set_new(rp, "source", json_string(m->replay_source));
    if (fi && fi->kind) {
        json_object_set_new(rp, "original_start", json_time(fi->first_ms));
        json_object_set_new(rp, "original_end", json_time(fi->last_ms));
        json_object_set_new(rp, "events", json_integer((json_int_t)fi->events));
    }
    json_object_set_new(j, "market_data", rp);
    return j;
}

static json_t *opt_amount(bool has, int64_t v, int scale)
{
    return has ? json_amount(v, scale) : json_null();
}

json_t *render_ticker(const struct app *app, uint32_t i, const struct md_ticker *t)
{
    const struct config *cfg = app->cfg;
    const struct market_cfg *m = &cfg->markets[i];
    int bs = cfg->assets[m->base].scale;
    int qs = cfg->assets[m->quote].scale;
    json_t *j = json_object();
    json_object_set_new(j, "market", json_string(m->name));
    json_object_set_new(j, "last", opt_amount(t->has_last, t->last, qs));
    json_object_set_new(j, "bid", opt_amount(t->has_bid, t->bid, qs));
    json_object_set_new(j, "bid_quantity", opt_amount(t->has_bid, t->bid_qty, bs));
    json_object_set_new(j, "ask", opt_amount(t->has_ask, t->ask, qs));
    json_object_set_new(j, "ask_quantity", opt_amount(t->has_ask, t->ask_qty, bs));
    json_object_set_new(j, "open_24h", opt_amount(t->trades > 0, t->open, qs));
    json_object_set_new(j, "high_24h", opt_amount(t->trades > 0, t->high, qs));
    json_object_set_new(j, "low_24h", opt_amount(t->trades > 0, t->low, qs));
    json_object_set_new(j, "volume_24h", json_amount(t->volume, bs));
    json_object_set_new(j, "quote_volume_24h", json_amount(t->quote_volume, qs));
    json_object_set_new(j, "trades_24h", json_integer((json_int_t)t->trades));
    if (t->trades > 0 && t->has_last && t->open > 0) {
        /* change in percent with 2 decimals, rounded toward zero */
        int64_t pct = 0;
        if (amount_mul_div(t->last - t->open, 10000, t->open, false, &pct) != CG_OK)
            pct = 0;
        json_object_set_new(j, "change_24h", json_amount(t->last - t->open, qs));
        json_object_set_new(j, "change_percent_24h", json_amount(pct, 2));
    } else {
        json_object_set_new(j, "change_24h", json_null());
        json_object_set_new(j, "change_percent_24h", json_null());
    }
    json_object_set_new(j, "reference_price", opt_amount(t->has_reference, t->reference_price, qs));
    json_object_set_new(j, "replay_time",
                        t->has_reference ? json_time(t->replay_time) : json_null());
    return j;
}

json_t *render_balance(const struct config *cfg, uint32_t asset, int64_t total, int64_t held)
{
    int s = cfg->assets[asset].scale;
    json_t *j = json_object();
    json_object_set_new(j, "asset", json_string(cfg->assets[asset].symbol));
    json_object_set_new(j, "available", json_amount(total - held, s));
    json_object_set_new(j, "held", json_amount(held, s));
    json_object_set_new(j, "total", json_amount(total, s));
    return j;
}

json_t *render_candle(const struct config *cfg, uint32_t i, const struct md_candle *c)
{
    const struct market_cfg *m = &cfg->markets[i];
    int bs = cfg->assets[m->base].scale;
    int qs = cfg->assets[m->quote].scale;
    json_t *j = json_object();
    json_object_set_new(j, "open_time", json_integer(c->open_time));
    json_object_set_new(j, "open", json_amount(c->open, qs));
    json_object_set_new(j, "high", json_amount(c->high, qs));
    json_object_set_new(j, "low", json_amount(c->low, qs));
    json_object_set_new(j, "close", json_amount(c->close, qs));
    json_object_set_new(j, "volume", json_amount(c->volume, bs));
    json_object_set_new(j, "quote_volume", json_amount(c->quote_volume, qs));
    return j;
}
