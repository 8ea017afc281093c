/* libwebsockets glue: one service thread serves HTTP and WebSocket on one port. */
#include <libwebsockets.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/binance_ws.h"
#include "api/worker.h"
#include "core/clock.h"
#include "core/log.h"

#define PENDING_BUCKETS 4096

enum pss_kind { PSS_HTTP = 0, PSS_WS = 1 };

struct pss {
    int kind;
    struct lws *wsi;
    /* http */
    uint64_t req_id;
    int method;
    char path[512];
    char *body;
    size_t body_len;
    bool too_large;
    bool dispatched;  /* this transaction's request went to its handler */
    bool close_after; /* close the connection once the response is written */
    bool waiting;     /* registered in the pending table */
    bool ready;
    int status;
    bool replayed;
    unsigned char *out; /* LWS_PRE + body */
    size_t out_len;
    resp_finish_fn finish; /* Binance-compatible rewrite of a pending answer */
    uint64_t finish_arg;
    resp_finish2_fn finish2; /* native rewrite of a pending answer, before finish */
    uint64_t finish2_a, finish2_b;
    int mbx_weight;
    int mbx_orders_10s, mbx_orders_1d;
    int retry_after;
    char ctype[64]; /* "" = application/json */
    char cache[32]; /* "" = no-store */
    char etag[48];  /* "" = none */
    /* ws */
    struct ws_client *ws;
    struct bws_client *bws; /* Binance-compatible streams (/ws/..., /stream) */
    char *rx;
    size_t rx_len;
};

struct pending {
    uint64_t req_id;
    struct pss *pss;
    struct pending *next;
};

static struct pending *pending_tab[PENDING_BUCKETS];
static volatile sig_atomic_t stop_flag;

static void pending_add(struct pss *p)
{
    struct pending *e = malloc(sizeof(*e));
    if (!e)
        abort();
    e->req_id = p->req_id;
    e->pss = p;
    e->next = pending_tab[p->req_id % PENDING_BUCKETS];
    pending_tab[p->req_id % PENDING_BUCKETS] = e;
    p->waiting = true;
}

static struct pss *pending_take(uint64_t req_id)
{
    struct pending **pp = &pending_tab[req_id % PENDING_BUCKETS];
    for (; *pp; pp = &(*pp)->next) {
        if ((*pp)->req_id == req_id) {
            struct pending *e = *pp;
            struct pss *p = e->pss;
            *pp = e->next;
            free(e);
            p->waiting = false;
            return p;
        }
    }
    return NULL;
}

void api_complete(struct app *app, uint64_t req_id, int status, char *body, bool replayed)
{
    struct completion *c = calloc(1, sizeof(*c));
    if (!c) {
        free(body);
        return;
    }
    c->req_id = req_id;
    c->status = status;
    c->body = body;
    c->replayed = replayed;
    pthread_mutex_lock(&app->cmu);
    if (app->ctail)
        app->ctail->next = c;
    else
        app->chead = c;
    app->ctail = c;
    pthread_mutex_unlock(&app->cmu);
    if (app->lws_ctx)
        lws_cancel_service(app->lws_ctx);
}

static void http_reset(struct pss *p)
{
    if (p->waiting)
        pending_take(p->req_id);
    free(p->body);
    free(p->out);
    p->body = NULL;
    p->out = NULL;
    p->body_len = p->out_len = 0;
    p->too_large = p->ready = p->replayed = p->dispatched = p->close_after = false;
    p->status = 0;
    p->finish = NULL;
    p->finish_arg = 0;
    p->finish2 = NULL;
    p->finish2_a = p->finish2_b = 0;
    p->mbx_weight = p->retry_after = p->mbx_orders_10s = p->mbx_orders_1d = 0;
    p->ctype[0] = p->cache[0] = p->etag[0] = '\0';
}

static void set_response_n(struct pss *p, int status, const char *body, size_t len, bool replayed)
{
    free(p->out);
    p->out = malloc(LWS_PRE + len + 1);
    if (!p->out)
        abort();
    memcpy(p->out + LWS_PRE, body ? body : "", len);
    p->out_len = len;
    p->status = status;
    p->replayed = replayed;
    p->ready = true;
    lws_callback_on_writable(p->wsi);
}

static void set_response(struct pss *p, int status, const char *body, bool replayed)
{
    set_response_n(p, status, body, body ? strlen(body) : 0, replayed);
}

/* a non-JSON response (static file): type, caching and validator from out */
static void set_response_raw(struct pss *p, const struct resp *out)
{
    snprintf(p->ctype, sizeof(p->ctype), "%s", out->content_type);
    snprintf(p->cache, sizeof(p->cache), "%s", out->cache_control ? out->cache_control : "");
    snprintf(p->etag, sizeof(p->etag), "%s", out->etag);
    set_response_n(p, out->status, out->body, out->body ? out->body_len : 0, false);
}

struct route {
    int method;
    const char *pattern; /* '*' matches one path segment */
    void (*fn)(struct req *r, struct resp *out);
};

static const struct route routes[] = {
    {HM_GET, "/health", h_health},
    {HM_POST, "/api/v1/auth/register", h_auth_register},
    {HM_POST, "/api/v1/auth/login", h_auth_login},
    {HM_POST, "/api/v1/auth/refresh", h_auth_refresh},
    {HM_POST, "/api/v1/auth/logout", h_auth_logout},
    {HM_GET, "/api/v1/me", h_me},
    {HM_POST, "/api/v1/deposits", h_deposit},
    {HM_POST, "/api/v1/withdrawals", h_withdraw},
    {HM_GET, "/api/v1/balances", h_balances},
    {HM_GET, "/api/v1/ledger", h_ledger},
    {HM_POST, "/api/v1/orders", h_order_create},
    {HM_GET, "/api/v1/orders", h_orders_list},
    {HM_GET, "/api/v1/orders/*", h_order_get},
    {HM_DELETE, "/api/v1/orders/*", h_order_cancel},
    {HM_PATCH, "/api/v1/orders/*", h_order_amend},
    {HM_DELETE, "/api/v1/orders", h_orders_cancel_all},
    {HM_GET, "/api/v1/fills", h_fills},
    {HM_GET, "/api/v1/markets", h_markets},
    {HM_GET, "/api/v1/tickers", h_tickers},
    {HM_GET, "/api/v1/markets/*", h_market},
    {HM_GET, "/api/v1/markets/*/ticker", h_ticker},
    {HM_GET, "/api/v1/markets/*/book", h_book},
    {HM_GET, "/api/v1/markets/*/trades", h_trades},
    {HM_GET, "/api/v1/markets/*/candles", h_candles},
    {HM_GET, "/api/v1/admin/invariants", h_admin_invariants},
    /* analytics: indicators, market statistics, coin listings (api_analytics.c, api_coins.c) */
    {HM_GET, "/api/v1/markets/*/indicators", h_indicators},
    {HM_GET, "/api/v1/markets/*/stats/volatility", h_stats_volatility},
    {HM_GET, "/api/v1/markets/*/stats/beta", h_stats_beta},
    {HM_GET, "/api/v1/markets/*/stats/drawdown", h_stats_drawdown},
    {HM_GET, "/api/v1/analytics/correlation", h_correlation},
    {HM_GET, "/api/v1/coins", h_coins},
    {HM_GET, "/api/v1/coins/top/*", h_coins_top},
    {HM_GET, "/api/v1/coins/*", h_coin},
    {HM_GET, "/api/v1/coins/*/candles", h_coin_candles},
    /* portfolio, risk, watchlists (issue 6) */
    {HM_GET, "/api/v1/portfolio", h_portfolio},
    {HM_GET, "/api/v1/portfolio/history", h_portfolio_history},
    {HM_GET, "/api/v1/portfolio/performance", h_portfolio_performance},
    {HM_GET, "/api/v1/risk", h_risk},
    {HM_POST, "/api/v1/watchlists", h_watchlists_create},
    {HM_GET, "/api/v1/watchlists", h_watchlists_list},
    {HM_GET, "/api/v1/watchlists/*", h_watchlist_get},
    {HM_PATCH, "/api/v1/watchlists/*", h_watchlist_update},
    {HM_DELETE, "/api/v1/watchlists/*", h_watchlist_delete},
    /* API keys (apikeys.c) and the Binance-compatible REST API (binance.c, binance_orders.c) */
    {HM_POST, "/api/v1/api-keys", h_apikey_create},
    {HM_GET, "/api/v1/api-keys", h_apikey_list},
    {HM_DELETE, "/api/v1/api-keys/*", h_apikey_revoke},
    {HM_GET, "/api/v3/ping", h_bn_ping},
    {HM_GET, "/api/v3/time", h_bn_time},
    {HM_GET, "/api/v3/exchangeInfo", h_bn_exchange_info},
    {HM_GET, "/api/v3/depth", h_bn_depth},
    {HM_GET, "/api/v3/trades", h_bn_trades},
    {HM_GET, "/api/v3/aggTrades", h_bn_agg_trades},
    {HM_GET, "/api/v3/klines", h_bn_klines},
    {HM_GET, "/api/v3/uiKlines", h_bn_klines},
    {HM_GET, "/api/v3/ticker/24hr", h_bn_ticker_24hr},
    {HM_GET, "/api/v3/ticker/price", h_bn_ticker_price},
    {HM_GET, "/api/v3/ticker/bookTicker", h_bn_book_ticker},
    {HM_GET, "/api/v3/avgPrice", h_bn_avg_price},
    {HM_GET, "/api/v3/account", h_bn_account},
    {HM_POST, "/api/v3/order", h_bn_order_create},
    {HM_GET, "/api/v3/order", h_bn_order_get},
    {HM_DELETE, "/api/v3/order", h_bn_order_cancel},
    {HM_POST, "/api/v3/order/test", h_bn_order_test},
    {HM_GET, "/api/v3/openOrders", h_bn_open_orders},
    {HM_DELETE, "/api/v3/openOrders", h_bn_open_orders_cancel},
    {HM_GET, "/api/v3/allOrders", h_bn_all_orders},
    {HM_GET, "/api/v3/myTrades", h_bn_my_trades},
    {HM_GET, "/sapi/v1/capital/config/getall", h_bn_empty_list},
    {HM_GET, "/sapi/v1/margin/allPairs", h_bn_empty_list},
    {HM_GET, "/sapi/v1/margin/isolated/allPairs", h_bn_empty_list},
    {HM_GET, "/fapi/v1/exchangeInfo", h_bn_empty_exchange_info},
    {HM_GET, "/dapi/v1/exchangeInfo", h_bn_empty_exchange_info},
};

/* Match path against pattern; the '*' segment is copied to param. */
static bool route_match(const char *pattern, const char *path, char *param, size_t plen)
{
    while (*pattern && *path) {
        if (*pattern == '*') {
            size_t n = strcspn(path, "/");
            if (n == 0 || n >= plen)
                return false;
            memcpy(param, path, n);
            param[n] = '\0';
            path += n;
            pattern++;
            continue;
        }
        if (*pattern != *path)
            return false;
        pattern++;
        path++;
    }
    return *pattern == '\0' && *path == '\0';
}

static void parse_query(struct req *r, struct lws *wsi)
{
    char frag[1024];
    size_t qlen = 0;
    for (int i = 0;; i++) {
        int n = lws_hdr_copy_fragment(wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i);
        char *eq;
        if (n == -1) /* no such fragment; an empty one ("a=1&&b=2") is skipped below */
            break;
        if (n < 0 || qlen + (size_t)n + 2 > sizeof(r->qraw)) {
            r->qraw_truncated = true; /* signed requests fail; params past here are dropped */
            break;
        }
        if (qlen)
            r->qraw[qlen++] = '&';
        memcpy(r->qraw + qlen, frag, (size_t)n + 1);
        qlen += (size_t)n;
        if (n == 0 || r->n_query >= API_MAX_QUERY)
            continue;
        eq = strchr(frag, '=');
        if (!eq)
            continue;
        *eq = '\0';
        snprintf(r->qk[r->n_query], sizeof(r->qk[0]), "%.31s", frag);
        snprintf(r->qv[r->n_query], sizeof(r->qv[0]), "%.255s", eq + 1);
        r->n_query++;
    }
}

static void dispatch(struct app *app, struct pss *p)
{
    struct req *r = calloc(1, sizeof(*r));
    struct resp out = {0};
    const struct route *found = NULL;
    bool path_known = false;
    char idem[IDEM_KEY_MAX + 8];
    int n;

    if (!r)
        abort();
    p->dispatched = true;
    r->app = app;
    r->method = p->method;
    r->path = p->path;
    r->body = p->body ? p->body : "";
    r->body_len = p->body_len;
    r->req_id = p->req_id = ++app->next_req_id;
    lws_get_peer_simple(p->wsi, r->ip, sizeof(r->ip));
    if (lws_hdr_copy(p->wsi, r->authz, sizeof(r->authz), WSI_TOKEN_HTTP_AUTHORIZATION) < 0)
        r->authz[0] = '\0';
    n = lws_hdr_custom_copy(p->wsi, idem, sizeof(idem), "idempotency-key:", 16);
    if (n > 0) {
        if ((size_t)n >= IDEM_KEY_MAX)
            r->idem_too_long = true;
        else
            memcpy(r->idem_key, idem, (size_t)n + 1);
    } else if (n < 0 && lws_hdr_custom_length(p->wsi, "idempotency-key:", 16) > 0) {
        r->idem_too_long = true;
    }
    parse_query(r, p->wsi);
    if (lws_hdr_custom_copy(p->wsi, r->apikey, sizeof(r->apikey), "x-mbx-apikey:", 13) < 0)
        r->apikey[0] = '\0';
    if (lws_hdr_copy(p->wsi, r->if_none_match, sizeof(r->if_none_match),
                     WSI_TOKEN_HTTP_IF_NONE_MATCH) < 0)
        r->if_none_match[0] = '\0';

    if (p->too_large) {
        resp_error(&out, CG_ETOOLARGE, NULL);
    } else {
        for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
            if (!route_match(routes[i].pattern, p->path, r->param_buf, sizeof(r->param_buf)))
                continue;
            path_known = true;
            if (routes[i].method == p->method) {
                found = &routes[i];
                break;
            }
        }
        if (found) {
            r->param = r->param_buf;
            found->fn(r, &out);
        } else if (!path_known && p->method == HM_GET && web_path_is_static(p->path)) {
            /* web dashboard (api_web.c) */
            h_static(r, &out);
        } else {
            resp_error(&out, path_known ? CG_EMETHOD : CG_EROUTE, NULL);
        }
    }
    p->finish = out.finish;
    p->finish_arg = out.finish_arg;
    p->finish2 = out.finish2;
    p->finish2_a = out.finish2_a;
    p->finish2_b = out.finish2_b;
    p->mbx_weight = out.mbx_weight;
    p->mbx_orders_10s = out.mbx_orders_10s;
    p->mbx_orders_1d = out.mbx_orders_1d;
    p->retry_after = out.retry_after;
    if (out.pending) {
        pending_add(p);
    } else if (out.content_type) {
        set_response_raw(p, &out);
        free(out.body);
    } else {
        set_response(p, out.status, out.body, out.replayed);
        free(out.body);
    }
    free(r);
}

/* Binance-compatible rate-limit headers (binance.c sets the values; 0 = not sent). */
static int add_mbx_headers(struct pss *p, unsigned char **ptr, unsigned char *end)
{
    const struct {
        const char *name;
        int value;
    } h[] = {
        {"x-mbx-used-weight:", p->mbx_weight},
        {"x-mbx-used-weight-1m:", p->mbx_weight},
        {"x-mbx-order-count-10s:", p->mbx_orders_10s},
        {"x-mbx-order-count-1d:", p->mbx_orders_1d},
        {"retry-after:", p->retry_after},
    };
    for (size_t i = 0; i < sizeof(h) / sizeof(h[0]); i++) {
        char v[24];
        int n;
        if (h[i].value <= 0)
            continue;
        n = snprintf(v, sizeof(v), "%d", h[i].value);
        if (lws_add_http_header_by_name(p->wsi, (const unsigned char *)h[i].name,
                                        (const unsigned char *)v, n, ptr, end))
            return -1;
    }
    return 0;
}

static int write_response(struct pss *p)
{
    unsigned char hdr[LWS_PRE + 1024];
    unsigned char *start = hdr + LWS_PRE;
    unsigned char *ptr = start;
    unsigned char *end = hdr + sizeof(hdr) - 1;

    const char *ctype = p->ctype[0] ? p->ctype : "application/json";
    const char *cache = p->cache[0] ? p->cache : "no-store";

    if (lws_add_http_common_headers(p->wsi, (unsigned int)p->status, ctype, p->out_len, &ptr, end))
        return -1;
    if (lws_add_http_header_by_name(p->wsi, (const unsigned char *)"cache-control:",
                                    (const unsigned char *)cache, (int)strlen(cache), &ptr, end))
        return -1;
    /* static files: browsers must not guess another type than the one sent */
    if (p->ctype[0] &&
        lws_add_http_header_by_name(p->wsi, (const unsigned char *)"x-content-type-options:",
                                    (const unsigned char *)"nosniff", 7, &ptr, end))
        return -1;
    if (p->etag[0] && lws_add_http_header_by_name(
                          p->wsi, (const unsigned char *)"etag:", (const unsigned char *)p->etag,
                          (int)strlen(p->etag), &ptr, end))
        return -1;
    if (p->replayed &&
        lws_add_http_header_by_name(p->wsi, (const unsigned char *)"idempotent-replayed:",
                                    (const unsigned char *)"true", 4, &ptr, end))
        return -1;
    if (add_mbx_headers(p, &ptr, end))
        return -1;
    if (lws_finalize_write_http_header(p->wsi, start, &ptr, end))
        return -1;
    if (p->out_len &&
        lws_write(p->wsi, p->out + LWS_PRE, p->out_len, LWS_WRITE_HTTP_FINAL) != (int)p->out_len)
        return -1;
    if (p->close_after)
        return -1;
    http_reset(p);
    if (lws_http_transaction_completed(p->wsi))
        return -1;
    return 0;
}

static void drain_completions(struct app *app)
{
    struct completion *c;
    pthread_mutex_lock(&app->cmu);
    c = app->chead;
    app->chead = app->ctail = NULL;
    pthread_mutex_unlock(&app->cmu);
    while (c) {
        struct completion *next = c->next;
        struct pss *p = pending_take(c->req_id);
        api_idempotency_complete(app, c);
        if (p && p->finish2)
            p->finish2(app, &c->status, &c->body, p->finish2_a, p->finish2_b);
        if (p && p->finish)
            p->finish(app, &c->status, &c->body, p->finish_arg);
        if (p)
            set_response(p, c->status, c->body, c->replayed);
        free(c->body);
        free(c);
        c = next;
    }
}

static int method_of(struct lws *wsi)
{
    if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI))
        return HM_GET;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI))
        return HM_POST;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_DELETE_URI))
        return HM_DELETE;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_PUT_URI))
        return HM_PUT;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_PATCH_URI))
        return HM_PATCH;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_OPTIONS_URI))
        return HM_OPTIONS;
    return HM_OTHER;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct pss *p = user;
    struct app *app = lws_context_user(lws_get_context(wsi));

    switch (reason) {
    case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED: {
        int one = 1;
        int fd = (int)lws_get_socket_fd(wsi);
        if (fd >= 0)
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        break;
    }
    case LWS_CALLBACK_HTTP: {
        char cl[32];
        long clen = 0;
        p->kind = PSS_HTTP;
        p->wsi = wsi;
        http_reset(p);
        p->method = method_of(wsi);
        snprintf(p->path, sizeof(p->path), "%s", (const char *)in);
        bool has_len = lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0;
        bool chunked = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0;
        if (has_len)
            clen = strtol(cl, NULL, 10);
        if (clen > API_MAX_BODY)
            p->too_large = true;
        if (chunked && !has_len) {
            /* libwebsockets does not decode chunked request bodies: refuse, and close the
             * connection so its unread body is not taken for the next request */
            char *body = json_error_body(CG_ELENGTH, NULL);
            p->dispatched = true;
            p->close_after = true;
            set_response(p, cg_err_http_status(CG_ELENGTH), body, false);
            free(body);
            return 0;
        }
        if ((p->method != HM_POST && p->method != HM_PUT && p->method != HM_PATCH) || clen <= 0)
            dispatch(app, p);
        return 0;
    }
    case LWS_CALLBACK_HTTP_BODY:
        if (!in || len == 0 || p->dispatched)
            return 0;
        if (p->too_large || p->body_len + len > API_MAX_BODY) {
            p->too_large = true;
            return 0;
        }
        {
            char *nb = realloc(p->body, p->body_len + len + 1);
            if (!nb)
                return -1;
            p->body = nb;
            memcpy(p->body + p->body_len, in, len);
            p->body_len += len;
            p->body[p->body_len] = '\0';
        }
        return 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (!p->dispatched)
            dispatch(app, p);
        return 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (!p->ready)
            return 0;
        return write_response(p);
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (p && p->kind == PSS_HTTP)
            http_reset(p);
        break;
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
        char uri[1024];
        if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0 ||
            (strcmp(uri, "/ws") && !bws_path_is_binance(uri)))
            return -1;
        break;
    }
    case LWS_CALLBACK_ESTABLISHED: {
        char uri[1024];
        memset(p, 0, sizeof(*p));
        p->kind = PSS_WS;
        p->wsi = wsi;
        if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) > 0 && bws_path_is_binance(uri))
            p->bws = bws_client_new(app, wsi, uri);
        else
            p->ws = ws_client_new(app, wsi);
        if (!p->ws && !p->bws)
            return -1;
        break;
    }
    case LWS_CALLBACK_RECEIVE_PONG:
        if (p->bws)
            bws_client_pong(p->bws);
        break;
    case LWS_CALLBACK_RECEIVE:
        if (p->rx_len + len > 16384)
            return -1;
        {
            char *nb = realloc(p->rx, p->rx_len + len + 1);
            if (!nb)
                return -1;
            p->rx = nb;
            memcpy(p->rx + p->rx_len, in, len);
            p->rx_len += len;
            p->rx[p->rx_len] = '\0';
        }
        if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
            if (p->bws)
                bws_client_receive(p->bws, p->rx, p->rx_len);
            else
                ws_client_receive(p->ws, p->rx, p->rx_len);
            p->rx_len = 0;
        }
        break;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (p->bws)
            return bws_client_writable(p->bws);
        if (p->ws)
            return ws_client_writable(p->ws);
        break;
    case LWS_CALLBACK_CLOSED:
        if (p->kind == PSS_WS) {
            ws_client_free(p->ws);
            p->ws = NULL;
            bws_client_free(p->bws);
            p->bws = NULL;
            free(p->rx);
            p->rx = NULL;
        }
        break;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        for (size_t i = 0; i < app->n_workers; i++) /* worker jobs answer via api_complete */
            worker_drain(app->workers[i]);
        drain_completions(app);
        ws_dispatch(app, mdata_drain(app->md));
        break;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
    {"coinage", callback, sizeof(struct pss), 16384, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

int api_serve(struct app *app, const char *host, int port)
{
    struct lws_context_creation_info info;
    struct lws_context *ctx;

    memset(&info, 0, sizeof(info));
    info.port = port;
    info.iface = host;
    info.protocols = protocols;
    info.user = app;
    info.max_http_header_data = 8192;
    info.pt_serv_buf_size = 65536;
    info.keepalive_timeout = 30;
    info.timeout_secs = 30;
    info.options = LWS_SERVER_OPTION_VALIDATE_UTF8 | LWS_SERVER_OPTION_DISABLE_IPV6;
    lws_set_log_level(LLL_ERR, NULL);
    ctx = lws_create_context(&info);
    if (!ctx) {
        log_error("server: cannot listen on %s:%d", host, port);
        return -1;
    }
    app->lws_ctx = ctx;
    log_info("server: listening on http://%s:%d", host, port);
    bws_start(app);
    while (!stop_flag)
        if (lws_service(ctx, 0) < 0)
            break;
    bws_stop();
    app->lws_ctx = NULL;
    lws_context_destroy(ctx);
    return 0;
}

void api_stop(struct app *app)
{
    stop_flag = 1;
    if (app->lws_ctx)
        lws_cancel_service(app->lws_ctx);
}
