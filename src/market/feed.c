#include "market/feed.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "market/capture.h"
#include "market/klines.h"

#define TICK_MS 20
#define BAR_MS 3600000LL

struct feed_market {
    struct feed_info info;
    int loaded; /* 1 once info and the data are loaded (atomic: written by the feed thread) */
    struct capture *cap;
    struct capture_cursor *cur;
    size_t next; /* index of the next capture event */
    int64_t loops;
    struct kline *bars;
    size_t n_bars;
    int64_t last_price_sent;
};

struct feed {
    const struct config *cfg;
    struct engine *eng;
    struct mdata *md;
    int64_t speed_milli;
    struct feed_market *m;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool running, started;
};

static bool load_market(struct feed *f, uint32_t i, char *errbuf, size_t errlen)
{
    const struct market_cfg *mc = &f->cfg->markets[i];
    struct feed_market *fm = &f->m[i];
    int ps = f->cfg->assets[mc->quote].scale;
    int qs = f->cfg->assets[mc->base].scale;
    enum cg_err err = CG_OK;

    fm->info.kind = mc->replay_kind;
    if (mc->replay_kind == REPLAY_L2) {
        const char *files[CFG_MAX_FILES];
        for (size_t k = 0; k < mc->n_replay_files; k++)
            files[k] = mc->replay_files[k];
        fm->cap = capture_load(files, mc->n_replay_files, ps, qs, &err);
        if (!fm->cap || !(fm->cur = capture_cursor_new(fm->cap))) {
            snprintf(errbuf, errlen, "feed: %s: cannot load %s (%s)", mc->name, files[0],
                     cg_err_code(err));
            return false;
        }
        fm->info.first_ms = capture_start_ms(fm->cap);
        fm->info.last_ms = capture_end_ms(fm->cap);
        fm->info.events = capture_event_count(fm->cap);
    } else if (mc->replay_kind == REPLAY_KLINES) {
        err = klines_load(mc->replay_files[0], ps, qs, &fm->bars, &fm->n_bars);
        if (err != CG_OK || fm->n_bars == 0) {
            snprintf(errbuf, errlen, "feed: %s: cannot load %s (%s)", mc->name, mc->replay_files[0],
                     cg_err_code(err));
            return false;
        }
        fm->info.first_ms = fm->bars[0].open_time_ms;
        fm->info.last_ms = fm->bars[fm->n_bars - 1].open_time_ms + BAR_MS - 1;
        fm->info.events = fm->n_bars;
    }
    return true;
}

struct feed *feed_new(const struct config *cfg, struct engine *eng, struct mdata *md,
                      int64_t speed_milli, char *errbuf, size_t errlen)
{
    struct feed *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->cfg = cfg;
    f->eng = eng;
    f->md = md;
    f->speed_milli = speed_milli > 0 ? speed_milli : 1000;
    f->m = calloc(cfg->n_markets, sizeof(*f->m));
    if (!f->m) {
        free(f);
        return NULL;
    }
    /* The data is parsed by the feed thread (feed_start), so that the server answers while the
     * replay loads; here only check that every file is there. */
    for (uint32_t i = 0; i < cfg->n_markets; i++) {
        const struct market_cfg *mc = &cfg->markets[i];
        for (size_t k = 0; k < mc->n_replay_files; k++) {
            if (access(mc->replay_files[k], R_OK) != 0) {
                snprintf(errbuf, errlen, "feed: %s: cannot read %s", mc->name, mc->replay_files[k]);
                free(f->m);
                free(f);
                return NULL;
            }
        }
    }
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    return f;
}

void feed_free(struct feed *f)
{
    if (!f)
        return;
    feed_stop(f);
    for (size_t i = 0; i < f->cfg->n_markets; i++) {
        capture_cursor_free(f->m[i].cur);
        capture_free(f->m[i].cap);
        free(f->m[i].bars);
    }
    free(f->m);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    free(f);
}

const struct feed_info *feed_market_info(const struct feed *f, uint32_t market)
{
    return __atomic_load_n(&f->m[market].loaded, __ATOMIC_ACQUIRE) ? &f->m[market].info : NULL;
}

static void send_book(struct feed *f, uint32_t market)
{
    struct feed_market *fm = &f->m[market];
    struct px_qty lv[ENGINE_FEED_LEVELS];
    size_t levels = (size_t)f->cfg->house.levels;
    struct cmd *c = calloc(1, sizeof(*c));
    size_t n;
    if (!c)
        return;
    if (levels > ENGINE_FEED_LEVELS)
        levels = ENGINE_FEED_LEVELS;
    c->type = CMD_FEED_BOOK;
    c->user_id = LEDGER_HOUSE_LP_ID;
    c->ts = clock_now_ms();
    c->u.feed_book.market = market;
    n = capture_cursor_top(fm->cur, 0, lv, levels);
    for (size_t k = 0; k < n; k++)
        c->u.feed_book.bids[k] = (struct px_level){lv[k].price, lv[k].qty};
    c->u.feed_book.n_bids = (uint16_t)n;
    n = capture_cursor_top(fm->cur, 1, lv, levels);
    for (size_t k = 0; k < n; k++)
        c->u.feed_book.asks[k] = (struct px_level){lv[k].price, lv[k].qty};
    c->u.feed_book.n_asks = (uint16_t)n;
    if (engine_submit(f->eng, c) != CG_OK)
        log_warn("feed: engine queue full; skipped a book update");
}

/* The real trades of this step set the engine's last price (stop triggers). */
static void send_trades(struct feed *f, uint32_t market, int64_t last, int64_t high, int64_t low)
{
    struct cmd *c = calloc(1, sizeof(*c));
    if (!c)
        return;
    c->type = CMD_FEED_TRADE;
    c->user_id = LEDGER_HOUSE_LP_ID;
    c->ts = clock_now_ms();
    c->u.feed_trade.market = market;
    c->u.feed_trade.last = last;
    c->u.feed_trade.high = high;
    c->u.feed_trade.low = low;
    if (engine_submit(f->eng, c) != CG_OK)
        log_warn("feed: engine queue full; skipped a trade update");
}

/* Advance an L2 replay to `offset` ms of replay time since the start (all loops). */
static void step_l2(struct feed *f, uint32_t market, int64_t offset)
{
    struct feed_market *fm = &f->m[market];
    int64_t duration = fm->info.last_ms - fm->info.first_ms + 1;
    int64_t loop = offset / duration;
    int64_t target = fm->info.first_ms + offset % duration;
    bool depth = false;
    size_t n = capture_event_count(fm->cap);
    int64_t last = 0;
    int64_t high = 0;
    int64_t low = 0;

    if (loop != fm->loops) {
        /* Reached the end: start the capture again from its snapshot. */
        while (fm->next < n) {
            capture_cursor_next(fm->cur);
            fm->next++;
        }
        capture_cursor_rewind(fm->cur);
        fm->next = 0;
        fm->loops = loop;
        depth = true;
    }
    while (fm->next < n && capture_event(fm->cap, fm->next)->ts_ms <= target) {
        const struct capture_event *ev = capture_cursor_next(fm->cur);
        fm->next++;
        if (!ev)
            break;
        if (ev->kind == CAPTURE_DEPTH) {
            depth = true;
            continue;
        }
        mdata_set_reference(f->md, market, ev->price, ev->ts_ms);
        if (!last || ev->price > high)
            high = ev->price;
        if (!last || ev->price < low)
            low = ev->price;
        last = ev->price;
    }
    if (depth)
        send_book(f, market);
    if (last)
        send_trades(f, market, last, high, low);
}

static void step_klines(struct feed *f, uint32_t market, int64_t offset)
{
    struct feed_market *fm = &f->m[market];
    int64_t pos = offset % ((int64_t)fm->n_bars * BAR_MS);
    const struct kline *k = &fm->bars[pos / BAR_MS];
    int phase = (int)((pos % BAR_MS) * 4 / BAR_MS);
    bool rising = k->close >= k->open;
    int64_t path[4] = {k->open, rising ? k->low : k->high, rising ? k->high : k->low, k->close};
    int64_t price = path[phase];
    struct cmd *c;

    if (price == fm->last_price_sent)
        return;
    mdata_set_reference(f->md, market, price, k->open_time_ms + phase * (BAR_MS / 4));
    c = calloc(1, sizeof(*c));
    if (!c)
        return;
    c->type = CMD_FEED_PRICE;
    c->user_id = LEDGER_HOUSE_LP_ID;
    c->ts = clock_now_ms();
    c->u.feed_price.market = market;
    c->u.feed_price.price = price;
    if (engine_submit(f->eng, c) == CG_OK)
        fm->last_price_sent = price;
}

static void *feed_main(void *arg)
{
    struct feed *f = arg;
    int64_t start;
    bool first = true;
    char err[512];

    for (uint32_t i = 0; i < f->cfg->n_markets; i++) {
        int64_t t0 = clock_mono_ms();
        bool stop;
        pthread_mutex_lock(&f->mu);
        stop = !f->running;
        pthread_mutex_unlock(&f->mu);
        if (stop)
            return NULL;
        if (!load_market(f, i, err, sizeof(err))) {
            /* the files were readable at start: a parse error leaves this market unfed */
            log_error("%s; %s has no market data", err, f->cfg->markets[i].name);
            f->m[i].info.kind = 0;
            continue;
        }
        __atomic_store_n(&f->m[i].loaded, 1, __ATOMIC_RELEASE);
        log_info("feed: %s: loaded %llu replay events in %lld ms", f->cfg->markets[i].name,
                 (unsigned long long)f->m[i].info.events, (long long)(clock_mono_ms() - t0));
    }
    start = clock_mono_ms();

    pthread_mutex_lock(&f->mu);
    while (f->running) {
        int64_t offset = (int64_t)((__int128)(clock_mono_ms() - start) * f->speed_milli / 1000);
        struct timespec until;
        pthread_mutex_unlock(&f->mu);
        for (uint32_t i = 0; i < f->cfg->n_markets; i++) {
            if (f->m[i].info.kind == REPLAY_L2) {
                if (first)
                    send_book(f, i);
                step_l2(f, i, offset);
            } else if (f->m[i].info.kind == REPLAY_KLINES) {
                step_klines(f, i, offset);
            }
        }
        first = false;
        pthread_mutex_lock(&f->mu);
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += TICK_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        if (f->running)
            pthread_cond_timedwait(&f->cv, &f->mu, &until);
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

enum cg_err feed_start(struct feed *f)
{
    f->running = true;
    if (pthread_create(&f->thread, NULL, feed_main, f) != 0) {
        f->running = false;
        return CG_EINTERNAL;
    }
    f->started = true;
    return CG_OK;
}

void feed_stop(struct feed *f)
{
    if (!f->started)
        return;
    pthread_mutex_lock(&f->mu);
    f->running = false;
    pthread_cond_signal(&f->cv);
    pthread_mutex_unlock(&f->mu);
    pthread_join(f->thread, NULL);
    f->started = false;
}
