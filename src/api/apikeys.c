/*
 * API keys: POST/GET /api/v1/api-keys, DELETE /api/v1/api-keys/{id} (JWT only), and the
 * signed-request check (Binance's SIGNED scheme) that lets API keys call the native /api/v1
 * endpoints and the Binance-compatible /api/v3 ones.
 *
 * Key writes are single-row statements on the network thread's connection (WAL; the store
 * thread's transactions are short). Secrets are returned once, at creation, and otherwise only
 * exist sealed in the store and briefly in memory to recompute a signature; they are never
 * logged.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "api/binance.h"
#include "auth/apikey.h"
#include "core/clock.h"

#define APIKEY_MAX_PER_USER 30
#define APIKEY_MAX_IPS 16
#define APIKEY_RECV_WINDOW_DEFAULT 5000
#define APIKEY_RECV_WINDOW_MAX 60000

/* ---- signed requests ---- */

/* Append s (len n) to buf at *at, percent-encoding per RFC 3986 (unreserved kept) when enc is
 * 1, and with '+' for space (HTML form encoding, Python's urlencode) when enc is 2. */
static bool put_enc(char *buf, size_t cap, size_t *at, const char *s, size_t n, int enc)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool keep = !enc || isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
                    (c == '=' && enc == 0);
        if (*at + 4 >= cap)
            return false;
        if (keep) {
            buf[(*at)++] = (char)c;
        } else if (enc == 2 && c == ' ') {
            buf[(*at)++] = '+';
        } else {
            buf[(*at)++] = '%';
            buf[(*at)++] = hex[c >> 4];
            buf[(*at)++] = hex[c & 15];
        }
    }
    return true;
}

/*
 * The query part of the signed payload. lws 4.1 url-decodes the query in place and keeps no raw
 * copy, so the raw string is rebuilt from the decoded fragments: enc 0 as they are (what the
 * client sent when it needed no escaping, as with every ccxt request), enc 1/2 re-encoded. The
 * `signature` fragment is left out, wherever it is. A value with an escaped '&' or '=' cannot be
 * rebuilt (lws splits at the decoded character) and fails verification: refused, never accepted.
 */
static bool query_payload(const struct req *r, int enc, char *buf, size_t cap, size_t *len)
{
    const char *s = r->qraw;
    *len = 0;
    while (*s) {
        size_t n = strcspn(s, "&");
        if (n && strncmp(s, "signature=", 10)) {
            const char *eq = memchr(s, '=', n);
            if (*len && *len + 1 < cap)
                buf[(*len)++] = '&';
            if (!eq) {
                if (!put_enc(buf, cap, len, s, n, enc))
                    return false;
            } else if (!put_enc(buf, cap, len, s, (size_t)(eq - s), enc) ||
                       !put_enc(buf, cap, len, "=", 1, 0) ||
                       !put_enc(buf, cap, len, eq + 1, n - (size_t)(eq - s) - 1, enc)) {
                return false;
            }
        }
        s += n;
        if (*s == '&')
            s++;
    }
    buf[*len] = '\0';
    return true;
}

/* The body part: the raw body, less a `signature=` parameter when the body is a form. */
static size_t body_payload(const struct req *r, char *buf, size_t cap)
{
    const char *s = r->body;
    const char *end = r->body + r->body_len;
    size_t len = 0;
    if (!bn_body_is_form(r)) {
        if (r->body_len >= cap)
            return 0;
        memcpy(buf, r->body, r->body_len);
        return r->body_len;
    }
    while (s < end) {
        const char *amp = memchr(s, '&', (size_t)(end - s));
        size_t n = amp ? (size_t)(amp - s) : (size_t)(end - s);
        if (n && (n < 10 || strncmp(s, "signature=", 10))) {
            if (len && len + 1 < cap)
                buf[len++] = '&';
            if (len + n >= cap)
                return 0;
            memcpy(buf + len, s, n);
            len += n;
        }
        s += n + (amp ? 1 : 0);
    }
    return len;
}

static bool ip_allowed(const char *list, const char *ip)
{
    const char *s = list;
    size_t iplen = strlen(ip);
    if (!*list)
        return true;
    while (*s) {
        size_t n = strcspn(s, ",");
        if (n == iplen && !strncmp(s, ip, n))
            return true;
        s += n;
        if (*s == ',')
            s++;
    }
    return false;
}

/* Look up a signed request's own parameter (timestamp, recvWindow, signature): the query first,
 * then a form body. */
static bool signed_param(const struct bn_params *p, const char *key, char *out, size_t cap)
{
    const char *v = bn_param(p, key);
    if (!v)
        return false;
    snprintf(out, cap, "%s", v);
    return true;
}

static bool parse_ms(const char *s, int64_t *v)
{
    char *end;
    long long x;
    if (!*s || !isdigit((unsigned char)*s))
        return false;
    x = strtoll(s, &end, 10);
    if (*end || x < 0)
        return false;
    *v = x;
    return true;
}

static enum bn_auth_err check_signature(struct req *r, const char *secret, const char *sig)
{
    size_t cap = API_MAX_QRAW * 3 + API_MAX_BODY + 8;
    char *buf = malloc(cap);
    bool ok = false;
    size_t blen;
    char *body;
    if (!buf)
        abort();
    body = malloc(API_MAX_BODY + 1);
    if (!body)
        abort();
    blen = body_payload(r, body, API_MAX_BODY + 1);
    for (int enc = 0; enc < 3 && !ok; enc++) {
        size_t qlen;
        if (!query_payload(r, enc, buf, cap - API_MAX_BODY - 2, &qlen))
            continue;
        memcpy(buf + qlen, body, blen);
        ok = apikey_verify(secret, buf, qlen + blen, sig);
    }
    free(body);
    free(buf);
    return ok ? BNA_OK : BNA_BAD_SIG;
}

enum bn_auth_err bn_authenticate(struct req *r, bool need_trade, int min_role)
{
    static const char *sql =
        "SELECT k.user_id, k.secret_box, k.can_trade, k.ip_allow, k.revoked_at, u.role "
        "FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.api_key = ?";
    struct resp dummy = {0};
    struct bn_params *p;
    struct db_stmt *st;
    char ts[32];
    char rw[32];
    char sig[80];
    char sealed[APIKEY_SEAL_HEX_MAX];
    char secret[101];
    char ipl[APIKEY_MAX_IPS * 48];
    int64_t timestamp;
    int64_t window = APIKEY_RECV_WINDOW_DEFAULT;
    int64_t now = clock_now_ms();
    uint64_t user_id;
    int role;
    bool can_trade;
    bool revoked;
    bool found = false;
    enum bn_auth_err e;

    if (strlen(r->apikey) != APIKEY_LEN)
        return BNA_NO_KEY;
    st = db_prepare(r->app->rdb, sql);
    if (!st)
        return BNA_BAD_KEY;
    db_bind_text(st, 1, r->apikey);
    if (db_step(st) == DB_ROW) {
        found = true;
        user_id = (uint64_t)db_col_int64(st, 0);
        snprintf(sealed, sizeof(sealed), "%s", db_col_text(st, 1));
        can_trade = db_col_int64(st, 2) != 0;
        snprintf(ipl, sizeof(ipl), "%s", db_col_text(st, 3));
        revoked = !db_col_is_null(st, 4);
        role = auth_role_parse(db_col_text(st, 5));
    }
    db_reset(st);
    if (!found || revoked || role < 0 || !ip_allowed(ipl, r->ip))
        return BNA_BAD_KEY;
    p = bn_params_load(r, &dummy);
    free(dummy.body);
    if (!p)
        return BNA_NO_SIG;
    if (!signed_param(p, "timestamp", ts, sizeof(ts)) || !parse_ms(ts, &timestamp)) {
        free(p);
        return BNA_NO_TS;
    }
    if (!signed_param(p, "signature", sig, sizeof(sig))) {
        free(p);
        return BNA_NO_SIG;
    }
    if (signed_param(p, "recvWindow", rw, sizeof(rw)) &&
        (!parse_ms(rw, &window) || window > APIKEY_RECV_WINDOW_MAX)) {
        free(p);
        return BNA_RECVWINDOW;
    }
    free(p);
    if (!apikey_timestamp_ok(timestamp, now, window))
        return timestamp >= now + 1000 ? BNA_AHEAD : BNA_STALE;
    if (r->qraw_truncated || apikey_open(r->app->apikey_key, sealed, secret) != CG_OK)
        return BNA_BAD_SIG;
    e = check_signature(r, secret, sig);
    sodium_memzero(secret, sizeof(secret));
    if (e != BNA_OK)
        return e;
    if ((need_trade && (!can_trade || role < ROLE_TRADER)) || role < min_role ||
        min_role >= ROLE_ADMIN)
        return BNA_PERM;
    r->claims.user_id = user_id;
    r->claims.role = role;
    r->claims.exp = 0;
    r->key_auth = true;
    r->key_perm = APIKEY_PERM_READ | (can_trade ? APIKEY_PERM_TRADE : 0);
    return BNA_OK;
}

bool apikey_auth(struct req *r, struct resp *out, int min_role)
{
    static const char *const msgs[] = {
        [BNA_NO_KEY] = "API-key format invalid.",
        [BNA_BAD_KEY] = "Invalid API-key, IP, or permissions for action.",
        [BNA_NO_TS] = "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.",
        [BNA_NO_SIG] =
            "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.",
        [BNA_RECVWINDOW] = "recvWindow must be less than 60000",
        [BNA_STALE] = "Timestamp for this request is outside of the recvWindow.",
        [BNA_AHEAD] = "Timestamp for this request was 1000ms ahead of the server's time.",
        [BNA_BAD_SIG] = "Signature for this request is not valid.",
        [BNA_PERM] = "This API key does not have the permission for this action.",
    };
    enum bn_auth_err e = bn_authenticate(r, min_role >= ROLE_TRADER, min_role);
    if (e == BNA_OK)
        return true;
    resp_error(out, e == BNA_PERM ? CG_EFORBIDDEN : CG_EAUTH, msgs[e]);
    return false;
}

bool apikey_auth_binance(struct req *r, struct resp *out, bool trade)
{
    switch (bn_authenticate(r, trade, trade ? ROLE_TRADER : ROLE_VIEWER)) {
    case BNA_OK:
        return true;
    case BNA_NO_KEY:
        bn_error(out, 401, -2014, "API-key format invalid.");
        break;
    case BNA_BAD_KEY:
    case BNA_PERM:
        bn_error(out, 401, -2015, "Invalid API-key, IP, or permissions for action.");
        break;
    case BNA_NO_TS:
        bn_missing(out, "timestamp");
        break;
    case BNA_NO_SIG:
        bn_missing(out, "signature");
        break;
    case BNA_RECVWINDOW:
        bn_error(out, 400, -1131, "recvWindow must be less than 60000");
        break;
    case BNA_STALE:
        bn_error(out, 400, -1021, "Timestamp for this request is outside of the recvWindow.");
        break;
    case BNA_AHEAD:
        bn_error(out, 400, -1021,
                 "Timestamp for this request was 1000ms ahead of the server's time.");
        break;
    case BNA_BAD_SIG:
        bn_error(out, 400, -1022, "Signature for this request is not valid.");
        break;
    }
    return false;
}

/* ---- /api/v1/api-keys ---- */

static bool jwt_only(struct req *r, struct resp *out)
{
    if (!req_auth(r, out, ROLE_VIEWER))
        return false;
    if (r->key_auth) {
        resp_error(out, CG_EFORBIDDEN, "API keys are managed with a login (JWT), not an API key");
        return false;
    }
    return true;
}

static json_t *perms_json(bool can_read, bool can_trade)
{
    json_t *a = json_array();
    if (can_read)
        json_array_append_new(a, json_string("read"));
    if (can_trade)
        json_array_append_new(a, json_string("trade"));
    return a;
}

static json_t *ips_json(const char *list)
{
    json_t *a = json_array();
    const char *s = list;
    while (*s) {
        size_t n = strcspn(s, ",");
        json_array_append_new(a, json_stringn(s, n));
        s += n;
        if (*s == ',')
            s++;
    }
    return a;
}

/* permissions: ["read"] or ["read","trade"] ("trade" implies "read"); default ["read"]. */
static bool parse_perms(json_t *v, bool *can_trade, struct resp *out)
{
    size_t i;
    json_t *e;
    *can_trade = false;
    if (!v)
        return true;
    if (!json_is_array(v) || json_array_size(v) == 0) {
        resp_error(out, CG_EINVAL,
                   "'permissions' must be a non-empty array of \"read\", \"trade\"");
        return false;
    }
    json_array_foreach(v, i, e)
    {
        const char *s = json_string_value(e);
        if (s && !strcmp(s, "trade")) {
            *can_trade = true;
        } else if (!s || strcmp(s, "read")) {
            resp_error(out, CG_EINVAL, "'permissions' entries are \"read\" or \"trade\"");
            return false;
        }
    }
    return true;
}

static bool parse_ips(json_t *v, char *list, size_t cap, struct resp *out)
{
    size_t i;
    json_t *e;
    size_t len = 0;
    list[0] = '\0';
    if (!v)
        return true;
    if (!json_is_array(v) || json_array_size(v) > APIKEY_MAX_IPS) {
        resp_error(out, CG_EINVAL, "'ip_allow' must be an array of at most 16 IP addresses");
        return false;
    }
    json_array_foreach(v, i, e)
    {
        const char *s = json_string_value(e);
        unsigned char bin[16];
        if (!s || (inet_pton(AF_INET, s, bin) != 1 && inet_pton(AF_INET6, s, bin) != 1)) {
            resp_error(out, CG_EINVAL, "'ip_allow' entries must be IPv4 or IPv6 addresses");
            return false;
        }
        len += (size_t)snprintf(list + len, cap - len, "%s%s", len ? "," : "", s);
    }
    return true;
}

void h_apikey_create(struct req *r, struct resp *out)
{
    static const char *const allowed[] = {"label", "permissions", "ip_allow", NULL};
    static const char *sql_count =
        "SELECT COUNT(*) FROM api_keys WHERE user_id = ? AND revoked_at IS NULL";
    static const char *sql_ins =
        "INSERT INTO api_keys (user_id, api_key, secret_box, label, can_read, can_trade, "
        "ip_allow, created_at) VALUES (?, ?, ?, ?, 1, ?, ?, ?) RETURNING id";
    char key[APIKEY_LEN + 1];
    char secret[APIKEY_SECRET_LEN + 1];
    char sealed[APIKEY_SEAL_HEX_MAX];
    char ips[APIKEY_MAX_IPS * 48];
    const char *label = "";
    bool can_trade;
    int64_t now = clock_now_ms();
    int64_t id = 0;
    struct db_stmt *st;
    json_t *doc;
    json_t *v;

    if (!jwt_only(r, out))
        return;
    doc = req_json_object(r, out, allowed);
    if (!doc)
        return;
    v = json_object_get(doc, "label");
    if (v) {
        label = json_string_value(v);
        if (!label || strlen(label) > 64) {
            resp_error(out, CG_EINVAL, "'label' must be a string of at most 64 characters");
            goto out;
        }
    }
    if (!parse_perms(json_object_get(doc, "permissions"), &can_trade, out) ||
        !parse_ips(json_object_get(doc, "ip_allow"), ips, sizeof(ips), out))
        goto out;
    if (can_trade && r->claims.role < ROLE_TRADER) {
        resp_error(out, CG_EFORBIDDEN, "a viewer account cannot create a trade key");
        goto out;
    }
    st = db_prepare(r->app->rdb, sql_count);
    if (!st) {
        resp_error(out, CG_ESTORE, NULL);
        goto out;
    }
    db_bind_int64(st, 1, (int64_t)r->claims.user_id);
    if (db_step(st) == DB_ROW && db_col_int64(st, 0) >= APIKEY_MAX_PER_USER) {
        db_reset(st);
        resp_error(out, CG_ELIMIT, "at most 30 active API keys per account");
        goto out;
    }
    db_reset(st);
    apikey_random(key, APIKEY_LEN);
    apikey_random(secret, APIKEY_SECRET_LEN);
    if (apikey_seal(r->app->apikey_key, secret, sealed) != CG_OK) {
        resp_error(out, CG_EINTERNAL, NULL);
        goto out;
    }
    st = db_prepare(r->app->rdb, sql_ins);
    if (!st) {
        resp_error(out, CG_ESTORE, NULL);
        goto out;
    }
    db_bind_int64(st, 1, (int64_t)r->claims.user_id);
    db_bind_text(st, 2, key);
    db_bind_text(st, 3, sealed);
    db_bind_text(st, 4, label);
    db_bind_int64(st, 5, can_trade);
    db_bind_text(st, 6, ips);
    db_bind_int64(st, 7, now);
    if (db_step(st) == DB_ROW)
        id = db_col_int64(st, 0);
    db_reset(st);
    if (id <= 0) {
        resp_error(out, CG_ESTORE, NULL);
        goto out;
    }
    resp_json(out, 201,
              json_pack("{s:I,s:s,s:s,s:s,s:o,s:o,s:o,s:I}", "id", (json_int_t)id, "api_key", key,
                        "secret", secret, "label", label, "permissions",
                        perms_json(true, can_trade), "ip_allow", ips_json(ips), "created_at",
                        json_time(now), "created_at_ms", (json_int_t)now));
    sodium_memzero(secret, sizeof(secret));
out:
    json_decref(doc);
}

void h_apikey_list(struct req *r, struct resp *out)
{
    static const char *sql = "SELECT id, api_key, label, can_read, can_trade, ip_allow, "
                             "created_at, revoked_at FROM api_keys WHERE user_id = ? ORDER BY id";
    struct db_stmt *st;
    json_t *arr;
    if (!jwt_only(r, out))
        return;
    st = db_prepare(r->app->rdb, sql);
    if (!st) {
        resp_error(out, CG_ESTORE, NULL);
        return;
    }
    db_bind_int64(st, 1, (int64_t)r->claims.user_id);
    arr = json_array();
    while (db_step(st) == DB_ROW) {
        bool revoked = !db_col_is_null(st, 7);
        json_array_append_new(
            arr,
            json_pack("{s:I,s:s,s:s,s:o,s:o,s:o,s:o,s:b}", "id", (json_int_t)db_col_int64(st, 0),
                      "api_key", db_col_text(st, 1), "label", db_col_text(st, 2), "permissions",
                      perms_json(db_col_int64(st, 3) != 0, db_col_int64(st, 4) != 0), "ip_allow",
                      ips_json(db_col_text(st, 5)), "created_at", json_time(db_col_int64(st, 6)),
                      "revoked_at", revoked ? json_time(db_col_int64(st, 7)) : json_null(),
                      "active", !revoked));
    }
    db_reset(st);
    resp_json(out, 200, json_pack("{s:o}", "data", arr));
}

void h_apikey_revoke(struct req *r, struct resp *out)
{
    static const char *sql = "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND user_id = ? "
                             "AND revoked_at IS NULL RETURNING id";
    char *end;
    long long id;
    int64_t now = clock_now_ms();
    bool done = false;
    struct db_stmt *st;
    if (!jwt_only(r, out))
        return;
    id = strtoll(r->param, &end, 10);
    if (!isdigit((unsigned char)r->param[0]) || *end || id <= 0) {
        resp_error(out, CG_ENOTFOUND, "no such API key");
        return;
    }
    st = db_prepare(r->app->rdb, sql);
    if (!st) {
        resp_error(out, CG_ESTORE, NULL);
        return;
    }
    db_bind_int64(st, 1, now);
    db_bind_int64(st, 2, id);
    db_bind_int64(st, 3, (int64_t)r->claims.user_id);
    done = db_step(st) == DB_ROW;
    db_reset(st);
    if (!done) {
        resp_error(out, CG_ENOTFOUND, "no such active API key");
        return;
    }
    resp_json(out, 200,
              json_pack("{s:I,s:b,s:o}", "id", (json_int_t)id, "active", 0, "revoked_at",
                        json_time(now)));
}
