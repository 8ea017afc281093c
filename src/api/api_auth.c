/*
 * /api/v1/auth/... and /me. Password hashing (argon2id, ~0.1 s) and token writes run on the auth
 * worker thread with its own db connection, so the network thread never blocks on them.
 */
#include <ctype.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/worker.h"
#include "core/clock.h"
#include "core/log.h"

enum job_kind { JOB_REGISTER, JOB_LOGIN, JOB_REFRESH, JOB_LOGOUT };

#define AUTH_QUEUE_MAX 1024

struct auth_job {
    struct worker_job wj; /* first: the worker hands back &wj */
    int kind;
    uint64_t user_id;
    char email[256];
    char password[160];
    char token[80];
};

/* ---- per-IP rate limit on the credential endpoints (network thread) ---- */

#define RL_SLOTS 256

struct rl_slot {
    char ip[64];
    int64_t window;
    int count;
};

static struct rl_slot rl_tab[RL_SLOTS];

static bool rate_ok(struct app *app, const char *ip)
{
    int64_t window = clock_now_ms() / 60000;
    uint32_t h = 2166136261u;
    struct rl_slot *s;
    for (const char *p = ip; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    s = &rl_tab[h % RL_SLOTS];
    if (strcmp(s->ip, ip) || s->window != window) {
        snprintf(s->ip, sizeof(s->ip), "%s", ip);
        s->window = window;
        s->count = 0;
    }
    return ++s->count <= app->auth_rate_per_min;
}

/* ---- worker ---- */

static char *token_pair(struct app *app, uint64_t user_id, int role, const char *refresh,
                        int *status)
{
    char *access = NULL;
    char *body;
    json_t *doc;
    if (auth_jwt_issue(app->jwt_key, user_id, role, clock_now_ms() / 1000, &access) != CG_OK) {
        *status = 500;
        return json_error_body(CG_EINTERNAL, NULL);
    }
    doc = json_pack("{s:s,s:s,s:s,s:i,s:i}", "access_token", access, "refresh_token", refresh,
                    "token_type", "Bearer", "expires_in", AUTH_ACCESS_TTL_S, "user_id",
                    (json_int_t)user_id);
    body = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    free(access);
    *status = 200;
    return body;
}

/* Worker thread (worker_run_fn); ctx is the app. */
static void run_job(struct worker_job *wj, struct db *db, void *ctx)
{
    struct app *app = ctx;
    struct auth_job *j = (struct auth_job *)wj;
    int64_t now = clock_now_ms();
    char refresh[AUTH_TOKEN_HEX];
    char *body = NULL;
    int status = 200;
    uint64_t uid = 0;
    int role = ROLE_TRADER;
    enum cg_err e = CG_OK;

    switch (j->kind) {
    case JOB_REGISTER:
        e = auth_user_create(db, j->email, j->password, ROLE_TRADER, now, &uid);
        if (e == CG_OK) {
            json_t *doc = json_pack("{s:i,s:s,s:s,s:o}", "id", (json_int_t)uid, "email", j->email,
                                    "role", "trader", "created_at", json_time(now));
            body = json_dumps(doc, JSON_COMPACT);
            json_decref(doc);
            status = 201;
            log_info("auth: registered user %llu", (unsigned long long)uid);
        }
        break;
    case JOB_LOGIN:
        e = auth_user_login(db, j->email, j->password, &uid, &role);
        if (e == CG_OK)
            e = auth_refresh_issue(db, uid, now, refresh);
        if (e == CG_OK)
            body = token_pair(app, uid, role, refresh, &status);
        break;
    case JOB_REFRESH: {
        char email[256];
        int64_t created;
        e = auth_refresh_rotate(db, j->token, now, &uid, refresh);
        if (e == CG_OK)
            e = auth_user_get(db, uid, email, &role, &created);
        if (e == CG_ENOTFOUND)
            e = CG_EAUTH;
        if (e == CG_OK)
            body = token_pair(app, uid, role, refresh, &status);
        break;
    }
    case JOB_LOGOUT:
        e = auth_refresh_revoke(db, j->token, j->user_id, now);
        if (e == CG_OK) {
            body = strdup("{\"revoked\":true}");
            status = 200;
        }
        break;
    }
    sodium_memzero(j->password, sizeof(j->password));
    sodium_memzero(j->token, sizeof(j->token));
    if (e != CG_OK) {
        status = cg_err_http_status(e);
        body = json_error_body(e, NULL);
    }
    wj->status = status;
    wj->body = body;
}

/* Any thread (worker_release_fn): the job carries a password or a refresh token. */
static void release_job(struct worker_job *wj)
{
    sodium_memzero(wj, sizeof(struct auth_job));
    free(wj);
}

enum cg_err api_worker_start(struct app *app)
{
    return worker_new(app, "auth", AUTH_QUEUE_MAX, app, &app->auth_worker);
}

void api_worker_stop(struct app *app)
{
    worker_free(app->auth_worker);
    app->auth_worker = NULL;
}

static struct auth_job *job_new(int kind)
{
    struct auth_job *j = calloc(1, sizeof(*j));
    if (!j)
        abort();
    j->kind = kind;
    return j;
}

static void submit_job(struct req *r, struct resp *out, struct auth_job *j)
{
    j->wj.run = run_job;
    j->wj.release = release_job;
    worker_submit(r->app->auth_worker, r, out, &j->wj);
}

static bool copy_str(json_t *doc, const char *key, char *dst, size_t cap, struct resp *out)
{
    json_t *v = json_object_get(doc, key);
    char msg[96];
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) >= cap) {
        snprintf(msg, sizeof(msg), "'%s' is required (a non-empty string)", key);
        resp_error(out, v && !json_is_string(v) ? CG_ETYPE : CG_EINVAL, msg);
        return false;
    }
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return true;
}

static void credential_job(struct req *r, struct resp *out, int kind)
{
    static const char *const allowed[] = {"email", "password", "totp", NULL};
    struct auth_job *j;
    json_t *doc;

    if (!rate_ok(r->app, r->ip)) {
        resp_error(out, CG_ERATE, "too many sign-up/log-in attempts; wait a minute");
        return;
    }
    doc = req_json_object(r, out, allowed);
    if (!doc)
        return;
    j = job_new(kind);
    if (!copy_str(doc, "email", j->email, sizeof(j->email), out) ||
        !copy_str(doc, "password", j->password, sizeof(j->password), out)) {
        release_job(&j->wj);
        json_decref(doc);
        return;
    }
    json_decref(doc);
    for (char *c = j->email; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    if (kind == JOB_REGISTER) {
        if (!auth_email_valid(j->email)) {
            resp_error(out, CG_EINVAL, "email is not a valid address");
            release_job(&j->wj);
            return;
        }
        if (auth_password_policy(j->password, j->email) != CG_OK) {
            resp_error(out, CG_EWEAKPASS, NULL);
            release_job(&j->wj);
            return;
        }
    }
    submit_job(r, out, j);
}

void h_auth_register(struct req *r, struct resp *out)
{
    credential_job(r, out, JOB_REGISTER);
}

void h_auth_login(struct req *r, struct resp *out)
{
    credential_job(r, out, JOB_LOGIN);
}

static void token_job(struct req *r, struct resp *out, int kind)
{
    static const char *const allowed[] = {"refresh_token", NULL};
    struct auth_job *j;
    json_t *doc = req_json_object(r, out, allowed);
    if (!doc)
        return;
    j = job_new(kind);
    j->user_id = r->claims.user_id;
    if (json_is_string(json_object_get(doc, "refresh_token")) &&
        json_string_length(json_object_get(doc, "refresh_token")) >= sizeof(j->token)) {
        /* not one of ours: refresh tokens are 64 hex characters */
        resp_error(out, CG_EAUTH, "invalid refresh token");
        release_job(&j->wj);
        json_decref(doc);
        return;
    }
    if (!copy_str(doc, "refresh_token", j->token, sizeof(j->token), out)) {
        release_job(&j->wj);
        json_decref(doc);
        return;
    }
    json_decref(doc);
    submit_job(r, out, j);
}

void h_auth_refresh(struct req *r, struct resp *out)
{
    if (!rate_ok(r->app, r->ip)) {
        resp_error(out, CG_ERATE, NULL);
        return;
    }
    token_job(r, out, JOB_REFRESH);
}

void h_auth_logout(struct req *r, struct resp *out)
{
    if (!req_auth(r, out, ROLE_VIEWER))
        return;
    token_job(r, out, JOB_LOGOUT);
}

void h_me(struct req *r, struct resp *out)
{
    char email[256];
    int role;
    int64_t created;
    enum cg_err e;
    if (!req_auth(r, out, ROLE_VIEWER))
        return;
    e = auth_user_get(r->app->rdb, r->claims.user_id, email, &role, &created);
    if (e != CG_OK) {
        resp_error(out, e == CG_ENOTFOUND ? CG_EAUTH : e, NULL);
        return;
    }
    resp_json(out, 200,
              json_pack("{s:i,s:s,s:s,s:o}", "id", (json_int_t)r->claims.user_id, "email", email,
                        "role", auth_role_name(role), "created_at", json_time(created)));
}

void h_health(struct req *r, struct resp *out)
{
    resp_json(out, store_failed(r->app->store) ? 503 : 200,
              json_pack("{s:s,s:b,s:i}", "status", store_failed(r->app->store) ? "degraded" : "ok",
                        "store_ok", !store_failed(r->app->store), "uptime_s",
                        (json_int_t)((clock_now_ms() - r->app->started_at) / 1000)));
}
