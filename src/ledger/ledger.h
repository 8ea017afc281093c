/*
 * Balances and the double-entry journal.
 *
 * Every account is (user id, asset). An account's `total` is the sum of its postings; `held` is
 * the part reserved by open orders; available = total - held. Value only moves through journal
 * entries whose postings sum to zero per asset (ledger_post). Holds move nothing between
 * accounts, so they are not postings: ledger_hold/ledger_release only change `held`, and the
 * invariant held == what open orders reserve is checked against the order book (engine) and at
 * recovery.
 *
 * House accounts (ids below LEDGER_FIRST_USER_ID): the paper mint (issues paper top-ups, goes
 * negative by design), the fee account and the house liquidity provider. User accounts never go
 * below zero and never hold more than they have.
 *
 * Units: minor units of the account's asset. Thread: engine thread only (and recovery before
 * the engine starts).
 */
#ifndef CG_LEDGER_LEDGER_H
#define CG_LEDGER_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define LEDGER_MINT_ID 1ULL
#define LEDGER_FEES_ID 2ULL
#define LEDGER_HOUSE_LP_ID 3ULL
#define LEDGER_FIRST_USER_ID 100ULL
#define LEDGER_MAX_POSTINGS 6

enum entry_kind { ENTRY_DEPOSIT = 1, ENTRY_WITHDRAWAL, ENTRY_TRADE, ENTRY_HOUSE_FUNDING };

struct balance {
    int64_t total;
    int64_t held;
};

struct posting {
    uint64_t user_id;
    uint32_t asset;
    int64_t amount; /* signed minor units */
    /* set by ledger_post: the part of a negative amount taken from `held` */
    int64_t from_held;
};

struct journal_entry {
    uint64_t id;
    uint8_t kind;    /* enum entry_kind */
    uint64_t ref_id; /* fill id for trades, 0 otherwise */
    int64_t ts;      /* ms */
    uint32_t n;
    struct posting p[LEDGER_MAX_POSTINGS];
};

struct ledger;

/* Empty ledger for `n_assets` assets. NULL on out of memory. */
struct ledger *ledger_new(size_t n_assets);
void ledger_free(struct ledger *lg);

/* The balance of (user, asset), or NULL if the account was never touched (all zero). */
const struct balance *ledger_get(const struct ledger *lg, uint64_t user_id, uint32_t asset);
/* available = total - held; 0 for an unknown account. */
int64_t ledger_available(const struct ledger *lg, uint64_t user_id, uint32_t asset);

/* Whether the account may go negative (the paper mint). */
bool ledger_is_issuer(uint64_t user_id);

/*
 * Reserve `amount` (> 0) of the available balance. CG_OK, CG_EINVAL (amount <= 0) or CG_EFUNDS
 * (available < amount); on error nothing changes.
 */
enum cg_err ledger_hold(struct ledger *lg, uint64_t user_id, uint32_t asset, int64_t amount)
    __attribute__((warn_unused_result));
/* Return `amount` (0 <= amount <= held) of the held balance to available. Asserts the bound. */
void ledger_release(struct ledger *lg, uint64_t user_id, uint32_t asset, int64_t amount);

/*
 * Apply a journal entry. Postings must sum to zero per asset and name real accounts (user id
 * > 0), else CG_EINVAL. A negative
 * posting with `from_held` > 0 consumes that much of the account's hold first (trade settlement
 * of an order's reservation). Fails with CG_EFUNDS if a non-issuer account would end with
 * total < held or total < 0. On error nothing changes.
 */
enum cg_err ledger_post(struct ledger *lg, struct journal_entry *e)
    __attribute__((warn_unused_result));

/* Set an account directly (recovery from the store only). */
enum cg_err ledger_restore(struct ledger *lg, uint64_t user_id, uint32_t asset, int64_t total,
                           int64_t held) __attribute__((warn_unused_result));

/*
 * Check: every asset's totals sum to zero; no non-issuer total < 0, held < 0 or held > total.
 * Returns true when all hold; otherwise false with a description in msg.
 */
bool ledger_check(const struct ledger *lg, char *msg, size_t msglen);

/* Visit every account. */
void ledger_foreach(const struct ledger *lg,
                    void (*fn)(uint64_t user_id, uint32_t asset, const struct balance *b,
                               void *ctx),
                    void *ctx);

#endif
