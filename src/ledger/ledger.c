#include "ledger/ledger.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct account {
    uint64_t user_id; /* 0 = empty slot */
    uint32_t asset;
    struct balance b;
};

struct ledger {
    size_t n_assets;
    struct account *slots;
    size_t cap; /* power of two */
    size_t used;
};

static uint64_t mix(uint64_t user_id, uint32_t asset)
{
    uint64_t h = user_id * 0x9E3779B97F4A7C15ULL ^ ((uint64_t)asset * 0xC2B2AE3D27D4EB4FULL);
    return h ^ (h >> 29);
}

struct ledger *ledger_new(size_t n_assets)
{
    struct ledger *lg = calloc(1, sizeof(*lg));
    if (!lg)
        return NULL;
    lg->n_assets = n_assets;
    lg->cap = 1024;
    lg->slots = calloc(lg->cap, sizeof(*lg->slots));
    if (!lg->slots) {
        free(lg);
        return NULL;
    }
    return lg;
}

void ledger_free(struct ledger *lg)
{
    if (!lg)
        return;
    free(lg->slots);
    free(lg);
}

static struct account *find_slot(struct account *slots, size_t cap, uint64_t user_id,
                                 uint32_t asset)
{
    size_t i = mix(user_id, asset) & (cap - 1);
    while (slots[i].user_id && !(slots[i].user_id == user_id && slots[i].asset == asset))
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

static bool grow(struct ledger *lg)
{
    size_t ncap = lg->cap * 2;
    struct account *ns = calloc(ncap, sizeof(*ns));
    if (!ns)
        return false;
    for (size_t i = 0; i < lg->cap; i++) {
        if (lg->slots[i].user_id)
            *find_slot(ns, ncap, lg->slots[i].user_id, lg->slots[i].asset) = lg->slots[i];
    }
    free(lg->slots);
    lg->slots = ns;
    lg->cap = ncap;
    return true;
}

static struct account *get_or_add(struct ledger *lg, uint64_t user_id, uint32_t asset)
{
    struct account *a;
    if ((lg->used + 1) * 2 > lg->cap && !grow(lg))
        return NULL;
    a = find_slot(lg->slots, lg->cap, user_id, asset);
    if (!a->user_id) {
        a->user_id = user_id;
        a->asset = asset;
        lg->used++;
    }
    return a;
}

const struct balance *ledger_get(const struct ledger *lg, uint64_t user_id, uint32_t asset)
{
    struct account *a = find_slot(lg->slots, lg->cap, user_id, asset);
    return a->user_id ? &a->b : NULL;
}

int64_t ledger_available(const struct ledger *lg, uint64_t user_id, uint32_t asset)
{
    const struct balance *b = ledger_get(lg, user_id, asset);
    return b ? b->total - b->held : 0;
}

bool ledger_is_issuer(uint64_t user_id)
{
    return user_id == LEDGER_MINT_ID;
}

enum cg_err ledger_hold(struct ledger *lg, uint64_t user_id, uint32_t asset, int64_t amount)
{
    struct account *a;
    if (amount <= 0 || asset >= lg->n_assets || user_id == 0)
        return CG_EINVAL;
    a = find_slot(lg->slots, lg->cap, user_id, asset);
    if (!a->user_id || a->b.total - a->b.held < amount)
        return CG_EFUNDS;
    a->b.held += amount;
    return CG_OK;
}

void ledger_release(struct ledger *lg, uint64_t user_id, uint32_t asset, int64_t amount)
{
    struct account *a = find_slot(lg->slots, lg->cap, user_id, asset);
    if (amount == 0)
        return;
    assert(a->user_id && amount > 0 && amount <= a->b.held);
    a->b.held -= amount;
}

enum cg_err ledger_post(struct ledger *lg, struct journal_entry *e)
{
    int64_t sums[64] = {0};
    struct account *acc[LEDGER_MAX_POSTINGS];

    if (e->n == 0 || e->n > LEDGER_MAX_POSTINGS)
        return CG_EINVAL;
    for (uint32_t i = 0; i < e->n; i++) {
        const struct posting *p = &e->p[i];
        if (p->user_id == 0 || p->asset >= lg->n_assets || p->asset >= 64 || p->from_held < 0 ||
            (p->from_held > 0 && p->from_held > -p->amount))
            return CG_EINVAL;
        if (__builtin_add_overflow(sums[p->asset], p->amount, &sums[p->asset]))
            return CG_EOVERFLOW;
    }
    for (size_t a = 0; a < lg->n_assets && a < 64; a++)
        if (sums[a] != 0)
            return CG_EINVAL;
    /* Check every posting's running result on the current balances (a missing account is
     * zero), and only then create accounts and apply: a refused entry changes nothing. Each
     * account is looked up once here; only when one is missing (creating it may grow and move
     * the table) are they all looked up again. */
    bool missing = false;
    for (uint32_t i = 0; i < e->n; i++) {
        struct account *a = find_slot(lg->slots, lg->cap, e->p[i].user_id, e->p[i].asset);
        const struct balance *b = a->user_id ? &a->b : NULL;
        int64_t total = b ? b->total : 0;
        int64_t held = b ? b->held : 0;
        acc[i] = a;
        missing |= b == NULL;
        for (uint32_t j = 0; j <= i; j++) {
            if (e->p[j].user_id != e->p[i].user_id || e->p[j].asset != e->p[i].asset)
                continue;
            if (__builtin_add_overflow(total, e->p[j].amount, &total))
                return CG_EOVERFLOW;
            held -= e->p[j].from_held;
        }
        if (held < 0)
            return CG_EINVAL;
        if (!ledger_is_issuer(e->p[i].user_id) && (total < 0 || total < held))
            return CG_EFUNDS;
    }
    if (missing) {
        for (uint32_t i = 0; i < e->n; i++)
            if (!get_or_add(lg, e->p[i].user_id, e->p[i].asset))
                return CG_ENOMEM;
        for (uint32_t i = 0; i < e->n; i++)
            acc[i] = find_slot(lg->slots, lg->cap, e->p[i].user_id, e->p[i].asset);
    }
    for (uint32_t i = 0; i < e->n; i++) {
        acc[i]->b.total += e->p[i].amount;
        acc[i]->b.held -= e->p[i].from_held;
    }
    return CG_OK;
}

enum cg_err ledger_restore(struct ledger *lg, uint64_t user_id, uint32_t asset, int64_t total,
                           int64_t held)
{
    struct account *a;
    if (asset >= lg->n_assets || user_id == 0)
        return CG_EINVAL;
    a = get_or_add(lg, user_id, asset);
    if (!a)
        return CG_ENOMEM;
    a->b.total = total;
    a->b.held = held;
    return CG_OK;
}

bool ledger_check(const struct ledger *lg, char *msg, size_t msglen)
{
    __int128 sums[64] = {0};
    for (size_t i = 0; i < lg->cap; i++) {
        const struct account *a = &lg->slots[i];
        if (!a->user_id)
            continue;
        if (a->asset < 64)
            sums[a->asset] += a->b.total;
        if (!ledger_is_issuer(a->user_id) &&
            (a->b.total < 0 || a->b.held < 0 || a->b.held > a->b.total)) {
            snprintf(msg, msglen, "account %llu asset %u: total %lld held %lld",
                     (unsigned long long)a->user_id, a->asset, (long long)a->b.total,
                     (long long)a->b.held);
            return false;
        }
    }
    for (size_t a = 0; a < lg->n_assets && a < 64; a++) {
        if (sums[a] != 0) {
            snprintf(msg, msglen, "asset %zu does not sum to zero", a);
            return false;
        }
    }
    return true;
}

void ledger_foreach(const struct ledger *lg,
                    void (*fn)(uint64_t user_id, uint32_t asset, const struct balance *b,
                               void *ctx),
                    void *ctx)
{
    for (size_t i = 0; i < lg->cap; i++)
        if (lg->slots[i].user_id)
            fn(lg->slots[i].user_id, lg->slots[i].asset, &lg->slots[i].b, ctx);
}
