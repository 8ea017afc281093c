/*
 * Cache of rendered market-data answers (GET ticker, book, candles): the JSON body of the last
 * answer per (kind, market, parameters), stamped with the read model's change counter
 * (mdata_versions) read BEFORE the answer was built. An entry is served only while the counter
 * (and, for answers that depend on the clock, the time bucket) is unchanged, so nothing is
 * served after a change was published: the store thread bumps the counter after it committed a
 * batch and before it answers that batch's requests (api/events.c), so a client that reads
 * right after its order was acknowledged misses the cache and sees the order's effect.
 *
 * A small direct-mapped table (MDCACHE_SLOTS entries; a colliding key evicts). Bodies are
 * malloc'ed copies owned by the cache. Network thread only (one server per process, like
 * server.c's pending table): no locks.
 */
#ifndef CG_API_MDCACHE_H
#define CG_API_MDCACHE_H

#include <stddef.h>
#include <stdint.h>

#define MDCACHE_SLOTS 256

enum mdcache_kind { MDC_TICKER = 1, MDC_BOOK, MDC_CANDLES };

struct mdcache_key {
    uint8_t kind; /* enum mdcache_kind */
    uint32_t market;
    int64_t a, b;     /* kind's parameters (depth; interval and limit) */
    uint64_t version; /* the read model's counter read before rendering */
    int64_t bucket;   /* clock bucket the answer is valid in (ticker: minute), else 0 */
};

/* The cached body for exactly this key (all fields equal), or NULL; *len its length. The
 * pointer is on loan until the next mdcache_put. */
const char *mdcache_get(const struct mdcache_key *k, size_t *len);
/* Remember body (len bytes, copied) under k, replacing whatever its slot held. */
void mdcache_put(const struct mdcache_key *k, const char *body, size_t len);
/* Free every entry (tests, shutdown). */
void mdcache_clear(void);

#endif
