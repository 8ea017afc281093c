#include "market/mdata.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define TRADES_KEPT 500
#define MINUTES_24H 1440
#define MAX_QUEUED 200000

const int64_t md_interval_ms[MD_INTERVALS] = {60000, 300000, 900000, 3600000, 14400000, 86400000};
const char *const md_interval_name[MD_INTERVALS] = {"1m", "5m", "15m", "1h", "4h", "1d"};

int md_interval_parse(const char *s)
{
    for (int i = 0; s && i < MD_INTERVALS; i++)
        if (!strcmp(s, md_interval_name[i]))
            return i;
    return -1;
}

struct side_levels {
    int64_t *px;
    int64_t *qty;
    size_t n, cap;
};

struct minute {
    int64_t minute; /* open time ms; 0 = empty */
    int64_t open, high, low, close, volume, quote_volume;
    uint64_t trades;
};

struct md_market {
    struct side_levels sides[2]; /* bids ascending (best last), asks descending (best last) */
    uint64_t seq;
    struct md_trade trades[TRADES_KEPT];
    size_t trade_head, trade_n;
    struct minute minutes[MINUTES_24H];
    struct md_candle candles[MD_INTERVALS];
    bool has_candle[MD_INTERVALS];
    struct market_top top;
    bool has_last;
    int64_t last;
    bool has_reference;
    int64_t reference_price, replay_time;
    uint64_t version;       /* bumped on every change of this market's read model */
    uint64_t trade_version; /* bumped when this market trades (its stored candles change) */
};

struct mdata {
    const struct config *cfg;
    pthread_mutex_t mu;
    struct md_market *m;
    pthread_mutex_t qmu;
    struct md_msg *qhead, *qtail;
    size_t qn;
};

struct md_msg *md_msg_new(int channel, uint32_t market, uint64_t user_id, const char *json,
                          size_t len)
{
    struct md_msg *m = malloc(sizeof(*m) + len + 1);
    if (!m)
        return NULL;
    memset(m, 0, sizeof(*m));
    m->refs = 1;
    m->channel = (uint8_t)channel;
    m->market = market;
    m->user_id = user_id;
    m->len = len;
    memcpy(m->data, json, len);
    m->data[len] = '\0';
    return m;
}

void md_msg_unref(struct md_msg *m)
{
    if (m && --m->refs == 0)
        free(m);
}

struct mdata *mdata_new(const struct config *cfg)
{
    struct mdata *md = calloc(1, sizeof(*md));
    if (!md)
        return NULL;
    md->cfg = cfg;
    md->m = calloc(cfg->n_markets, sizeof(*md->m));
    if (!md->m) {
        free(md);
        return NULL;
    }
    pthread_mutex_init(&md->mu, NULL);
    pthread_mutex_init(&md->qmu, NULL);
    return md;
}

void mdata_free(struct mdata *md)
{
    if (!md)
        return;
    for (size_t i = 0; i < md->cfg->n_markets; i++) {
        for (int s = 0; s < 2; s++) {
            free(md->m[i].sides[s].px);
            free(md->m[i].sides[s].qty);
        }
    }
    while (md->qhead) {
        struct md_msg *n = md->qhead->next;
        free(md->qhead);
        md->qhead = n;
    }
    free(md->m);
    pthread_mutex_destroy(&md->mu);
    pthread_mutex_destroy(&md->qmu);
    free(md);
}

void mdata_lock(struct mdata *md)
{
    pthread_mutex_lock(&md->mu);
}

void mdata_unlock(struct mdata *md)
{
    pthread_mutex_unlock(&md->mu);
}

/* Position of price in a side kept so the best price is last: bids ascending, asks descending. */
static size_t level_pos(const struct side_levels *s, int side, int64_t price, bool *found)
{
    size_t lo = 0;
    size_t hi = s->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        bool before = side == SIDE_BUY ? s->px[mid] < price : s->px[mid] > price;
        if (s->px[mid] == price) {
            *found = true;
            return mid;
        }
        if (before)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static void level_set(struct side_levels *s, int side, int64_t price, int64_t qty)
{
    bool found;
    size_t i = level_pos(s, side, price, &found);
    if (found) {
        if (qty > 0) {
            s->qty[i] = qty;
        } else {
            memmove(&s->px[i], &s->px[i + 1], (s->n - i - 1) * sizeof(*s->px));
            memmove(&s->qty[i], &s->qty[i + 1], (s->n - i - 1) * sizeof(*s->qty));
            s->n--;
        }
        return;
    }
    if (qty <= 0)
        return;
    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 64;
        int64_t *np = realloc(s->px, ncap * sizeof(*np));
        int64_t *nq;
        if (!np)
            abort();
        s->px = np;
        nq = realloc(s->qty, ncap * sizeof(*nq));
        if (!nq)
            abort();
        s->qty = nq;
        s->cap = ncap;
    }
    memmove(&s->px[i + 1], &s->px[i], (s->n - i) * sizeof(*s->px));
    memmove(&s->qty[i + 1], &s->qty[i], (s->n - i) * sizeof(*s->qty));
    s->px[i] = price;
    s->qty[i] = qty;
    s->n++;
}

static void add_trade(struct md_market *mm, const struct md_trade *t)
{
    struct minute *mi;
    int64_t minute = t->ts - t->ts % 60000;
    mm->trades[mm->trade_head] = *t;
    mm->trade_head = (mm->trade_head + 1) % TRADES_KEPT;
    if (mm->trade_n < TRADES_KEPT)
        mm->trade_n++;
    mm->has_last = true;
    mm->last = t->price;
    mi = &mm->minutes[(minute / 60000) % MINUTES_24H];
    if (mi->minute != minute) {
        memset(mi, 0, sizeof(*mi));
        mi->minute = minute;
        mi->open = mi->high = mi->low = t->price;
    }
    if (t->price > mi->high)
        mi->high = t->price;
    if (t->price < mi->low)
        mi->low = t->price;
    mi->close = t->price;
    mi->volume += t->quantity;
    mi->quote_volume += t->quote_quantity;
    mi->trades++;
    for (int i = 0; i < MD_INTERVALS; i++) {
        struct md_candle *c = &mm->candles[i];
        int64_t ot = t->ts - t->ts % md_interval_ms[i];
        if (!mm->has_candle[i] || c->open_time != ot) {
            if (mm->has_candle[i] && ot < c->open_time)
                continue;
            c->open_time = ot;
            c->open = c->high = c->low = t->price;
            c->volume = c->quote_volume = 0;
            mm->has_candle[i] = true;
        }
        if (t->price > c->high)
            c->high = t->price;
        if (t->price < c->low)
            c->low = t->price;
        c->close = t->price;
        c->volume += t->quantity;
        c->quote_volume += t->quote_quantity;
    }
}

void mdata_apply_batch_locked(struct mdata *md, const struct batch *b)
{
    for (size_t i = 0; i < b->l2.n; i++) {
        const struct l2_change *c = &b->l2.v[i];
        level_set(&md->m[c->market].sides[c->side], c->side, c->price, c->qty);
        md->m[c->market].version++;
    }
    for (size_t i = 0; i < b->fills.n; i++) {
        const struct fill *f = &b->fills.v[i];
        struct md_trade t = {f->id, f->price, f->quantity, f->quote_quantity, f->ts, f->taker_side};
        add_trade(&md->m[f->market], &t);
        md->m[f->market].version++;
        md->m[f->market].trade_version++;
    }
    for (size_t m = 0; m < b->n_markets && m < md->cfg->n_markets; m++) {
        if (memcmp(&md->m[m].top, &b->tops[m], sizeof(b->tops[m])) ||
            md->m[m].seq != b->tops[m].book_seq)
            md->m[m].version++;
        md->m[m].top = b->tops[m];
        md->m[m].seq = b->tops[m].book_seq;
    }
}

void mdata_versions(struct mdata *md, uint32_t market, uint64_t *version, uint64_t *trade_version)
{
    pthread_mutex_lock(&md->mu);
    *version = md->m[market].version;
    *trade_version = md->m[market].trade_version;
    pthread_mutex_unlock(&md->mu);
}

bool mdata_candle_locked(struct mdata *md, uint32_t market, int interval, struct md_candle *out)
{
    if (!md->m[market].has_candle[interval])
        return false;
    *out = md->m[market].candles[interval];
    return true;
}

void mdata_seed_candle(struct mdata *md, uint32_t market, int interval, const struct md_candle *c)
{
    pthread_mutex_lock(&md->mu);
    md->m[market].candles[interval] = *c;
    md->m[market].has_candle[interval] = true;
    md->m[market].version++;
    md->m[market].trade_version++;
    pthread_mutex_unlock(&md->mu);
}

void mdata_seed_trade(struct mdata *md, uint32_t market, const struct md_trade *t)
{
    struct md_candle saved[MD_INTERVALS];
    bool had[MD_INTERVALS];
    struct md_market *mm;
    pthread_mutex_lock(&md->mu);
    mm = &md->m[market];
    /* candles come from the store, not from replayed trades */
    memcpy(saved, mm->candles, sizeof(saved));
    memcpy(had, mm->has_candle, sizeof(had));
    add_trade(mm, t);
    memcpy(mm->candles, saved, sizeof(saved));
    memcpy(mm->has_candle, had, sizeof(had));
    mm->version++;
    mm->trade_version++;
    pthread_mutex_unlock(&md->mu);
}

void mdata_set_reference(struct mdata *md, uint32_t market, int64_t price, int64_t replay_time)
{
    pthread_mutex_lock(&md->mu);
    md->m[market].has_reference = true;
    md->m[market].reference_price = price;
    md->m[market].replay_time = replay_time;
    md->m[market].version++;
    pthread_mutex_unlock(&md->mu);
}

uint64_t mdata_book_locked(struct mdata *md, uint32_t market, size_t depth, int64_t *bid_px,
                           int64_t *bid_qty, size_t *n_bids, int64_t *ask_px, int64_t *ask_qty,
                           size_t *n_asks)
{
    struct md_market *mm = &md->m[market];
    int64_t *px[2] = {bid_px, ask_px};
    int64_t *qty[2] = {bid_qty, ask_qty};
    size_t *n[2] = {n_bids, n_asks};
    for (int s = 0; s < 2; s++) {
        const struct side_levels *sl = &mm->sides[s];
        size_t k = 0;
        for (size_t i = sl->n; i > 0 && k < depth; i--, k++) {
            px[s][k] = sl->px[i - 1];
            qty[s][k] = sl->qty[i - 1];
        }
        *n[s] = k;
    }
    return mm->seq;
}

void mdata_ticker(struct mdata *md, uint32_t market, int64_t now, struct md_ticker *out)
{
    struct md_market *mm;
    int64_t from = now - 24LL * 3600 * 1000;
    int64_t first_minute = INT64_MAX;
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&md->mu);
    mm = &md->m[market];
    for (size_t i = 0; i < MINUTES_24H; i++) {
        const struct minute *mi = &mm->minutes[i];
        if (!mi->minute || mi->minute < from - 60000 || mi->minute > now)
            continue;
        if (mi->minute < first_minute) {
            first_minute = mi->minute;
            out->open = mi->open;
        }
        if (!out->trades || mi->high > out->high)
            out->high = mi->high;
        if (!out->trades || mi->low < out->low)
            out->low = mi->low;
        out->trades += mi->trades;
        out->volume += mi->volume;
        out->quote_volume += mi->quote_volume;
    }
    out->has_last = mm->has_last;
    out->last = mm->last;
    out->has_bid = mm->top.has_bid;
    out->bid = mm->top.bid;
    out->bid_qty = mm->top.bid_qty;
    out->has_ask = mm->top.has_ask;
    out->ask = mm->top.ask;
    out->ask_qty = mm->top.ask_qty;
    out->has_reference = mm->has_reference;
    out->reference_price = mm->reference_price;
    out->replay_time = mm->replay_time;
    pthread_mutex_unlock(&md->mu);
}

size_t mdata_trades(struct mdata *md, uint32_t market, struct md_trade *out, size_t max)
{
    struct md_market *mm;
    size_t k = 0;
    pthread_mutex_lock(&md->mu);
    mm = &md->m[market];
    for (; k < max && k < mm->trade_n; k++)
        out[k] = mm->trades[(mm->trade_head + TRADES_KEPT - 1 - k) % TRADES_KEPT];
    pthread_mutex_unlock(&md->mu);
    return k;
}

void mdata_push(struct mdata *md, struct md_msg *m)
{
    m->next = NULL;
    pthread_mutex_lock(&md->qmu);
    if (md->qn >= MAX_QUEUED) {
        /* The network thread is not draining: drop the oldest rather than grow without bound. */
        struct md_msg *old = md->qhead;
        md->qhead = old->next;
        md->qn--;
        free(old);
        if (!md->qhead)
            md->qtail = NULL;
    }
    if (md->qtail)
        md->qtail->next = m;
    else
        md->qhead = m;
    md->qtail = m;
    md->qn++;
    pthread_mutex_unlock(&md->qmu);
}

struct md_msg *mdata_drain(struct mdata *md)
{
    struct md_msg *h;
    pthread_mutex_lock(&md->qmu);
    h = md->qhead;
    md->qhead = md->qtail = NULL;
    md->qn = 0;
    pthread_mutex_unlock(&md->qmu);
    return h;
}
