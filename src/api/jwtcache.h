/*
 * Verified access tokens, remembered until they expire, so that a client sending the same
 * bearer token on every request pays for HS256 verification (libjwt: base64url, JSON, HMAC)
 * once, not per request.
 *
 * Keyed by the WHOLE token string, compared in constant time (sodium_memcmp) after the length:
 * a token that differs in any byte (another signature, another payload) is verified afresh by
 * auth_jwt_verify. An entry is used only while now_s < its exp, the same rule as
 * auth_jwt_verify (exp <= now is CG_EEXPIRED); an expired token falls through to
 * auth_jwt_verify, which refuses it. Only successful verifications are remembered. Access
 * tokens are stateless (auth.h: nothing server-side revokes one before exp), so the cache
 * refuses nothing that auth_jwt_verify would accept, and accepts nothing it would refuse.
 *
 * JWTCACHE_SLOTS direct-mapped entries (a colliding token evicts). One signing key per process
 * (the key is part of the entry anyway). Network thread only: no locks.
 */
#ifndef CG_API_JWTCACHE_H
#define CG_API_JWTCACHE_H

#include <stdint.h>

#include "auth/auth.h"

#define JWTCACHE_SLOTS 1024
#define JWTCACHE_TOKEN_MAX 1024

/* auth_jwt_verify(key, token, now_s, out) with the cache above; same results. */
enum cg_err jwtcache_verify(const uint8_t key[AUTH_JWT_KEY_BYTES], const char *token, int64_t now_s,
                            struct auth_claims *out) __attribute__((warn_unused_result));
/* Forget every entry. */
void jwtcache_clear(void);

#endif
