/*
 * Market analytics endpoints: technical indicators and market statistics.
 *
 *   GET /api/v1/markets/{m}/indicators?name=&interval=&period=&fast=&slow=&signal=&stddev=
 *       &k=&d=&smooth=&limit=&end=
 *   GET /api/v1/markets/{m}/stats/volatility?interval=&window=&limit=&end=
 *   GET /api/v1/markets/{m}/stats/beta?interval=&window=&benchmark=&end=
 *   GET /api/v1/markets/{m}/stats/drawdown?interval=&limit=&end=
 *   GET /api/v1/analytics/correlation?markets=&interval=&window=&end=
 *
 * Threads: the handlers run on the network thread and only validate parameters (so a bad
 * request is answered at once, 400 with a stable code); the work (reading candles from the
 * store, computing, rendering) runs on the analytics worker thread with its own db connection,
 * which answers through api_complete(). The engine thread is never involved: candles are read
 * from the store's candles table, the same rows GET /candles serves.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analytics/coins.h"
#include "analytics/indicators.h"
#include "analytics/stats.h"
#include "api/api.h"
#include "api/worker.h"
#include "core/log.h"

#define AN_QUEUE_MAX 256
#define AN_MAX_MARKETS 16
#define AN_MAX_WINDOW 5000

enum an_kind { AN_INDICATOR = 0, AN_VOLATILITY, AN_BETA, AN_DRAWDOWN, AN_CORRELATION };

struct an_job {
    struct worker_job wj; /* first: the worker hands back &wj */
    int kind;             /* enum an_kind */
    int market;
    int interval;
    int limit;
    int window;
    int64_t end;
    int ind;
    struct ind_params ip;
    int benchmark;
    int n_markets;
    int markets[AN_MAX_MARKETS];
};

/* What a job runs with, on the analytics worker thread: the app (read-only config) and the
 * worker's own connection. */
struct an_worker {
    struct app *app;
    struct db *db;
};

/* Bars of one market, oldest first. Prices as doubles (quote units), close also in minor
 * units for rendering exact decimals. */
struct bars {
    size_t n;
    int64_t *time;
    int64_t *close_minor;
    double *high, *low, *close, *volume;
};

static void bars_free(struct bars *b)
{
    free(b->time);
    free(b->close_minor);
    free(b->high);
    free(b->low);
    free(b->close);
    free(b->volume);
    memset(b, 0, sizeof(*b));
}

/* The last `count` candles of (market, interval) with open_time <= end, oldest first: the same
 * rows, in the same order, as GET /candles?interval=&end=&limit=. */
static enum cg_err bars_load(struct db *db, const struct config *cfg, int m, int interval,
                             int64_t end, size_t count, struct bars *b)
{
    static const char *sql =
        "SELECT open_time, high, low, close, volume FROM candles WHERE market = ? AND "
        "interval = ? AND open_time <= ? ORDER BY open_time DESC LIMIT ?";
    double ps = pow(10.0, cfg->assets[cfg->markets[m].quote].scale);
    double qs = pow(10.0, cfg->assets[cfg->markets[m].base].scale);
    struct db_stmt *st;
    size_t i = 0;
    enum db_step rc;

    memset(b, 0, sizeof(*b));
    b->time = malloc((count ? count : 1) * sizeof(*b->time));
    b->close_minor = malloc((count ? count : 1) * sizeof(*b->close_minor));
    b->high = malloc((count ? count : 1) * sizeof(double));
    b->low = malloc((count ? count : 1) * sizeof(double));
    b->close = malloc((count ? count : 1) * sizeof(double));
    b->volume = malloc((count ? count : 1) * sizeof(double));
    if (!b->time || !b->close_minor || !b->high || !b->low || !b->close || !b->volume) {
        bars_free(b);
        return CG_ENOMEM;
    }
    st = db_prepare(db, sql);
    if (!st) {
        bars_free(b);
        return CG_ESTORE;
    }
    db_bind_text(st, 1, cfg->markets[m].name);
    db_bind_text(st, 2, md_interval_name[interval]);
    db_bind_int64(st, 3, end);
    db_bind_int64(st, 4, (int64_t)count);
    /* newest first: fill from the back */
    while (i < count && (rc = db_step(st)) == DB_ROW) {
        size_t k = count - 1 - i;
        b->time[k] = db_col_int64(st, 0);
        b->high[k] = (double)db_col_int64(st, 1) / ps;
        b->low[k] = (double)db_col_int64(st, 2) / ps;
        b->close_minor[k] = db_col_int64(st, 3);
        b->close[k] = (double)b->close_minor[k] / ps;
        b->volume[k] = (double)db_col_int64(st, 4) / qs;
        i++;
    }
    db_reset(st);
    if (i < count) {
        size_t off = count - i;
        memmove(b->time, b->time + off, i * sizeof(*b->time));
        memmove(b->close_minor, b->close_minor + off, i * sizeof(*b->close_minor));
        memmove(b->high, b->high + off, i * sizeof(double));
        memmove(b->low, b->low + off, i * sizeof(double));
        memmove(b->close, b->close + off, i * sizeof(double));
        memmove(b->volume, b->volume + off, i * sizeof(double));
    }
    b->n = i;
    return CG_OK;
}

static json_t *num_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static char *dump(json_t *doc)
{
    char *s = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(doc);
    return s;
}

/* ---- jobs (analytics worker thread) ---- */

static int run_indicator(struct an_worker *w, const struct an_job *j, char **body)
{
    const struct config *cfg = w->app->cfg;
    size_t need = (size_t)j->limit + ind_history_needed((enum ind_kind)j->ind, &j->ip);
    struct bars b;
    double *out[3] = {NULL, NULL, NULL};
    const char *const *cols;
    int nc = ind_columns((enum ind_kind)j->ind, &cols);
    enum cg_err e = bars_load(w->db, cfg, j->market, j->interval, j->end, need, &b);
    json_t *params;
    json_t *columns;
    json_t *points;
    size_t from;

    if (e != CG_OK) {
        *body = json_error_body(e, NULL);
        return cg_err_http_status(e);
    }
    for (int c = 0; c < nc; c++) {
        out[c] = malloc((b.n ? b.n : 1) * sizeof(double));
        if (!out[c])
            e = CG_ENOMEM;
    }
    if (e == CG_OK) {
        struct ind_series s = {b.high, b.low, b.close, b.volume, b.n};
        e = ind_compute((enum ind_kind)j->ind, &j->ip, &s, out);
    }
    if (e != CG_OK) {
        for (int c = 0; c < nc; c++)
            free(out[c]);
        bars_free(&b);
        *body = json_error_body(e, NULL);
        return cg_err_http_status(e);
    }
    params = json_object();
    switch (j->ind) {
    case IND_MACD:
        json_object_set_new(params, "fast", json_integer(j->ip.fast));
        json_object_set_new(params, "slow", json_integer(j->ip.slow));
        json_object_set_new(params, "signal", json_integer(j->ip.signal));
        break;
    case IND_BBANDS:
        json_object_set_new(params, "period", json_integer(j->ip.period));
        json_object_set_new(params, "stddev", json_real(j->ip.stddev));
        break;
    case IND_STOCH:
        json_object_set_new(params, "k", json_integer(j->ip.k));
        json_object_set_new(params, "d", json_integer(j->ip.d));
        json_object_set_new(params, "smooth", json_integer(j->ip.smooth));
        break;
    case IND_VWAP:
        json_object_set_new(params, "period",
                            j->ip.period ? json_integer(j->ip.period) : json_null());
        break;
    case IND_OBV:
        break;
    default:
        json_object_set_new(params, "period", json_integer(j->ip.period));
    }
    columns = json_array();
    for (int c = 0; c < nc; c++)
        json_array_append_new(columns, json_string(cols[c]));
    points = json_array();
    from = b.n > (size_t)j->limit ? b.n - (size_t)j->limit : 0;
    for (size_t i = from; i < b.n; i++) {
        json_t *p = json_object();
        json_object_set_new(p, "time", json_integer(b.time[i]));
        for (int c = 0; c < nc; c++)
            json_object_set_new(p, cols[c], num_or_null(out[c][i]));
        json_array_append_new(points, p);
    }
    *body = dump(json_pack("{s:s,s:s,s:s,s:o,s:o,s:I,s:o}", "market", cfg->markets[j->market].name,
                           "interval", md_interval_name[j->interval], "name",
                           ind_name((enum ind_kind)j->ind), "params", params, "columns", columns,
                           "history_bars", (json_int_t)from, "points", points));
    for (int c = 0; c < nc; c++)
        free(out[c]);
    bars_free(&b);
    return 200;
}

static int run_volatility(struct an_worker *w, const struct an_job *j, char **body)
{
    const struct config *cfg = w->app->cfg;
    double ppy = stats_periods_per_year(md_interval_ms[j->interval]);
    struct bars b;
    double *vol;
    json_t *points;
    size_t from;
    enum cg_err e = bars_load(w->db, cfg, j->market, j->interval, j->end,
                              (size_t)j->limit + (size_t)j->window, &b);
    if (e != CG_OK) {
        *body = json_error_body(e, NULL);
        return cg_err_http_status(e);
    }
    vol = malloc((b.n ? b.n : 1) * sizeof(*vol));
    if (!vol || stats_rolling_volatility(b.close, b.n, j->window, ppy, vol) != CG_OK) {
        free(vol);
        bars_free(&b);
        *body = json_error_body(CG_ENOMEM, NULL);
        return 500;
    }
    points = json_array();
    from = b.n > (size_t)j->limit ? b.n - (size_t)j->limit : 0;
    for (size_t i = from; i < b.n; i++)
        json_array_append_new(points, json_pack("{s:I,s:o}", "time", (json_int_t)b.time[i], "value",
                                                num_or_null(vol[i])));
    *body = dump(json_pack("{s:s,s:s,s:i,s:f,s:o,s:o}", "market", cfg->markets[j->market].name,
                           "interval", md_interval_name[j->interval], "window", j->window,
                           "periods_per_year", ppy, "volatility",
                           num_or_null(b.n ? vol[b.n - 1] : NAN), "points", points));
    free(vol);
    bars_free(&b);
    return 200;
}

/*
 * Log returns of k markets over their last `window` returns on common bar times (bars that all
 * markets have). ret[j] gets `obs` returns each (caller frees ret[0]); times of the first and
 * last close used go to *start and *stop.
 */
static enum cg_err aligned_returns(struct an_worker *w, const int *markets, int k, int interval,
                                   int64_t end, int window, double **ret, size_t *obs,
                                   int64_t *start, int64_t *stop)
{
    struct bars b[AN_MAX_MARKETS];
    const int64_t *times[AN_MAX_MARKETS] = {NULL};
    size_t n[AN_MAX_MARKETS] = {0};
    size_t cap = (size_t)window + 1;
    size_t *idx = NULL;
    size_t common;
    double *buf = NULL;
    enum cg_err e = CG_OK;
    int loaded = 0;

    *obs = 0;
    *start = *stop = 0;
    for (; loaded < k; loaded++) {
        /* a little slack for bars one market lacks */
        e = bars_load(w->db, w->app->cfg, markets[loaded], interval, end, cap + cap / 8 + 8,
                      &b[loaded]);
        if (e != CG_OK)
            goto out;
        times[loaded] = b[loaded].time;
        n[loaded] = b[loaded].n;
    }
    idx = malloc((size_t)k * cap * sizeof(*idx));
    buf = malloc((size_t)k * cap * sizeof(*buf));
    if (!idx || !buf) {
        e = CG_ENOMEM;
        goto out;
    }
    common = stats_align(times, n, (size_t)k, cap, idx);
    if (common >= 2) {
        for (int j = 0; j < k; j++) {
            ret[j] = buf + (size_t)j * (common - 1);
            for (size_t t = 1; t < common; t++) {
                double c1 = b[j].close[idx[(size_t)j * cap + t]];
                double c0 = b[j].close[idx[(size_t)j * cap + t - 1]];
                ret[j][t - 1] = log(c1 / c0);
            }
        }
        *obs = common - 1;
        *start = b[0].time[idx[0]];
        *stop = b[0].time[idx[common - 1]];
        buf = NULL; /* handed to the caller through ret[0] */
    } else {
        ret[0] = NULL;
    }
out:
    for (int j = 0; j < loaded; j++)
        bars_free(&b[j]);
    free(idx);
    free(buf);
    return e;
}

static int run_correlation(struct an_worker *w, const struct an_job *j, char **body)
{
    const struct config *cfg = w->app->cfg;
    double *ret[AN_MAX_MARKETS] = {NULL};
    double m[AN_MAX_MARKETS * AN_MAX_MARKETS];
    size_t obs;
    int64_t start;
    int64_t stop;
    json_t *names;
    json_t *matrix;
    int k = j->n_markets;
    enum cg_err e =
        aligned_returns(w, j->markets, k, j->interval, j->end, j->window, ret, &obs, &start, &stop);
    if (e == CG_OK && obs >= 2)
        e = stats_correlation_matrix((const double *const *)ret, (size_t)k, obs, m);
    if (e != CG_OK) {
        free(ret[0]);
        *body = json_error_body(e, NULL);
        return cg_err_http_status(e);
    }
    names = json_array();
    matrix = json_array();
    for (int a = 0; a < k; a++) {
        json_t *row = json_array();
        json_array_append_new(names, json_string(cfg->markets[j->markets[a]].name));
        for (int c = 0; c < k; c++)
            json_array_append_new(row, obs >= 2 ? num_or_null(m[a * k + c]) : json_null());
        json_array_append_new(matrix, row);
    }
    *body =
        dump(json_pack("{s:s,s:i,s:o,s:I,s:o,s:o,s:o}", "interval", md_interval_name[j->interval],
                       "window", j->window, "markets", names, "observations", (json_int_t)obs,
                       "start", obs ? json_integer(start) : json_null(), "end",
                       obs ? json_integer(stop) : json_null(), "matrix", matrix));
    free(ret[0]);
    return 200;
}

static int run_beta(struct an_worker *w, const struct an_job *j, char **body)
{
    const struct config *cfg = w->app->cfg;
    int mk[2] = {j->market, j->benchmark};
    double *ret[2] = {NULL, NULL};
    size_t obs;
    int64_t start;
    int64_t stop;
    double beta = NAN;
    double corr = NAN;
    enum cg_err e =
        aligned_returns(w, mk, 2, j->interval, j->end, j->window, ret, &obs, &start, &stop);
    if (e != CG_OK) {
        *body = json_error_body(e, NULL);
        return cg_err_http_status(e);
    }
    if (obs >= 2) {
        beta = stats_beta(ret[0], ret[1], obs);
        corr = stats_correlation(ret[0], ret[1], obs);
    }
    *body = dump(json_pack(
        "{s:s,s:s,s:s,s:i,s:I,s:o,s:o,s:o,s:o}", "market", cfg->markets[j->market].name,
        "benchmark", cfg->markets[j->benchmark].name, "interval", md_interval_name[j->interval],
        "window", j->window, "observations", (json_int_t)obs, "start",
        obs ? json_integer(start) : json_null(), "end", obs ? json_integer(stop) : json_null(),
        "beta", num_or_null(beta), "correlation", num_or_null(corr)));
    free(ret[0]);
    return 200;
}

static int run_drawdown(struct an_worker *w, const struct an_job *j, char **body)
{
    const struct config *cfg = w->app->cfg;
    int qs = cfg->assets[cfg->markets[j->market].quote].scale;
    struct bars b;
    struct stats_drawdown dd;
    double *out;
    json_t *points;
    json_t *peak = json_null();
    json_t *trough = json_null();
    json_t *recovery = json_null();
    enum cg_err e = bars_load(w->db, cfg, j->market, j->interval, j->end, (size_t)j->limit, &b);
    if (e != CG_OK) {
        *body = json_error_body(e, NULL);
        return cg_err_http_status(e);
    }
    out = malloc((b.n ? b.n : 1) * sizeof(*out));
    if (!out) {
        bars_free(&b);
        *body = json_error_body(CG_ENOMEM, NULL);
        return 500;
    }
    points = json_array();
    if (b.n > 0) {
        stats_drawdown(b.close, b.n, out, &dd);
        for (size_t i = 0; i < b.n; i++)
            json_array_append_new(points,
                                  json_pack("{s:I,s:o,s:f}", "time", (json_int_t)b.time[i], "close",
                                            json_amount(b.close_minor[i], qs), "value", out[i]));
        peak = json_pack("{s:I,s:o}", "time", (json_int_t)b.time[dd.peak], "close",
                         json_amount(b.close_minor[dd.peak], qs));
        trough = json_pack("{s:I,s:o}", "time", (json_int_t)b.time[dd.trough], "close",
                           json_amount(b.close_minor[dd.trough], qs));
        if (dd.recovery < b.n)
            recovery = json_integer(b.time[dd.recovery]);
    }
    *body = dump(json_pack("{s:s,s:s,s:o,s:o,s:o,s:o,s:o}", "market", cfg->markets[j->market].name,
                           "interval", md_interval_name[j->interval], "max_drawdown",
                           b.n ? json_real(dd.max_drawdown) : json_null(), "peak", peak, "trough",
                           trough, "recovery_time", recovery, "points", points));
    free(out);
    bars_free(&b);
    return 200;
}

/* Analytics worker thread (worker_run_fn); ctx is the app. */
static void run_job(struct worker_job *wj, struct db *db, void *ctx)
{
    struct an_worker wk = {ctx, db};
    struct an_worker *w = &wk;
    const struct an_job *j = (const struct an_job *)wj;
    char *body = NULL;
    int status;
    switch (j->kind) {
    case AN_INDICATOR:
        status = run_indicator(w, j, &body);
        break;
    case AN_VOLATILITY:
        status = run_volatility(w, j, &body);
        break;
    case AN_BETA:
        status = run_beta(w, j, &body);
        break;
    case AN_DRAWDOWN:
        status = run_drawdown(w, j, &body);
        break;
    default:
        status = run_correlation(w, j, &body);
        break;
    }
    wj->status = status;
    wj->body = body;
}

enum cg_err api_analytics_start(struct app *app, const char *root)
{
    char path[1200];
    enum cg_err e;
    app->coins = calloc(1, sizeof(*app->coins));
    if (!app->coins)
        return CG_ENOMEM;
    snprintf(path, sizeof(path), "%s/data/coins/coingecko_markets_2025-03-04.csv", root);
    e = coins_load(path, app->coins);
    if (e != CG_OK)
        return e;
    return worker_new(app, "analytics", AN_QUEUE_MAX, app, &app->analytics);
}

void api_analytics_stop(struct app *app)
{
    worker_free(app->analytics);
    app->analytics = NULL;
    free(app->coins);
    app->coins = NULL;
}

/* ---- handlers (network thread) ---- */

/* Queue a copy of *j (the handler's, on its stack) on the analytics worker. */
static void submit(struct req *r, struct resp *out, const struct an_job *j)
{
    struct an_job *copy = malloc(sizeof(*copy));
    if (!copy) {
        resp_error(out, CG_ENOMEM, NULL);
        return;
    }
    *copy = *j;
    copy->wj.run = run_job;
    copy->wj.release = NULL;
    worker_submit(r->app->analytics, r, out, &copy->wj);
}

/* Integer query parameter in [lo, hi]; dflt when absent. false with *out set. */
static bool int_param(const struct req *r, const char *key, long lo, long hi, int dflt, int *v,
                      struct resp *out)
{
    const char *s = req_query(r, key);
    char *end;
    long x;
    char msg[128];
    if (!s) {
        *v = dflt;
        return true;
    }
    x = strtol(s, &end, 10);
    if (*s == '\0' || *end || x < lo || x > hi) {
        snprintf(msg, sizeof(msg), "'%s' must be an integer from %ld to %ld", key, lo, hi);
        resp_error(out, CG_EINVAL, msg);
        return false;
    }
    *v = (int)x;
    return true;
}

/* market from the path, interval (default dflt_iv), end: the common part of every request. */
static bool common_params(struct req *r, struct resp *out, const char *dflt_iv, struct an_job *j)
{
    const char *iv = req_query(r, "interval");
    bool has_end;
    j->market = -1;
    if (r->param) {
        j->market = config_market_index(r->app->cfg, r->param);
        if (j->market < 0) {
            resp_error(out, CG_EMARKET, NULL);
            return false;
        }
    }
    j->interval = md_interval_parse(iv ? iv : dflt_iv);
    if (j->interval < 0) {
        resp_error(out, CG_EINVAL, "interval must be one of 1m, 5m, 15m, 1h, 4h, 1d");
        return false;
    }
    if (!req_int_param(r, "end", &j->end, &has_end, out))
        return false;
    if (!has_end)
        j->end = INT64_MAX;
    return true;
}

void h_indicators(struct req *r, struct resp *out)
{
    struct an_job j = {0};
    const char *name = req_query(r, "name");
    const char *sd = req_query(r, "stddev");
    const char *ks = req_query(r, "k");
    int period;

    if (!common_params(r, out, "1h", &j))
        return;
    j.kind = AN_INDICATOR;
    j.ind = ind_parse(name);
    if (j.ind < 0) {
        resp_error(out, CG_EINVAL,
                   "name must be one of sma, ema, wma, rsi, macd, bbands, atr, stoch, vwap, obv");
        return;
    }
    ind_defaults((enum ind_kind)j.ind, &j.ip);
    if (!req_limit(r, 500, 1500, &j.limit, out) ||
        !int_param(r, "period", j.ind == IND_VWAP ? 0 : 1, IND_MAX_PERIOD, j.ip.period, &period,
                   out) ||
        !int_param(r, "fast", 1, IND_MAX_PERIOD, j.ip.fast, &j.ip.fast, out) ||
        !int_param(r, "slow", 1, IND_MAX_PERIOD, j.ip.slow, &j.ip.slow, out) ||
        !int_param(r, "signal", 1, IND_MAX_PERIOD, j.ip.signal, &j.ip.signal, out) ||
        !int_param(r, "k", 1, IND_MAX_PERIOD, j.ip.k, &j.ip.k, out) ||
        !int_param(r, "d", 1, IND_MAX_PERIOD, j.ip.d, &j.ip.d, out) ||
        !int_param(r, "smooth", 1, IND_MAX_PERIOD, j.ip.smooth, &j.ip.smooth, out))
        return;
    j.ip.period = period;
    /* stochastic: `period` is the %K look-back unless k is given */
    if (j.ind == IND_STOCH && !ks && req_query(r, "period"))
        j.ip.k = period;
    if (sd) {
        char *end;
        double v = strtod(sd, &end);
        if (*sd == '\0' || *end || !(v > 0.0 && v <= 10.0)) {
            resp_error(out, CG_EINVAL, "'stddev' must be a number greater than 0, at most 10");
            return;
        }
        j.ip.stddev = v;
    }
    if (j.ind == IND_MACD && j.ip.fast >= j.ip.slow) {
        resp_error(out, CG_EINVAL, "'fast' must be less than 'slow'");
        return;
    }
    if (ind_validate((enum ind_kind)j.ind, &j.ip) != CG_OK) {
        resp_error(out, CG_EINVAL, "invalid indicator parameters");
        return;
    }
    submit(r, out, &j);
}

void h_stats_volatility(struct req *r, struct resp *out)
{
    struct an_job j = {0};
    if (!common_params(r, out, "1d", &j) ||
        !int_param(r, "window", 2, AN_MAX_WINDOW, 30, &j.window, out) ||
        !req_limit(r, 1, 1500, &j.limit, out))
        return;
    j.kind = AN_VOLATILITY;
    submit(r, out, &j);
}

static bool benchmark_param(struct req *r, struct resp *out, struct an_job *j)
{
    const char *bm = req_query(r, "benchmark");
    j->benchmark = config_market_index(r->app->cfg, bm ? bm : "BTC-USDT");
    if (j->benchmark < 0) {
        resp_error(out, CG_EMARKET, "unknown benchmark market");
        return false;
    }
    return true;
}

void h_stats_beta(struct req *r, struct resp *out)
{
    struct an_job j = {0};
    if (!common_params(r, out, "1d", &j) ||
        !int_param(r, "window", 2, AN_MAX_WINDOW, 90, &j.window, out) ||
        !benchmark_param(r, out, &j))
        return;
    j.kind = AN_BETA;
    submit(r, out, &j);
}

void h_stats_drawdown(struct req *r, struct resp *out)
{
    struct an_job j = {0};
    if (!common_params(r, out, "1d", &j) || !req_limit(r, 365, AN_MAX_WINDOW, &j.limit, out))
        return;
    j.kind = AN_DRAWDOWN;
    submit(r, out, &j);
}

void h_correlation(struct req *r, struct resp *out)
{
    struct an_job j = {0};
    const char *list = req_query(r, "markets");
    const struct config *cfg = r->app->cfg;
    r->param = NULL;
    if (!common_params(r, out, "1d", &j) ||
        !int_param(r, "window", 2, AN_MAX_WINDOW, 90, &j.window, out))
        return;
    j.kind = AN_CORRELATION;
    if (!list) {
        for (size_t i = 0; i < cfg->n_markets && i < AN_MAX_MARKETS; i++)
            j.markets[j.n_markets++] = (int)i;
    } else {
        char buf[256];
        char *save = NULL;
        snprintf(buf, sizeof(buf), "%s", list);
        for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            int m = config_market_index(cfg, t);
            char msg[128];
            if (m < 0) {
                snprintf(msg, sizeof(msg), "unknown market '%.64s' in 'markets'", t);
                resp_error(out, CG_EMARKET, msg);
                return;
            }
            for (int i = 0; i < j.n_markets; i++) {
                if (j.markets[i] == m) {
                    snprintf(msg, sizeof(msg), "market '%.64s' is listed twice", t);
                    resp_error(out, CG_EINVAL, msg);
                    return;
                }
            }
            if (j.n_markets == AN_MAX_MARKETS) {
                resp_error(out, CG_EINVAL, "at most 16 markets");
                return;
            }
            j.markets[j.n_markets++] = m;
        }
    }
    if (j.n_markets < 2) {
        resp_error(out, CG_EINVAL, "'markets' needs at least two markets, comma-separated");
        return;
    }
    submit(r, out, &j);
}
