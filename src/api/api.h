/*
 * HTTP + WebSocket API: shared types between the libwebsockets glue (server.c), the resource
 * handlers (one file per resource) and the event fan-out (events.c).
 *
 * Threads: handlers run on the network (lws service) thread, the only thread that may touch
 * lws objects. Anything slow or writing goes elsewhere and comes back as a completion:
 * engine commands (answered after the store commits their batch) and the worker threads of
 * api/worker.h (auth, analytics, portfolio, admin). api_complete() is the one way back and may be
 * called from any thread.
 */
#ifndef CG_API_API_H
#define CG_API_API_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/auth.h"
#include "core/config.h"
#include "engine/engine.h"
#include "market/feed.h"
#include "market/mdata.h"
#include "store/db.h"
#include "store/store.h"

#define API_MAX_BODY (64 * 1024)
#define API_MAX_QUERY 32
#define API_MAX_QRAW 4096

enum http_method { HM_GET = 0, HM_POST, HM_DELETE, HM_PUT, HM_PATCH, HM_OPTIONS, HM_OTHER };

struct completion {
    uint64_t req_id;
    int status;
    char *body; /* malloc'ed JSON */
    bool replayed;
    struct completion *next;
};

struct inflight;
struct worker; /* a worker thread (api/worker.h) */
struct coins;  /* coin listings metadata (analytics/coins.h) */

#define API_MAX_WORKERS 8

struct app {
    const struct config *cfg;
    struct engine *eng;
    struct store *store;
    struct mdata *md;
    struct feed *feed;
    struct db *rdb; /* network thread's connection */
    char db_path[1024];
    uint8_t jwt_key[AUTH_JWT_KEY_BYTES];
    void *lws_ctx;
    int64_t started_at;
    int auth_rate_per_min;
    uint64_t next_req_id; /* network thread */
    struct inflight *inflight;
    /* completions, any thread -> network thread */
    pthread_mutex_t cmu;
    struct completion *chead, *ctail;
    /* worker threads (api/worker.h); worker_new registers each in workers[], whose finished jobs
     * the network thread answers (worker_drain) */
    struct worker *workers[API_MAX_WORKERS];
    size_t n_workers;
    struct worker *auth_worker;  /* api_auth.c */
    struct worker *admin_worker; /* api_admin.c */
    char web_dir[1024];          /* web dashboard root (static files); "" = not served */
    /* analytics (api_analytics.c, api_coins.c) */
    struct worker *analytics;
    struct coins *coins;
    uint8_t apikey_key[32]; /* seals API-key secrets at rest (apikeys.key in the data dir) */
};

struct req {
    struct app *app;
    int method;
    const char *path;
    const char *body;
    size_t body_len;
    char ip[64];
    uint64_t req_id;
    char authz[1024];
    char idem_key[IDEM_KEY_MAX];
    bool idem_too_long;
    size_t n_query;
    char qk[API_MAX_QUERY][32];
    char qv[API_MAX_QUERY][256];
    const char *param; /* the {id} or {market} path segment, if any */
    char param_buf[128];
    struct auth_claims claims;
    /* API-key auth (apikeys.c): the X-MBX-APIKEY header, and the query string as libwebsockets
     * hands it over: its '&'-separated fragments, each already url-decoded by lws 4.1 (it keeps
     * no raw copy), joined by '&'. qraw_truncated: longer than API_MAX_QRAW. */
    char apikey[96];
    char qraw[API_MAX_QRAW];
    bool qraw_truncated;
    bool key_auth;           /* authenticated by API key (claims set) */
    uint32_t key_perm;       /* APIKEY_PERM_* of that key */
    char if_none_match[128]; /* If-None-Match request header (static files), "" if absent */
};

/* Network thread: rewrite a pending request's completion (status, malloc'ed body) before it is
 * sent; may replace *body (free the old one). arg is the handler's own value. */
typedef void (*resp_finish_fn)(struct app *app, int *status, char **body, uint64_t arg);

/* The same with two values (e.g. an order id and the caller's user id). */
typedef void (*resp_finish2_fn)(struct app *app, int *status, char **body, uint64_t a, uint64_t b);

struct resp {
    int status;
    char *body;    /* malloc'ed */
    bool pending;  /* answered later through api_complete */
    bool replayed; /* Idempotent-Replayed: true */
    /* Binance-compatible answers (binance.c) */
    resp_finish_fn finish; /* applied to the completion of a pending request */
    uint64_t finish_arg;
    /* native handlers' own rewrite of a pending answer, run before `finish` (api_orders.c:
     * a cancel's "not open" answer is checked against the store after the commit) */
    resp_finish2_fn finish2;
    uint64_t finish2_a, finish2_b;
    int mbx_weight;                    /* > 0: send X-MBX-USED-WEIGHT(-1M) with this value */
    int mbx_orders_10s, mbx_orders_1d; /* > 0: X-MBX-ORDER-COUNT-10S / -1D */
    int retry_after;                   /* > 0: send Retry-After (seconds) */
    /* non-JSON responses (static files): when content_type is set, body holds body_len raw
     * bytes and is sent with this type, cache_control (NULL = no-store) and etag ("" = none) */
    const char *content_type;
    const char *cache_control;
    size_t body_len;
    char etag[48];
};

/* ---- server.c ---- */
/* Any thread: queue a response for req_id (takes ownership of body) and wake the network
 * thread. */
void api_complete(struct app *app, uint64_t req_id, int status, char *body, bool replayed);
/* Start serving on host:port; blocks on the network thread until api_stop(). */
int api_serve(struct app *app, const char *host, int port);
/* Any thread: ask the service loop to return. */
void api_stop(struct app *app);

/* ---- util.c ---- */
void resp_json(struct resp *r, int status, json_t *doc); /* steals doc */
void resp_error(struct resp *r, enum cg_err e, const char *message);
char *json_error_body(enum cg_err e, const char *message);
const char *req_query(const struct req *r, const char *key);
/* Parse the body as a JSON object whose keys are all in `allowed` (NULL-terminated). */
json_t *req_json_object(struct req *r, struct resp *out, const char *const *allowed);
/* Require a valid access token (and role >= min_role). false (and *out set) if refused. */
bool req_auth(struct req *r, struct resp *out, int min_role);
/* Parse a decimal string field at scale: positive, exact. false with *out set. */
bool req_amount(json_t *v, const char *field, int scale, bool allow_zero, int64_t *amount,
                struct resp *out);
/* limit query parameter: default, 1..max. false with *out set. */
bool req_limit(const struct req *r, int dflt, int max, int *limit, struct resp *out);
/* An integer query parameter (cursor, start, end); false with *out set if malformed. */
bool req_int_param(const struct req *r, const char *key, int64_t *v, bool *present,
                   struct resp *out);
json_t *json_amount(int64_t v, int scale);
json_t *json_time(int64_t ms);
/* Submit an engine command for this request; sets out->pending or an error. Takes cmd. */
void api_submit(struct req *r, struct resp *out, struct cmd *c);
/* Idempotency: returns true if the request was answered (replay, 409, or joined an in-flight
 * twin); otherwise records it as in flight and fills c->idem_*. */
bool api_idempotency_begin(struct req *r, struct resp *out, struct cmd *c);
/* network thread: a completion arrived for req_id; fan it out to idempotency twins. */
void api_idempotency_complete(struct app *app, const struct completion *c);

/* ---- api_orders.c: store rows (columns ORDER_COLS / FILL_COLS, in that order) ---- */
#define ORDER_COLS                                                                                 \
    "id, user_id, market, side, type, time_in_force, status, reason, price, quantity, filled, "    \
    "quote_filled, fee_total, hold, seq, client_order_id, created_at, updated_at, stop_price, "    \
    "quote_quantity, post_only, stp, triggered"
#define FILL_COLS                                                                                  \
    "id, market, price, quantity, quote_quantity, taker_side, taker_order_id, maker_order_id, "    \
    "taker_user_id, maker_user_id, taker_fee, maker_fee, ts"
/* Row -> struct order / struct fill; false if its market is no longer configured. */
bool order_from_row(const struct config *cfg, struct db_stmt *st, struct order *o);
bool fill_from_row(const struct config *cfg, struct db_stmt *st, struct fill *f);

/* ---- api_funds.c ---- */
/* Read user_id's balances (minor units, by asset index) from the store connection db: assets
 * with no row, or no longer configured, are 0. false if the query could not be prepared
 * (CG_ESTORE). Any thread, on a connection it owns. */
bool balances_load(struct db *db, const struct config *cfg, uint64_t user_id,
                   int64_t total[CFG_MAX_ASSETS], int64_t held[CFG_MAX_ASSETS])
    __attribute__((warn_unused_result));

/* ---- render.c ---- */
json_t *render_order(const struct config *cfg, const struct order *o);
json_t *render_fill_for(const struct config *cfg, const struct fill *f, uint64_t user_id);
json_t *render_market(const struct app *app, uint32_t m);
json_t *render_ticker(const struct app *app, uint32_t m, const struct md_ticker *t);
json_t *render_balance(const struct config *cfg, uint32_t asset, int64_t total, int64_t held);
json_t *render_candle(const struct config *cfg, uint32_t m, const struct md_candle *c);
/* {market, seq, bids:[[p,q]..], asks, ts} from the read model (network thread). */
json_t *render_book_snapshot(struct app *app, uint32_t m, size_t depth);

/* ---- handlers ---- */
void h_health(struct req *r, struct resp *out);
void h_auth_register(struct req *r, struct resp *out);
void h_auth_login(struct req *r, struct resp *out);
void h_auth_refresh(struct req *r, struct resp *out);
void h_auth_logout(struct req *r, struct resp *out);
void h_me(struct req *r, struct resp *out);
void h_deposit(struct req *r, struct resp *out);
void h_withdraw(struct req *r, struct resp *out);
void h_balances(struct req *r, struct resp *out);
void h_ledger(struct req *r, struct resp *out);
void h_order_create(struct req *r, struct resp *out);
void h_orders_list(struct req *r, struct resp *out);
void h_order_get(struct req *r, struct resp *out);
void h_order_cancel(struct req *r, struct resp *out);
void h_order_amend(struct req *r, struct resp *out);
void h_orders_cancel_all(struct req *r, struct resp *out);
void h_fills(struct req *r, struct resp *out);
void h_markets(struct req *r, struct resp *out);
void h_market(struct req *r, struct resp *out);
void h_ticker(struct req *r, struct resp *out);
void h_tickers(struct req *r, struct resp *out);
void h_book(struct req *r, struct resp *out);
void h_trades(struct req *r, struct resp *out);
void h_candles(struct req *r, struct resp *out);
void h_admin_invariants(struct req *r, struct resp *out);

/* ---- api_web.c: the web dashboard's static files (see static.h) ---- */
/* true if a GET of this path that matched no API route is a static file request (not under
 * /api/, /ws, /stream, /health). */
bool web_path_is_static(const char *path);
/* GET /, GET /<file>: serve from app->web_dir; 404 route_not_found when absent. */
void h_static(struct req *r, struct resp *out);
/* ---- analytics: indicators, market statistics (api_analytics.c), listings (api_coins.c) ---- */
void h_indicators(struct req *r, struct resp *out);
void h_stats_volatility(struct req *r, struct resp *out);
void h_stats_beta(struct req *r, struct resp *out);
void h_stats_drawdown(struct req *r, struct resp *out);
void h_correlation(struct req *r, struct resp *out);
void h_coins(struct req *r, struct resp *out);
void h_coins_top(struct req *r, struct resp *out);
void h_coin(struct req *r, struct resp *out);
void h_coin_candles(struct req *r, struct resp *out);
/* Before serving, caller's thread: load the coin listings metadata from
 * root/data/coins/coingecko_markets_2025-03-04.csv into app->coins and start the analytics worker
 * (its own db connection to app->db_path). CG_OK, or CG_EIO/CG_EINVAL (metadata), CG_ESTORE,
 * CG_ENOMEM, CG_EINTERNAL (thread). */
enum cg_err api_analytics_start(struct app *app, const char *root)
    __attribute__((warn_unused_result));
/* Stop and join the worker (queued jobs are answered 503), free the metadata. Safe if not started.
 */
void api_analytics_stop(struct app *app);

/* ---- portfolio, risk and watchlists (api_portfolio.c, api_watchlists.c; issue 6) ----
 * Answered on the portfolio worker thread (its own db connection), see api/pf_worker.h. */
void h_portfolio(struct req *r, struct resp *out);
void h_portfolio_history(struct req *r, struct resp *out);
void h_portfolio_performance(struct req *r, struct resp *out);
void h_risk(struct req *r, struct resp *out);
void h_watchlists_create(struct req *r, struct resp *out);
void h_watchlists_list(struct req *r, struct resp *out);
void h_watchlist_get(struct req *r, struct resp *out);
void h_watchlist_update(struct req *r, struct resp *out);
void h_watchlist_delete(struct req *r, struct resp *out);
/* Start/stop the portfolio worker (main thread, after/before serving). */
enum cg_err api_portfolio_start(struct app *app) __attribute__((warn_unused_result));
void api_portfolio_stop(struct app *app);
/* ---- API keys and the Binance-compatible API (apikeys.c, binance.c, binance_orders.c) ---- */
#define APIKEY_PERM_READ 1u
#define APIKEY_PERM_TRADE 2u
/* Authenticate r by its X-MBX-APIKEY header and signature (Binance's SIGNED scheme) for an
 * endpoint that needs role >= min_role (ROLE_TRADER needs the key's `trade` permission).
 * Sets r->claims. false with *out set to a native error. Network thread. */
bool apikey_auth(struct req *r, struct resp *out, int min_role);
/* Same check, Binance-compatible: CG_OK or fills *out with Binance's code/msg. */
bool apikey_auth_binance(struct req *r, struct resp *out, bool trade);
void h_apikey_create(struct req *r, struct resp *out);
void h_apikey_list(struct req *r, struct resp *out);
void h_apikey_revoke(struct req *r, struct resp *out);
void h_bn_ping(struct req *r, struct resp *out);
void h_bn_time(struct req *r, struct resp *out);
void h_bn_exchange_info(struct req *r, struct resp *out);
void h_bn_depth(struct req *r, struct resp *out);
void h_bn_trades(struct req *r, struct resp *out);
void h_bn_agg_trades(struct req *r, struct resp *out);
void h_bn_klines(struct req *r, struct resp *out);
void h_bn_ticker_24hr(struct req *r, struct resp *out);
void h_bn_ticker_price(struct req *r, struct resp *out);
void h_bn_book_ticker(struct req *r, struct resp *out);
void h_bn_avg_price(struct req *r, struct resp *out);
void h_bn_account(struct req *r, struct resp *out);
void h_bn_order_create(struct req *r, struct resp *out);
void h_bn_order_test(struct req *r, struct resp *out);
void h_bn_order_get(struct req *r, struct resp *out);
void h_bn_order_cancel(struct req *r, struct resp *out);
void h_bn_open_orders(struct req *r, struct resp *out);
void h_bn_open_orders_cancel(struct req *r, struct resp *out);
void h_bn_all_orders(struct req *r, struct resp *out);
void h_bn_my_trades(struct req *r, struct resp *out);
void h_bn_empty_list(struct req *r, struct resp *out);
void h_bn_empty_exchange_info(struct req *r, struct resp *out);

/* ---- auth worker (api_auth.c) and admin worker (api_admin.c) ----
 * Caller's thread, before serving: start the worker (api/worker.h) that runs password hashing and
 * token writes, or the ledger audit of GET /api/v1/admin/invariants. CG_OK or worker_new's error.
 * Stop (after serving): join the worker, answering what is queued with 503. Safe if not started. */
enum cg_err api_worker_start(struct app *app) __attribute__((warn_unused_result));
void api_worker_stop(struct app *app);
enum cg_err api_admin_start(struct app *app) __attribute__((warn_unused_result));
void api_admin_stop(struct app *app);

/* ---- events.c: store hooks ---- */
void api_render_batch(struct batch *b, void *ctx);
void api_batch_committed(struct batch *b, bool ok, void *ctx);

/* ---- ws.c ---- */
struct ws_client;
struct ws_client *ws_client_new(struct app *app, void *wsi);
void ws_client_free(struct ws_client *c);
/* A text message from the client. */
void ws_client_receive(struct ws_client *c, const char *data, size_t len);
/* Writable: send at most one queued message. Returns -1 to close. */
int ws_client_writable(struct ws_client *c);
/* Network thread: distribute drained market-data messages to subscribed clients. */
void ws_dispatch(struct app *app, struct md_msg *list);

#endif
