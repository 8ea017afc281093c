/*
 * Unit tests for src/api/worker.h: jobs run in FIFO order on the worker's own store connection
 * (a real SQLite file), their answers reach the request they belong to through api_complete
 * when the "network thread" (the test) drains the worker, the queue bound answers 503
 * server_busy, a stopped worker answers what is still queued with 503 without running it, and
 * every job is released exactly once. No lws context: api_complete only queues on app->chead.
 */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "api/worker.h"

static struct app app;
static char tmpdir[64];

struct test_job {
    struct worker_job wj;
    int n;
    bool null_body;
};

/* run order, releases and the gate that holds a blocking job (shared with the worker thread) */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int ran[64];
static int n_ran;
static int released;
static bool gate_open;
static bool blocked; /* a gated job has started */
static struct db *run_db;

static void setup(void)
{
    memset(&app, 0, sizeof(app));
    pthread_mutex_init(&app.cmu, NULL);
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/cg-worker-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    snprintf(app.db_path, sizeof(app.db_path), "%s/test.db", tmpdir);
    n_ran = released = 0;
    gate_open = blocked = false;
    run_db = NULL;
}

static void teardown(void)
{
    char cmd[128];
    while (app.chead) {
        struct completion *c = app.chead;
        app.chead = c->next;
        free(c->body);
        free(c);
    }
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(worker, .init = setup, .fini = teardown, .timeout = 30);

/* worker thread: record the order, check the connection is usable, answer {"n":N} */
static void run_plain(struct worker_job *wj, struct db *db, void *ctx)
{
    struct test_job *j = (struct test_job *)wj;
    struct db_stmt *st = db_prepare(db, "SELECT 40 + 2");
    char buf[32];
    cr_assert_eq(ctx, &app);
    cr_assert_not_null(st);
    cr_assert_eq(db_step(st), DB_ROW);
    cr_assert_eq(db_col_int64(st, 0), 42);
    db_reset(st);
    pthread_mutex_lock(&mu);
    ran[n_ran++] = j->n;
    run_db = db;
    pthread_mutex_unlock(&mu);
    snprintf(buf, sizeof(buf), "{\"n\":%d}", j->n);
    wj->status = 200 + j->n;
    wj->body = j->null_body ? NULL : strdup(buf);
}

/* worker thread: wait until the test opens the gate */
static void run_gated(struct worker_job *wj, struct db *db, void *ctx)
{
    pthread_mutex_lock(&mu);
    blocked = true;
    pthread_cond_broadcast(&cv);
    while (!gate_open)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    run_plain(wj, db, ctx);
}

static void release(struct worker_job *wj)
{
    pthread_mutex_lock(&mu);
    released++;
    pthread_mutex_unlock(&mu);
    free(wj);
}

static int submit(struct worker *w, uint64_t req_id, int n, worker_run_fn run, struct resp *out)
{
    struct test_job *j = calloc(1, sizeof(*j));
    struct req r = {.app = &app, .req_id = req_id};
    cr_assert_not_null(j);
    j->n = n;
    j->wj.run = run;
    j->wj.release = release;
    memset(out, 0, sizeof(*out));
    worker_submit(w, &r, out, &j->wj);
    return out->pending ? 0 : out->status;
}

static size_t completions(void)
{
    size_t n = 0;
    pthread_mutex_lock(&app.cmu);
    for (struct completion *c = app.chead; c; c = c->next)
        n++;
    pthread_mutex_unlock(&app.cmu);
    return n;
}

/* drain (as the network thread) until `want` completions arrived */
static void drain_until(struct worker *w, size_t want)
{
    for (int i = 0; i < 3000 && completions() < want; i++) {
        worker_drain(w);
        usleep(1000);
    }
    cr_assert_eq(completions(), want);
}

static void wait_blocked(void)
{
    pthread_mutex_lock(&mu);
    while (!blocked)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
}

static void open_gate(void)
{
    pthread_mutex_lock(&mu);
    gate_open = true;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

/* another thread: open the gate once worker_free has had time to mark the worker stopping */
static void *open_gate_later(void *arg)
{
    (void)arg;
    usleep(200 * 1000);
    open_gate();
    return NULL;
}

Test(worker, fifo_answers_each_request_on_its_own_connection)
{
    struct worker *w;
    struct resp out;
    struct completion *c;
    cr_assert_eq(worker_new(&app, "test", 8, &app, &w), CG_OK);
    cr_assert_eq(app.n_workers, 1);
    cr_assert_eq(app.workers[0], w);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(submit(w, 100 + (uint64_t)i, i, run_plain, &out), 0);
    drain_until(w, 5);
    c = app.chead;
    for (int i = 0; i < 5; i++, c = c->next) {
        char want[32];
        snprintf(want, sizeof(want), "{\"n\":%d}", i);
        cr_assert_eq(ran[i], i);
        cr_assert_eq(c->req_id, 100 + (uint64_t)i);
        cr_assert_eq(c->status, 200 + i);
        cr_assert_str_eq(c->body, want);
    }
    cr_assert_eq(released, 5);
    cr_assert_not_null(run_db);
    worker_free(w);
    cr_assert_null(app.workers[0]);
}

Test(worker, missing_body_is_500_out_of_memory)
{
    struct worker *w;
    struct req r = {.app = &app, .req_id = 7};
    struct resp out = {0};
    struct test_job *j = calloc(1, sizeof(*j));
    cr_assert_eq(worker_new(&app, "test", 8, &app, &w), CG_OK);
    j->wj.run = run_plain;
    j->wj.release = release;
    j->null_body = true;
    worker_submit(w, &r, &out, &j->wj);
    cr_assert(out.pending);
    drain_until(w, 1);
    cr_assert_eq(app.chead->status, 500);
    cr_assert_not_null(strstr(app.chead->body, "\"out_of_memory\""));
    worker_free(w);
    cr_assert_eq(released, 1);
}

Test(worker, full_queue_is_503_server_busy_and_releases_the_job)
{
    struct worker *w;
    struct resp out;
    cr_assert_eq(worker_new(&app, "busy", 2, &app, &w), CG_OK);
    cr_assert_eq(submit(w, 1, 0, run_gated, &out), 0);
    wait_blocked(); /* job 0 runs: the queue is empty again */
    cr_assert_eq(submit(w, 2, 1, run_plain, &out), 0);
    cr_assert_eq(submit(w, 3, 2, run_plain, &out), 0);
    cr_assert_eq(worker_queued(w), 2);
    cr_assert_eq(submit(w, 4, 3, run_plain, &out), 503);
    cr_assert_not_null(strstr(out.body, "\"server_busy\""));
    cr_assert_not_null(strstr(out.body, "too many busy requests queued"));
    free(out.body);
    cr_assert_eq(released, 1, "the refused job is released at once");
    open_gate();
    drain_until(w, 3);
    worker_free(w);
    cr_assert_eq(released, 4);
    cr_assert_eq(n_ran, 3);
}

Test(worker, stop_answers_queued_jobs_503_without_running_them)
{
    struct worker *w;
    struct resp out;
    pthread_t opener;
    struct completion *c;
    cr_assert_eq(worker_new(&app, "stop", 8, &app, &w), CG_OK);
    cr_assert_eq(submit(w, 1, 0, run_gated, &out), 0);
    wait_blocked();
    cr_assert_eq(submit(w, 2, 1, run_plain, &out), 0);
    cr_assert_eq(submit(w, 3, 2, run_plain, &out), 0);
    /* worker_free waits for the running job: open the gate from another thread meanwhile */
    cr_assert_eq(pthread_create(&opener, NULL, open_gate_later, NULL), 0);
    worker_free(w);
    pthread_join(opener, NULL);
    cr_assert_eq(n_ran, 1, "queued jobs must not run after stop");
    cr_assert_eq(released, 3);
    cr_assert_eq(completions(), 3);
    c = app.chead;
    cr_assert_eq(c->req_id, 1);
    cr_assert_eq(c->status, 200);
    for (c = c->next; c; c = c->next) {
        cr_assert_eq(c->status, 503);
        cr_assert_not_null(strstr(c->body, "\"server_busy\""));
        cr_assert_not_null(strstr(c->body, "shutting down"));
    }
}

Test(worker, absent_worker_is_500_and_releases_the_job)
{
    struct resp out;
    cr_assert_eq(submit(NULL, 1, 0, run_plain, &out), 500);
    free(out.body);
    cr_assert_eq(released, 1);
}
