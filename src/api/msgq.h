/*
 * A WebSocket client's outgoing queue: a bounded FIFO ring of reference-counted market-data
 * messages (struct md_msg, market/mdata.h), shared by the native /ws clients (ws.c) and the
 * Binance-compatible streams (binance_ws.c). One message rendered once is queued to many clients
 * by reference; each queue holds one reference per queued message and drops it once sent or
 * discarded.
 *
 * Overflow: the caller decides what a full queue means (ws.c resyncs the client with fresh book
 * snapshots, binance_ws.c lets the depth stream's U/u gap show it); msgq_drop_all() discards the
 * backlog and counts it in `dropped`.
 *
 * Threads: network (lws service) thread only, like the clients that own the queues.
 */
#ifndef CG_API_MSGQ_H
#define CG_API_MSGQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "market/mdata.h"

struct lws;

struct msgq {
    struct md_msg **ring; /* cap slots */
    size_t cap;
    size_t head, n;
    uint64_t dropped; /* messages discarded by msgq_drop_all since init */
};

/* Make an empty queue of cap (>= 1) messages. false on out of memory (q is then empty, cap 0,
 * and msgq_release is still safe). */
bool msgq_init(struct msgq *q, size_t cap) __attribute__((warn_unused_result));
/* Drop every queued message's reference and free the ring. */
void msgq_release(struct msgq *q);
static inline bool msgq_full(const struct msgq *q)
{
    return q->n >= q->cap;
}
/* Discard the backlog (dropping each reference) and add its length to q->dropped. */
void msgq_drop_all(struct msgq *q);
/* Queue m at the tail, taking one more reference (m->refs++). The queue must not be full. */
void msgq_push(struct msgq *q, struct md_msg *m);
/* Queue m at the tail, taking over the caller's reference. The queue must not be full. */
void msgq_push_owned(struct msgq *q, struct md_msg *m);
/*
 * LWS_CALLBACK_SERVER_WRITEABLE of the connection wsi: write the oldest message as one text frame
 * and drop its reference; ask for another writable callback if more are queued. Returns 0, or -1
 * (out of memory or a failed write: close the connection).
 */
int msgq_write(struct msgq *q, struct lws *wsi);

#endif
