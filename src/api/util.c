/* Request/response helpers and idempotency bookkeeping (network thread). */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/jwtcache.h"
#include "core/clock.h"

void resp_json(struct resp *r, int status, json_t *doc)
{
    r->status = status;
    r->body = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!r->body) {
        r->status = 500;
        r->body = strdup("{\"error\":{\"code\":\"internal_error\",\"message\":\"encoding\"}}");
    }
}

char *json_error_body(enum cg_err e, const char *message)
{
    json_t *doc = json_pack("{s:{s:s,s:s}}", "error", "code", cg_err_code(e), "message",
                            message ? message : cg_err_message(e));
    char *s = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return s;
}

void resp_error(struct resp *r, enum cg_err e, const char *message)
{
    r->status = cg_err_http_status(e);
    r->body = json_error_body(e, message);
}

const char *req_query(const struct req *r, const char *key)
{
    for (size_t i = 0; i < r->n_query; i++)
        if (!strcmp(r->qk[i], key))
            return r->qv[i];
    return NULL;
}

json_t *req_json_object(struct req *r, struct resp *out, const char *const *allowed)
{
    json_error_t jerr;
    json_t *doc;
    const char *key;
    json_t *v;

    if (r->body_len == 0) {
        resp_error(out, CG_EJSON, "a JSON object body is required");
        return NULL;
    }
    doc = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!doc) {
        char msg[200];
        snprintf(msg, sizeof(msg), "malformed JSON: %s", jerr.text);
        resp_error(out, CG_EJSON, msg);
        return NULL;
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        resp_error(out, CG_ETYPE, "the body must be a JSON object");
        return NULL;
    }
    json_object_foreach(doc, key, v)
    {
        bool ok = false;
        for (size_t i = 0; allowed && allowed[i]; i++)
            if (!strcmp(allowed[i], key))
                ok = true;
        if (!ok) {
            char msg[160];
            snprintf(msg, sizeof(msg), "unknown field '%.60s'", key);
            json_decref(doc);
            resp_error(out, CG_EFIELD, msg);
            return NULL;
        }
    }
    return doc;
}

bool req_auth(struct req *r, struct resp *out, int min_role)
{
    enum cg_err e;
    if (r->key_auth)
        return true; /* already checked for this request (Binance layer) */
    if (strncmp(r->authz, "Bearer ", 7) != 0 && r->apikey[0])
        return apikey_auth(r, out, min_role);
    if (strncmp(r->authz, "Bearer ", 7) != 0) {
        resp_error(out, CG_EAUTH, "send Authorization: Bearer <access_token>");
        return false;
    }
    e = jwtcache_verify(r->app->jwt_key, r->authz + 7, clock_now_ms() / 1000, &r->claims);
    if (e != CG_OK) {
        resp_error(out, e, NULL);
        return false;
    }
    if (r->claims.role < min_role) {
        resp_error(out, CG_EFORBIDDEN, NULL);
        return false;
    }
    return true;
}

bool req_amount(json_t *v, const char *field, int scale, bool allow_zero, int64_t *amount,
                struct resp *out)
{
    char msg[160];
    enum cg_err e;
    if (!json_is_string(v)) {
        snprintf(msg, sizeof(msg), "'%s' must be a decimal string such as \"1.5\"", field);
        resp_error(out, v ? CG_ETYPE : CG_EINVAL, msg);
        return false;
    }
    e = amount_parse(json_string_value(v), scale, amount);
    if (e == CG_OK && (*amount < 0 || (*amount == 0 && !allow_zero)))
        e = CG_EAMOUNT;
    if (e != CG_OK) {
        if (e == CG_ESCALE)
            snprintf(msg, sizeof(msg), "'%s' has more than %d decimals", field, scale);
        else
            snprintf(msg, sizeof(msg), "'%s' must be a positive decimal string", field);
        resp_error(out, e, msg);
        return false;
    }
    return true;
}

bool req_limit(const struct req *r, int dflt, int max, int *limit, struct resp *out)
{
    const char *s = req_query(r, "limit");
    char *end;
    long v;
    if (!s) {
        *limit = dflt;
        return true;
    }
    v = strtol(s, &end, 10);
    if (*s == '\0' || *end || v < 1 || v > max) {
        char msg[80];
        snprintf(msg, sizeof(msg), "limit must be 1..%d", max);
        resp_error(out, CG_EINVAL, msg);
        return false;
    }
    *limit = (int)v;
    return true;
}

bool req_int_param(const struct req *r, const char *key, int64_t *v, bool *present,
                   struct resp *out)
{
    const char *s = req_query(r, key);
    char *end;
    *present = false;
    if (!s)
        return true;
    *v = strtoll(s, &end, 10);
    if (*s == '\0' || *end) {
        char msg[80];
        snprintf(msg, sizeof(msg), "'%s' must be an integer", key);
        resp_error(out, CG_EINVAL, msg);
        return false;
    }
    *present = true;
    return true;
}

json_t *json_amount(int64_t v, int scale)
{
    char buf[AMOUNT_STR_MAX];
    return json_string(amount_format(v, scale, false, buf));
}

json_t *json_time(int64_t ms)
{
    char buf[40];
    return json_string(clock_rfc3339(ms, buf, sizeof(buf)));
}

void api_submit(struct req *r, struct resp *out, struct cmd *c)
{
    enum cg_err e;
    struct completion cc = {0};
    if (store_failed(r->app->store)) {
        free(c);
        e = CG_ESTORE;
    } else {
        c->req_id = r->req_id;
        c->ts = clock_now_ms();
        e = engine_submit(r->app->eng, c);
    }
    if (e == CG_OK) {
        out->pending = true;
        return;
    }
    resp_error(out, e, NULL);
    /* twins waiting on this request's Idempotency-Key get the same refusal */
    cc.req_id = r->req_id;
    cc.status = out->status;
    cc.body = out->body;
    api_idempotency_complete(r->app, &cc);
}

/* ---- idempotency ---- */

struct waiter {
    uint64_t req_id;
    struct waiter *next;
};

struct inflight {
    uint64_t user_id;
    char key[IDEM_KEY_MAX];
    char hash[IDEM_KEY_MAX];
    uint64_t leader;
    struct waiter *waiters;
    struct inflight *next;
};

static void request_hash(const struct req *r, char out[AUTH_TOKEN_HEX])
{
    size_t plen = strlen(r->path);
    char *buf = malloc(plen + 1 + r->body_len + 8);
    if (!buf)
        abort();
    memcpy(buf, r->path, plen);
    buf[plen] = '\n';
    memcpy(buf + plen + 1, r->body, r->body_len);
    auth_sha256_hex(buf, plen + 1 + r->body_len, out);
    free(buf);
}

bool api_idempotency_begin(struct req *r, struct resp *out, struct cmd *c)
{
    static const char *sql =
        "SELECT request_hash, status, response FROM idempotency WHERE user_id = ? AND key = ?";
    struct app *app = r->app;
    char hash[AUTH_TOKEN_HEX];
    struct inflight *f;
    struct db_stmt *st;
    enum db_step rc;

    if (!r->idem_key[0])
        return false;
    request_hash(r, hash);
    for (f = app->inflight; f; f = f->next) {
        if (f->user_id == r->claims.user_id && !strcmp(f->key, r->idem_key)) {
            struct waiter *w;
            if (strcmp(f->hash, hash)) {
                resp_error(out, CG_EIDEMPOTENCY, NULL);
                return true;
            }
            w = malloc(sizeof(*w));
            if (!w)
                abort();
            w->req_id = r->req_id;
            w->next = f->waiters;
            f->waiters = w;
            out->pending = true;
            return true;
        }
    }
    st = db_prepare(app->rdb, sql);
    if (!st) {
        /* the first answer to this key cannot be looked up (store unreachable): running the
         * request again could apply it twice */
        resp_error(out, CG_ESTORE, NULL);
        return true;
    }
    db_bind_int64(st, 1, (int64_t)r->claims.user_id);
    db_bind_text(st, 2, r->idem_key);
    rc = db_step(st);
    if (rc == DB_ERROR) {
        db_reset(st);
        resp_error(out, CG_ESTORE, NULL);
        return true;
    }
    if (rc == DB_ROW) {
        if (strcmp(db_col_text(st, 0), hash)) {
            resp_error(out, CG_EIDEMPOTENCY, NULL);
        } else {
            out->status = (int)db_col_int64(st, 1);
            out->body = strdup(db_col_text(st, 2));
            out->replayed = true;
        }
        db_reset(st);
        return true;
    }
    db_reset(st);
    f = calloc(1, sizeof(*f));
    if (!f)
        abort();
    f->user_id = r->claims.user_id;
    snprintf(f->key, sizeof(f->key), "%s", r->idem_key);
    snprintf(f->hash, sizeof(f->hash), "%s", hash);
    f->leader = r->req_id;
    f->next = app->inflight;
    app->inflight = f;
    snprintf(c->idem_key, sizeof(c->idem_key), "%s", r->idem_key);
    snprintf(c->idem_hash, sizeof(c->idem_hash), "%s", hash);
    return false;
}

void api_idempotency_complete(struct app *app, const struct completion *c)
{
    struct inflight **pp = &app->inflight;
    for (; *pp; pp = &(*pp)->next) {
        struct inflight *f = *pp;
        if (f->leader != c->req_id)
            continue;
        *pp = f->next;
        while (f->waiters) {
            struct waiter *w = f->waiters;
            f->waiters = w->next;
            api_complete(app, w->req_id, c->status, c->body ? strdup(c->body) : NULL, true);
            free(w);
        }
        free(f);
        return;
    }
}
