/*
 * The portfolio worker (internal to src/api): a worker (api/worker.h), its own thread and store
 * connection, that answers /api/v1/portfolio..., /api/v1/risk and /api/v1/watchlists requests, so
 * reading a large activity history never blocks the network thread. Handlers validate their input
 * on the network thread, snapshot the live prices there, and queue a job; the worker computes and
 * renders the JSON, which the network thread sends (worker_drain).
 *
 * The worker keeps, per user, the activity already read (struct pf_event, in journal order) and
 * the portfolio state folded over it, and reads only journal entries newer than the last one it
 * saw, so an overview costs O(new activity) after the first request.
 */
#ifndef CG_API_PF_WORKER_H
#define CG_API_PF_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include "api/api.h"
#include "api/worker.h"
#include "core/config.h"

enum pf_job_kind {
    PFJ_OVERVIEW = 1,
    PFJ_HISTORY,
    PFJ_PERFORMANCE,
    PFJ_RISK,
    PFJ_WL_CREATE,
    PFJ_WL_LIST,
    PFJ_WL_GET,
    PFJ_WL_UPDATE,
    PFJ_WL_DELETE,
};

struct pf_job {
    struct worker_job wj; /* first: the worker hands back &wj */
    int kind;
    uint64_t user_id;
    int64_t now; /* ms, when the request arrived */
    /* live prices per asset (cash minor units per whole unit), snapshot on the network thread */
    bool has_live[CFG_MAX_ASSETS];
    int64_t live[CFG_MAX_ASSETS];
    const char *live_source[CFG_MAX_ASSETS];
    /* history / performance / risk */
    int64_t start, end;   /* ms; start < end */
    bool start_default;   /* start = the user's first activity */
    int64_t res_ms;       /* grid resolution, ms (3600000 or 86400000) */
    const char *res_name; /* "1h" / "1d" */
    char range[8];        /* "1D".."MAX" or "custom" */
    double risk_free_rate;
    double concentration_limit;
    /* watchlists */
    uint64_t wl_id;
    bool has_name, has_markets;
    char name[65];
    char markets[CFG_MAX_MARKETS * 24];
};

/* Network thread: queue the job (takes ownership, in every case) and mark the request pending;
 * if the worker is not running or its queue is full, *out is set to the error (worker_submit). */
void pf_job_submit(struct req *r, struct resp *out, struct pf_job *j);

/* Worker thread (api_watchlists.c): run a watchlist job on the worker's connection; returns the
 * malloc'ed JSON body and sets *status. */
char *wl_run(const struct config *cfg, struct db *db, const struct pf_job *j, int *status);

#endif
