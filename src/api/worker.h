/*
 * A worker: one named thread with its own store connection and a bounded FIFO queue of jobs, for
 * request work that must not run on the network (lws service) thread because it is slow or
 * reads a lot: password hashing and token writes (auth), indicators and statistics (analytics),
 * portfolio and watchlists, the ledger audit (admin).
 *
 * A job answers one pending HTTP request. The handler (network thread) validates the request,
 * fills a job whose first member is a struct worker_job, and hands it to worker_submit(); the
 * handler then marks its response pending. The worker thread runs job->run on its own db
 * connection, which sets job->status and job->body; the finished job goes on the worker's done
 * list and the worker wakes the network thread with lws_cancel_service() (the one lws call that
 * is safe off the service thread). The network thread, in LWS_CALLBACK_EVENT_WAIT_CANCELLED, calls
 * worker_drain(), which answers each finished job's request through api_complete() (so Binance
 * finish hooks and idempotency twins see it like any other completion) and frees the job.
 *
 * Ownership: worker_submit() takes the job in every case. The job is released exactly once, by
 * job->release (NULL = free(job)), after its answer was handed on or when it was refused; a
 * release hook is where a job wipes secrets it carries (passwords, refresh tokens).
 *
 * Stop: worker_free() lets the job being run finish, answers every job still queued with 503
 * server_busy ("shutting down") without running it, and answers the finished but undrained ones,
 * on the calling thread. Call it after the network thread has stopped serving.
 */
#ifndef CG_API_WORKER_H
#define CG_API_WORKER_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "store/db.h"

struct app;
struct req;
struct resp;
struct worker;
struct worker_job;

/*
 * Worker thread: compute the answer to j->req_id on the worker's connection `db` (borrowed; it
 * belongs to this thread). Set j->status (HTTP status) and j->body (malloc'ed JSON, ownership
 * passes to the worker; NULL = 500 out_of_memory). ctx is the worker's (worker_new).
 */
typedef void (*worker_run_fn)(struct worker_job *j, struct db *db, void *ctx);
/* Any thread, exactly once per job: free it (wiping what must not outlive it). */
typedef void (*worker_release_fn)(struct worker_job *j);

struct worker_job {
    worker_run_fn run;         /* set by the submitter */
    worker_release_fn release; /* set by the submitter; NULL = free(j) */
    uint64_t req_id;           /* set by worker_submit from the request */
    int status;                /* set by run */
    char *body;                /* set by run */
    struct worker_job *next;   /* the worker's */
};

/*
 * Caller's thread, before serving: start a worker thread named `name` (at most 15 characters
 * are shown to the OS; the name also labels errors: "too many <name> requests queued") with its
 * own connection to app->db_path, holding at most queue_max jobs waiting. ctx is passed to every
 * run (borrowed; must outlive the worker). Returns CG_OK, CG_EINVAL (queue_max 0), CG_ENOMEM,
 * CG_ESTORE (the connection) or CG_EINTERNAL (the thread); *out is NULL on error.
 */
enum cg_err worker_new(struct app *app, const char *name, size_t queue_max, void *ctx,
                       struct worker **out) __attribute__((warn_unused_result));

/*
 * Network thread: queue job j (ownership passes here in every case) to answer request r, and
 * set out->pending. If the worker is absent (NULL), stopping or its queue is full, j is released
 * and *out is set to the error: 500 internal_error, or 503 server_busy.
 */
void worker_submit(struct worker *w, struct req *r, struct resp *out, struct worker_job *j);

/* Network thread: answer the requests of the jobs finished so far (api_complete) and release the
 * jobs. NULL is a no-op. */
void worker_drain(struct worker *w);

/* Jobs waiting (not yet running) now; any thread (a snapshot for metrics and tests). */
size_t worker_queued(struct worker *w);

/* Caller's thread, after serving: stop and join the thread (see Stop above), close its
 * connection, free w. NULL is a no-op. */
void worker_free(struct worker *w);

#endif
