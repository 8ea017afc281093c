/*
 * GET /api/v1/admin/invariants (admin role): audits the store's ledger.
 *   - every journal entry and every asset sums to zero, and no user balance is below zero
 *     (store_check_ledger, store/store.h);
 *   - each user's held balance equals what their open orders reserve (sum of `hold` of orders
 *     in status new / partially_filled, in the asset each reserves: quote for a buy, base for a
 *     sell).
 * Answers 200 {"ok":true|false, "detail":"all invariants hold" | the first violation}.
 *
 * Threads: the handler checks the token on the network thread; the audit reads every posting
 * and every open order, seconds on a large store, so it runs on the admin worker (api/worker.h)
 * with its own connection, one audit at a time.
 */
#include <stdio.h>
#include <stdlib.h>

#include "api/api.h"
#include "api/worker.h"

#define ADMIN_QUEUE_MAX 16

/* Admin worker thread (worker_run_fn); ctx is the app. */
static void run_invariants(struct worker_job *j, struct db *db, void *ctx)
{
    static const char *sql_open =
        "SELECT " ORDER_COLS " FROM orders WHERE status IN ('new', 'partially_filled')";
    static const char *sql_bal = "SELECT user_id, asset, held FROM balances WHERE user_id >= 100";
    const struct config *cfg = ((struct app *)ctx)->cfg;
    struct ledger *sums;
    struct db_stmt *st;
    char msg[256] = "";
    bool ok;
    json_t *doc;

    ok = store_check_ledger(db, msg, sizeof(msg));
    sums = ledger_new(cfg->n_assets);
    if (!sums) {
        j->status = cg_err_http_status(CG_ENOMEM);
        j->body = json_error_body(CG_ENOMEM, NULL);
        return;
    }
    /* what open orders reserve, per (user, asset), summed in a scratch ledger's totals */
    st = ok ? db_prepare(db, sql_open) : NULL;
    while (st && db_step(st) == DB_ROW) {
        struct order o;
        uint32_t asset;
        const struct balance *b;
        if (!order_from_row(cfg, st, &o))
            continue;
        asset = o.side == SIDE_BUY ? cfg->markets[o.market].quote : cfg->markets[o.market].base;
        b = ledger_get(sums, o.user_id, asset);
        if (ledger_restore(sums, o.user_id, asset, (b ? b->total : 0) + o.hold, 0) != CG_OK)
            ok = false;
    }
    if (st)
        db_reset(st);
    st = ok ? db_prepare(db, sql_bal) : NULL;
    while (st && db_step(st) == DB_ROW) {
        int a = config_asset_index(cfg, db_col_text(st, 1));
        const struct balance *b =
            a >= 0 ? ledger_get(sums, (uint64_t)db_col_int64(st, 0), (uint32_t)a) : NULL;
        if (a >= 0 && db_col_int64(st, 2) != (b ? b->total : 0) && ok) {
            ok = false;
            snprintf(msg, sizeof(msg), "user %lld %s: held %lld but open orders reserve %lld",
                     (long long)db_col_int64(st, 0), db_col_text(st, 1),
                     (long long)db_col_int64(st, 2), (long long)(b ? b->total : 0));
        }
    }
    if (st)
        db_reset(st);
    ledger_free(sums);
    doc = json_pack("{s:b,s:s}", "ok", ok, "detail", ok ? "all invariants hold" : msg);
    j->status = 200;
    j->body = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
}

void h_admin_invariants(struct req *r, struct resp *out)
{
    struct worker_job *j;
    if (!req_auth(r, out, ROLE_ADMIN))
        return;
    j = calloc(1, sizeof(*j));
    if (!j) {
        resp_error(out, CG_ENOMEM, NULL);
        return;
    }
    j->run = run_invariants;
    worker_submit(r->app->admin_worker, r, out, j);
}

enum cg_err api_admin_start(struct app *app)
{
    return worker_new(app, "admin", ADMIN_QUEUE_MAX, app, &app->admin_worker);
}

void api_admin_stop(struct app *app)
{
    worker_free(app->admin_worker);
    app->admin_worker = NULL;
}
