/* Paper funding and balances: /api/v1/deposits, /withdrawals, /balances, /ledger. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"

static void funds(struct req *r, struct resp *out, int type)
{
    static const char *const allowed[] = {"asset", "amount", NULL};
    json_t *doc;
    const char *sym;
    int asset;
    int64_t amount;
    struct cmd *c;

    if (!req_auth(r, out, ROLE_TRADER))
        return;
    if (r->idem_too_long) {
        resp_error(out, CG_EINVAL, "Idempotency-Key must be at most 64 characters");
        return;
    }
    if (!r->idem_key[0]) {
        resp_error(out, CG_EIDEMKEY, NULL);
        return;
    }
    doc = req_json_object(r, out, allowed);
    if (!doc)
        return;
    sym = json_string_value(json_object_get(doc, "asset"));
    asset = sym ? config_asset_index(r->app->cfg, sym) : -1;
    if (asset < 0) {
        resp_error(out, CG_EASSET, sym ? "no such asset" : "'asset' is required");
        json_decref(doc);
        return;
    }
    if (!req_amount(json_object_get(doc, "amount"), "amount", r->app->cfg->assets[asset].scale,
                    false, &amount, out)) {
        json_decref(doc);
        return;
    }
    json_decref(doc);
    if (type == CMD_DEPOSIT && amount > r->app->cfg->assets[asset].deposit_limit) {
        char lim[AMOUNT_STR_MAX];
        char msg[160];
        snprintf(msg, sizeof(msg), "a paper deposit of %s is at most %s per request",
                 r->app->cfg->assets[asset].symbol,
                 amount_format(r->app->cfg->assets[asset].deposit_limit,
                               r->app->cfg->assets[asset].scale, true, lim));
        resp_error(out, CG_ELIMIT, msg);
        return;
    }
    c = calloc(1, sizeof(*c));
    if (!c)
        abort();
    c->type = (uint8_t)type;
    c->user_id = r->claims.user_id;
    c->u.funds.asset = (uint32_t)asset;
    c->u.funds.amount = amount;
    if (api_idempotency_begin(r, out, c)) {
        free(c);
        return;
    }
    api_submit(r, out, c);
}

void h_deposit(struct req *r, struct resp *out)
{
    funds(r, out, CMD_DEPOSIT);
}

void h_withdraw(struct req *r, struct resp *out)
{
    funds(r, out, CMD_WITHDRAW);
}

bool balances_load(struct db *db, const struct config *cfg, uint64_t user_id,
                   int64_t total[CFG_MAX_ASSETS], int64_t held[CFG_MAX_ASSETS])
{
    static const char *sql = "SELECT asset, total, held FROM balances WHERE user_id = ?";
    struct db_stmt *st = db_prepare(db, sql);
    memset(total, 0, CFG_MAX_ASSETS * sizeof(*total));
    memset(held, 0, CFG_MAX_ASSETS * sizeof(*held));
    if (!st)
        return false;
    db_bind_int64(st, 1, (int64_t)user_id);
    while (db_step(st) == DB_ROW) {
        int a = config_asset_index(cfg, db_col_text(st, 0));
        if (a < 0)
            continue;
        total[a] = db_col_int64(st, 1);
        held[a] = db_col_int64(st, 2);
    }
    db_reset(st);
    return true;
}

void h_balances(struct req *r, struct resp *out)
{
    const struct config *cfg = r->app->cfg;
    int64_t total[CFG_MAX_ASSETS];
    int64_t held[CFG_MAX_ASSETS];
    json_t *arr;

    if (!req_auth(r, out, ROLE_VIEWER))
        return;
    if (!balances_load(r->app->rdb, cfg, r->claims.user_id, total, held)) {
        resp_error(out, CG_ESTORE, NULL);
        return;
    }
    arr = json_array();
    for (size_t a = 0; a < cfg->n_assets; a++)
        json_array_append_new(arr, render_balance(cfg, (uint32_t)a, total[a], held[a]));
    resp_json(out, 200, json_pack("{s:o}", "data", arr));
}

void h_ledger(struct req *r, struct resp *out)
{
    static const char *sql_entries =
        "SELECT DISTINCT entry_id FROM postings WHERE user_id = ? AND entry_id < ? "
        "ORDER BY entry_id DESC LIMIT ?";
    static const char *sql_entry =
        "SELECT e.kind, e.ref_id, e.ts, p.asset, p.amount FROM journal_entries e JOIN postings p "
        "ON p.entry_id = e.id WHERE e.id = ? AND p.user_id = ?";
    const struct config *cfg = r->app->cfg;
    int64_t cursor = INT64_MAX;
    bool has_cursor;
    int limit;
    int64_t ids[500];
    int n = 0;
    int64_t last = 0;
    struct db_stmt *st;
    json_t *arr;

    if (!req_auth(r, out, ROLE_VIEWER) || !req_limit(r, 50, 500, &limit, out) ||
        !req_int_param(r, "cursor", &cursor, &has_cursor, out))
        return;
    if (!has_cursor)
        cursor = INT64_MAX;
    st = db_prepare(r->app->rdb, sql_entries);
    if (!st) {
        resp_error(out, CG_ESTORE, NULL);
        return;
    }
    db_bind_int64(st, 1, (int64_t)r->claims.user_id);
    db_bind_int64(st, 2, cursor);
    db_bind_int64(st, 3, limit);
    while (n < limit && db_step(st) == DB_ROW)
        ids[n++] = db_col_int64(st, 0);
    db_reset(st);
    arr = json_array();
    for (int i = 0; i < n; i++) {
        json_t *entry = NULL;
        json_t *postings = json_array();
        st = db_prepare(r->app->rdb, sql_entry);
        if (!st)
            break;
        db_bind_int64(st, 1, ids[i]);
        db_bind_int64(st, 2, (int64_t)r->claims.user_id);
        while (db_step(st) == DB_ROW) {
            int a = config_asset_index(cfg, db_col_text(st, 3));
            if (!entry)
                entry = json_pack("{s:I,s:s,s:I,s:o,s:I}", "id", (json_int_t)ids[i], "kind",
                                  db_col_text(st, 0), "ref_id", (json_int_t)db_col_int64(st, 1),
                                  "created_at", json_time(db_col_int64(st, 2)), "ts",
                                  (json_int_t)db_col_int64(st, 2));
            if (a >= 0)
                json_array_append_new(
                    postings, json_pack("{s:s,s:o}", "asset", cfg->assets[a].symbol, "amount",
                                        json_amount(db_col_int64(st, 4), cfg->assets[a].scale)));
        }
        db_reset(st);
        if (!entry) {
            json_decref(postings);
            continue;
        }
        json_object_set_new(entry, "postings", postings);
        json_array_append_new(arr, entry);
        last = ids[i];
    }
    resp_json(out, 200,
              json_pack("{s:o,s:o}", "data", arr, "next_cursor",
                        n == limit && last ? json_sprintf("%lld", (long long)last) : json_null()));
}
