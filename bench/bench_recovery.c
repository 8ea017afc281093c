/*
 * Recovery-time benchmark (issue 4): build a store with N historical fills (2N orders) and M
 * open orders through the real engine and the real store thread (group commit, one transaction
 * per batch), then measure store_recover() on it: load balances, holds and open orders (in seq
 * order), check every asset's postings sum to zero, balances equal their postings, and the
 * engine invariants. bench/bench_recovery.sh also times a whole `coinage serve` start on the
 * same store until /health answers.
 *
 * Usage: bench_recovery generate <data-dir> [fills, default 1000000] [open, default 100000]
 *        bench_recovery recover <data-dir> [runs, default 3]
 * The store is SQLite at <data-dir>/coinage.db, or the PostgreSQL database named by COINAGE_DB
 * (a postgres:// URI, as for `coinage serve`) when that is set: `make bench-recovery-pg`.
 *
 * Workload (market BTC-USDT of config/markets.json; 1,000 users, each funded with 1M USDT and
 * 1,000 BTC):
 *  - history: user a rests a sell of 0.001 BTC at 50,000.00 + (i mod 100) ticks, user b buys it
 *    with a crossing limit: one fill per pair, both orders end filled;
 *  - open: buys of 0.05-0.10 BTC at 100.00-1,099.99 USDT (far below any real price, so the
 *    house never fills them after a restart), spread over all users and 100,000 price ticks.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "core/amount.h"
#include "core/config.h"
#include "core/err.h"
#include "engine/engine.h"
#include "ledger/ledger.h"
#include "store/db.h"
#include "store/store.h"

#define USERS 1000u
#define BATCH 4096u

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of this process (user + system), s: unlike wall time, barely affected by other
 * processes on a shared machine. */
static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void committed(struct batch *b, bool ok, void *ctx)
{
    (void)ctx;
    if (!ok) {
        fprintf(stderr, "bench_recovery: a commit failed\n");
        exit(1);
    }
    batch_free(b);
}

struct gen {
    struct engine *eng;
    struct store *store;
    struct cmd *cmds[BATCH];
    size_t n;
    int64_t ts;
    uint64_t failed;
};

static struct cmd *next_cmd(struct gen *g)
{
    struct cmd *c = calloc(1, sizeof(*c));
    if (!c)
        abort();
    c->ts = ++g->ts;
    g->cmds[g->n++] = c;
    return c;
}

static void flush(struct gen *g)
{
    struct batch *b;
    if (g->n == 0)
        return;
    b = engine_run_batch(g->eng, g->cmds, g->n);
    for (size_t i = 0; i < b->results.n; i++)
        if (b->results.v[i].err != CG_OK && g->failed++ == 0)
            fprintf(stderr, "bench_recovery: first refused command: type %d user %" PRIu64 ": %s\n",
                    b->results.v[i].type, b->results.v[i].user_id,
                    cg_err_code(b->results.v[i].err));
    for (size_t i = 0; i < g->n; i++)
        free(g->cmds[i]);
    g->n = 0;
    store_submit(g->store, b);
}

static void maybe_flush(struct gen *g)
{
    if (g->n == BATCH)
        flush(g);
}

/* The store the benchmark uses: COINAGE_DB if set (PostgreSQL), else SQLite in `dir`. */
static void store_url(const char *dir, char *out, size_t len)
{
    const char *url = getenv("COINAGE_DB");
    if (url && url[0])
        snprintf(out, len, "%s", url);
    else
        snprintf(out, len, "%s/coinage.db", dir);
}

static int load_cfg(struct config *cfg)
{
    char err[512];
    if (config_load("config/markets.json", ".", cfg, err, sizeof(err)) != CG_OK) {
        fprintf(stderr, "bench_recovery: %s (run from the project directory)\n", err);
        return -1;
    }
    return 0;
}

static int generate(const char *dir, uint64_t fills, uint64_t open)
{
    static struct config cfg;
    struct db *db;
    struct gen g = {0};
    char path[1100];
    const struct market_cfg *m;
    int64_t q10, b10;
    double t0 = now_s();

    if (load_cfg(&cfg) != 0)
        return 1;
    m = &cfg.markets[0];
    q10 = amount_pow10(cfg.assets[m->quote].scale);
    b10 = amount_pow10(cfg.assets[m->base].scale);
    mkdir(dir, 0700);
    store_url(dir, path, sizeof(path));
    if (db_open(path, &db) != CG_OK || db_migrate(db) != CG_OK)
        return 1;
    g.eng = engine_new(&cfg);
    g.store = store_new(db, &cfg, (struct store_hooks){NULL, committed, NULL});
    if (!g.eng || !g.store || store_start(g.store) != CG_OK)
        return 1;
    g.ts = 1700000000000;

    for (uint32_t u = 0; u < USERS; u++) {
        struct cmd *c = next_cmd(&g);
        c->type = CMD_DEPOSIT;
        c->user_id = LEDGER_FIRST_USER_ID + u;
        c->u.funds.asset = m->quote;
        c->u.funds.amount = 1000000 * q10; /* 1M USDT */
        maybe_flush(&g);
        c = next_cmd(&g);
        c->type = CMD_DEPOSIT;
        c->user_id = LEDGER_FIRST_USER_ID + u;
        c->u.funds.asset = m->base;
        c->u.funds.amount = 1000 * b10; /* 1,000 BTC */
        maybe_flush(&g);
    }
    for (uint64_t i = 0; i < fills; i++) {
        uint64_t a = LEDGER_FIRST_USER_ID + (i * 7) % USERS;
        uint64_t b = LEDGER_FIRST_USER_ID + (i * 7 + 1 + i % 13) % USERS;
        int64_t price = 50000 * q10 + (int64_t)(i % 100) * m->tick_size;
        struct cmd *c = next_cmd(&g);
        c->type = CMD_PLACE;
        c->user_id = a;
        c->u.place.market = 0;
        c->u.place.side = SIDE_SELL;
        c->u.place.type = ORDER_LIMIT;
        c->u.place.tif = TIF_GTC;
        c->u.place.price = price;
        c->u.place.quantity = b10 / 1000;
        maybe_flush(&g);
        c = next_cmd(&g);
        c->type = CMD_PLACE;
        c->user_id = b;
        c->u.place.market = 0;
        c->u.place.side = SIDE_BUY;
        c->u.place.type = ORDER_LIMIT;
        c->u.place.tif = TIF_GTC;
        c->u.place.price = price;
        c->u.place.quantity = b10 / 1000;
        maybe_flush(&g);
    }
    for (uint64_t i = 0; i < open; i++) {
        struct cmd *c = next_cmd(&g);
        c->type = CMD_PLACE;
        c->user_id = LEDGER_FIRST_USER_ID + (i * 31) % USERS;
        c->u.place.market = 0;
        c->u.place.side = SIDE_BUY;
        c->u.place.type = ORDER_LIMIT;
        c->u.place.tif = TIF_GTC;
        c->u.place.price = 100 * q10 + (int64_t)((i * 7919) % 100000) * m->tick_size;
        c->u.place.quantity = b10 / 20 + (int64_t)(i % 50) * (b10 / 1000);
        maybe_flush(&g);
    }
    flush(&g);
    store_stop(g.store);
    store_free(g.store);
    engine_free(g.eng);
    db_close(db);
    printf("generated %s: %u users, %" PRIu64 " fills (%" PRIu64 " filled orders), %" PRIu64
           " open orders, %" PRIu64 " refused commands, in %.1f s\n",
           db_url_is_postgres(path) ? "(postgresql)" : path, USERS, fills, 2 * fills, open, g.failed, now_s() - t0);
    return g.failed ? 1 : 0;
}

static int64_t count(struct db *db, const char *sql)
{
    struct db_stmt *st = db_prepare(db, sql);
    int64_t n = -1;
    if (st && db_step(st) == DB_ROW)
        n = db_col_int64(st, 0);
    if (st)
        db_reset(st);
    return n;
}

static int recover(const char *dir, int runs)
{
    static struct config cfg;
    char path[1100];
    char msg[512];
    struct db *db;
    if (load_cfg(&cfg) != 0)
        return 1;
    store_url(dir, path, sizeof(path));
    if (db_open(path, &db) != CG_OK)
        return 1;
    printf("store %s: %" PRId64 " orders (%" PRId64 " open), %" PRId64 " fills, %" PRId64
           " postings\n",
           db_url_is_postgres(path) ? "(postgresql)" : path, count(db, "SELECT COUNT(*) FROM orders"),
           count(db, "SELECT COUNT(*) FROM orders WHERE status IN ('new', 'partially_filled')"),
           count(db, "SELECT COUNT(*) FROM fills"), count(db, "SELECT COUNT(*) FROM postings"));
    db_close(db);
    for (int r = 0; r < runs; r++) {
        struct engine *e;
        double t0 = now_s();
        double c0 = cpu_s();
        double t1;
        if (db_open(path, &db) != CG_OK)
            return 1;
        e = engine_new(&cfg);
        if (!e || store_recover(db, &cfg, e, msg, sizeof(msg)) != CG_OK) {
            fprintf(stderr, "bench_recovery: recovery failed: %s\n", msg);
            return 1;
        }
        t1 = now_s();
        printf("  run %d: open + store_recover (balances, holds, open orders, checks): "
               "%.3f s wall, %.3f s CPU\n",
               r + 1, t1 - t0, cpu_s() - c0);
        engine_free(e);
        db_close(db);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "generate"))
        return generate(argv[2], argc > 3 ? strtoull(argv[3], NULL, 10) : 1000000,
                        argc > 4 ? strtoull(argv[4], NULL, 10) : 100000);
    if (argc >= 3 && !strcmp(argv[1], "recover"))
        return recover(argv[2], argc > 3 ? atoi(argv[3]) : 3);
    fprintf(stderr, "usage: bench_recovery generate <data-dir> [fills] [open]\n"
                    "       bench_recovery recover <data-dir> [runs]\n");
    return 2;
}
