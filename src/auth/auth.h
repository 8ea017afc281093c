/*
 * Accounts and sessions: users (argon2id passwords via libsodium's crypto_pwhash_str), access
 * tokens (JWT HS256 via libjwt, 15 minutes), and refresh tokens (opaque 32 random bytes, stored
 * as SHA-256 hex, rotated on every use; presenting an already-used token revokes its whole
 * family, i.e. every token descended from the same login).
 *
 * Threads: the db functions run on the thread that owns `db`. Password hashing is deliberately
 * slow (~0.1 s): call it off the network thread. jwt_* are pure and any thread may call them.
 * Never log passwords or tokens.
 */
#ifndef CG_AUTH_AUTH_H
#define CG_AUTH_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "store/db.h"

#define AUTH_ACCESS_TTL_S 900
#define AUTH_REFRESH_TTL_MS (30LL * 24 * 3600 * 1000)
#define AUTH_TOKEN_HEX 65 /* 64 hex chars + NUL */
#define AUTH_JWT_KEY_BYTES 32

enum auth_role { ROLE_VIEWER = 0, ROLE_TRADER = 1, ROLE_ADMIN = 2 };

struct auth_claims {
    uint64_t user_id;
    int role;    /* enum auth_role */
    int64_t exp; /* seconds since epoch */
};

const char *auth_role_name(int role);
int auth_role_parse(const char *s); /* -1 if unknown */

/* Initialise libsodium. Call once at start. CG_OK or CG_EINTERNAL. */
enum cg_err auth_init(void) __attribute__((warn_unused_result));

/*
 * Password rules: 10..128 bytes, not all digits or all letters, not containing the email's
 * local part. CG_OK or CG_EWEAKPASS.
 */
enum cg_err auth_password_policy(const char *password, const char *email)
    __attribute__((warn_unused_result));
/* Email: one '@', a dot in the domain, 3..254 bytes, no spaces. */
bool auth_email_valid(const char *email);

/*
 * Create a user with an argon2id password hash. CG_OK (id in *user_id), CG_EEXISTS (email
 * taken, compared case-insensitively), CG_EWEAKPASS, CG_EINVAL (bad email), CG_ESTORE.
 */
enum cg_err auth_user_create(struct db *db, const char *email, const char *password, int role,
                             int64_t now_ms, uint64_t *user_id) __attribute__((warn_unused_result));
/* Check email + password. CG_OK with id and role, or CG_ECREDENTIALS (no detail leaked). */
enum cg_err auth_user_login(struct db *db, const char *email, const char *password,
                            uint64_t *user_id, int *role) __attribute__((warn_unused_result));
/* Look up a user's email/role/created_at. CG_OK or CG_ENOTFOUND. email needs 256 bytes. */
enum cg_err auth_user_get(struct db *db, uint64_t user_id, char *email, int *role,
                          int64_t *created_at) __attribute__((warn_unused_result));

/*
 * Load the JWT signing key from `path` (32 raw bytes), creating it with random bytes and mode
 * 0600 when missing. CG_OK or CG_EIO.
 */
enum cg_err auth_load_key(const char *path, uint8_t key[AUTH_JWT_KEY_BYTES])
    __attribute__((warn_unused_result));
/* Issue an HS256 access token (sub, role, iat, exp). *out is malloc'ed; caller frees. */
enum cg_err auth_jwt_issue(const uint8_t *key, uint64_t user_id, int role, int64_t now_s,
                           char **out) __attribute__((warn_unused_result));
/*
 * Verify signature (HS256 only: any other alg, including "none", is refused), and expiry.
 * CG_OK, CG_EAUTH (malformed/bad signature) or CG_EEXPIRED.
 */
enum cg_err auth_jwt_verify(const uint8_t *key, const char *token, int64_t now_s,
                            struct auth_claims *out) __attribute__((warn_unused_result));

/* New refresh token in a new family (login) for user_id. token gets 64 hex chars. */
enum cg_err auth_refresh_issue(struct db *db, uint64_t user_id, int64_t now_ms,
                               char token[AUTH_TOKEN_HEX]) __attribute__((warn_unused_result));
/*
 * Rotate: the presented token is marked used and a new one of the same family is returned.
 * CG_EAUTH (unknown/expired/revoked), CG_ETOKENREUSE (already used: the family is revoked).
 */
enum cg_err auth_refresh_rotate(struct db *db, const char *token, int64_t now_ms, uint64_t *user_id,
                                char new_token[AUTH_TOKEN_HEX]) __attribute__((warn_unused_result));
/* Revoke the family of `token` if it belongs to user_id. CG_OK or CG_EAUTH. */
enum cg_err auth_refresh_revoke(struct db *db, const char *token, uint64_t user_id, int64_t now_ms)
    __attribute__((warn_unused_result));

/* Hex SHA-256 of data (65 bytes out). */
void auth_sha256_hex(const void *data, size_t len, char out[AUTH_TOKEN_HEX]);

#endif
