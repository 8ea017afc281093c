/* Cache of rendered market-data answers; see mdcache.h. Network thread only. */
#include "api/mdcache.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct slot {
    struct mdcache_key key;
    char *body;
    size_t len;
};

static struct slot slots[MDCACHE_SLOTS];

static size_t slot_of(const struct mdcache_key *k)
{
    /* FNV-1a over the identifying fields (not the version or bucket: a newer answer for the
     * same request replaces the older one in place) */
    uint64_t h = 1469598103934665603ULL;
    uint64_t v[4] = {k->kind, k->market, (uint64_t)k->a, (uint64_t)k->b};
    for (size_t i = 0; i < 4; i++) {
        h ^= v[i];
        h *= 1099511628211ULL;
    }
    return (size_t)(h ^ (h >> 32)) % MDCACHE_SLOTS;
}

static bool same(const struct mdcache_key *x, const struct mdcache_key *y)
{
    return x->kind == y->kind && x->market == y->market && x->a == y->a && x->b == y->b &&
           x->version == y->version && x->bucket == y->bucket;
}

const char *mdcache_get(const struct mdcache_key *k, size_t *len)
{
    const struct slot *s = &slots[slot_of(k)];
    if (!s->body || !same(&s->key, k))
        return NULL;
    *len = s->len;
    return s->body;
}

void mdcache_put(const struct mdcache_key *k, const char *body, size_t len)
{
    struct slot *s = &slots[slot_of(k)];
    char *copy = malloc(len + 1);
    if (!copy)
        return; /* not cached; the answer itself was already built */
    memcpy(copy, body, len);
    copy[len] = '\0';
    free(s->body);
    s->key = *k;
    s->body = copy;
    s->len = len;
}

void mdcache_clear(void)
{
    for (size_t i = 0; i < MDCACHE_SLOTS; i++) {
        free(slots[i].body);
        slots[i].body = NULL;
    }
}
