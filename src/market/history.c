#include "market/history.h"

#include <stdlib.h>

#include "core/log.h"
#include "market/klines.h"

static bool imported(struct db *db, const char *market, const char *interval)
{
    static const char *sql = "SELECT 1 FROM history_imports WHERE market = ? AND interval = ?";
    struct db_stmt *st = db_prepare(db, sql);
    bool found;
    if (!st)
        return false;
    db_bind_text(st, 1, market);
    db_bind_text(st, 2, interval);
    found = db_step(st) == DB_ROW;
    db_reset(st);
    return found;
}

static enum cg_err put_candle(struct db *db, const char *market, const char *interval,
                              const struct kline *k)
{
    static const char *sql =
        "INSERT INTO candles (market, interval, open_time, open, high, low, close, "
        "volume, quote_volume, source) VALUES (?,?,?,?,?,?,?,?,0,'binance') ON CONFLICT "
        "(market, interval, open_time) DO UPDATE SET open = excluded.open, high = excluded.high, "
        "low = excluded.low, close = excluded.close, volume = excluded.volume, "
        "quote_volume = excluded.quote_volume, source = excluded.source";
    struct db_stmt *st = db_prepare(db, sql);
    if (!st)
        return CG_ESTORE;
    db_bind_text(st, 1, market);
    db_bind_text(st, 2, interval);
    db_bind_int64(st, 3, k->open_time_ms);
    db_bind_int64(st, 4, k->open);
    db_bind_int64(st, 5, k->high);
    db_bind_int64(st, 6, k->low);
    db_bind_int64(st, 7, k->close);
    db_bind_int64(st, 8, k->volume);
    return db_step(st) == DB_DONE ? CG_OK : CG_ESTORE;
}

static enum cg_err record(struct db *db, const char *market, const char *interval, const char *path,
                          const struct kline *k, size_t n)
{
    static const char *sql = "INSERT INTO history_imports (market, interval, path, "
                             "rows, first_ms, last_ms) VALUES (?,?,?,?,?,?) ON CONFLICT "
                             "(market, interval) DO UPDATE SET path = excluded.path, "
                             "rows = excluded.rows, first_ms = excluded.first_ms, "
                             "last_ms = excluded.last_ms";
    struct db_stmt *st = db_prepare(db, sql);
    if (!st)
        return CG_ESTORE;
    db_bind_text(st, 1, market);
    db_bind_text(st, 2, interval);
    db_bind_text(st, 3, path);
    db_bind_int64(st, 4, (int64_t)n);
    db_bind_int64(st, 5, n ? k[0].open_time_ms : 0);
    db_bind_int64(st, 6, n ? k[n - 1].open_time_ms : 0);
    return db_step(st) == DB_DONE ? CG_OK : CG_ESTORE;
}

static enum cg_err import_set(struct db *db, const struct config *cfg, const struct market_cfg *m,
                              const char *path, bool hourly)
{
    struct kline *k = NULL;
    size_t n = 0;
    enum cg_err e;
    const char *iv = hourly ? "1h" : "1d";

    if (!path[0] || imported(db, m->name, iv))
        return CG_OK;
    e = klines_load(path, cfg->assets[m->quote].scale, cfg->assets[m->base].scale, &k, &n);
    if (e != CG_OK) {
        log_error("history: %s: %s", path, cg_err_code(e));
        return e;
    }
    if (db_begin_batch(db) != CG_OK) { /* writes only: PostgreSQL pipelines them */
        free(k);
        return CG_ESTORE;
    }
    for (size_t i = 0; i < n && e == CG_OK; i++)
        e = put_candle(db, m->name, iv, &k[i]);
    if (e == CG_OK && hourly) {
        /* 4h bars from the 1h bars that fall in each UTC-aligned 4h window */
        size_t i = 0;
        while (i < n && e == CG_OK) {
            struct kline agg = k[i];
            int64_t w = k[i].open_time_ms - k[i].open_time_ms % 14400000;
            size_t j = i + 1;
            agg.open_time_ms = w;
            for (; j < n && k[j].open_time_ms < w + 14400000; j++) {
                if (k[j].high > agg.high)
                    agg.high = k[j].high;
                if (k[j].low < agg.low)
                    agg.low = k[j].low;
                agg.close = k[j].close;
                agg.volume += k[j].volume;
            }
            e = put_candle(db, m->name, "4h", &agg);
            i = j;
        }
    }
    if (e == CG_OK)
        e = record(db, m->name, iv, path, k, n);
    if (e != CG_OK || db_commit(db) != CG_OK) {
        db_rollback(db);
        free(k);
        return CG_ESTORE;
    }
    log_info("history: %s %s: %zu bars from %s", m->name, iv, n, path);
    free(k);
    return CG_OK;
}

enum cg_err history_import(struct db *db, const struct config *cfg)
{
    for (size_t i = 0; i < cfg->n_markets; i++) {
        const struct market_cfg *m = &cfg->markets[i];
        enum cg_err e = import_set(db, cfg, m, m->history_1h, true);
        if (e == CG_OK)
            e = import_set(db, cfg, m, m->history_1d, false);
        if (e != CG_OK)
            return e;
    }
    return CG_OK;
}
