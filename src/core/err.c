#include "core/err.h"

struct err_info {
    const char *code;
    const char *message;
    int status;
};

static const struct err_info err_table[CG_ERR_COUNT] = {
    [CG_OK] = {"ok", "ok", 200},
    [CG_EINVAL] = {"invalid_request", "the request is invalid", 400},
    [CG_EJSON] = {"malformed_json", "the body is not valid JSON", 400},
    [CG_EFIELD] = {"unknown_field", "the body has a field this endpoint does not accept", 400},
    [CG_ETYPE] = {"invalid_type", "a field has the wrong type", 400},
    [CG_EAMOUNT] = {"invalid_amount", "amounts must be positive decimal strings", 400},
    [CG_ESCALE] = {"too_many_decimals", "more decimals than the asset allows", 400},
    [CG_EOVERFLOW] = {"amount_overflow", "the amount is too large", 400},
    [CG_ETICK] = {"invalid_tick_size", "the price is not a multiple of the tick size", 400},
    [CG_ELOT] = {"invalid_lot_size", "the quantity is not a multiple of the lot size", 400},
    [CG_EMINQTY] = {"quantity_out_of_range", "the quantity is outside the market's limits", 400},
    [CG_EMINNOTIONAL] = {"min_notional", "price x quantity is below the market's minimum", 400},
    [CG_EMARKET] = {"unknown_market", "no such market", 404},
    [CG_EASSET] = {"unknown_asset", "no such asset", 400},
    [CG_EFUNDS] = {"insufficient_funds", "the available balance is too low", 400},
    [CG_ELIQUIDITY] = {"insufficient_liquidity", "the book has no liquidity for this order", 400},
    [CG_ENOTFOUND] = {"not_found", "not found", 404},
    [CG_EAUTH] = {"unauthorized", "a valid access token is required", 401},
    [CG_EEXPIRED] = {"token_expired", "the token has expired", 401},
    [CG_EFORBIDDEN] = {"forbidden", "your role does not allow this", 403},
    [CG_ECREDENTIALS] = {"invalid_credentials", "wrong email or password", 401},
    [CG_EEXISTS] = {"already_exists", "already exists", 409},
    [CG_EWEAKPASS] = {"weak_password",
                      "passwords need 10 to 128 characters with a letter and a digit or symbol",
                      400},
    [CG_EIDEMPOTENCY] = {"idempotency_key_reused",
                         "this Idempotency-Key was used with a different request", 409},
    [CG_EIDEMKEY] = {"idempotency_key_required", "this request needs an Idempotency-Key header",
                     400},
    [CG_ETOOLARGE] = {"payload_too_large", "the request body is too large", 413},
    [CG_ERATE] = {"rate_limited", "too many requests", 429},
    [CG_ENOTOPEN] = {"order_not_open", "the order is no longer open", 400},
    [CG_ELIMIT] = {"limit_exceeded", "the amount is above the per-request limit", 400},
    [CG_EMETHOD] = {"method_not_allowed", "method not allowed", 405},
    [CG_EROUTE] = {"route_not_found", "no such endpoint", 404},
    [CG_ETOKENREUSE] = {"refresh_token_reused",
                        "this refresh token was already used; its session is revoked", 401},
    [CG_ESTORE] = {"store_unavailable", "the store is unavailable; writes are refused", 503},
    [CG_EIO] = {"io_error", "input/output error", 500},
    [CG_ENOMEM] = {"out_of_memory", "out of memory", 500},
    [CG_EINTERNAL] = {"internal_error", "internal error", 500},
    [CG_EDUPCLIENTID] = {"duplicate_client_order_id", "this client_order_id is already in use",
                         409},
    [CG_EBUSY] = {"server_busy", "the server is busy; retry later", 503},
    [CG_ELENGTH] = {"length_required",
                    "send the request body with a Content-Length (chunked bodies are not read)",
                    411},
    [CG_EPROTECTION] = {"market_protection",
                        "the order could only trade beyond the market protection band", 400},
    [CG_ESTOPNOW] = {"stop_would_trigger",
                     "the stop price is already reached; the order would trigger at once", 400},
    [CG_EPOSTONLY] = {"post_only_would_take", "a post-only order would take liquidity", 400},
};

const char *cg_err_code(enum cg_err e)
{
    if ((unsigned)e >= CG_ERR_COUNT || !err_table[e].code)
        return "internal_error";
    return err_table[e].code;
}

const char *cg_err_message(enum cg_err e)
{
    if ((unsigned)e >= CG_ERR_COUNT || !err_table[e].message)
        return "internal error";
    return err_table[e].message;
}

int cg_err_http_status(enum cg_err e)
{
    if ((unsigned)e >= CG_ERR_COUNT || !err_table[e].status)
        return 500;
    return err_table[e].status;
}
