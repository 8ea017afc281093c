/*
 * One project-wide error enum. Append-only: the string codes are part of the public API
 * ({"error":{"code":...}}) and must never change meaning.
 * Any thread may call these functions; they only read constant tables.
 */
#ifndef CG_CORE_ERR_H
#define CG_CORE_ERR_H

enum cg_err {
    CG_OK = 0,
    CG_EINVAL,       /* "invalid_request": malformed or out-of-range input */
    CG_EJSON,        /* "malformed_json" */
    CG_EFIELD,       /* "unknown_field" */
    CG_ETYPE,        /* "invalid_type": a field has the wrong JSON type */
    CG_EAMOUNT,      /* "invalid_amount": not a positive exact decimal */
    CG_ESCALE,       /* "too_many_decimals": more decimals than the asset's scale */
    CG_EOVERFLOW,    /* "amount_overflow" */
    CG_ETICK,        /* "invalid_tick_size": price not a multiple of the tick size */
    CG_ELOT,         /* "invalid_lot_size": quantity not a multiple of the lot size */
    CG_EMINQTY,      /* "quantity_out_of_range" */
    CG_EMINNOTIONAL, /* "min_notional": price x quantity below the market's minimum */
    CG_EMARKET,      /* "unknown_market" */
    CG_EASSET,       /* "unknown_asset" */
    CG_EFUNDS,       /* "insufficient_funds" */
    CG_ELIQUIDITY,   /* "insufficient_liquidity": a market order found no counterparty */
    CG_ENOTFOUND,    /* "not_found" */
    CG_EAUTH,        /* "unauthorized": missing or invalid token */
    CG_EEXPIRED,     /* "token_expired" */
    CG_EFORBIDDEN,   /* "forbidden": role does not allow this */
    CG_ECREDENTIALS, /* "invalid_credentials" */
    CG_EEXISTS,      /* "already_exists" */
    CG_EWEAKPASS,    /* "weak_password" */
    CG_EIDEMPOTENCY, /* "idempotency_key_reused": same key, different request */
    CG_EIDEMKEY,     /* "idempotency_key_required" */
    CG_ETOOLARGE,    /* "payload_too_large" */
    CG_ERATE,        /* "rate_limited" */
    CG_ENOTOPEN,     /* "order_not_open": cancel of a filled/canceled order */
    CG_ELIMIT,       /* "limit_exceeded": above a per-request limit */
    CG_EMETHOD,      /* "method_not_allowed" */
    CG_EROUTE,       /* "route_not_found" */
    CG_ETOKENREUSE,  /* "refresh_token_reused": the whole token family is revoked */
    CG_ESTORE,       /* "store_unavailable": the store failed; writes are refused */
    CG_EIO,          /* "io_error" */
    CG_ENOMEM,       /* "out_of_memory" */
    CG_EINTERNAL,    /* "internal_error" */
    CG_EDUPCLIENTID, /* "duplicate_client_order_id" */
    CG_EBUSY,        /* "server_busy": queue full */
    CG_ELENGTH,      /* "length_required": a request body needs a Content-Length */
    CG_EPROTECTION,  /* "market_protection": would trade only beyond the protection band */
    CG_ESTOPNOW,     /* "stop_would_trigger": the stop price is already reached */
    CG_EPOSTONLY,    /* "post_only_would_take" */
    CG_ERR_COUNT
};

/* Stable snake_case code for the API. Never NULL. */
const char *cg_err_code(enum cg_err e);
/* Default English message. Never NULL. */
const char *cg_err_message(enum cg_err e);
/* HTTP status that goes with the error (400, 401, 403, 404, 409, 413, 429, 503, 500). */
int cg_err_http_status(enum cg_err e);

#endif
