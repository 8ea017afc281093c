/* Verified access tokens until their expiry; see jwtcache.h. Network thread only. */
#include "api/jwtcache.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct slot {
    size_t len; /* 0 = empty */
    char token[JWTCACHE_TOKEN_MAX];
    uint8_t key[AUTH_JWT_KEY_BYTES];
    struct auth_claims claims;
};

static struct slot *slots; /* JWTCACHE_SLOTS, allocated on first use */

static size_t slot_of(const char *token, size_t len)
{
    /* FNV-1a: spreads tokens over the slots; equality is decided by the full comparison */
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)token[i];
        h *= 1099511628211ULL;
    }
    return (size_t)(h ^ (h >> 32)) % JWTCACHE_SLOTS;
}

enum cg_err jwtcache_verify(const uint8_t key[AUTH_JWT_KEY_BYTES], const char *token, int64_t now_s,
                            struct auth_claims *out)
{
    size_t len = token ? strnlen(token, JWTCACHE_TOKEN_MAX) : 0;
    struct slot *s;
    enum cg_err e;
    if (len == 0 || len >= JWTCACHE_TOKEN_MAX)
        return auth_jwt_verify(key, token, now_s, out);
    if (!slots)
        slots = calloc(JWTCACHE_SLOTS, sizeof(*slots));
    if (!slots)
        return auth_jwt_verify(key, token, now_s, out);
    s = &slots[slot_of(token, len)];
    if (s->len == len && sodium_memcmp(s->token, token, len) == 0 &&
        sodium_memcmp(s->key, key, AUTH_JWT_KEY_BYTES) == 0 && now_s < s->claims.exp) {
        *out = s->claims;
        return CG_OK;
    }
    e = auth_jwt_verify(key, token, now_s, out);
    if (e == CG_OK) {
        memcpy(s->token, token, len);
        memcpy(s->key, key, AUTH_JWT_KEY_BYTES);
        s->claims = *out;
        s->len = len;
    }
    return e;
}

void jwtcache_clear(void)
{
    free(slots);
    slots = NULL;
}
