/* A bounded ring of reference-counted messages, and the writable loop (see msgq.h). */
#include <libwebsockets.h>
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "api/msgq.h"

bool msgq_init(struct msgq *q, size_t cap)
{
    memset(q, 0, sizeof(*q));
    q->ring = calloc(cap ? cap : 1, sizeof(*q->ring));
    if (!q->ring)
        return false;
    q->cap = cap ? cap : 1;
    return true;
}

static void unref_all(struct msgq *q)
{
    for (size_t i = 0; i < q->n; i++)
        md_msg_unref(q->ring[(q->head + i) % q->cap]);
    q->n = 0;
    q->head = 0;
}

void msgq_release(struct msgq *q)
{
    unref_all(q);
    free(q->ring);
    q->ring = NULL;
    q->cap = 0;
}

void msgq_drop_all(struct msgq *q)
{
    q->dropped += q->n;
    unref_all(q);
}

void msgq_push_owned(struct msgq *q, struct md_msg *m)
{
    assert(q->n < q->cap);
    q->ring[(q->head + q->n) % q->cap] = m;
    q->n++;
}

void msgq_push(struct msgq *q, struct md_msg *m)
{
    m->refs++;
    msgq_push_owned(q, m);
}

int msgq_write(struct msgq *q, struct lws *wsi)
{
    struct md_msg *m;
    unsigned char *buf;
    int n;
    if (q->n == 0)
        return 0;
    m = q->ring[q->head];
    q->head = (q->head + 1) % q->cap;
    q->n--;
    buf = malloc(LWS_PRE + m->len);
    if (!buf) {
        md_msg_unref(m);
        return -1;
    }
    memcpy(buf + LWS_PRE, m->data, m->len);
    n = lws_write(wsi, buf + LWS_PRE, m->len, LWS_WRITE_TEXT);
    free(buf);
    md_msg_unref(m);
    if (n < 0)
        return -1;
    if (q->n)
        lws_callback_on_writable(wsi);
    return 0;
}
