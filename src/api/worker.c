/* A worker thread with its own store connection and a bounded job queue (see worker.h). */
#include <libwebsockets.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/worker.h"
#include "core/log.h"

struct job_list {
    struct worker_job *head, *tail;
};

struct worker {
    struct app *app;
    char name[32];
    void *ctx;
    struct db *db; /* the worker thread's */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct job_list queue; /* waiting to run */
    size_t queued;
    size_t queue_max;
    struct job_list done; /* run, waiting for the network thread */
    bool stopping;
};

static void list_push(struct job_list *l, struct worker_job *j)
{
    j->next = NULL;
    if (l->tail)
        l->tail->next = j;
    else
        l->head = j;
    l->tail = j;
}

static struct worker_job *list_take_all(struct job_list *l)
{
    struct worker_job *j = l->head;
    l->head = l->tail = NULL;
    return j;
}

static void job_release(struct worker_job *j)
{
    if (j->release)
        j->release(j);
    else
        free(j);
}

/* Answer the job's request (api_complete takes the body) and free the job. */
static void job_answer(struct app *app, struct worker_job *j)
{
    char *body = j->body;
    int status = j->status;
    j->body = NULL;
    if (!body) {
        status = 500;
        body = json_error_body(CG_ENOMEM, NULL);
    }
    api_complete(app, j->req_id, status, body, false);
    job_release(j);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        struct worker_job *j;
        while (!w->queue.head && !w->stopping)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->stopping)
            break; /* what is still queued is answered by worker_free */
        j = w->queue.head;
        w->queue.head = j->next;
        if (!w->queue.head)
            w->queue.tail = NULL;
        w->queued--;
        pthread_mutex_unlock(&w->mu);
        j->status = 500;
        j->body = NULL;
        j->run(j, w->db, w->ctx);
        pthread_mutex_lock(&w->mu);
        list_push(&w->done, j);
        if (w->app->lws_ctx)
            lws_cancel_service(w->app->lws_ctx);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

enum cg_err worker_new(struct app *app, const char *name, size_t queue_max, void *ctx,
                       struct worker **out)
{
    struct worker *w;
    char tname[16];
    enum cg_err e;

    *out = NULL;
    if (queue_max == 0 || app->n_workers >= API_MAX_WORKERS)
        return CG_EINVAL;
    w = calloc(1, sizeof(*w));
    if (!w)
        return CG_ENOMEM;
    w->app = app;
    w->ctx = ctx;
    w->queue_max = queue_max;
    snprintf(w->name, sizeof(w->name), "%s", name);
    e = db_open(app->db_path, &w->db);
    if (e != CG_OK) {
        log_error("worker %s: cannot open the store: %s", w->name, cg_err_code(e));
        free(w);
        return CG_ESTORE;
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        db_close(w->db);
        free(w);
        return CG_EINTERNAL;
    }
    memcpy(tname, w->name, sizeof(tname) - 1); /* the OS keeps 15 characters */
    tname[sizeof(tname) - 1] = '\0';
    pthread_setname_np(w->thread, tname); /* cosmetic (ps, gdb): failure does not matter */
    app->workers[app->n_workers++] = w;
    *out = w;
    return CG_OK;
}

void worker_submit(struct worker *w, struct req *r, struct resp *out, struct worker_job *j)
{
    char msg[96];
    if (!w) {
        job_release(j);
        resp_error(out, CG_EINTERNAL, "worker not running");
        return;
    }
    j->req_id = r->req_id;
    pthread_mutex_lock(&w->mu);
    if (w->stopping || w->queued >= w->queue_max) {
        bool stopping = w->stopping;
        pthread_mutex_unlock(&w->mu);
        job_release(j);
        if (stopping)
            snprintf(msg, sizeof(msg), "shutting down");
        else
            snprintf(msg, sizeof(msg), "too many %s requests queued; retry later", w->name);
        resp_error(out, CG_EBUSY, msg);
        return;
    }
    list_push(&w->queue, j);
    w->queued++;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    out->pending = true;
}

void worker_drain(struct worker *w)
{
    struct worker_job *j;
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    j = list_take_all(&w->done);
    pthread_mutex_unlock(&w->mu);
    while (j) {
        struct worker_job *next = j->next;
        job_answer(w->app, j);
        j = next;
    }
}

size_t worker_queued(struct worker *w)
{
    size_t n;
    pthread_mutex_lock(&w->mu);
    n = w->queued;
    pthread_mutex_unlock(&w->mu);
    return n;
}

void worker_free(struct worker *w)
{
    struct worker_job *j;
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    worker_drain(w);
    j = list_take_all(&w->queue);
    while (j) {
        struct worker_job *next = j->next;
        j->status = cg_err_http_status(CG_EBUSY);
        j->body = json_error_body(CG_EBUSY, "shutting down");
        job_answer(w->app, j);
        j = next;
    }
    for (size_t i = 0; i < w->app->n_workers; i++)
        if (w->app->workers[i] == w)
            w->app->workers[i] = NULL;
    db_close(w->db);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}
