#include "auth/auth.h"

#include <ctype.h>
#include <fcntl.h>
#include <jwt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

const char *auth_role_name(int role)
{
    switch (role) {
    case ROLE_ADMIN:
        return "admin";
    case ROLE_TRADER:
        return "trader";
    default:
        return "viewer";
    }
}

int auth_role_parse(const char *s)
{
    if (!s)
        return -1;
    if (!strcmp(s, "admin"))
        return ROLE_ADMIN;
    if (!strcmp(s, "trader"))
        return ROLE_TRADER;
    if (!strcmp(s, "viewer"))
        return ROLE_VIEWER;
    return -1;
}

enum cg_err auth_init(void)
{
    return sodium_init() < 0 ? CG_EINTERNAL : CG_OK;
}

bool auth_email_valid(const char *email)
{
    size_t n = strlen(email);
    const char *at = strchr(email, '@');
    if (n < 3 || n > 254 || !at || at == email || strchr(at + 1, '@') || !strchr(at + 1, '.'))
        return false;
    if (at[1] == '.' || email[n - 1] == '.')
        return false;
    for (size_t i = 0; i < n; i++)
        if (isspace((unsigned char)email[i]) || (unsigned char)email[i] < 0x21)
            return false;
    return true;
}

enum cg_err auth_password_policy(const char *pw, const char *email)
{
    size_t n = strlen(pw);
    bool letter = false;
    bool other = false;
    char local[128];
    const char *at;

    if (n < 10 || n > 128)
        return CG_EWEAKPASS;
    for (size_t i = 0; i < n; i++) {
        if (isalpha((unsigned char)pw[i]))
            letter = true;
        else
            other = true;
    }
    if (!letter || !other)
        return CG_EWEAKPASS;
    at = email ? strchr(email, '@') : NULL;
    if (at && (size_t)(at - email) >= 4 && (size_t)(at - email) < sizeof(local)) {
        memcpy(local, email, (size_t)(at - email));
        local[at - email] = '\0';
        if (strcasestr(pw, local))
            return CG_EWEAKPASS;
    }
    return CG_OK;
}

void auth_sha256_hex(const void *data, size_t len, char out[AUTH_TOKEN_HEX])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, data, len);
    sodium_bin2hex(out, AUTH_TOKEN_HEX, h, sizeof(h));
}

static void lower_copy(char *dst, const char *src, size_t cap)
{
    size_t i = 0;
    for (; src[i] && i + 1 < cap; i++)
        dst[i] = (char)tolower((unsigned char)src[i]);
    dst[i] = '\0';
}

enum cg_err auth_user_create(struct db *db, const char *email, const char *password, int role,
                             int64_t now_ms, uint64_t *user_id)
{
    static const char *sql_find = "SELECT id FROM users WHERE email = ?";
    static const char *sql_ins =
        "INSERT INTO users (id, email, password_hash, role, created_at) VALUES "
        "((SELECT CASE WHEN MAX(id) >= 100 THEN MAX(id) + 1 ELSE 100 END FROM users), ?, ?, ?, ?)";
    char hash[crypto_pwhash_STRBYTES];
    char em[256];
    struct db_stmt *st;
    enum db_step rc;

    if (!auth_email_valid(email))
        return CG_EINVAL;
    if (auth_password_policy(password, email) != CG_OK)
        return CG_EWEAKPASS;
    lower_copy(em, email, sizeof(em));
    st = db_prepare(db, sql_find);
    if (!st)
        return CG_ESTORE;
    db_bind_text(st, 1, em);
    rc = db_step(st);
    db_reset(st);
    if (rc == DB_ROW)
        return CG_EEXISTS;
    if (crypto_pwhash_str(hash, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        return CG_ENOMEM;
    st = db_prepare(db, sql_ins);
    if (!st)
        return CG_ESTORE;
    db_bind_text(st, 1, em);
    db_bind_text(st, 2, hash);
    db_bind_text(st, 3, auth_role_name(role));
    db_bind_int64(st, 4, now_ms);
    rc = db_step(st);
    db_reset(st);
    if (rc != DB_DONE)
        return CG_EEXISTS; /* lost a race on the unique email */
    st = db_prepare(db, sql_find);
    if (!st)
        return CG_ESTORE;
    db_bind_text(st, 1, em);
    if (db_step(st) != DB_ROW) {
        db_reset(st);
        return CG_ESTORE;
    }
    *user_id = (uint64_t)db_col_int64(st, 0);
    db_reset(st);
    return CG_OK;
}

enum cg_err auth_user_login(struct db *db, const char *email, const char *password,
                            uint64_t *user_id, int *role)
{
    static const char *sql =
        "SELECT id, password_hash, role FROM users WHERE email = ? AND role != 'house'";
    /* A valid hash of a random password, so unknown emails cost the same time. */
    static char dummy[crypto_pwhash_STRBYTES];
    char em[256];
    char hash[crypto_pwhash_STRBYTES];
    struct db_stmt *st = db_prepare(db, sql);
    bool found = false;

    if (!st)
        return CG_ESTORE;
    lower_copy(em, email, sizeof(em));
    db_bind_text(st, 1, em);
    if (db_step(st) == DB_ROW) {
        found = true;
        *user_id = (uint64_t)db_col_int64(st, 0);
        snprintf(hash, sizeof(hash), "%s", db_col_text(st, 1));
        *role = auth_role_parse(db_col_text(st, 2));
    }
    db_reset(st);
    if (!found) {
        if (!dummy[0] &&
            crypto_pwhash_str(dummy, "not-a-password-0", 16, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                              crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
            return CG_ECREDENTIALS;
        if (crypto_pwhash_str_verify(dummy, password, strlen(password)) == 0)
            return CG_ECREDENTIALS;
        return CG_ECREDENTIALS;
    }
    if (crypto_pwhash_str_verify(hash, password, strlen(password)) != 0)
        return CG_ECREDENTIALS;
    return CG_OK;
}

enum cg_err auth_user_get(struct db *db, uint64_t user_id, char *email, int *role,
                          int64_t *created_at)
{
    static const char *sql = "SELECT email, role, created_at FROM users WHERE id = ?";
    struct db_stmt *st = db_prepare(db, sql);
    enum cg_err err = CG_ENOTFOUND;
    if (!st)
        return CG_ESTORE;
    db_bind_int64(st, 1, (int64_t)user_id);
    if (db_step(st) == DB_ROW) {
        snprintf(email, 256, "%s", db_col_text(st, 0));
        *role = auth_role_parse(db_col_text(st, 1));
        *created_at = db_col_int64(st, 2);
        err = CG_OK;
    }
    db_reset(st);
    return err;
}

enum cg_err auth_load_key(const char *path, uint8_t key[AUTH_JWT_KEY_BYTES])
{
    int fd = open(path, O_RDONLY);
    if (fd >= 0) {
        ssize_t n = read(fd, key, AUTH_JWT_KEY_BYTES);
        close(fd);
        if (n == AUTH_JWT_KEY_BYTES)
            return CG_OK;
        log_error("auth: key file %s is damaged", path);
        return CG_EIO;
    }
    randombytes_buf(key, AUTH_JWT_KEY_BYTES);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0 || write(fd, key, AUTH_JWT_KEY_BYTES) != AUTH_JWT_KEY_BYTES || fsync(fd) != 0) {
        if (fd >= 0)
            close(fd);
        log_error("auth: cannot write key file %s", path);
        return CG_EIO;
    }
    close(fd);
    return CG_OK;
}

enum cg_err auth_jwt_issue(const uint8_t *key, uint64_t user_id, int role, int64_t now_s,
                           char **out)
{
    jwt_t *jwt = NULL;
    char sub[24];
    char jti[33];
    unsigned char rnd[16];
    char *tok;

    if (jwt_new(&jwt) != 0)
        return CG_ENOMEM;
    snprintf(sub, sizeof(sub), "%llu", (unsigned long long)user_id);
    randombytes_buf(rnd, sizeof(rnd));
    sodium_bin2hex(jti, sizeof(jti), rnd, sizeof(rnd));
    if (jwt_add_grant(jwt, "sub", sub) || jwt_add_grant(jwt, "role", auth_role_name(role)) ||
        jwt_add_grant(jwt, "jti", jti) || jwt_add_grant_int(jwt, "iat", (long)now_s) ||
        jwt_add_grant_int(jwt, "exp", (long)(now_s + AUTH_ACCESS_TTL_S)) ||
        jwt_set_alg(jwt, JWT_ALG_HS256, key, AUTH_JWT_KEY_BYTES)) {
        jwt_free(jwt);
        return CG_EINTERNAL;
    }
    tok = jwt_encode_str(jwt);
    jwt_free(jwt);
    if (!tok)
        return CG_ENOMEM;
    *out = tok;
    return CG_OK;
}

enum cg_err auth_jwt_verify(const uint8_t *key, const char *token, int64_t now_s,
                            struct auth_claims *out)
{
    jwt_t *jwt = NULL;
    const char *sub;
    const char *role;
    long exp;
    char *end;
    enum cg_err err = CG_EAUTH;

    if (!token || strlen(token) > 4096)
        return CG_EAUTH;
    if (jwt_decode(&jwt, token, key, AUTH_JWT_KEY_BYTES) != 0 || !jwt)
        return CG_EAUTH;
    if (jwt_get_alg(jwt) != JWT_ALG_HS256)
        goto out;
    sub = jwt_get_grant(jwt, "sub");
    role = jwt_get_grant(jwt, "role");
    exp = jwt_get_grant_int(jwt, "exp");
    if (!sub || !role || exp <= 0)
        goto out;
    out->user_id = strtoull(sub, &end, 10);
    out->role = auth_role_parse(role);
    out->exp = exp;
    if (*end || out->user_id == 0 || out->role < 0)
        goto out;
    err = exp <= now_s ? CG_EEXPIRED : CG_OK;
out:
    jwt_free(jwt);
    return err;
}

static void new_token(char token[AUTH_TOKEN_HEX])
{
    unsigned char rnd[32];
    randombytes_buf(rnd, sizeof(rnd));
    sodium_bin2hex(token, AUTH_TOKEN_HEX, rnd, sizeof(rnd));
}

static enum cg_err insert_refresh(struct db *db, uint64_t user_id, const char *family,
                                  int64_t now_ms, char token[AUTH_TOKEN_HEX])
{
    static const char *sql = "INSERT INTO refresh_tokens (user_id, family, token_hash, "
                             "created_at, expires_at) VALUES (?,?,?,?,?)";
    char h[AUTH_TOKEN_HEX];
    struct db_stmt *st = db_prepare(db, sql);
    enum db_step rc;
    if (!st)
        return CG_ESTORE;
    new_token(token);
    auth_sha256_hex(token, 64, h);
    db_bind_int64(st, 1, (int64_t)user_id);
    db_bind_text(st, 2, family);
    db_bind_text(st, 3, h);
    db_bind_int64(st, 4, now_ms);
    db_bind_int64(st, 5, now_ms + AUTH_REFRESH_TTL_MS);
    rc = db_step(st);
    db_reset(st);
    return rc == DB_DONE ? CG_OK : CG_ESTORE;
}

enum cg_err auth_refresh_issue(struct db *db, uint64_t user_id, int64_t now_ms,
                               char token[AUTH_TOKEN_HEX])
{
    char family[AUTH_TOKEN_HEX];
    new_token(family);
    return insert_refresh(db, user_id, family, now_ms, token);
}

static void revoke_family(struct db *db, const char *family, int64_t now_ms)
{
    static const char *sql =
        "UPDATE refresh_tokens SET revoked_at = ? WHERE family = ? AND revoked_at IS NULL";
    struct db_stmt *st = db_prepare(db, sql);
    if (!st)
        return;
    db_bind_int64(st, 1, now_ms);
    db_bind_text(st, 2, family);
    (void)db_step(st);
    db_reset(st);
}

enum cg_err auth_refresh_rotate(struct db *db, const char *token, int64_t now_ms, uint64_t *user_id,
                                char new_tok[AUTH_TOKEN_HEX])
{
    static const char *sql_find = "SELECT id, user_id, family, expires_at, used_at, revoked_at "
                                  "FROM refresh_tokens WHERE token_hash = ?";
    static const char *sql_use =
        "UPDATE refresh_tokens SET used_at = ? WHERE id = ? AND used_at IS NULL";
    char h[AUTH_TOKEN_HEX];
    char family[AUTH_TOKEN_HEX];
    struct db_stmt *st;
    int64_t id;
    bool used;
    bool revoked;
    int64_t expires;
    enum cg_err err;

    if (!token || strlen(token) != 64)
        return CG_EAUTH;
    auth_sha256_hex(token, 64, h);
    if (db_begin(db) != CG_OK)
        return CG_ESTORE;
    st = db_prepare(db, sql_find);
    if (!st)
        goto fail;
    db_bind_text(st, 1, h);
    if (db_step(st) != DB_ROW) {
        db_reset(st);
        db_rollback(db);
        return CG_EAUTH;
    }
    id = db_col_int64(st, 0);
    *user_id = (uint64_t)db_col_int64(st, 1);
    snprintf(family, sizeof(family), "%s", db_col_text(st, 2));
    expires = db_col_int64(st, 3);
    used = !db_col_is_null(st, 4);
    revoked = !db_col_is_null(st, 5);
    db_reset(st);
    if (used) {
        /* Reuse of a rotated token: someone else may hold the family. Revoke all of it. */
        revoke_family(db, family, now_ms);
        err = db_commit(db) == CG_OK ? CG_ETOKENREUSE : CG_ESTORE;
        log_warn("auth: refresh token reuse for user %llu; session family revoked",
                 (unsigned long long)*user_id);
        return err;
    }
    if (revoked || expires <= now_ms) {
        db_rollback(db);
        return CG_EAUTH;
    }
    st = db_prepare(db, sql_use);
    if (!st)
        goto fail;
    db_bind_int64(st, 1, now_ms);
    db_bind_int64(st, 2, id);
    if (db_step(st) != DB_DONE) {
        db_reset(st);
        goto fail;
    }
    db_reset(st);
    if (insert_refresh(db, *user_id, family, now_ms, new_tok) != CG_OK)
        goto fail;
    return db_commit(db) == CG_OK ? CG_OK : CG_ESTORE;
fail:
    db_rollback(db);
    return CG_ESTORE;
}

enum cg_err auth_refresh_revoke(struct db *db, const char *token, uint64_t user_id, int64_t now_ms)
{
    static const char *sql = "SELECT family FROM refresh_tokens WHERE token_hash = ? AND "
                             "user_id = ?";
    char h[AUTH_TOKEN_HEX];
    char family[AUTH_TOKEN_HEX];
    struct db_stmt *st;
    if (!token || strlen(token) != 64)
        return CG_EAUTH;
    auth_sha256_hex(token, 64, h);
    st = db_prepare(db, sql);
    if (!st)
        return CG_ESTORE;
    db_bind_text(st, 1, h);
    db_bind_int64(st, 2, (int64_t)user_id);
    if (db_step(st) != DB_ROW) {
        db_reset(st);
        return CG_EAUTH;
    }
    snprintf(family, sizeof(family), "%s", db_col_text(st, 0));
    db_reset(st);
    revoke_family(db, family, now_ms);
    return CG_OK;
}
