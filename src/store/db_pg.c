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
 * - Lost connections (the server restarted, the backend was terminated): a connection whose
 *   reconnect flag is on (the default; db_set_reconnect) opens a fresh connection with the same
 *   URL at its next db_exec/db_begin/db_prepare outside a transaction, at most one attempt per
 *   PG_RECONNECT_MS, and re-prepares its cached statements lazily; a query (SELECT/WITH/VALUES)
 *   that finds the connection gone is retried once on the new connection. Writes are never
 *   retried (the server may have committed one whose answer was lost), and a transaction that
 *   lost its connection fails until db_commit/db_rollback. The store's writer turns the flag off:
 *   a failed group commit is fail-stop until restart (store.h).
 * - Connection defaults, overridable in the URL: connect_timeout=5 (a reconnect on an API thread
 *   must not hang) and, for TCP, keepalives (idle 10 s, interval 5 s, 3 probes) plus
 *   tcp_user_timeout=30000 ms, so a server that vanishes without closing the socket is noticed in
 *   about 30 s instead of blocking a thread forever.
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

#include "core/clock.h"
#include "core/log.h"
#include "store/db_driver.h"

/* Results are drained (a sync point inside the transaction) every this many queued writes, so
 * neither side's socket buffer fills up while the other waits: see "Interleaving Result
 * Processing and Query Dispatch" in the pipeline-mode docs. */
#define PG_PIPELINE_WINDOW 512
/* At most one reconnect attempt per connection per this many ms while the server is down. */
#define PG_RECONNECT_MS 1000

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
    bool stale;     /* prepared on a connection that was since replaced: prepare again */
    char *text;     /* the SQL with $N placeholders, owned */
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
    char *url;          /* for reconnecting; may hold a password: never logged */
    bool reconnect;     /* reopen a lost connection outside transactions (db_set_reconnect) */
    bool in_txn;        /* between db_begin and db_commit/db_rollback */
    bool down_logged;   /* the current outage's failed attempt was logged */
    int64_t next_retry; /* clock_mono_ms() before which no reconnect is attempted */
    int64_t lost_at;    /* clock_mono_ms() when the loss was noticed; 0 = connected */
    bool broken;        /* a pipeline found the server gone while libpq still says OK */
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

/* libpq's error text, which may span lines ("connection to server ... failed: ...\n Is the
 * server running ...?"), as one line in `out`. */
static void one_line(const char *m, char *out, size_t len)
{
    size_t j = 0;
    for (size_t i = 0; m && m[i] && j + 1 < len; i++) {
        char ch = m[i] == '\n' || m[i] == '\t' ? ' ' : m[i];
        if (ch == ' ' && (j == 0 || out[j - 1] == ' '))
            continue;
        out[j++] = ch;
    }
    while (j > 0 && out[j - 1] == ' ')
        j--;
    out[j] = '\0';
}

/*
 * Connect to `url` with the driver's defaults in front of it (the URL's own settings win: libpq
 * processes keywords in order and the expanded dbname comes last). NULL only when out of memory;
 * otherwise check PQstatus.
 */
static PGconn *pg_connect(const char *url)
{
    static const char *const keys[] = {"connect_timeout",
                                       "keepalives_idle",
                                       "keepalives_interval",
                                       "keepalives_count",
                                       "tcp_user_timeout",
                                       "application_name",
                                       "dbname",
                                       NULL};
    const char *vals[] = {"5", "10", "5", "3", "30000", "coinage", url, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (c && PQstatus(c) == CONNECTION_OK)
        PQsetNoticeProcessor(c, quiet_notice, NULL);
    return c;
}

static enum cg_err pg_open(const char *url, struct db **out)
{
    struct pg_db *db = calloc(1, sizeof(*db));
    const char *v = getenv("COINAGE_PG_PIPELINE");
    char shown[512];
    char why[512];
    if (!db)
        return CG_ENOMEM;
    db->base.drv = &db_pg_driver;
    db->pipeline_ok = !(v && !strcmp(v, "0"));
    db->reconnect = true;
    db->url = strdup(url);
    db->c = db->url ? pg_connect(url) : NULL;
    if (!db->c || PQstatus(db->c) != CONNECTION_OK) {
        redact_url(url, shown, sizeof(shown));
        one_line(db->c ? PQerrorMessage(db->c) : "out of memory", why, sizeof(why));
        log_error("db: cannot connect to PostgreSQL at %s: %s", shown, why);
        pg_close(&db->base);
        return CG_EIO;
    }
    *out = &db->base;
    return CG_OK;
}

static bool conn_ok(struct pg_db *db)
{
    return !db->broken && PQstatus(db->c) == CONNECTION_OK;
}

/*
 * Make sure the connection is usable: if libpq says it is gone and we may, replace it with a
 * fresh one (bounded: one attempt per PG_RECONNECT_MS). Returns true if connected.
 */
static bool ensure_conn(struct pg_db *db)
{
    int64_t now;
    PGconn *c;
    char why[512];
    if (conn_ok(db))
        return true;
    now = clock_mono_ms();
    if (!db->lost_at) {
        one_line(PQerrorMessage(db->c), why, sizeof(why));
        log_warn("db: lost the connection to PostgreSQL (%s)%s", why[0] ? why : "closed",
                 db->reconnect && !db->in_txn && !db->in_batch ? "; reconnecting" : "");
        db->lost_at = now;
    }
    if (!db->reconnect || db->in_txn || db->in_batch || now < db->next_retry)
        return false;
    db->next_retry = now + PG_RECONNECT_MS;
    c = pg_connect(db->url);
    if (!c || PQstatus(c) != CONNECTION_OK) {
        if (!db->down_logged) {
            one_line(c ? PQerrorMessage(c) : "out of memory", why, sizeof(why));
            log_warn("db: reconnect failed (%s); retrying at most every %d ms", why,
                     PG_RECONNECT_MS);
            db->down_logged = true;
        }
        PQfinish(c);
        return false;
    }
    PQfinish(db->c);
    db->c = c;
    db->broken = false;
    for (struct pg_stmt *s = db->cache; s; s = s->next)
        s->stale = true;
    log_info("db: reconnected to PostgreSQL after %lld ms", (long long)(now - db->lost_at));
    db->lost_at = 0;
    db->down_logged = false;
    db->next_retry = 0;
    return true;
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

static void stmt_free(struct pg_stmt *s)
{
    stmt_clear(s);
    free(s->vals);
    free(s->text);
    free(s);
}

static void pg_close(struct db *d)
{
    struct pg_db *db = PG(d);
    struct pg_stmt *s = db->cache;
    while (s) {
        struct pg_stmt *next = s->next;
        stmt_free(s);
        s = next;
    }
    PQfinish(db->c);
    free(db->url);
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
    PGresult *r;
    ExecStatusType s;
    enum cg_err e = CG_OK;
    if (!ensure_conn(db)) {
        log_error("db: exec: no connection to PostgreSQL (in: %.120s)", sql);
        return CG_ESTORE;
    }
    r = PQexec(db->c, sql);
    s = PQresultStatus(r);
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
    enum cg_err e = pg_exec(d, "BEGIN");
    PG(d)->in_txn = e == CG_OK;
    return e;
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
    for (int nulls = 0;;) {
        PGresult *r = PQgetResult(db->c);
        ExecStatusType s;
        /*
         * PQgetResult returns NULL once after each query's results and blocks for the next
         * query's. Two NULLs in a row mean nothing more will come, not even the sync point: the
         * server closed the connection (seen with libpq 15 in pipeline mode after
         * `pg_ctl stop -m immediate`, while PQstatus still said CONNECTION_OK). Stop there
         * instead of spinning, and treat the connection as lost.
         */
        if (PQstatus(db->c) != CONNECTION_OK || (!r && ++nulls >= 2)) {
            if (!db->batch_err)
                log_pg_error("pipeline", db->c, r, NULL);
            PQclear(r);
            db->batch_err = true;
            db->broken = true;
            return false;
        }
        if (!r)
            continue;
        nulls = 0;
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
    if (!ensure_conn(db)) {
        log_error("db: begin batch: no connection to PostgreSQL");
        return CG_ESTORE;
    }
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
    if (conn_ok(db) && PQexitPipelineMode(db->c) != 1)
        log_pg_error("exit pipeline mode", db->c, NULL, NULL);
    db->in_batch = false;
    /* A Parse queued after an error was skipped by the server: forget such statements so the
     * next use prepares them again. */
    for (struct pg_stmt **pp = &db->cache; *pp;) {
        struct pg_stmt *s = *pp;
        if (s->batch_new && !ok) {
            *pp = s->next;
            stmt_free(s);
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
        if (conn_ok(db) && PQtransactionStatus(db->c) != PQTRANS_IDLE)
            PQclear(PQexec(db->c, "ROLLBACK"));
        return CG_ESTORE;
    }
    db->in_txn = false;
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
    db->in_txn = false;
    if (conn_ok(db) && PQtransactionStatus(db->c) != PQTRANS_IDLE) {
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

/* Lost the connection just now, outside a transaction: reconnect (bounded) so that the caller
 * can retry a read once. */
static bool lost_and_back(struct pg_db *db)
{
    return !conn_ok(db) && !db->in_txn && !db->in_batch && ensure_conn(db);
}

/* Prepare s on the server under its name: queued in a pipelined batch (an error shows at
 * commit), else synchronously, retried once on a fresh connection if the old one was lost. */
static bool server_prepare(struct pg_db *db, struct pg_stmt *s)
{
    PGresult *r;
    if (db->in_batch) {
        if (PQsendPrepare(db->c, s->name, s->text, s->nparams, NULL) != 1) {
            log_pg_error("send prepare", db->c, NULL, s->sql);
            db->batch_err = true;
            return false;
        }
        db->queued++;
        s->batch_new = true;
        s->stale = false;
        return true;
    }
    for (int attempt = 0;; attempt++) {
        r = PQprepare(db->c, s->name, s->text, s->nparams, NULL);
        if (PQresultStatus(r) == PGRES_COMMAND_OK)
            break;
        if (attempt == 0 && lost_and_back(db)) {
            PQclear(r);
            continue;
        }
        log_pg_error("prepare", db->c, r, s->sql);
        PQclear(r);
        return false;
    }
    PQclear(r);
    s->stale = false;
    return true;
}

static struct db_stmt *pg_prepare(struct db *d, const char *sql)
{
    struct pg_db *db = PG(d);
    struct pg_stmt *s;
    ensure_conn(db); /* a lost connection is replaced here if it may be; errors show below */
    for (s = db->cache; s; s = s->next) {
        if (s->sql == sql) {
            stmt_clear(s);
            if (s->stale && !server_prepare(db, s))
                return NULL;
            return &s->base;
        }
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->text = db_pg_rewrite_params(sql, &s->nparams);
    if (!s->text || (s->nparams && !(s->vals = calloc((size_t)s->nparams, sizeof(char *))))) {
        stmt_free(s);
        return NULL;
    }
    snprintf(s->name, sizeof(s->name), "cg%d", db->nstmt + 1);
    s->sql = sql;
    if (!server_prepare(db, s)) {
        stmt_free(s);
        return NULL;
    }
    db->nstmt++;
    s->base.db = d;
    s->is_query = starts_query(sql);
    s->next = db->cache;
    db->cache = s;
    return &s->base;
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
    if (rs == PGRES_FATAL_ERROR && s->is_query && lost_and_back(db) && server_prepare(db, s)) {
        /* a read that found the connection gone runs once more on the new one (never a write:
         * its commit may have happened with only the answer lost) */
        PQclear(s->res);
        s->res =
            PQexecPrepared(db->c, s->name, s->nparams, (const char *const *)s->vals, NULL, NULL, 0);
        rs = PQresultStatus(s->res);
    }
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

static void pg_set_reconnect(struct db *d, bool on)
{
    PG(d)->reconnect = on;
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
    .set_reconnect = pg_set_reconnect,
};
