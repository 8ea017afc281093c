/*
 * Unit tests for src/api/msgq.h: FIFO order across the ring's wrap, one reference held per
 * queued message (shared messages stay alive while any queue holds them), drop-all accounting,
 * and release dropping every reference. msgq_write needs a live connection; the WS API tests
 * (tests/api/ws.test.mjs, binance_ws.test.mjs) cover it.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "api/msgq.h"

static struct md_msg *msg(const char *text)
{
    struct md_msg *m = md_msg_new(MD_TICKER, 0, 0, text, strlen(text));
    cr_assert_not_null(m);
    cr_assert_eq(m->refs, 1);
    return m;
}

/* pop the head without a connection: what msgq_write does before writing */
static struct md_msg *pop(struct msgq *q)
{
    struct md_msg *m;
    cr_assert_gt(q->n, 0);
    m = q->ring[q->head];
    q->head = (q->head + 1) % q->cap;
    q->n--;
    return m;
}

Test(msgq, fifo_across_the_wrap_with_one_reference_per_queue)
{
    struct msgq a;
    struct msgq b;
    struct md_msg *m[5];
    char text[16];
    cr_assert(msgq_init(&a, 3));
    cr_assert(msgq_init(&b, 3));
    for (int i = 0; i < 5; i++) {
        snprintf(text, sizeof(text), "m%d", i);
        m[i] = msg(text);
    }
    msgq_push(&a, m[0]);
    msgq_push(&a, m[1]);
    msgq_push(&b, m[1]); /* shared by two queues */
    cr_assert_eq(m[1]->refs, 3);
    cr_assert_eq(pop(&a), m[0]);
    md_msg_unref(m[0]); /* the queue's reference */
    msgq_push(&a, m[2]);
    msgq_push(&a, m[3]); /* wraps: slots 1, 2, 0 */
    cr_assert(msgq_full(&a));
    cr_assert_eq(pop(&a), m[1]);
    md_msg_unref(m[1]);
    cr_assert_eq(m[1]->refs, 2, "still held by b and by the test");
    cr_assert_eq(pop(&a), m[2]);
    md_msg_unref(m[2]);
    msgq_push_owned(&a, m[4]); /* takes the test's reference */
    cr_assert_eq(m[4]->refs, 1);
    cr_assert_eq(pop(&a), m[3]);
    md_msg_unref(m[3]);
    cr_assert_eq(pop(&a), m[4]);
    md_msg_unref(m[4]);
    cr_assert_eq(a.n, 0);
    msgq_release(&a);
    msgq_release(&b); /* drops b's reference to m[1] */
    cr_assert_eq(m[1]->refs, 1);
    for (int i = 0; i < 4; i++)
        md_msg_unref(m[i]);
}

Test(msgq, drop_all_counts_and_unrefs)
{
    struct msgq q;
    struct md_msg *m = msg("x");
    cr_assert(msgq_init(&q, 4));
    for (int i = 0; i < 4; i++)
        msgq_push(&q, m);
    cr_assert(msgq_full(&q));
    cr_assert_eq(m->refs, 5);
    msgq_drop_all(&q);
    cr_assert_eq(q.n, 0);
    cr_assert_eq(q.dropped, 4);
    cr_assert_eq(m->refs, 1);
    msgq_push(&q, m);
    msgq_drop_all(&q);
    cr_assert_eq(q.dropped, 5);
    msgq_release(&q);
    msgq_release(&q); /* twice is safe */
    md_msg_unref(m);
}
