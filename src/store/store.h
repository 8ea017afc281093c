/*
 * The store thread: commits each engine batch in ONE transaction (group commit), and only then
 * lets the batch's requests be answered (ack after durable). Also: recovery at start-up.
 *
 * Fail-stop: if a commit fails, the store marks itself failed (store_failed() turns true), drops
 * the batch's acks into 503 responses, and refuses later batches; the process must be restarted
 * and recovers from what was committed. That includes a lost PostgreSQL connection (backend
 * terminated, server stopped): store_new turns reconnecting off on the writer's connection
 * (db_set_reconnect), while the API's read connections reconnect once the server is back. A
 * commit whose connection was lost may have committed on the server with only the answer lost:
 * its clients got a 503 and the restart's recovery shows the batch either whole or absent.
 */
#ifndef CG_STORE_STORE_H
#define CG_STORE_STORE_H

#include <stdbool.h>

#include "core/config.h"
#include "engine/engine.h"
#include "store/db.h"

struct store_hooks {
    /* Store thread, before the transaction: fill b->statuses/b->bodies (one per result). */
    void (*render)(struct batch *b, void *ctx);
    /* Store thread, after the commit (or after a failure, with ok false): publish and answer.
     * Takes ownership of b. */
    void (*committed)(struct batch *b, bool ok, void *ctx);
    void *ctx;
};

struct store;

/* A store over `db` (borrowed; used only by the store thread after store_start). */
struct store *store_new(struct db *db, const struct config *cfg, struct store_hooks hooks);
void store_free(struct store *s);
enum cg_err store_start(struct store *s) __attribute__((warn_unused_result));
/* Stop after committing every batch already submitted. */
void store_stop(struct store *s);
/* Engine thread: queue a batch (takes ownership). Blocks while 8 batches are pending. */
void store_submit(struct store *s, struct batch *b);
/* engine_emit_fn adapter: ctx is the struct store. */
void store_emit(struct batch *b, void *ctx);
bool store_failed(const struct store *s);
/* Test hook: let `commits` more commits of batches that answer requests succeed, then fail the
 * next one as a full disk would (-1 = never). Call before store_start. */
void store_fail_after(struct store *s, long commits);

/*
 * Recovery, before the engine starts: load balances, holds and open orders (each price level in seq
 * order, so time priority survives) and the id counters into the engine; release the house
 * liquidity provider's holds (its quotes are not persisted: it re-quotes from the feed). Then check
 * that every asset's accounts sum to zero, no user account is negative or over-held, and the engine
 * invariants (holds == what open orders reserve). It reads balances and open orders only, never
 * the whole journal, so it stays fast with millions of postings (bench/bench_recovery.c); the
 * full audit, balances == their postings, is store_check_ledger (`coinage check`).
 * Returns CG_OK or CG_ESTORE with msg.
 */
enum cg_err store_recover(struct db *db, const struct config *cfg, struct engine *e, char *msg,
                          size_t msglen) __attribute__((warn_unused_result));

/* Invariants straight from the store: postings sum to zero per asset, balances == postings,
 * no user balance below zero. true if all hold; else false with msg. Any thread, own db. */
bool store_check_ledger(struct db *db, char *msg, size_t msglen);

/* Text names used in the store and the API. */
const char *store_side_name(int side);
const char *store_type_name(int type);
const char *store_tif_name(int tif);
const char *store_stp_name(int stp);
int store_stp_parse(const char *s);
int store_side_parse(const char *s);
int store_type_parse(const char *s);
int store_tif_parse(const char *s);
int store_status_parse(const char *s);
const char *entry_kind_name(int kind);

#endif
