/*
 * Internal contract of the Binance-compatible layer (binance.c, binance_orders.c, apikeys.c).
 *
 * The layer only translates: requests in Binance's names (developers.binance.com, Spot API)
 * become the native handlers' engine commands and read-model queries, and their answers are
 * rewritten in Binance's shapes. Errors are {"code":-1121,"msg":"Invalid symbol."} with Binance's
 * codes, messages (word for word: ccxt maps the exact msg) and HTTP statuses.
 * Network thread only.
 */
#ifndef CG_API_BINANCE_H
#define CG_API_BINANCE_H

#include "api/api.h"

#define BN_MAX_PARAMS 48
#define BN_KEY_MAX 40
#define BN_VAL_MAX 1024

/* Request parameters: the query string's, then (for form bodies) the body's, url-decoded. */
struct bn_params {
    size_t n;
    char k[BN_MAX_PARAMS][BN_KEY_MAX];
    char v[BN_MAX_PARAMS][BN_VAL_MAX];
};

/* Binance error body and status; msg is copied. */
void bn_error(struct resp *out, int http_status, int code, const char *msg);
/* -1102 "Mandatory parameter '%s' was not sent, was empty/null, or malformed." */
void bn_missing(struct resp *out, const char *param);
/* Load r's parameters (query, plus the body when it is x-www-form-urlencoded). Malloc'ed; NULL
 * with *out set on overflow. Free with free(). */
struct bn_params *bn_params_load(struct req *r, struct resp *out);
/* A parameter's value or NULL (empty values count as absent, as on Binance). */
const char *bn_param(const struct bn_params *p, const char *key);
/* Count `weight` against the caller's IP for this minute (limit 6000, Binance's default);
 * sets out->mbx_weight. false with 429 / -1003 (and Retry-After) when over the limit. */
bool bn_weight(struct req *r, struct resp *out, int weight);
/* Count a new order of the authenticated user (r->claims) against Binance's ORDERS limits (100
 * per 10 s, or COINAGE_API_ORDER_LIMIT_10S; 200000 per UTC day); sets the X-MBX-ORDER-COUNT
 * values. false with 429 / -1015 when over. */
bool bn_order_count(struct req *r, struct resp *out);
/* Market index of a Binance symbol ("BTCUSDT"); -1 with -1121 set when unknown or missing. */
int bn_symbol(const struct config *cfg, const struct bn_params *p, struct resp *out, bool required);
/* Parse a non-negative integer parameter; false with -1100 set if malformed. */
bool bn_int(const struct bn_params *p, const char *key, int64_t *v, bool *present,
            struct resp *out);
/* Translate a native error body ({"error":{"code":...}}) into Binance's; status is rewritten. */
void bn_from_native_error(int *status, char **body);
/* Whether the request's body is x-www-form-urlencoded (Binance POSTs) rather than JSON. */
bool bn_body_is_form(const struct req *r);

/* Signed-request check shared by the native and the Binance API (apikeys.c). */
enum bn_auth_err {
    BNA_OK = 0,
    BNA_NO_KEY,     /* -2014 API-key format invalid. (missing/malformed header) */
    BNA_BAD_KEY,    /* -2015 unknown or revoked key, IP not allowed, or no permission */
    BNA_NO_TS,      /* -1102 timestamp */
    BNA_NO_SIG,     /* -1102 signature */
    BNA_RECVWINDOW, /* -1131 */
    BNA_STALE,      /* -1021 outside the recvWindow */
    BNA_AHEAD,      /* -1021 ahead of the server */
    BNA_BAD_SIG,    /* -1022 */
    BNA_PERM,       /* -2015: a valid key without the permission (native: 403) */
};
/* Verify r's key, IP, timestamp/recvWindow and signature; need_trade also needs the key's
 * `trade` permission and a trader role. Sets r->claims on BNA_OK. */
enum bn_auth_err bn_authenticate(struct req *r, bool need_trade, int min_role);

#endif
