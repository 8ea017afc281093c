/*
 * /api/v1/watchlists: a user's named lists of markets (CRUD). Input is validated on the network
 * thread; the reads and writes run on the portfolio worker's own connection (pf_worker.h), so a
 * commit's fsync never stalls the network thread. Every query is scoped by the caller's user id:
 * another user's list is a 404, exactly like a missing one.
 *
 * Shape: {id, name, markets:["BTC-USDT",...], created_at, updated_at} (RFC 3339 UTC).
 * Rules: name 1..64 bytes of printable text, unique per user (409 already_exists); markets: an
 * array of known market names without repeats (404 unknown_market, the project's status for
 * that code; 400 invalid_request for a repeat); at most
 * WL_MAX_PER_USER lists per user (400 limit_exceeded).
 */
#include <stdlib.h>
#include <string.h>

#include "api/pf_worker.h"
#include "core/clock.h"

#define WL_MAX_PER_USER 50

static json_t *render(struct db_stmt *st)
{
    json_t *markets = json_array();
    const char *ms = db_col_text(st, 2);
    while (ms && *ms) {
        size_t n = strcspn(ms, ",");
        json_array_append_new(markets, json_stringn(ms, n));
        ms += n;
        if (*ms == ',')
            ms++;
    }
    return json_pack("{s:I,s:s,s:o,s:o,s:o}", "id", (json_int_t)db_col_int64(st, 0), "name",
                     db_col_text(st, 1), "markets", markets, "created_at",
                     json_time(db_col_int64(st, 3)), "updated_at", json_time(db_col_int64(st, 4)));
}

static char *fail(enum cg_err e, const char *msg, int *status)
{
    *status = cg_err_http_status(e);
    return json_error_body(e, msg);
}

static char *dump(json_t *doc, int status_in, int *status)
{
    char *s = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    *status = status_in;
    return s;
}

/* true if another of the user's lists (id != except) has this name; *err on store error */
static bool name_taken(struct db *db, const struct pf_job *j, uint64_t except, bool *err)
{
    static const char *sql =
        "SELECT id FROM watchlists WHERE user_id = ? AND name = ? AND id <> ? LIMIT 1";
    struct db_stmt *st = db_prepare(db, sql);
    enum db_step rc;
    *err = !st;
    if (!st)
        return false;
    db_bind_int64(st, 1, (int64_t)j->user_id);
    db_bind_text(st, 2, j->name);
    db_bind_int64(st, 3, (int64_t)except);
    rc = db_step(st);
    db_reset(st);
    *err = rc == DB_ERROR;
    return rc == DB_ROW;
}

static char *get_one(struct db *db, const struct pf_job *j, uint64_t id, int status_ok, int *status)
{
    static const char *sql = "SELECT id, name, markets, created_at, updated_at FROM watchlists "
                             "WHERE id = ? AND user_id = ?";
    struct db_stmt *st = db_prepare(db, sql);
    enum db_step rc;
    json_t *doc = NULL;
    if (!st)
        return fail(CG_ESTORE, NULL, status);
    db_bind_int64(st, 1, (int64_t)id);
    db_bind_int64(st, 2, (int64_t)j->user_id);
    rc = db_step(st);
    if (rc == DB_ROW)
        doc = render(st);
    db_reset(st);
    if (rc == DB_ERROR)
        return fail(CG_ESTORE, NULL, status);
    if (!doc)
        return fail(CG_ENOTFOUND, "no such watchlist", status);
    return dump(doc, status_ok, status);
}

static char *create(struct db *db, const struct pf_job *j, int *status)
{
    static const char *sql_count = "SELECT COUNT(*) FROM watchlists WHERE user_id = ?";
    static const char *sql_ins =
        "INSERT INTO watchlists (id, user_id, name, markets, created_at, updated_at) VALUES "
        "((SELECT COALESCE(MAX(id), 0) + 1 FROM watchlists), ?, ?, ?, ?, ?) RETURNING id";
    struct db_stmt *st = db_prepare(db, sql_count);
    int64_t count = 0;
    int64_t id = 0;
    bool err;
    enum db_step rc;
    if (!st)
        return fail(CG_ESTORE, NULL, status);
    db_bind_int64(st, 1, (int64_t)j->user_id);
    if (db_step(st) == DB_ROW)
        count = db_col_int64(st, 0);
    db_reset(st);
    if (count >= WL_MAX_PER_USER)
        return fail(CG_ELIMIT, "at most 50 watchlists per user", status);
    if (name_taken(db, j, 0, &err))
        return fail(CG_EEXISTS, "you already have a watchlist with this name", status);
    if (err)
        return fail(CG_ESTORE, NULL, status);
    st = db_prepare(db, sql_ins);
    if (!st)
        return fail(CG_ESTORE, NULL, status);
    db_bind_int64(st, 1, (int64_t)j->user_id);
    db_bind_text(st, 2, j->name);
    db_bind_text(st, 3, j->markets);
    db_bind_int64(st, 4, j->now);
    db_bind_int64(st, 5, j->now);
    rc = db_step(st);
    if (rc == DB_ROW)
        id = db_col_int64(st, 0);
    if (rc == DB_ROW)
        rc = db_step(st);
    db_reset(st);
    if (rc != DB_DONE || id <= 0)
        return fail(CG_ESTORE, NULL, status);
    return get_one(db, j, (uint64_t)id, 201, status);
}

static char *list(struct db *db, const struct pf_job *j, int *status)
{
    static const char *sql = "SELECT id, name, markets, created_at, updated_at FROM watchlists "
                             "WHERE user_id = ? ORDER BY id";
    struct db_stmt *st = db_prepare(db, sql);
    json_t *arr;
    enum db_step rc;
    if (!st)
        return fail(CG_ESTORE, NULL, status);
    arr = json_array();
    db_bind_int64(st, 1, (int64_t)j->user_id);
    while ((rc = db_step(st)) == DB_ROW)
        json_array_append_new(arr, render(st));
    db_reset(st);
    if (rc != DB_DONE) {
        json_decref(arr);
        return fail(CG_ESTORE, NULL, status);
    }
    return dump(json_pack("{s:o}", "data", arr), 200, status);
}

static char *update(struct db *db, const struct pf_job *j, int *status)
{
    static const char *sql_name = "UPDATE watchlists SET name = ?, updated_at = ? WHERE id = ? "
                                  "AND user_id = ?";
    static const char *sql_markets = "UPDATE watchlists SET markets = ?, updated_at = ? WHERE "
                                     "id = ? AND user_id = ?";
    struct db_stmt *st;
    bool err;
    int st_found;
    char *probe = get_one(db, j, j->wl_id, 200, &st_found);
    if (st_found != 200)
        return *status = st_found, probe;
    free(probe);
    if (j->has_name) {
        if (name_taken(db, j, j->wl_id, &err))
            return fail(CG_EEXISTS, "you already have a watchlist with this name", status);
        if (err)
            return fail(CG_ESTORE, NULL, status);
    }
    if (db_begin(db) != CG_OK)
        return fail(CG_ESTORE, NULL, status);
    for (int k = 0; k < 2; k++) {
        if ((k == 0 && !j->has_name) || (k == 1 && !j->has_markets))
            continue;
        st = db_prepare(db, k == 0 ? sql_name : sql_markets);
        if (!st) {
            db_rollback(db);
            return fail(CG_ESTORE, NULL, status);
        }
        db_bind_text(st, 1, k == 0 ? j->name : j->markets);
        db_bind_int64(st, 2, j->now);
        db_bind_int64(st, 3, (int64_t)j->wl_id);
        db_bind_int64(st, 4, (int64_t)j->user_id);
        if (db_step(st) != DB_DONE) {
            db_reset(st);
            db_rollback(db);
            return fail(CG_ESTORE, NULL, status);
        }
        db_reset(st);
    }
    if (db_commit(db) != CG_OK)
        return fail(CG_ESTORE, NULL, status);
    return get_one(db, j, j->wl_id, 200, status);
}

static char *delete_one(struct db *db, const struct pf_job *j, int *status)
{
    static const char *sql = "DELETE FROM watchlists WHERE id = ? AND user_id = ?";
    struct db_stmt *st = db_prepare(db, sql);
    enum db_step rc;
    if (!st)
        return fail(CG_ESTORE, NULL, status);
    db_bind_int64(st, 1, (int64_t)j->wl_id);
    db_bind_int64(st, 2, (int64_t)j->user_id);
    rc = db_step(st);
    db_reset(st);
    if (rc != DB_DONE)
        return fail(CG_ESTORE, NULL, status);
    if (db_changes(db) == 0)
        return fail(CG_ENOTFOUND, "no such watchlist", status);
    return dump(json_pack("{s:I,s:b}", "id", (json_int_t)j->wl_id, "deleted", 1), 200, status);
}

char *wl_run(const struct config *cfg, struct db *db, const struct pf_job *j, int *status)
{
    (void)cfg;
    switch (j->kind) {
    case PFJ_WL_CREATE:
        return create(db, j, status);
    case PFJ_WL_LIST:
        return list(db, j, status);
    case PFJ_WL_GET:
        return get_one(db, j, j->wl_id, 200, status);
    case PFJ_WL_UPDATE:
        return update(db, j, status);
    case PFJ_WL_DELETE:
        return delete_one(db, j, status);
    }
    return fail(CG_EINTERNAL, NULL, status);
}

/* ---- network thread ---- */

static struct pf_job *job(int kind)
{
    struct pf_job *j = calloc(1, sizeof(*j));
    if (!j)
        abort();
    j->kind = kind;
    j->now = clock_now_ms();
    return j;
}

static bool parse_name(json_t *v, struct pf_job *j, struct resp *out)
{
    const char *s = json_string_value(v);
    size_t n = s ? json_string_length(v) : 0;
    if (!json_is_string(v) || n == 0 || n > 64) {
        resp_error(out, v && !json_is_string(v) ? CG_ETYPE : CG_EINVAL,
                   "'name' must be a string of 1 to 64 bytes");
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
            resp_error(out, CG_EINVAL, "'name' must not contain control characters");
            return false;
        }
    }
    memcpy(j->name, s, n + 1);
    j->has_name = true;
    return true;
}

static bool parse_markets(const struct config *cfg, json_t *v, struct pf_job *j, struct resp *out)
{
    size_t i;
    json_t *m;
    bool seen[CFG_MAX_MARKETS] = {false};
    if (!json_is_array(v)) {
        resp_error(out, v ? CG_ETYPE : CG_EINVAL, "'markets' must be an array of market names");
        return false;
    }
    if (json_array_size(v) > cfg->n_markets) {
        resp_error(out, CG_EINVAL, "'markets' has more entries than there are markets");
        return false;
    }
    j->markets[0] = '\0';
    json_array_foreach(v, i, m)
    {
        int idx = json_is_string(m) ? config_market_index(cfg, json_string_value(m)) : -1;
        if (!json_is_string(m)) {
            resp_error(out, CG_ETYPE, "'markets' must hold market names such as \"BTC-USDT\"");
            return false;
        }
        if (idx < 0) {
            char msg[96];
            snprintf(msg, sizeof(msg), "unknown market '%.40s'", json_string_value(m));
            resp_error(out, CG_EMARKET, msg);
            return false;
        }
        if (seen[idx]) {
            resp_error(out, CG_EINVAL, "'markets' lists a market twice");
            return false;
        }
        seen[idx] = true;
        if (i > 0)
            strcat(j->markets, ",");
        strcat(j->markets, cfg->markets[idx].name);
    }
    j->has_markets = true;
    return true;
}

static bool parse_id(struct req *r, struct pf_job *j, struct resp *out)
{
    char *end;
    unsigned long long v = strtoull(r->param, &end, 10);
    if (!r->param[0] || *end || r->param[0] == '-' || v == 0 || v > INT64_MAX) {
        resp_error(out, CG_ENOTFOUND, "no such watchlist");
        return false;
    }
    j->wl_id = v;
    return true;
}

static void body_job(struct req *r, struct resp *out, int kind)
{
    static const char *const allowed[] = {"name", "markets", NULL};
    struct pf_job *j;
    json_t *doc;
    json_t *name;
    json_t *markets;
    bool ok = true;
    if (!req_auth(r, out, ROLE_TRADER))
        return;
    j = job(kind);
    if (kind == PFJ_WL_UPDATE && !parse_id(r, j, out)) {
        free(j);
        return;
    }
    doc = req_json_object(r, out, allowed);
    if (!doc) {
        free(j);
        return;
    }
    name = json_object_get(doc, "name");
    markets = json_object_get(doc, "markets");
    if (kind == PFJ_WL_CREATE || name)
        ok = parse_name(name, j, out);
    if (ok && kind == PFJ_WL_CREATE && !markets) {
        j->has_markets = true; /* an empty list */
    } else if (ok && markets) {
        ok = parse_markets(r->app->cfg, markets, j, out);
    }
    if (ok && kind == PFJ_WL_UPDATE && !name && !markets) {
        resp_error(out, CG_EINVAL, "give 'name' and/or 'markets' to change");
        ok = false;
    }
    json_decref(doc);
    if (!ok) {
        free(j);
        return;
    }
    pf_job_submit(r, out, j);
}

void h_watchlists_create(struct req *r, struct resp *out)
{
    body_job(r, out, PFJ_WL_CREATE);
}

void h_watchlist_update(struct req *r, struct resp *out)
{
    body_job(r, out, PFJ_WL_UPDATE);
}

void h_watchlists_list(struct req *r, struct resp *out)
{
    if (!req_auth(r, out, ROLE_VIEWER))
        return;
    pf_job_submit(r, out, job(PFJ_WL_LIST));
}

static void id_job(struct req *r, struct resp *out, int kind, int role)
{
    struct pf_job *j;
    if (!req_auth(r, out, role))
        return;
    j = job(kind);
    if (!parse_id(r, j, out)) {
        free(j);
        return;
    }
    pf_job_submit(r, out, j);
}

void h_watchlist_get(struct req *r, struct resp *out)
{
    id_job(r, out, PFJ_WL_GET, ROLE_VIEWER);
}

void h_watchlist_delete(struct req *r, struct resp *out)
{
    id_job(r, out, PFJ_WL_DELETE, ROLE_TRADER);
}
