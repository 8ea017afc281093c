/*
 * PostgreSQL driver of db.h (see db_driver.h), on libpq.
 *
 * - Statements: `?`/`?N` placeholders are rewritten to `$N` (db_pg_rewrite_params) and the
 *   statement is prepared once per connection (PQprepare, named "cg<N>"), cached by the address
 *   of its SQL text like the SQLite driver. Parameters are sent as text with no declared type,
 *   so the server infers each parameter's type from its use (PQprepare with paramTypes NULL);
 *   results come back in text format and db_col_int64 parses them (SUM() of BIGINT is NUMERIC
 *   in PostgreSQL, still an integer text).
 * - Group commit: db_begin_batch enters libpq pipeline mode (PQenterPipelineMode, libpq >= 14)
 *   and every write of the batch is queued with PQsendQueryPrepared without waiting for its
 *   result; db_commit queues COMMIT, sends a sync (PQpipelineSync) and reads every result. The
 *   first error of any statement fails the commit (the server aborts the transaction at the
 *   first error, so nothing of the batch is applied). Set COINAGE_PG_PIPELINE=0 to send the
 *   batch one statement at a time instead (for measurement).
 * - Durability: the server's defaults (fsync=on, synchronous_commit=on) make COMMIT return
 *   only after the WAL is flushed, the equivalent of SQLite's synchronous=FULL.
 * - Schema version: table coinage_schema_version; migrations run under a transaction-level
 *   advisory lock so two processes migrating the same database do not race.
 *
 * Docs relied on: https://www.postgresql.org/docs/15/libpq-pipeline-mode.html,
 * https://www.postgresql.org/docs/15/libpq-exec.html (PQprepare, PQexecPrepared, PQcmdTuples),
 * https://www.postgresql.org/docs/15/libpq-connect.html (connection URIs),
 * https://www.postgresql.org/docs/15/sql-insert.html (ON CONFLICT, RETURNING, EXCLUDED).
 */
#include "store/db_pg.h"

#include <ctype.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "store/db_driver.h"

/* Results are drained (a sync point inside the transaction) every this many queued writes, so
 * neither side's socket buffer fills up while the other waits: see "Interleaving Result
 * Processing and Query Dispatch" in the pipeline-mode docs. */
#define PG_PIPELINE_WINDOW 512

struct pg_stmt {
    struct db_stmt base; /* first: db.c reaches the driver through it */
    const char *sql;     /* key: the caller's string literal */
    char name[16];
    int nparams;
    bool is_query; /* starts with SELECT/WITH: returns rows */
    char **vals;   /* nparams text values (NULL = SQL NULL), owned */
    PGresult *res; /* result of the last execution, until reset */
    int row, nrows;
    bool ran;
    bool batch_new; /* prepared inside the current pipelined batch, not yet confirmed */
    struct pg_stmt *next;
};

struct pg_db {
    struct db base; /* first */
    PGconn *c;
    struct pg_stmt *cache;
    int nstmt;
    int64_t changes;
    bool pipeline_ok; /* COINAGE_PG_PIPELINE is not 0 */
    bool in_batch;    /* between db_begin_batch and db_commit/db_rollback, pipelined */
    int queued;       /* statements sent since the last sync */
    bool batch_err;
    int64_t batch_changes;
};

static struct pg_db *PG(struct db *d)
{
    return (struct pg_db *)d;
}

static struct pg_stmt *ST(struct db_stmt *s)
{
    return (struct pg_stmt *)s;
}

/* ---- SQL rewriting (pure) ---- */

struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
};

static void sb_putn(struct sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 256);
        char *p;
        while (cap < b->n + n + 1)
            cap *= 2;
        p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sb_puts(struct sbuf *b, const char *s)
{
    sb_putn(b, s, strlen(s));
}

static char *sb_done(struct sbuf *b)
{
    if (b->oom) {
        free(b->p);
        return NULL;
    }
    if (!b->p)
        sb_putn(b, "", 0);
    return b->oom ? NULL : b->p;
}

/* Length of the literal, quoted identifier or comment starting at s, or 0 if none starts. */
static size_t skip_quoted(const char *s)
{
    const char *p = s;
    if (*p == '\'' || *p == '"') {
        char q = *p++;
        for (; *p; p++) {
            if (*p == q) {
                if (p[1] == q) {
                    p++;
                    continue;
                }
                return (size_t)(p + 1 - s);
            }
        }
        return (size_t)(p - s);
    }
    if (p[0] == '-' && p[1] == '-') {
        while (*p && *p != '\n')
            p++;
        return (size_t)(p - s);
    }
    return 0;
}

char *db_pg_rewrite_params(const char *sql, int *nparams)
{
    struct sbuf b = {0};
    int next = 0, max = 0;
    const char *p = sql;
    while (*p) {
        size_t q = skip_quoted(p);
        if (q) {
            sb_putn(&b, p, q);
            p += q;
        } else if (*p == '?') {
            char num[16];
            int k;
            p++;
            if (isdigit((unsigned char)*p)) {
                k = (int)strtol(p, (char **)&p, 10);
            } else {
                k = ++next;
            }
            if (k > max)
                max = k;
            snprintf(num, sizeof(num), "$%d", k);
            sb_puts(&b, num);
        } else {
            sb_putn(&b, p, 1);
            p++;
        }
    }
    *nparams = max;
    return sb_done(&b);
}

static bool word_is(const char *w, size_t n, const char *kw)
{
    return strlen(kw) == n && !strncasecmp(w, kw, n);
}

/* The next word after s (skipping spaces): sets *w, *n; returns the position after it. */
static const char *next_word(const char *s, const char **w, size_t *n)
{
    while (isspace((unsigned char)*s))
        s++;
    *w = s;
    while (isalnum((unsigned char)*s) || *s == '_')
        s++;
    *n = (size_t)(s - *w);
    return s;
}

char *db_pg_translate_ddl(const char *sql)
{
    struct sbuf b = {0};
    const char *p = sql;
    while (*p) {
        size_t q = skip_quoted(p);
        if (q) {
            sb_putn(&b, p, q);
            p += q;
        } else if (isalpha((unsigned char)*p) || *p == '_') {
            const char *w = p, *w2, *w3, *after2, *after3, *w4;
            size_t n, n2, n3, n4;
            while (isalnum((unsigned char)*p) || *p == '_')
                p++;
            n = (size_t)(p - w);
            if (word_is(w, n, "INTEGER")) {
                after2 = next_word(p, &w2, &n2);
                after3 = next_word(after2, &w3, &n3);
                if (word_is(w2, n2, "PRIMARY") && word_is(w3, n3, "KEY")) {
                    const char *after4 = next_word(after3, &w4, &n4);
                    sb_puts(&b, "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY");
                    p = word_is(w4, n4, "AUTOINCREMENT") ? after4 : after3;
                } else {
                    sb_puts(&b, "BIGINT");
                }
            } else if (word_is(w, n, "REAL")) {
                sb_puts(&b, "DOUBLE PRECISION");
            } else if (word_is(w, n, "BLOB")) {
                sb_puts(&b, "BYTEA");
            } else {
                sb_putn(&b, w, n);
            }
        } else {
            sb_putn(&b, p, 1);
            p++;
        }
    }
    return sb_done(&b);
}

/* ---- connection ---- */

/* The URL without its password, for logs. */
static void redact_url(const char *url, char *out, size_t len)
{
    const char *scheme = strstr(url, "://");
    const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
    const char *colon = scheme ? strchr(scheme + 3, ':') : NULL;
    const char *pw = strstr(url, "password=");
    if (at && colon && colon < at)
        snprintf(out, len, "%.*s:***%s", (int)(colon - url), url, at);
    else
        snprintf(out, len, "%s", url);
    if (pw && out[0]) {
        char *o = strstr(out, "password=");
        if (o)
            snprintf(o, len - (size_t)(o - out), "password=***");
    }
}

static void quiet_notice(void *arg, const char *msg)
{
    (void)arg;
    (void)msg; /* NOTICEs ("relation already exists, skipping") are not errors */
}

static void pg_close(struct db *d);

static enum cg_err pg_open(const char *url, struct db **out)
{
    struct pg_db *db = calloc(1, sizeof(*db));
    const char *v = getenv("COINAGE_PG_PIPELINE");
    char shown[512];
    if (!db)
        return CG_ENOMEM;
    db->base.drv = &db_pg_driver;
    db->pipeline_ok = !(v && !strcmp(v, "0"));
    db->c = PQconnectdb(url);
    if (!db->c || PQstatus(db->c) != CONNECTION_OK) {
        redact_url(url, shown, sizeof(shown));
        log_error("db: connect %s: %s", shown, db->c ? PQerrorMessage(db->c) : "out of memory");
        pg_close(&db->base);
        return CG_EIO;
    }
    PQsetNoticeProcessor(db->c, quiet_notice, NULL);
    *out = &db->base;
    return CG_OK;
}

static void stmt_clear(struct pg_stmt *s)
{
    PQclear(s->res);
    s->res = NULL;
    s->ran = false;
    s->row = s->nrows = 0;
    for (int i = 0; i < s->nparams; i++) {
        free(s->vals[i]);
        s->vals[i] = NULL;
    }
}

static void pg_close(struct db *d)
{
    struct pg_db *db = PG(d);
    struct pg_stmt *s = db->cache;
    while (s) {
        struct pg_stmt *next = s->next;
        stmt_clear(s);
        free(s->vals);
        free(s);
        s = next;
    }
    PQfinish(db->c);
    free(db);
}

/* One-line error text of a result or the connection (libpq's ends with a newline). */
static void log_pg_error(const char *what, PGconn *c, const PGresult *r, const char *sql)
{
    const char *m = r ? PQresultErrorMessage(r) : "";
    int n;
    if (!m || !*m)
        m = PQerrorMessage(c);
    n = (int)strcspn(m, "\n");
    log_error("db: %s: %.*s (in: %.120s)", what, n, m, sql ? sql : "");
}

static enum cg_err pg_exec(struct db *d, const char *sql)
{
    struct pg_db *db = PG(d);
    PGresult *r = PQexec(db->c, sql);
    ExecStatusType s = PQresultStatus(r);
    enum cg_err e = CG_OK;
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
        log_pg_error("exec", db->c, r, sql);
        e = CG_ESTORE;
    } else {
        db->changes = strtoll(PQcmdTuples(r), NULL, 10);
    }
    PQclear(r);
    return e;
}

static enum cg_err pg_begin(struct db *d)
{
    return pg_exec(d, "BEGIN");
}

/* Read results until the pipeline's sync point; note any error. Returns false if the
 * connection itself failed. */
static bool drain(struct pg_db *db)
{
    if (PQpipelineSync(db->c) != 1) {
        log_pg_error("pipeline sync", db->c, NULL, NULL);
        db->batch_err = true;
        return false;
    }
    for (;;) {
        PGresult *r = PQgetResult(db->c);
        ExecStatusType s;
        if (!r) {
            /* end of one query's results; a NULL with the connection gone means we are done */
            if (PQstatus(db->c) != CONNECTION_OK) {
                log_pg_error("pipeline", db->c, NULL, NULL);
                db->batch_err = true;
                return false;
            }
            continue;
        }
        s = PQresultStatus(r);
        if (s == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            break;
        }
        if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK) {
            /* a COMMIT of a transaction that failed earlier reports ROLLBACK */
            if (!strcmp(PQcmdStatus(r), "ROLLBACK") && !db->batch_err) {
                log_error("db: batch transaction was rolled back by the server");
                db->batch_err = true;
            }
            db->batch_changes += strtoll(PQcmdTuples(r), NULL, 10);
        } else if (s != PGRES_PIPELINE_ABORTED) {
            if (!db->batch_err)
                log_pg_error("pipelined statement", db->c, r, NULL);
            db->batch_err = true;
        }
        PQclear(r);
    }
    db->queued = 0;
    return true;
}

static bool end_batch(struct pg_db *db);

static enum cg_err pg_begin_batch(struct db *d)
{
    struct pg_db *db = PG(d);
    if (!db->pipeline_ok)
        return pg_begin(d);
    if (PQenterPipelineMode(db->c) != 1) {
        log_pg_error("enter pipeline mode", db->c, NULL, NULL);
        return CG_ESTORE;
    }
    db->in_batch = true;
    db->batch_err = false;
    db->batch_changes = 0;
    db->queued = 0;
    if (PQsendQueryParams(db->c, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) != 1) {
        log_pg_error("send BEGIN", db->c, NULL, NULL);
        db->batch_err = true;
        end_batch(db); /* leave pipeline mode: the caller will not roll back */
        return CG_ESTORE;
    }
    db->queued++;
    return CG_OK;
}

/* Leave pipeline mode after a batch; returns false if the batch had an error. */
static bool end_batch(struct pg_db *db)
{
    bool ok;
    if (db->queued)
        drain(db);
    ok = !db->batch_err;
    if (PQexitPipelineMode(db->c) != 1)
        log_pg_error("exit pipeline mode", db->c, NULL, NULL);
    db->in_batch = false;
    /* A Parse queued after an error was skipped by the server: forget such statements so the
     * next use prepares them again. */
    for (struct pg_stmt **pp = &db->cache; *pp;) {
        struct pg_stmt *s = *pp;
        if (s->batch_new && !ok) {
            *pp = s->next;
            stmt_clear(s);
            free(s->vals);
            free(s);
            continue;
        }
        s->batch_new = false;
        pp = &s->next;
    }
    return ok;
}

static enum cg_err pg_commit(struct db *d)
{
    struct pg_db *db = PG(d);
    PGresult *r;
    enum cg_err e = CG_OK;
    if (db->in_batch) {
        if (!db->batch_err &&
            PQsendQueryParams(db->c, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) != 1) {
            log_pg_error("send COMMIT", db->c, NULL, NULL);
            db->batch_err = true;
        }
        db->queued++;
        if (end_batch(db))
            return CG_OK;
        if (PQtransactionStatus(db->c) != PQTRANS_IDLE)
            PQclear(PQexec(db->c, "ROLLBACK"));
        return CG_ESTORE;
    }
    r = PQexec(db->c, "COMMIT");
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        log_pg_error("commit", db->c, r, NULL);
        e = CG_ESTORE;
    } else if (!strcmp(PQcmdStatus(r), "ROLLBACK")) {
        log_error("db: commit: the transaction had failed and was rolled back");
        e = CG_ESTORE;
    }
    PQclear(r);
    return e;
}

static void pg_rollback(struct db *d)
{
    struct pg_db *db = PG(d);
    if (db->in_batch) {
        db->batch_err = true; /* whatever was queued must not commit */
        end_batch(db);
    }
    if (PQtransactionStatus(db->c) != PQTRANS_IDLE) {
        PGresult *r = PQexec(db->c, "ROLLBACK");
        PQclear(r);
    }
}

static bool starts_query(const char *sql)
{
    while (isspace((unsigned char)*sql) || *sql == '(')
        sql++;
    return !strncasecmp(sql, "SELECT", 6) || !strncasecmp(sql, "WITH", 4) ||
           !strncasecmp(sql, "VALUES", 6);
}

static struct db_stmt *pg_prepare(struct db *d, const char *sql)
{
    struct pg_db *db = PG(d);
    struct pg_stmt *s;
    char *text;
    for (s = db->cache; s; s = s->next) {
        if (s->sql == sql) {
            stmt_clear(s);
            return &s->base;
        }
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    text = db_pg_rewrite_params(sql, &s->nparams);
    if (!text || (s->nparams && !(s->vals = calloc((size_t)s->nparams, sizeof(char *))))) {
        free(text);
        free(s);
        return NULL;
    }
    snprintf(s->name, sizeof(s->name), "cg%d", db->nstmt + 1);
    if (db->in_batch) {
        /* queued like the writes; an error shows at commit */
        if (PQsendPrepare(db->c, s->name, text, s->nparams, NULL) != 1) {
            log_pg_error("send prepare", db->c, NULL, sql);
            db->batch_err = true;
            goto fail;
        }
        db->queued++;
        s->batch_new = true;
    } else {
        PGresult *r = PQprepare(db->c, s->name, text, s->nparams, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            log_pg_error("prepare", db->c, r, sql);
            PQclear(r);
            goto fail;
        }
        PQclear(r);
    }
    free(text);
    db->nstmt++;
    s->base.db = d;
    s->sql = sql;
    s->is_query = starts_query(sql);
    s->next = db->cache;
    db->cache = s;
    return &s->base;
fail:
    free(text);
    free(s->vals);
    free(s);
    return NULL;
}

static void set_val(struct pg_stmt *s, int i, char *v)
{
    if (i < 1 || i > s->nparams) {
        log_error("db: bind index %d out of range 1..%d (in: %.80s)", i, s->nparams, s->sql);
        free(v);
        return;
    }
    free(s->vals[i - 1]);
    s->vals[i - 1] = v;
}

static void pg_bind_int64(struct db_stmt *st, int i, int64_t v)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "%lld", (long long)v);
    set_val(ST(st), i, strdup(buf));
}

static void pg_bind_text(struct db_stmt *st, int i, const char *s)
{
    set_val(ST(st), i, s ? strdup(s) : NULL);
}

static void pg_bind_null(struct db_stmt *st, int i)
{
    set_val(ST(st), i, NULL);
}

static enum db_step pg_step(struct db_stmt *st)
{
    struct pg_stmt *s = ST(st);
    struct pg_db *db = PG(st->db);
    ExecStatusType rs;
    if (s->ran) {
        if (s->row + 1 < s->nrows) {
            s->row++;
            return DB_ROW;
        }
        s->row = s->nrows;
        return DB_DONE;
    }
    s->ran = true;
    if (db->in_batch) {
        if (s->is_query) {
            log_error("db: a query cannot run inside a pipelined batch (in: %.120s)", s->sql);
            db->batch_err = true;
            return DB_ERROR;
        }
        if (PQsendQueryPrepared(db->c, s->name, s->nparams, (const char *const *)s->vals, NULL,
                                NULL, 0) != 1) {
            log_pg_error("send", db->c, NULL, s->sql);
            db->batch_err = true;
            return DB_ERROR;
        }
        if (++db->queued >= PG_PIPELINE_WINDOW && !drain(db))
            return DB_ERROR;
        return db->batch_err ? DB_ERROR : DB_DONE;
    }
    s->res =
        PQexecPrepared(db->c, s->name, s->nparams, (const char *const *)s->vals, NULL, NULL, 0);
    rs = PQresultStatus(s->res);
    if (rs == PGRES_TUPLES_OK) {
        s->nrows = PQntuples(s->res);
        s->row = 0;
        db->changes = strtoll(PQcmdTuples(s->res), NULL, 10);
        return s->nrows > 0 ? DB_ROW : DB_DONE;
    }
    if (rs == PGRES_COMMAND_OK) {
        db->changes = strtoll(PQcmdTuples(s->res), NULL, 10);
        return DB_DONE;
    }
    log_pg_error("step", db->c, s->res, s->sql);
    return DB_ERROR;
}

static bool have_row(struct pg_stmt *s, int i)
{
    return s->res && s->row < s->nrows && i >= 0 && i < PQnfields(s->res);
}

static int64_t pg_col_int64(struct db_stmt *st, int i)
{
    struct pg_stmt *s = ST(st);
    if (!have_row(s, i) || PQgetisnull(s->res, s->row, i))
        return 0;
    return strtoll(PQgetvalue(s->res, s->row, i), NULL, 10);
}

static const char *pg_col_text(struct db_stmt *st, int i)
{
    struct pg_stmt *s = ST(st);
    if (!have_row(s, i) || PQgetisnull(s->res, s->row, i))
        return NULL;
    return PQgetvalue(s->res, s->row, i);
}

static bool pg_col_is_null(struct db_stmt *st, int i)
{
    struct pg_stmt *s = ST(st);
    return !have_row(s, i) || PQgetisnull(s->res, s->row, i);
}

static void pg_reset(struct db_stmt *st)
{
    stmt_clear(ST(st));
}

static int64_t pg_changes(struct db *d)
{
    return PG(d)->changes;
}

/* Run a one-value query; -1 on error. */
static int64_t query_int(struct pg_db *db, const char *sql, bool quiet)
{
    PGresult *r = PQexec(db->c, sql);
    int64_t v = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        v = PQgetisnull(r, 0, 0) ? 0 : strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    else if (!quiet)
        log_pg_error("query", db->c, r, sql);
    PQclear(r);
    return v;
}

static int pg_schema_version(struct db *d)
{
    struct pg_db *db = PG(d);
    int64_t exists = query_int(db,
                               "SELECT COUNT(*) FROM pg_catalog.pg_tables WHERE tablename = "
                               "'coinage_schema_version' AND schemaname = current_schema()",
                               false);
    if (exists <= 0)
        return (int)exists;
    return (int)query_int(db, "SELECT COALESCE(MAX(version), 0) FROM coinage_schema_version",
                          false);
}

static enum cg_err pg_migrate(struct db *d)
{
    struct pg_db *db = PG(d);
    int cur;
    char ins[96];
    if (pg_begin(d) != CG_OK)
        return CG_ESTORE;
    /* one migrator at a time per database; the lock ends with the transaction */
    if (query_int(db, "SELECT 1 FROM (SELECT pg_advisory_xact_lock(7400311)) l", false) != 1 ||
        pg_exec(d, "CREATE TABLE IF NOT EXISTS coinage_schema_version (version BIGINT NOT NULL)") !=
            CG_OK)
        goto fail;
    cur = pg_schema_version(d);
    if (cur < 0)
        goto fail;
    for (size_t i = 0; i < cg_migrations_count; i++) {
        const struct migration *m = &cg_migrations[i];
        char *sql;
        enum cg_err e;
        if (m->version <= cur)
            continue;
        sql = db_pg_translate_ddl(m->sql);
        if (!sql)
            goto fail;
        e = pg_exec(d, sql);
        free(sql);
        snprintf(ins, sizeof(ins), "INSERT INTO coinage_schema_version (version) VALUES (%d)",
                 m->version);
        if (e != CG_OK || pg_exec(d, ins) != CG_OK) {
            log_error("db: migration %s failed", m->name);
            goto fail;
        }
        log_info("db: applied migration %s", m->name);
    }
    return pg_commit(d);
fail:
    pg_rollback(d);
    return CG_ESTORE;
}

const struct db_driver db_pg_driver = {
    .name = "postgresql",
    .open = pg_open,
    .close = pg_close,
    .exec = pg_exec,
    .begin = pg_begin,
    .begin_batch = pg_begin_batch,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .prepare = pg_prepare,
    .bind_int64 = pg_bind_int64,
    .bind_text = pg_bind_text,
    .bind_null = pg_bind_null,
    .step = pg_step,
    .col_int64 = pg_col_int64,
    .col_text = pg_col_text,
    .col_is_null = pg_col_is_null,
    .reset = pg_reset,
    .changes = pg_changes,
    .migrate = pg_migrate,
    .schema_version = pg_schema_version,
};
