/*
 * SQLite driver of db.h (see db_driver.h): WAL, synchronous=FULL, busy timeout 10 s; prepared
 * statements cached per connection by the address of their SQL text. The schema version is
 * PRAGMA user_version.
 */
#include "store/db_driver.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

struct sq_stmt {
    struct db_stmt base; /* first: db.c reaches the driver through it */
    sqlite3_stmt *st;
    const char *sql; /* key: the caller's string literal */
    struct sq_stmt *next;
};

struct sq_db {
    struct db base; /* first */
    sqlite3 *h;
    struct sq_stmt *cache;
};

static struct sq_db *SQ(struct db *d)
{
    return (struct sq_db *)d;
}

static struct sq_stmt *ST(struct db_stmt *s)
{
    return (struct sq_stmt *)s;
}

static void sq_close(struct db *d);
static enum cg_err sq_exec(struct db *d, const char *sql);

static enum cg_err sq_open(const char *url, struct db **out)
{
    struct sq_db *db = calloc(1, sizeof(*db));
    if (!db)
        return CG_ENOMEM;
    db->base.drv = &db_sqlite_driver;
    if (sqlite3_open_v2(url, &db->h,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        log_error("db: open %s: %s", url, db->h ? sqlite3_errmsg(db->h) : "out of memory");
        sqlite3_close(db->h);
        free(db);
        return CG_EIO;
    }
    sqlite3_busy_timeout(db->h, 10000);
    if (sq_exec(&db->base,
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;") !=
        CG_OK) {
        sq_close(&db->base);
        return CG_EIO;
    }
    *out = &db->base;
    return CG_OK;
}

static void sq_close(struct db *d)
{
    struct sq_db *db = SQ(d);
    struct sq_stmt *s = db->cache;
    while (s) {
        struct sq_stmt *next = s->next;
        sqlite3_finalize(s->st);
        free(s);
        s = next;
    }
    sqlite3_close(db->h);
    free(db);
}

static enum cg_err sq_exec(struct db *d, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(SQ(d)->h, sql, NULL, NULL, &msg) != SQLITE_OK) {
        log_error("db: %s (in: %.80s)", msg ? msg : "error", sql);
        sqlite3_free(msg);
        return CG_ESTORE;
    }
    return CG_OK;
}

static enum cg_err sq_begin(struct db *d)
{
    return sq_exec(d, "BEGIN IMMEDIATE");
}

static enum cg_err sq_commit(struct db *d)
{
    return sq_exec(d, "COMMIT");
}

static void sq_rollback(struct db *d)
{
    if (!sqlite3_get_autocommit(SQ(d)->h))
        sqlite3_exec(SQ(d)->h, "ROLLBACK", NULL, NULL, NULL);
}

static struct db_stmt *sq_prepare(struct db *d, const char *sql)
{
    struct sq_db *db = SQ(d);
    struct sq_stmt *s;
    for (s = db->cache; s; s = s->next) {
        if (s->sql == sql) {
            sqlite3_reset(s->st);
            sqlite3_clear_bindings(s->st);
            return &s->base;
        }
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    if (sqlite3_prepare_v3(db->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->st, NULL) != SQLITE_OK) {
        log_error("db: prepare: %s (in: %.120s)", sqlite3_errmsg(db->h), sql);
        free(s);
        return NULL;
    }
    s->base.db = d;
    s->sql = sql;
    s->next = db->cache;
    db->cache = s;
    return &s->base;
}

static void sq_bind_int64(struct db_stmt *st, int i, int64_t v)
{
    sqlite3_bind_int64(ST(st)->st, i, v);
}

static void sq_bind_text(struct db_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(ST(st)->st, i, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(ST(st)->st, i);
}

static void sq_bind_null(struct db_stmt *st, int i)
{
    sqlite3_bind_null(ST(st)->st, i);
}

static enum db_step sq_step(struct db_stmt *st)
{
    int rc = sqlite3_step(ST(st)->st);
    if (rc == SQLITE_ROW)
        return DB_ROW;
    if (rc == SQLITE_DONE)
        return DB_DONE;
    log_error("db: step: %s (in: %.120s)", sqlite3_errmsg(sqlite3_db_handle(ST(st)->st)),
              ST(st)->sql);
    return DB_ERROR;
}

static int64_t sq_col_int64(struct db_stmt *st, int i)
{
    return sqlite3_column_int64(ST(st)->st, i);
}

static const char *sq_col_text(struct db_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(ST(st)->st, i);
    return t ? (const char *)t : NULL;
}

static bool sq_col_is_null(struct db_stmt *st, int i)
{
    return sqlite3_column_type(ST(st)->st, i) == SQLITE_NULL;
}

static void sq_reset(struct db_stmt *st)
{
    sqlite3_reset(ST(st)->st);
    sqlite3_clear_bindings(ST(st)->st);
}

static int64_t sq_changes(struct db *d)
{
    return sqlite3_changes64(SQ(d)->h);
}

static int sq_schema_version(struct db *d)
{
    sqlite3_stmt *st;
    int v = 0;
    if (sqlite3_prepare_v2(SQ(d)->h, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

static enum cg_err sq_migrate(struct db *d)
{
    int cur = sq_schema_version(d);
    if (cur < 0)
        return CG_ESTORE;
    for (size_t i = 0; i < cg_migrations_count; i++) {
        const struct migration *m = &cg_migrations[i];
        char pragma[64];
        if (m->version <= cur)
            continue;
        if (sq_begin(d) != CG_OK)
            return CG_ESTORE;
        snprintf(pragma, sizeof(pragma), "PRAGMA user_version=%d", m->version);
        if (sq_exec(d, m->sql) != CG_OK || sq_exec(d, pragma) != CG_OK) {
            sq_rollback(d);
            log_error("db: migration %s failed", m->name);
            return CG_ESTORE;
        }
        if (sq_commit(d) != CG_OK)
            return CG_ESTORE;
        log_info("db: applied migration %s", m->name);
    }
    return CG_OK;
}

const struct db_driver db_sqlite_driver = {
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .exec = sq_exec,
    .begin = sq_begin,
    .begin_batch = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .prepare = sq_prepare,
    .bind_int64 = sq_bind_int64,
    .bind_text = sq_bind_text,
    .bind_null = sq_bind_null,
    .step = sq_step,
    .col_int64 = sq_col_int64,
    .col_text = sq_col_text,
    .col_is_null = sq_col_is_null,
    .reset = sq_reset,
    .changes = sq_changes,
    .migrate = sq_migrate,
    .schema_version = sq_schema_version,
};
