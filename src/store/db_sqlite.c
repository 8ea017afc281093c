#include "store/db.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

struct migration {
    int version;
    const char *name;
    const char *sql;
};
extern const struct migration cg_migrations[];
extern const size_t cg_migrations_count;

struct db_stmt {
    sqlite3_stmt *st;
    const char *sql; /* key: the caller's string literal */
    struct db_stmt *next;
};

struct db {
    sqlite3 *h;
    struct db_stmt *cache;
};

enum cg_err db_open(const char *url, struct db **out)
{
    struct db *db = calloc(1, sizeof(*db));
    if (!db)
        return CG_ENOMEM;
    if (sqlite3_open_v2(url, &db->h,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        log_error("db: open %s: %s", url, db->h ? sqlite3_errmsg(db->h) : "out of memory");
        sqlite3_close(db->h);
        free(db);
        return CG_EIO;
    }
    sqlite3_busy_timeout(db->h, 10000);
    if (db_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;") !=
        CG_OK) {
        db_close(db);
        return CG_EIO;
    }
    *out = db;
    return CG_OK;
}

void db_close(struct db *db)
{
    struct db_stmt *s;
    if (!db)
        return;
    s = db->cache;
    while (s) {
        struct db_stmt *next = s->next;
        sqlite3_finalize(s->st);
        free(s);
        s = next;
    }
    sqlite3_close(db->h);
    free(db);
}

enum cg_err db_exec(struct db *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db->h, sql, NULL, NULL, &msg) != SQLITE_OK) {
        log_error("db: %s (in: %.80s)", msg ? msg : "error", sql);
        sqlite3_free(msg);
        return CG_ESTORE;
    }
    return CG_OK;
}

enum cg_err db_begin(struct db *db)
{
    return db_exec(db, "BEGIN IMMEDIATE");
}

enum cg_err db_commit(struct db *db)
{
    return db_exec(db, "COMMIT");
}

void db_rollback(struct db *db)
{
    if (!sqlite3_get_autocommit(db->h))
        sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
}

struct db_stmt *db_prepare(struct db *db, const char *sql)
{
    struct db_stmt *s;
    for (s = db->cache; s; s = s->next) {
        if (s->sql == sql) {
            sqlite3_reset(s->st);
            sqlite3_clear_bindings(s->st);
            return s;
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
    s->sql = sql;
    s->next = db->cache;
    db->cache = s;
    return s;
}

void db_bind_int64(struct db_stmt *st, int i, int64_t v)
{
    sqlite3_bind_int64(st->st, i, v);
}

void db_bind_text(struct db_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st->st, i, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st->st, i);
}

void db_bind_null(struct db_stmt *st, int i)
{
    sqlite3_bind_null(st->st, i);
}

enum db_step db_step(struct db_stmt *st)
{
    int rc = sqlite3_step(st->st);
    if (rc == SQLITE_ROW)
        return DB_ROW;
    if (rc == SQLITE_DONE)
        return DB_DONE;
    log_error("db: step: %s (in: %.120s)", sqlite3_errmsg(sqlite3_db_handle(st->st)), st->sql);
    return DB_ERROR;
}

int64_t db_col_int64(struct db_stmt *st, int i)
{
    return sqlite3_column_int64(st->st, i);
}

const char *db_col_text(struct db_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st->st, i);
    return t ? (const char *)t : NULL;
}

bool db_col_is_null(struct db_stmt *st, int i)
{
    return sqlite3_column_type(st->st, i) == SQLITE_NULL;
}

void db_reset(struct db_stmt *st)
{
    sqlite3_reset(st->st);
    sqlite3_clear_bindings(st->st);
}

int64_t db_changes(struct db *db)
{
    return sqlite3_changes64(db->h);
}

int db_schema_version(struct db *db)
{
    sqlite3_stmt *st;
    int v = 0;
    if (sqlite3_prepare_v2(db->h, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

enum cg_err db_migrate(struct db *db)
{
    int cur = db_schema_version(db);
    if (cur < 0)
        return CG_ESTORE;
    for (size_t i = 0; i < cg_migrations_count; i++) {
        const struct migration *m = &cg_migrations[i];
        char pragma[64];
        if (m->version <= cur)
            continue;
        if (db_begin(db) != CG_OK)
            return CG_ESTORE;
        snprintf(pragma, sizeof(pragma), "PRAGMA user_version=%d", m->version);
        if (db_exec(db, m->sql) != CG_OK || db_exec(db, pragma) != CG_OK) {
            db_rollback(db);
            log_error("db: migration %s failed", m->name);
            return CG_ESTORE;
        }
        if (db_commit(db) != CG_OK)
            return CG_ESTORE;
        log_info("db: applied migration %s", m->name);
    }
    return CG_OK;
}
