/* db.h front end: pick the driver by URL, forward every call to it. */
#include "store/db_driver.h"

#include <string.h>

bool db_url_is_postgres(const char *url)
{
    return url && (!strncmp(url, "postgres://", 11) || !strncmp(url, "postgresql://", 13));
}

enum cg_err db_open(const char *url, struct db **out)
{
    const struct db_driver *drv = db_url_is_postgres(url) ? &db_pg_driver : &db_sqlite_driver;
    return drv->open(url, out);
}

const char *db_driver_name(const struct db *db)
{
    return db->drv->name;
}

void db_close(struct db *db)
{
    if (db)
        db->drv->close(db);
}

void db_set_reconnect(struct db *db, bool on)
{
    if (db->drv->set_reconnect)
        db->drv->set_reconnect(db, on);
}

enum cg_err db_exec(struct db *db, const char *sql)
{
    return db->drv->exec(db, sql);
}

enum cg_err db_begin(struct db *db)
{
    return db->drv->begin(db);
}

enum cg_err db_begin_batch(struct db *db)
{
    return db->drv->begin_batch(db);
}

enum cg_err db_commit(struct db *db)
{
    return db->drv->commit(db);
}

void db_rollback(struct db *db)
{
    db->drv->rollback(db);
}

struct db_stmt *db_prepare(struct db *db, const char *sql)
{
    return db->drv->prepare(db, sql);
}

void db_bind_int64(struct db_stmt *st, int i, int64_t v)
{
    st->db->drv->bind_int64(st, i, v);
}

void db_bind_text(struct db_stmt *st, int i, const char *s)
{
    st->db->drv->bind_text(st, i, s);
}

void db_bind_null(struct db_stmt *st, int i)
{
    st->db->drv->bind_null(st, i);
}

enum db_step db_step(struct db_stmt *st)
{
    return st->db->drv->step(st);
}

int64_t db_col_int64(struct db_stmt *st, int i)
{
    return st->db->drv->col_int64(st, i);
}

const char *db_col_text(struct db_stmt *st, int i)
{
    return st->db->drv->col_text(st, i);
}

bool db_col_is_null(struct db_stmt *st, int i)
{
    return st->db->drv->col_is_null(st, i);
}

void db_reset(struct db_stmt *st)
{
    st->db->drv->reset(st);
}

int64_t db_changes(struct db *db)
{
    return db->drv->changes(db);
}

enum cg_err db_migrate(struct db *db)
{
    return db->drv->migrate(db);
}

int db_schema_version(struct db *db)
{
    return db->drv->schema_version(db);
}
