/*
 * /api/v1/portfolio, /portfolio/history, /portfolio/performance and /api/v1/risk, answered by the
 * portfolio worker (see pf_worker.h). The accounting rules are in src/analytics/portfolio.h, the
 * return formulas in returns.h, the risk formulas in risk.h.
 *
 * Prices. The live price of an asset is that of its <ASSET>-<cash> market: the real price being
 * replayed ("replay_reference"), else Coinage's last trade ("last_trade"), else the mid of the
 * best bid and ask ("mid"), taken on the network thread when the request arrives. A past price
 * at time t is the close of the latest candle of the grid's interval (1h or 1d) that opened
 * before t, from the candles table (Coinage's own trades and the imported real history); grid
 * times at or after the request time, and times before any candle, use the live price.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analytics/portfolio.h"
#include "analytics/returns.h"
#include "analytics/risk.h"
#include "api/pf_worker.h"
#include "core/clock.h"
#include "core/log.h"

#define PF_CACHE_USERS 64
#define PF_QUEUE_MAX 1024
#define PF_MAX_POINTS 10000
#define DAY_MS 86400000LL

/* ---- per-user activity cache (worker thread only) ---- */

struct pf_user {
    uint64_t user_id;
    uint64_t last_entry;
    struct pf_event *ev;
    size_t n, cap;
    size_t unsupported; /* fills in markets not quoted in the cash asset */
    size_t n_fills;
    struct pf_state state; /* folded over ev[0..n) */
    int64_t used;
};

/* The portfolio worker's state (worker thread only, but for the read-only assets/cash_market
 * the network thread also reads to snapshot prices). */
struct pf_worker {
    struct app *app;
    struct worker *worker;
    struct db *db; /* the worker thread's connection, as handed to run */
    struct pf_assets assets;
    int cash_market[CFG_MAX_ASSETS]; /* market index of <asset>-<cash>, or -1 */
    struct pf_user users[PF_CACHE_USERS];
    int64_t tick;
};

static struct pf_worker *W;

static int market_of_asset(const struct pf_worker *w, uint32_t asset)
{
    return asset < CFG_MAX_ASSETS ? w->cash_market[asset] : -1;
}

static int64_t price_of_candle_before(struct pf_worker *w, int market, const char *interval,
                                      int64_t t, bool *found)
{
    static const char *sql = "SELECT close FROM candles WHERE market = ? AND interval = ? AND "
                             "open_time < ? ORDER BY open_time DESC LIMIT 1";
    struct db_stmt *st = db_prepare(w->db, sql);
    int64_t p = 0;
    *found = false;
    if (!st)
        return 0;
    db_bind_text(st, 1, w->app->cfg->markets[market].name);
    db_bind_text(st, 2, interval);
    db_bind_int64(st, 3, t);
    if (db_step(st) == DB_ROW) {
        p = db_col_int64(st, 0);
        *found = true;
    }
    db_reset(st);
    return p;
}

/* One side of a fill row (columns of load_user's query); fee_col: 12 taker, 13 maker. */
static struct pf_event trade_event(struct db_stmt *st, int64_t ts, uint64_t entry, bool buy,
                                   uint32_t base, int fee_col)
{
    struct pf_event e = {0};
    e.ts = ts;
    e.entry_id = entry;
    e.kind = buy ? PF_BUY : PF_SELL;
    e.asset = base;
    e.quantity = db_col_int64(st, 7);
    e.notional = db_col_int64(st, 8);
    e.fee = db_col_int64(st, fee_col);
    e.price = db_col_int64(st, 6);
    return e;
}

/* Read journal entries newer than u->last_entry into u->ev and fold them into u->state. */
static enum cg_err load_user(struct pf_worker *w, struct pf_user *u, const struct pf_job *j)
{
    static const char *sql =
        "SELECT p.entry_id, e.kind, e.ts, p.asset, p.amount, f.market, f.price, f.quantity, "
        "f.quote_quantity, f.taker_side, f.taker_user_id, f.maker_user_id, f.taker_fee, "
        "f.maker_fee FROM postings p JOIN journal_entries e ON e.id = p.entry_id "
        "LEFT JOIN fills f ON e.kind = 'trade' AND f.id = e.ref_id "
        "WHERE p.user_id = ? AND p.entry_id > ? ORDER BY p.entry_id";
    const struct config *cfg = w->app->cfg;
    struct db_stmt *st = db_prepare(w->db, sql);
    uint64_t last_trade_entry = 0;
    enum db_step rc;

    if (!st)
        return CG_ESTORE;
    db_bind_int64(st, 1, (int64_t)u->user_id);
    db_bind_int64(st, 2, (int64_t)u->last_entry);
    while ((rc = db_step(st)) == DB_ROW) {
        struct pf_event ev[2];
        int nev = 0;
        uint64_t entry = (uint64_t)db_col_int64(st, 0);
        const char *kind = db_col_text(st, 1);
        int64_t ts = db_col_int64(st, 2);
        u->last_entry = entry;
        if (!strcmp(kind, "deposit") || !strcmp(kind, "withdrawal")) {
            int a = config_asset_index(cfg, db_col_text(st, 3));
            int64_t amt = db_col_int64(st, 4);
            if (a < 0 || amt == 0)
                continue;
            ev[0] = (struct pf_event){ts,
                                      entry,
                                      amt > 0 ? PF_DEPOSIT : PF_WITHDRAWAL,
                                      (uint32_t)a,
                                      amt > 0 ? amt : -amt,
                                      0,
                                      0,
                                      0};
            if ((uint32_t)a != w->assets.cash) {
                int m = market_of_asset(w, (uint32_t)a);
                bool found = false;
                if (m >= 0)
                    ev[0].price = price_of_candle_before(w, m, "1m", ts + 1, &found);
                if (!found && j->has_live[a])
                    ev[0].price = j->live[a];
            }
            nev = 1;
        } else if (!strcmp(kind, "trade") && !db_col_is_null(st, 5)) {
            int m;
            bool taker_buy;
            if (entry == last_trade_entry)
                continue; /* the entry's second posting for this user */
            last_trade_entry = entry;
            m = config_market_index(cfg, db_col_text(st, 5));
            u->n_fills++;
            if (m < 0 || cfg->markets[m].quote != w->assets.cash) {
                u->unsupported++;
                continue;
            }
            taker_buy = !strcmp(db_col_text(st, 9), "buy");
            if ((uint64_t)db_col_int64(st, 10) == u->user_id)
                ev[nev++] = trade_event(st, ts, entry, taker_buy, cfg->markets[m].base, 12);
            if ((uint64_t)db_col_int64(st, 11) == u->user_id)
                ev[nev++] = trade_event(st, ts, entry, !taker_buy, cfg->markets[m].base, 13);
            /* a self-trade (both sides) is applied buy first so the sell finds the units */
            if (nev == 2 && ev[0].kind == PF_SELL) {
                struct pf_event t = ev[0];
                ev[0] = ev[1];
                ev[1] = t;
            }
        }
        for (int i = 0; i < nev; i++) {
            enum cg_err e;
            if (u->n == u->cap) {
                size_t cap = u->cap ? u->cap * 2 : 256;
                struct pf_event *nv = realloc(u->ev, cap * sizeof(*nv));
                if (!nv) {
                    db_reset(st);
                    return CG_ENOMEM;
                }
                u->ev = nv;
                u->cap = cap;
            }
            e = pf_apply(&u->state, &w->assets, &ev[i], NULL);
            if (e != CG_OK) {
                log_error("portfolio: user %llu entry %llu does not apply (%s)",
                          (unsigned long long)u->user_id, (unsigned long long)entry,
                          cg_err_code(e));
                db_reset(st);
                return CG_EINTERNAL;
            }
            u->ev[u->n++] = ev[i];
        }
    }
    db_reset(st);
    return rc == DB_DONE ? CG_OK : CG_ESTORE;
}

static struct pf_user *user_get(struct pf_worker *w, const struct pf_job *j, enum cg_err *err)
{
    struct pf_user *u = NULL;
    struct pf_user *lru = &w->users[0];
    for (size_t i = 0; i < PF_CACHE_USERS; i++) {
        if (w->users[i].user_id == j->user_id) {
            u = &w->users[i];
            break;
        }
        if (w->users[i].used < lru->used)
            lru = &w->users[i];
    }
    if (!u) {
        u = lru;
        free(u->ev);
        memset(u, 0, sizeof(*u));
        u->user_id = j->user_id;
        pf_state_init(&u->state);
    }
    u->used = ++w->tick;
    *err = load_user(w, u, j);
    if (*err != CG_OK) {
        /* start over on the next request rather than keep a half-read history */
        free(u->ev);
        memset(u, 0, sizeof(*u));
        return NULL;
    }
    return u;
}

/* ---- rendering helpers ---- */

static json_t *money(const struct pf_worker *w, int64_t v)
{
    return json_amount(v, w->assets.scale[w->assets.cash]);
}

static json_t *num_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static const char *sym(const struct pf_worker *w, uint32_t a)
{
    return w->app->cfg->assets[a].symbol;
}

/* ---- overview ---- */

static json_t *overview(struct pf_worker *w, const struct pf_job *j, const struct pf_user *u)
{
    const struct pf_state *s = &u->state;
    const struct pf_assets *A = &w->assets;
    json_t *holdings = json_array();
    json_t *alloc = json_array();
    int64_t mv[PF_MAX_ASSETS] = {0};
    int64_t equity = s->pos[A->cash].quantity;
    int64_t total_mv = 0, cost = 0, unreal = 0, real = 0, fees = 0;
    json_t *doc;

    for (uint32_t a = 0; a < A->n; a++) {
        if (a == A->cash || !j->has_live[a])
            continue;
        mv[a] = pf_value(s->pos[a].quantity, j->live[a], A->scale[a]);
        equity += mv[a];
    }
    for (uint32_t a = 0; a < A->n; a++) {
        const struct pf_position *p = &s->pos[a];
        json_t *h;
        if (a == A->cash || (p->quantity == 0 && p->n_trades == 0 && p->realized == 0))
            continue;
        total_mv += mv[a];
        cost += p->cost;
        unreal += j->has_live[a] ? mv[a] - p->cost : 0;
        real += p->realized;
        fees += p->fees;
        h = json_object();
        json_object_set_new(h, "asset", json_string(sym(w, a)));
        json_object_set_new(h, "quantity", json_amount(p->quantity, A->scale[a]));
        json_object_set_new(h, "average_cost", money(w, pf_average_cost(p, A->scale[a])));
        json_object_set_new(h, "cost_basis", money(w, p->cost));
        json_object_set_new(h, "price", j->has_live[a] ? money(w, j->live[a]) : json_null());
        json_object_set_new(h, "price_source",
                            json_string(j->has_live[a] ? j->live_source[a] : "none"));
        json_object_set_new(h, "market_value", money(w, mv[a]));
        json_object_set_new(h, "unrealized_pnl",
                            j->has_live[a] ? money(w, mv[a] - p->cost) : json_null());
        json_object_set_new(h, "realized_pnl", money(w, p->realized));
        json_object_set_new(h, "fees_paid", money(w, p->fees));
        json_object_set_new(h, "bought", json_amount(p->bought, A->scale[a]));
        json_object_set_new(h, "sold", json_amount(p->sold, A->scale[a]));
        json_object_set_new(h, "trades", json_integer(p->n_trades));
        json_object_set_new(h, "allocation",
                            json_real(equity > 0 ? (double)mv[a] / (double)equity : 0.0));
        json_array_append_new(holdings, h);
    }
    for (uint32_t a = 0; a < A->n; a++) {
        int64_t v = a == A->cash ? s->pos[a].quantity : mv[a];
        if (v == 0)
            continue;
        json_array_append_new(alloc,
                              json_pack("{s:s,s:o,s:f}", "asset", sym(w, a), "value", money(w, v),
                                        "share", equity > 0 ? (double)v / (double)equity : 0.0));
    }
    doc = json_object();
    json_object_set_new(doc, "valuation_asset", json_string(sym(w, A->cash)));
    json_object_set_new(doc, "equity", money(w, equity));
    json_object_set_new(doc, "cash", money(w, s->pos[A->cash].quantity));
    json_object_set_new(doc, "market_value", money(w, total_mv));
    json_object_set_new(doc, "cost_basis", money(w, cost));
    json_object_set_new(doc, "unrealized_pnl", money(w, unreal));
    json_object_set_new(doc, "realized_pnl", money(w, real));
    json_object_set_new(doc, "total_pnl", money(w, unreal + real));
    json_object_set_new(doc, "fees_paid", money(w, fees));
    json_object_set_new(doc, "deposits", money(w, s->deposits));
    json_object_set_new(doc, "withdrawals", money(w, s->withdrawals));
    json_object_set_new(doc, "net_deposits", money(w, s->net_flow));
    json_object_set_new(doc, "holdings", holdings);
    json_object_set_new(doc, "allocation", alloc);
    json_object_set_new(doc, "fills", json_integer((json_int_t)u->n_fills));
    json_object_set_new(doc, "unsupported_fills", json_integer((json_int_t)u->unsupported));
    json_object_set_new(doc, "as_of", json_time(j->now));
    json_object_set_new(doc, "ts", json_integer(j->now));
    return doc;
}

/* ---- past prices: candle closes ---- */

struct series {
    int64_t *t;
    int64_t *close;
    size_t n;
};

struct price_ctx {
    struct series s[PF_MAX_ASSETS];
    const struct pf_job *job;
};

static bool ctx_price(void *c, uint32_t asset, int64_t t, int64_t *price)
{
    struct price_ctx *px = c;
    const struct series *s = &px->s[asset];
    size_t lo = 0;
    size_t hi = s->n;
    if (t < px->job->now) {
        /* latest candle with open_time < t */
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (s->t[mid] < t)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo > 0) {
            *price = s->close[lo - 1];
            return true;
        }
    }
    if (!px->job->has_live[asset])
        return false;
    *price = px->job->live[asset];
    return true;
}

static enum cg_err load_series(struct pf_worker *w, struct series *s, int market,
                               const char *interval, int64_t start, int64_t end)
{
    static const char *sql = "SELECT open_time, close FROM candles WHERE market = ? AND "
                             "interval = ? AND open_time >= ? AND open_time < ? ORDER BY open_time";
    static const char *sql_first = "SELECT MAX(open_time) FROM candles WHERE market = ? AND "
                                   "interval = ? AND open_time < ?";
    const char *name = w->app->cfg->markets[market].name;
    struct db_stmt *st = db_prepare(w->db, sql_first);
    int64_t from = start;
    size_t cap = 0;
    enum db_step rc;
    if (!st)
        return CG_ESTORE;
    db_bind_text(st, 1, name);
    db_bind_text(st, 2, interval);
    db_bind_int64(st, 3, start);
    if (db_step(st) == DB_ROW && !db_col_is_null(st, 0))
        from = db_col_int64(st, 0);
    db_reset(st);
    st = db_prepare(w->db, sql);
    if (!st)
        return CG_ESTORE;
    db_bind_text(st, 1, name);
    db_bind_text(st, 2, interval);
    db_bind_int64(st, 3, from);
    db_bind_int64(st, 4, end);
    while ((rc = db_step(st)) == DB_ROW) {
        if (s->n == cap) {
            size_t nc = cap ? cap * 2 : 128;
            int64_t *nt = realloc(s->t, nc * sizeof(*nt));
            int64_t *ncl;
            if (!nt) {
                db_reset(st);
                return CG_ENOMEM;
            }
            s->t = nt;
            ncl = realloc(s->close, nc * sizeof(*ncl));
            if (!ncl) {
                db_reset(st);
                return CG_ENOMEM;
            }
            s->close = ncl;
            cap = nc;
        }
        s->t[s->n] = db_col_int64(st, 0);
        s->close[s->n] = db_col_int64(st, 1);
        s->n++;
    }
    db_reset(st);
    return rc == DB_DONE ? CG_OK : CG_ESTORE;
}

static void price_ctx_free(struct price_ctx *px)
{
    for (size_t i = 0; i < PF_MAX_ASSETS; i++) {
        free(px->s[i].t);
        free(px->s[i].close);
    }
}

/* Load the closes of every asset the user ever held (and BTC for the benchmark). */
static enum cg_err price_ctx_load(struct pf_worker *w, const struct pf_job *j,
                                  const struct pf_user *u, struct price_ctx *px, int extra_asset)
{
    bool need[PF_MAX_ASSETS] = {false};
    enum cg_err e = CG_OK;
    memset(px, 0, sizeof(*px));
    px->job = j;
    for (size_t i = 0; i < u->n; i++)
        need[u->ev[i].asset] = true;
    if (extra_asset >= 0)
        need[extra_asset] = true;
    for (uint32_t a = 0; a < w->assets.n && e == CG_OK; a++) {
        int m = market_of_asset(w, a);
        if (a == w->assets.cash || !need[a] || m < 0)
            continue;
        e = load_series(w, &px->s[a], m, j->res_name, j->start, j->end);
    }
    return e;
}

static int64_t first_activity(const struct pf_user *u, const struct pf_job *j)
{
    return u->n ? u->ev[0].ts : j->end - DAY_MS;
}

/* Grid: start, the resolution boundaries strictly inside (start, end), and end. */
static int64_t *grid(const struct pf_job *j, int64_t start, size_t *n, enum cg_err *err)
{
    int64_t first = (start / j->res_ms + 1) * j->res_ms;
    size_t cnt = 2;
    int64_t *t;
    size_t k = 0;
    *err = CG_OK;
    if (first < j->end)
        cnt += (size_t)((j->end - 1 - first) / j->res_ms + 1);
    if (cnt > PF_MAX_POINTS + 1) {
        *err = CG_ELIMIT;
        return NULL;
    }
    t = malloc(cnt * sizeof(*t));
    if (!t) {
        *err = CG_ENOMEM;
        return NULL;
    }
    t[k++] = start;
    for (int64_t x = first; x < j->end; x += j->res_ms)
        t[k++] = x;
    t[k++] = j->end;
    *n = k;
    return t;
}

struct walk_out {
    int64_t *times;
    struct pf_point *pts;
    size_t n;
    struct pf_flow *flows;
    size_t n_flows;
};

static void walk_out_free(struct walk_out *wo)
{
    free(wo->times);
    free(wo->pts);
    free(wo->flows);
}

static enum cg_err do_walk(struct pf_worker *w, const struct pf_job *j, const struct pf_user *u,
                           struct price_ctx *px, int64_t start, bool full_grid, struct walk_out *wo)
{
    struct pf_prices prices = {ctx_price, px};
    enum cg_err e = CG_OK;
    memset(wo, 0, sizeof(*wo));
    if (full_grid) {
        wo->times = grid(j, start, &wo->n, &e);
        if (!wo->times)
            return e;
    } else {
        wo->times = malloc(2 * sizeof(*wo->times));
        if (!wo->times)
            return CG_ENOMEM;
        wo->times[0] = start;
        wo->times[1] = j->end;
        wo->n = 2;
    }
    wo->pts = malloc(wo->n * sizeof(*wo->pts));
    wo->flows = malloc((u->n + 1) * sizeof(*wo->flows));
    if (!wo->pts || !wo->flows)
        return CG_ENOMEM;
    return pf_walk(u->ev, u->n, &w->assets, &prices, wo->times, wo->n, wo->pts, wo->flows, u->n,
                   &wo->n_flows, NULL);
}

static json_t *history(struct pf_worker *w, const struct pf_job *j, const struct pf_user *u,
                       enum cg_err *err)
{
    struct price_ctx px;
    struct walk_out wo;
    int64_t start = j->start_default ? first_activity(u, j) : j->start;
    json_t *pts;
    json_t *doc = NULL;
    if (start >= j->end)
        start = j->end - j->res_ms;
    *err = price_ctx_load(w, j, u, &px, -1);
    if (*err == CG_OK)
        *err = do_walk(w, j, u, &px, start, true, &wo);
    else
        memset(&wo, 0, sizeof(wo));
    if (*err == CG_OK) {
        pts = json_array();
        for (size_t i = 0; i < wo.n; i++)
            json_array_append_new(
                pts, json_pack("{s:I,s:o,s:o,s:f}", "time", (json_int_t)wo.pts[i].time, "equity",
                               money(w, wo.pts[i].equity), "net_flow", money(w, wo.pts[i].net_flow),
                               "twr_index", wo.pts[i].twr_index));
        doc = json_pack("{s:s,s:s,s:I,s:I,s:o}", "valuation_asset", sym(w, w->assets.cash),
                        "resolution", j->res_name, "start", (json_int_t)start, "end",
                        (json_int_t)j->end, "points", pts);
    }
    walk_out_free(&wo);
    price_ctx_free(&px);
    return doc;
}

static int btc_asset(const struct pf_worker *w)
{
    return config_asset_index(w->app->cfg, "BTC");
}

static json_t *performance(struct pf_worker *w, const struct pf_job *j, const struct pf_user *u,
                           enum cg_err *err)
{
    struct price_ctx px;
    struct walk_out wo;
    int64_t start = j->start_default ? first_activity(u, j) : j->start;
    int btc = btc_asset(w);
    json_t *doc = NULL;
    if (start >= j->end)
        start = j->end - 1;
    *err = price_ctx_load(w, j, u, &px, btc);
    if (*err == CG_OK)
        *err = do_walk(w, j, u, &px, start, false, &wo);
    else
        memset(&wo, 0, sizeof(wo));
    if (*err == CG_OK) {
        const struct pf_point *a = &wo.pts[0];
        const struct pf_point *b = &wo.pts[wo.n - 1];
        double twr = b->twr_index - 1.0;
        double mwr = NAN, xirr = NAN;
        int64_t deposits = 0, withdrawals = 0;
        json_t *bench = json_null();
        int64_t p0, p1;
        bool has_invest = a->equity > 0;
        for (size_t i = 0; i < wo.n_flows; i++) {
            if (wo.flows[i].amount > 0) {
                deposits += wo.flows[i].amount;
                has_invest = true;
            } else {
                withdrawals -= wo.flows[i].amount;
            }
        }
        if (!ret_mwr(start, a->equity, j->end, b->equity, wo.flows, wo.n_flows, &mwr, &xirr))
            mwr = xirr = NAN;
        if (btc >= 0 && ctx_price(&px, (uint32_t)btc, start, &p0) &&
            ctx_price(&px, (uint32_t)btc, j->end, &p1) && p0 > 0) {
            double r = (double)p1 / (double)p0 - 1.0;
            bench = json_pack("{s:s,s:s,s:o,s:o,s:f,s:o}", "name", "BTC buy-and-hold", "market",
                              w->app->cfg->markets[market_of_asset(w, (uint32_t)btc)].name,
                              "start_price", money(w, p0), "end_price", money(w, p1), "return", r,
                              "excess_twr", has_invest ? json_real(twr - r) : json_null());
        }
        doc = json_object();
        json_object_set_new(doc, "range", json_string(j->range));
        json_object_set_new(doc, "start", json_integer(start));
        json_object_set_new(doc, "end", json_integer(j->end));
        json_object_set_new(doc, "valuation_asset", json_string(sym(w, w->assets.cash)));
        json_object_set_new(doc, "start_equity", money(w, a->equity));
        json_object_set_new(doc, "end_equity", money(w, b->equity));
        json_object_set_new(doc, "deposits", money(w, deposits));
        json_object_set_new(doc, "withdrawals", money(w, withdrawals));
        json_object_set_new(doc, "net_flows", money(w, b->net_flow));
        json_object_set_new(doc, "absolute_pnl", money(w, b->equity - a->equity - b->net_flow));
        json_object_set_new(doc, "twr", has_invest ? json_real(twr) : json_null());
        json_object_set_new(doc, "twr_annualised",
                            has_invest ? num_or_null(ret_annualise(twr, j->end - start))
                                       : json_null());
        json_object_set_new(doc, "mwr", num_or_null(mwr));
        json_object_set_new(doc, "xirr", num_or_null(xirr));
        json_object_set_new(doc, "benchmark", bench);
    }
    walk_out_free(&wo);
    price_ctx_free(&px);
    return doc;
}

static json_t *var_entry(const char *method, const char *conf, double frac, double cfrac,
                         int64_t equity, const struct pf_worker *w, const char *horizon)
{
    json_t *v = json_object();
    json_object_set_new(v, "method", json_string(method));
    json_object_set_new(v, "confidence", json_string(conf));
    json_object_set_new(v, "horizon", json_string(horizon));
    json_object_set_new(v, "var", num_or_null(frac));
    json_object_set_new(v, "cvar", num_or_null(cfrac));
    json_object_set_new(v, "var_amount",
                        isfinite(frac) ? money(w, llround(frac * (double)equity)) : json_null());
    json_object_set_new(v, "cvar_amount",
                        isfinite(cfrac) ? money(w, llround(cfrac * (double)equity)) : json_null());
    return v;
}

static json_t *time_or_null(int64_t ms, bool ok)
{
    return ok ? json_integer(ms) : json_null();
}

/* Exposure by asset at live prices, from the folded state (the overview's figures), with a
 * concentration warning for each asset above the limit. Returns the live equity. */
static int64_t exposure(const struct pf_worker *w, const struct pf_job *j, const struct pf_user *u,
                        json_t *out, json_t *warnings)
{
    int64_t mv[PF_MAX_ASSETS] = {0};
    int64_t eq = u->state.pos[w->assets.cash].quantity;
    for (uint32_t a = 0; a < w->assets.n; a++) {
        if (a == w->assets.cash || !j->has_live[a])
            continue;
        mv[a] = pf_value(u->state.pos[a].quantity, j->live[a], w->assets.scale[a]);
        eq += mv[a];
    }
    for (uint32_t a = 0; a < w->assets.n; a++) {
        double share;
        char msg[160];
        if (a == w->assets.cash || mv[a] == 0)
            continue;
        share = eq > 0 ? (double)mv[a] / (double)eq : 0.0;
        json_array_append_new(out, json_pack("{s:s,s:o,s:f}", "asset", sym(w, a), "value",
                                             money(w, mv[a]), "share", share));
        if (share <= j->concentration_limit)
            continue;
        snprintf(msg, sizeof(msg), "%s is %.1f%% of equity, above the %.1f%% limit", sym(w, a),
                 share * 100.0, j->concentration_limit * 100.0);
        json_array_append_new(warnings, json_pack("{s:s,s:s,s:f,s:f,s:s}", "code", "concentration",
                                                  "asset", sym(w, a), "share", share, "limit",
                                                  j->concentration_limit, "message", msg));
    }
    return eq;
}

static json_t *risk_doc(const struct pf_worker *w, const struct pf_job *j, const struct pf_user *u,
                        int64_t start, const struct risk_report *rep)
{
    const struct risk_drawdown *dd = &rep->drawdown;
    json_t *expo = json_array();
    json_t *warnings = json_array();
    json_t *vars = json_array();
    int64_t equity = exposure(w, j, u, expo, warnings);
    json_t *doc = json_object();
    json_array_append_new(vars, var_entry("historical", "0.95", rep->hist_var95, rep->hist_cvar95,
                                          equity, w, j->res_name));
    json_array_append_new(vars, var_entry("historical", "0.99", rep->hist_var99, rep->hist_cvar99,
                                          equity, w, j->res_name));
    json_array_append_new(vars, var_entry("parametric", "0.95", rep->param_var95, rep->param_cvar95,
                                          equity, w, j->res_name));
    json_array_append_new(vars, var_entry("parametric", "0.99", rep->param_var99, rep->param_cvar99,
                                          equity, w, j->res_name));
    json_object_set_new(doc, "range", json_string(j->range));
    json_object_set_new(doc, "start", json_integer(start));
    json_object_set_new(doc, "end", json_integer(j->end));
    json_object_set_new(doc, "resolution", json_string(j->res_name));
    json_object_set_new(doc, "returns", json_integer((json_int_t)rep->n));
    json_object_set_new(doc, "equity", money(w, equity));
    json_object_set_new(doc, "value_at_risk", vars);
    json_object_set_new(doc, "mean_return", num_or_null(rep->mean));
    json_object_set_new(doc, "stdev", num_or_null(rep->stdev));
    json_object_set_new(doc, "volatility", num_or_null(rep->volatility));
    json_object_set_new(doc, "annual_return", num_or_null(rep->annual_return));
    json_object_set_new(doc, "risk_free_rate", json_real(j->risk_free_rate));
    json_object_set_new(doc, "sharpe", num_or_null(rep->sharpe));
    json_object_set_new(doc, "sortino", num_or_null(rep->sortino));
    json_object_set_new(doc, "calmar", num_or_null(rep->calmar));
    json_object_set_new(doc, "max_drawdown",
                        json_pack("{s:f,s:o,s:o,s:o}", "depth", dd->depth, "start",
                                  time_or_null(dd->start, dd->depth < 0), "trough",
                                  time_or_null(dd->trough, dd->depth < 0), "recovery",
                                  time_or_null(dd->recovery, dd->depth < 0 && dd->recovered)));
    json_object_set_new(doc, "exposure", expo);
    json_object_set_new(doc, "concentration_limit", json_real(j->concentration_limit));
    json_object_set_new(doc, "warnings", warnings);
    return doc;
}

/*
 * Risk over the grid's TWR period returns. The returns start at the last point before money
 * arrived (its index is 1), so the first return is the piece from the first deposit to the next
 * grid point; the periods before it have no money and no return.
 */
static json_t *risk(struct pf_worker *w, const struct pf_job *j, const struct pf_user *u,
                    enum cg_err *err)
{
    struct price_ctx px;
    struct walk_out wo;
    struct risk_report rep;
    int64_t start = j->start_default ? first_activity(u, j) : j->start;
    json_t *doc = NULL;
    double *r = NULL;
    double *idx = NULL;
    size_t n = 0;
    size_t first = 0;

    if (start >= j->end)
        start = j->end - j->res_ms;
    memset(&wo, 0, sizeof(wo));
    *err = price_ctx_load(w, j, u, &px, -1);
    if (*err == CG_OK)
        *err = do_walk(w, j, u, &px, start, true, &wo);
    if (*err == CG_OK) {
        r = malloc(wo.n * sizeof(*r));
        idx = malloc(wo.n * sizeof(*idx));
        if (!r || !idx)
            *err = CG_ENOMEM;
    }
    if (*err == CG_OK) {
        while (first + 1 < wo.n && wo.pts[first + 1].equity == 0)
            first++;
        for (size_t i = first; i < wo.n; i++)
            idx[i - first] = wo.pts[i].twr_index;
        for (size_t i = first + 1; i < wo.n; i++)
            r[n++] = wo.pts[i].twr_index / wo.pts[i - 1].twr_index - 1.0;
        *err = risk_compute(r, n, idx, wo.times + first,
                            (double)(365LL * DAY_MS) / (double)j->res_ms, j->risk_free_rate, &rep);
    }
    if (*err == CG_OK)
        doc = risk_doc(w, j, u, start, &rep);
    free(r);
    free(idx);
    walk_out_free(&wo);
    price_ctx_free(&px);
    return doc;
}

/* ---- the worker ---- */

/* Portfolio worker thread (worker_run_fn); ctx is the struct pf_worker. */
static void run(struct worker_job *wj, struct db *db, void *ctx)
{
    struct pf_worker *w = ctx;
    const struct pf_job *j = (const struct pf_job *)wj;
    int status = 200;
    char *body = NULL;
    json_t *doc = NULL;
    enum cg_err e = CG_OK;
    struct pf_user *u;

    if (j->kind >= PFJ_WL_CREATE) {
        wj->body = wl_run(w->app->cfg, db, j, &wj->status);
        return;
    }
    w->db = db;
    u = user_get(w, j, &e);
    if (u) {
        switch (j->kind) {
        case PFJ_OVERVIEW:
            doc = overview(w, j, u);
            break;
        case PFJ_HISTORY:
            doc = history(w, j, u, &e);
            break;
        case PFJ_PERFORMANCE:
            doc = performance(w, j, u, &e);
            break;
        case PFJ_RISK:
            doc = risk(w, j, u, &e);
            break;
        }
    }
    if (doc) {
        body = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(15));
        json_decref(doc);
    }
    if (!body) {
        if (e == CG_OK)
            e = CG_EINTERNAL;
        status = cg_err_http_status(e);
        body = json_error_body(e, e == CG_ELIMIT ? "too many points: narrow the range or use "
                                                   "resolution=1d (at most 10000 points)"
                                                 : NULL);
    }
    wj->status = status;
    wj->body = body;
}

enum cg_err api_portfolio_start(struct app *app)
{
    const struct config *cfg = app->cfg;
    struct pf_worker *w = calloc(1, sizeof(*w));
    int cash = config_asset_index(cfg, "USDT");
    enum cg_err e;
    if (!w)
        return CG_ENOMEM;
    w->app = app;
    w->assets.n = cfg->n_assets < PF_MAX_ASSETS ? cfg->n_assets : PF_MAX_ASSETS;
    w->assets.cash = cash >= 0 ? (uint32_t)cash : cfg->markets[0].quote;
    for (size_t a = 0; a < w->assets.n; a++) {
        w->assets.scale[a] = cfg->assets[a].scale;
        w->cash_market[a] = -1;
    }
    for (size_t m = 0; m < cfg->n_markets; m++)
        if (cfg->markets[m].quote == w->assets.cash && cfg->markets[m].base < PF_MAX_ASSETS &&
            w->cash_market[cfg->markets[m].base] < 0)
            w->cash_market[cfg->markets[m].base] = (int)m;
    e = worker_new(app, "portfolio", PF_QUEUE_MAX, w, &w->worker);
    if (e != CG_OK) {
        free(w);
        return e;
    }
    W = w;
    return CG_OK;
}

void api_portfolio_stop(struct app *app)
{
    struct pf_worker *w = W;
    (void)app;
    if (!w)
        return;
    worker_free(w->worker);
    for (size_t i = 0; i < PF_CACHE_USERS; i++)
        free(w->users[i].ev);
    free(w);
    W = NULL;
}

/* ---- network thread: validate, snapshot live prices, queue ---- */

void pf_job_submit(struct req *r, struct resp *out, struct pf_job *j)
{
    struct pf_worker *w = W;
    if (!w) {
        free(j);
        resp_error(out, CG_EINTERNAL, "the portfolio worker is not running");
        return;
    }
    j->user_id = r->claims.user_id;
    j->wj.run = run;
    j->wj.release = NULL;
    worker_submit(w->worker, r, out, &j->wj);
}

static void snapshot_prices(struct app *app, struct pf_job *j)
{
    struct pf_worker *w = W;
    for (uint32_t a = 0; w && a < w->assets.n; a++) {
        struct md_ticker t;
        int m = w->cash_market[a];
        if (a == w->assets.cash || m < 0)
            continue;
        mdata_ticker(app->md, (uint32_t)m, j->now, &t);
        if (t.has_reference && t.reference_price > 0) {
            j->live[a] = t.reference_price;
            j->live_source[a] = "replay_reference";
        } else if (t.has_last && t.last > 0) {
            j->live[a] = t.last;
            j->live_source[a] = "last_trade";
        } else if (t.has_bid && t.has_ask) {
            j->live[a] = t.bid + (t.ask - t.bid) / 2;
            j->live_source[a] = "mid";
        } else {
            continue;
        }
        j->has_live[a] = true;
    }
}

static struct pf_job *new_job(struct req *r, int kind)
{
    struct pf_job *j = calloc(1, sizeof(*j));
    if (!j)
        abort();
    j->kind = kind;
    j->now = clock_now_ms();
    j->end = j->now;
    j->res_ms = DAY_MS;
    j->res_name = "1d";
    snprintf(j->range, sizeof(j->range), "MAX");
    j->start_default = true;
    snapshot_prices(r->app, j);
    return j;
}

/* Parse a fraction query parameter ("0.04") into *v in [lo, hi]. */
static bool frac_param(struct req *r, struct resp *out, const char *key, double lo, double hi,
                       double *v)
{
    const char *s = req_query(r, key);
    int64_t ppm;
    char msg[120];
    if (!s)
        return true;
    if (amount_parse(s, 6, &ppm) != CG_OK || (double)ppm / 1e6 < lo || (double)ppm / 1e6 > hi) {
        snprintf(msg, sizeof(msg), "'%s' must be a decimal fraction between %g and %g (e.g. 0.04)",
                 key, lo, hi);
        resp_error(out, CG_EINVAL, msg);
        return false;
    }
    *v = (double)ppm / 1e6;
    return true;
}

static int64_t year_start_ms(int64_t now)
{
    time_t t = (time_t)(now / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    tm.tm_mon = 0;
    tm.tm_mday = 1;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    return (int64_t)timegm(&tm) * 1000;
}

/*
 * range=1D|1W|1M|3M|YTD|1Y|MAX (1M = 30 days, 3M = 90, 1Y = 365; YTD from 1 January 00:00 UTC;
 * MAX from the first activity) or start/end (ms; end defaults to now); resolution=1h|1d.
 */
static bool range_params(struct req *r, struct resp *out, struct pf_job *j, bool want_res)
{
    static const struct {
        const char *name;
        int64_t ms;
    } ranges[] = {{"1D", DAY_MS},      {"1W", 7 * DAY_MS},   {"1M", 30 * DAY_MS},
                  {"3M", 90 * DAY_MS}, {"1Y", 365 * DAY_MS}, {"YTD", -1},
                  {"MAX", 0}};
    const char *range = req_query(r, "range");
    const char *res = req_query(r, "resolution");
    bool has_start;
    bool has_end;
    int64_t start = 0;
    int64_t end = j->now;

    if (!req_int_param(r, "start", &start, &has_start, out) ||
        !req_int_param(r, "end", &end, &has_end, out))
        return false;
    if (want_res && res) {
        if (!strcmp(res, "1h")) {
            j->res_ms = 3600000;
            j->res_name = "1h";
        } else if (strcmp(res, "1d")) {
            resp_error(out, CG_EINVAL, "resolution must be 1h or 1d");
            return false;
        }
    }
    if (range && (has_start || has_end)) {
        resp_error(out, CG_EINVAL, "give either range or start/end, not both");
        return false;
    }
    if (range) {
        size_t i;
        for (i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++)
            if (!strcmp(range, ranges[i].name))
                break;
        if (i == sizeof(ranges) / sizeof(ranges[0])) {
            resp_error(out, CG_EINVAL, "range must be 1D, 1W, 1M, 3M, YTD, 1Y or MAX");
            return false;
        }
        snprintf(j->range, sizeof(j->range), "%s", range);
        if (ranges[i].ms > 0) {
            j->start = j->now - ranges[i].ms;
            j->start_default = false;
        } else if (ranges[i].ms < 0) {
            j->start = year_start_ms(j->now);
            j->start_default = false;
        }
        return true;
    }
    if (has_start || has_end) {
        snprintf(j->range, sizeof(j->range), "custom");
        if (has_end && (end <= 0 || end > j->now + 366 * DAY_MS)) {
            resp_error(out, CG_EINVAL, "'end' must be a time in ms since the epoch");
            return false;
        }
        j->end = end;
        if (has_start) {
            if (start < 0 || start >= end) {
                resp_error(out, CG_EINVAL, "'start' must be >= 0 and before 'end'");
                return false;
            }
            j->start = start;
            j->start_default = false;
        }
    }
    return true;
}

void h_portfolio(struct req *r, struct resp *out)
{
    if (!req_auth(r, out, ROLE_VIEWER))
        return;
    pf_job_submit(r, out, new_job(r, PFJ_OVERVIEW));
}

static void ranged(struct req *r, struct resp *out, int kind, bool want_res)
{
    struct pf_job *j;
    if (!req_auth(r, out, ROLE_VIEWER))
        return;
    j = new_job(r, kind);
    if ((kind == PFJ_HISTORY && !req_query(r, "resolution")) || kind == PFJ_PERFORMANCE) {
        j->res_ms = 3600000;
        j->res_name = "1h";
    }
    j->risk_free_rate = (double)r->app->cfg->analytics.risk_free_ppm / 1e6;
    j->concentration_limit = (double)r->app->cfg->analytics.concentration_ppm / 1e6;
    if (!range_params(r, out, j, want_res) ||
        !frac_param(r, out, "risk_free_rate", -0.5, 1.0, &j->risk_free_rate) ||
        !frac_param(r, out, "concentration_limit", 0.0, 1.0, &j->concentration_limit)) {
        free(j);
        return;
    }
    pf_job_submit(r, out, j);
}

void h_portfolio_history(struct req *r, struct resp *out)
{
    ranged(r, out, PFJ_HISTORY, true);
}

void h_portfolio_performance(struct req *r, struct resp *out)
{
    ranged(r, out, PFJ_PERFORMANCE, false);
}

void h_risk(struct req *r, struct resp *out)
{
    ranged(r, out, PFJ_RISK, true);
}
