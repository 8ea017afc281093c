/*
 * The store's database interface: a small, driver-neutral layer over SQL so a PostgreSQL driver
 * can follow the SQLite one. SQL uses `?` placeholders (a driver may rewrite them to $n).
 * Integers are int64 (amounts in minor units, times in ms); text is UTF-8.
 *
 * Threads: a `struct db` connection belongs to one thread at a time. Open one per thread
 * (the store thread writes; the API and auth threads have their own).
 */
#ifndef CG_STORE_DB_H
#define CG_STORE_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct db;
struct db_stmt;

enum db_step { DB_ROW = 1, DB_DONE = 2, DB_ERROR = 3 };

/*
 * Open the store at `url`: a filesystem path for SQLite ("var/coinage.db"). SQLite is opened in
 * WAL mode with synchronous=FULL and a busy timeout. Returns CG_OK or CG_EIO (message logged).
 */
enum cg_err db_open(const char *url, struct db **out) __attribute__((warn_unused_result));
/* Close; NULL is a no-op. Finalizes cached statements. */
void db_close(struct db *db);

/* Run one or more statements without results. CG_OK or CG_ESTORE (logged). */
enum cg_err db_exec(struct db *db, const char *sql) __attribute__((warn_unused_result));
enum cg_err db_begin(struct db *db) __attribute__((warn_unused_result));
enum cg_err db_commit(struct db *db) __attribute__((warn_unused_result));
void db_rollback(struct db *db);

/*
 * A prepared statement, cached per connection by its SQL text (the pointer stays valid until
 * db_close). The statement is reset and its bindings cleared on return.
 * Returns NULL on error (logged).
 */
struct db_stmt *db_prepare(struct db *db, const char *sql);
/* Bind parameter i (1-based). */
void db_bind_int64(struct db_stmt *st, int i, int64_t v);
void db_bind_text(struct db_stmt *st, int i, const char *s); /* NULL binds SQL NULL; copied */
void db_bind_null(struct db_stmt *st, int i);
/* Step: DB_ROW with a row ready, DB_DONE, or DB_ERROR (logged). */
enum db_step db_step(struct db_stmt *st);
/* Column i (0-based) of the current row; text is on loan until the next step/reset. */
int64_t db_col_int64(struct db_stmt *st, int i);
const char *db_col_text(struct db_stmt *st, int i);
bool db_col_is_null(struct db_stmt *st, int i);
/* Reset for re-use (keeps it cached). */
void db_reset(struct db_stmt *st);
/* Rows changed by the last statement. */
int64_t db_changes(struct db *db);

/* Run the embedded numbered migrations that are not applied yet. CG_OK or CG_ESTORE. */
enum cg_err db_migrate(struct db *db) __attribute__((warn_unused_result));
/* Current schema version (0 for an empty database). */
int db_schema_version(struct db *db);

#endif
