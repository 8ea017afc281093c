/*
 * klines: the shipped Binance spot kline CSVs (../shared/data/klines_binance_spot_{1h,1d}, see
 * their SOURCE.md) and small malformed files. Run from the repo root.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "core/amount.h"
#include "market/klines.h"

/* The copies shipped in data/ (byte-identical); the other coins' daily files are only in
 * ../shared/data and are skipped where that folder is absent. */
#define DIR_1H "data/klines/1h/"
#define DIR_1D "data/klines/1d/"
#define SHARED_1D "../shared/data/klines_binance_spot_1d/"
#define PS 8
#define QS 8
#define HOUR_MS 3600000LL
#define DAY_MS 86400000LL

static int64_t amt(const char *s, int scale)
{
    int64_t v = 0;

    cr_assert_eq(amount_parse(s, scale, &v), CG_OK, "%s", s);
    return v;
}

static struct kline *load(const char *path, size_t *n)
{
    struct kline *k = NULL;
    enum cg_err rc = klines_load(path, PS, QS, &k, n);

    cr_assert_eq(rc, CG_OK, "%s: %s", path, cg_err_code(rc));
    return k;
}

static void check_rows(const struct kline *k, size_t n, int64_t step)
{
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(k[i].open_time_ms % step, 0, "row %zu not on a candle boundary", i);
        if (i > 0)
            cr_assert_gt(k[i].open_time_ms, k[i - 1].open_time_ms, "row %zu", i);
        cr_assert(k[i].low <= k[i].open && k[i].open <= k[i].high);
        cr_assert(k[i].low <= k[i].close && k[i].close <= k[i].high);
        cr_assert(k[i].low > 0 && k[i].volume >= 0);
    }
}

Test(klines, btc_1h)
{
    size_t n = 0;
    struct kline *k = load(DIR_1H "BTCUSDT_1h.csv.gz", &n);

    cr_assert_eq(n, 23988);
    /* 2021-04-04 20:00:00,57953.86000000,58051.25000000,57826.16000000,58025.11000000,
     * 1240.20901600 */
    cr_expect_eq(k[0].open_time_ms, 1617566400000);
    cr_expect_eq(k[0].open, amt("57953.86", PS));
    cr_expect_eq(k[0].high, amt("58051.25", PS));
    cr_expect_eq(k[0].low, amt("57826.16", PS));
    cr_expect_eq(k[0].close, amt("58025.11", PS));
    cr_expect_eq(k[0].volume, amt("1240.209016", QS));
    cr_expect_eq(k[n - 1].open_time_ms, 1703962800000); /* 2023-12-30 19:00 */
    check_rows(k, n, HOUR_MS);
    /* 24,000 hours from first to last; SOURCE.md lists 12 missing (2 + 3 + 4 + 2 + 1). */
    cr_expect_eq((k[n - 1].open_time_ms - k[0].open_time_ms) / HOUR_MS + 1 - (int64_t)n, 12);
    free(k);
}

Test(klines, btc_1d)
{
    size_t n = 0;
    struct kline *k = load(DIR_1D "BTCUSDT_1d.csv.gz", &n);

    cr_assert_eq(n, 3065);
    /* 2017-08-17,4261.48,4485.39,4200.74,4285.08,795.150377: Binance's first BTCUSDT candle */
    cr_expect_eq(k[0].open_time_ms, 1502928000000);
    cr_expect_eq(k[0].open, amt("4261.48", PS));
    cr_expect_eq(k[0].close, amt("4285.08", PS));
    cr_expect_eq(k[0].volume, amt("795.150377", QS));
    cr_expect_eq(k[n - 1].open_time_ms, 1767657600000); /* 2026-01-06 */
    check_rows(k, n, DAY_MS);
    for (size_t i = 1; i < n; i++)
        cr_assert_eq(k[i].open_time_ms - k[i - 1].open_time_ms, DAY_MS, "no missing day");
    free(k);
}

/* SOURCE.md: the 24 hourly BTCUSDT bars of 2023-06-01 aggregate exactly to the daily bar.
 * With exact integers this holds to the last satoshi. */
Test(klines, hourly_aggregate_to_daily)
{
    size_t nh = 0, nd = 0, first = 0, day = 0;
    struct kline *h = load(DIR_1H "BTCUSDT_1h.csv.gz", &nh);
    struct kline *d = load(DIR_1D "BTCUSDT_1d.csv.gz", &nd);
    const int64_t t0 = 1685577600000; /* 2023-06-01 00:00 UTC */
    struct kline agg;

    while (first < nh && h[first].open_time_ms < t0)
        first++;
    while (day < nd && d[day].open_time_ms < t0)
        day++;
    cr_assert(first + 24 <= nh && day < nd && d[day].open_time_ms == t0);
    cr_assert_eq(h[first + 23].open_time_ms, t0 + 23 * HOUR_MS);
    agg = h[first];
    for (size_t i = first + 1; i < first + 24; i++) {
        agg.high = h[i].high > agg.high ? h[i].high : agg.high;
        agg.low = h[i].low < agg.low ? h[i].low : agg.low;
        agg.close = h[i].close;
        agg.volume += h[i].volume;
    }
    cr_expect_eq(agg.open, d[day].open);
    cr_expect_eq(agg.high, d[day].high);
    cr_expect_eq(agg.low, d[day].low);
    cr_expect_eq(agg.close, d[day].close);
    cr_expect_eq(agg.volume, d[day].volume);
    cr_expect_eq(d[day].volume, amt("39217.8088", QS));
    free(h);
    free(d);
}

/* Every shipped file loads with the row count from its SOURCE.md. Two daily files need a smaller
 * qty scale than 8: their volumes exceed int64 at 8 decimals (INT64_MAX is 9.22e18 minor units,
 * i.e. 9.22e10 whole coins): DOGEUSDT peaks at 1.09e11 DOGE a day, SHIBUSDT at 2.46e14 SHIB.
 * SHIB prices are in exponent notation ("1.412e-05") and fit 8 decimals. */
Test(klines, all_shipped_files)
{
    static const struct {
        const char *name;
        size_t rows;
    } files[] = {
        {DIR_1H "ADAUSDT_1h.csv.gz", 23988},    {DIR_1H "BNBUSDT_1h.csv.gz", 23988},
        {DIR_1H "BTCUSDT_1h.csv.gz", 23988},    {DIR_1H "DOGEUSDT_1h.csv.gz", 23988},
        {DIR_1H "ETHUSDT_1h.csv.gz", 23989},    {DIR_1H "LTCUSDT_1h.csv.gz", 23988},
        {DIR_1H "SOLUSDT_1h.csv.gz", 23988},    {DIR_1H "XRPUSDT_1h.csv.gz", 23988},
        {DIR_1D "ADAUSDT_1d.csv.gz", 2822},     {SHARED_1D "ATOMUSDT_1d.csv.gz", 2445},
        {SHARED_1D "AVAXUSDT_1d.csv.gz", 1933}, {SHARED_1D "BCHUSDT_1d.csv.gz", 2232},
        {DIR_1D "BNBUSDT_1d.csv.gz", 2984},     {DIR_1D "BTCUSDT_1d.csv.gz", 3065},
        {SHARED_1D "DOTUSDT_1d.csv.gz", 1968},  {SHARED_1D "ETCUSDT_1d.csv.gz", 2766},
        {DIR_1D "ETHUSDT_1d.csv.gz", 3065},     {SHARED_1D "LINKUSDT_1d.csv.gz", 2548},
        {DIR_1D "LTCUSDT_1d.csv.gz", 2947},     {SHARED_1D "MATICUSDT_1d.csv.gz", 1965},
        {SHARED_1D "PAXGUSDT_1d.csv.gz", 1958}, {DIR_1D "SOLUSDT_1d.csv.gz", 1975},
        {SHARED_1D "TRXUSDT_1d.csv.gz", 2767},  {SHARED_1D "UNIUSDT_1d.csv.gz", 1938},
        {SHARED_1D "XLMUSDT_1d.csv.gz", 2778},  {SHARED_1D "XMRUSDT_1d.csv.gz", 1804},
        {DIR_1D "XRPUSDT_1d.csv.gz", 2805},
    };
    struct kline *k = NULL;
    size_t n = 0;

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        if (strncmp(files[i].name, "../", 3) == 0 && access(files[i].name, R_OK) != 0)
            continue; /* not in a clone without ../shared */
        k = load(files[i].name, &n);
        cr_expect_eq(n, files[i].rows, "%s", files[i].name);
        check_rows(k, n, strstr(files[i].name, "_1h") ? HOUR_MS : DAY_MS);
        free(k);
    }

    k = NULL;
    cr_expect_eq(klines_load(DIR_1D "DOGEUSDT_1d.csv.gz", PS, QS, &k, &n), CG_EOVERFLOW);
    if (access(SHARED_1D "SHIBUSDT_1d.csv.gz", R_OK) == 0)
        cr_expect_eq(klines_load(SHARED_1D "SHIBUSDT_1d.csv.gz", PS, QS, &k, &n), CG_EOVERFLOW);
    cr_expect_null(k);
    cr_assert_eq(klines_load(DIR_1D "DOGEUSDT_1d.csv.gz", PS, 7, &k, &n), CG_OK);
    cr_expect_eq(n, 2378);
    check_rows(k, n, DAY_MS);
    free(k);
    if (access(SHARED_1D "SHIBUSDT_1d.csv.gz", R_OK) != 0)
        return;
    cr_assert_eq(klines_load(SHARED_1D "SHIBUSDT_1d.csv.gz", PS, 2, &k, &n), CG_OK);
    cr_expect_eq(n, 1703);
    /* 2021-05-10,1.412e-05,5e-05,1.412e-05,3.466e-05,95302311917668.0 */
    cr_expect_eq(k[0].open, 1412);
    cr_expect_eq(k[0].high, 5000);
    cr_expect_eq(k[0].close, 3466);
    cr_expect_eq(k[0].volume, 9530231191766800);
    check_rows(k, n, DAY_MS);
    free(k);
}

/* ---- malformed input ---- */

static char tmp_path[64];

/* Write text to a temp file, gzip-compressed or plain (zlib reads plain files as they are). */
static void write_tmp(const char *text, bool gzip)
{
    int fd;

    strcpy(tmp_path, "/tmp/test_klines_XXXXXX");
    fd = mkstemp(tmp_path);
    cr_assert_geq(fd, 0);
    if (gzip) {
        gzFile gz = gzdopen(fd, "wb");

        cr_assert_not_null(gz);
        cr_assert_eq(gzputs(gz, text), (int)strlen(text));
        cr_assert_eq(gzclose(gz), Z_OK);
    } else {
        cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
        close(fd);
    }
}

/* Load text at scales 2 (price) and 3 (qty); on error *out and *n must be untouched. */
static enum cg_err load_text(const char *text, struct kline **out, size_t *n)
{
    struct kline *const sentinel = (struct kline *)&tmp_path;
    enum cg_err rc;

    write_tmp(text, true);
    *out = sentinel;
    *n = 777;
    rc = klines_load(tmp_path, 2, 3, out, n);
    unlink(tmp_path);
    if (rc != CG_OK) {
        cr_expect_eq(*out, sentinel, "output changed on error");
        cr_expect_eq(*n, 777);
    }
    return rc;
}

#define H1 "date,open,high,low,close,volume,ticker\n"
#define D1 "timestamp,open,high,low,close,volume\n"
#define ROW_H(t) t ",10.00,11.00,9.00,10.50,1.5,XYZUSDT\n"

Test(klines, small_valid_files)
{
    struct kline *k;
    size_t n;

    cr_assert_eq(load_text(H1 ROW_H("2024-02-29 23:00:00") ROW_H("2024-03-01 00:00:00"), &k, &n),
                 CG_OK);
    cr_assert_eq(n, 2);
    cr_expect_eq(k[0].open_time_ms, 1709247600000); /* leap day */
    cr_expect_eq(k[1].open_time_ms - k[0].open_time_ms, HOUR_MS);
    cr_expect(k[0].open == 1000 && k[0].high == 1100 && k[0].low == 900 && k[0].close == 1050);
    cr_expect_eq(k[0].volume, 1500);
    free(k);

    /* Daily layout, CRLF line ends, exponent notation, no final newline. */
    cr_assert_eq(load_text(D1 "1970-01-02,1.5e1,2.5E1,1e1,15,2.5e-2\r\n"
                              "1970-01-03,15,15,15,15,0",
                           &k, &n),
                 CG_OK);
    cr_assert_eq(n, 2);
    cr_expect_eq(k[0].open_time_ms, DAY_MS);
    cr_expect(k[0].open == 1500 && k[0].high == 2500 && k[0].low == 1000 && k[0].close == 1500);
    cr_expect_eq(k[0].volume, 25);
    cr_expect_eq(k[1].volume, 0);
    free(k);

    cr_assert_eq(load_text(D1, &k, &n), CG_OK, "header only");
    cr_expect_eq(n, 0);
    cr_expect_null(k);
}

Test(klines, malformed_files)
{
    static const struct {
        const char *name, *text;
        enum cg_err want;
    } cases[] = {
        {"empty", "", CG_EINVAL},
        {"unknown header", "time,open,high,low,close,volume\n", CG_EINVAL},
        {"missing column", H1 "2024-01-01 00:00:00,10,11,9,10,1\n", CG_EINVAL},
        {"extra column", D1 "2024-01-01,10,11,9,10,1,x\n", CG_EINVAL},
        {"empty field", D1 "2024-01-01,10,,9,10,1\n", CG_EINVAL},
        {"blank line", D1 "2024-01-01,10,11,9,10,1\n\n2024-01-02,10,11,9,10,1\n", CG_EINVAL},
        {"daily date in hourly file", H1 "2024-01-01,10,11,9,10,1,X\n", CG_EINVAL},
        {"impossible date", D1 "2023-02-29,10,11,9,10,1\n", CG_EINVAL},
        {"bad hour", H1 ROW_H("2024-01-01 24:00:00"), CG_EINVAL},
        {"not a number", D1 "2024-01-01,ten,11,9,10,1\n", CG_EINVAL},
        {"bad exponent", D1 "2024-01-01,1e,11,9,10,1\n", CG_EINVAL},
        {"zero price", D1 "2024-01-01,0,11,0,10,1\n", CG_EINVAL},
        {"negative volume", D1 "2024-01-01,10,11,9,10,-1\n", CG_EINVAL},
        {"high below low", D1 "2024-01-01,10,9,11,10,1\n", CG_EINVAL},
        {"close above high", D1 "2024-01-01,10,11,9,12,1\n", CG_EINVAL},
        {"duplicate time", H1 ROW_H("2024-01-01 00:00:00") ROW_H("2024-01-01 00:00:00"), CG_EINVAL},
        {"descending", D1 "2024-01-02,10,11,9,10,1\n2024-01-01,10,11,9,10,1\n", CG_EINVAL},
        {"ticker changes",
         H1 ROW_H("2024-01-01 00:00:00") "2024-01-01 01:00:00,10,11,9,10,1,ABCUSDT\n", CG_EINVAL},
        {"too many decimals", D1 "2024-01-01,10.001,11,9,10,1\n", CG_ESCALE},
        {"overflow", D1 "2024-01-01,10,11,9,10,99999999999999999\n", CG_EOVERFLOW},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct kline *k;
        size_t n;

        cr_expect_eq(load_text(cases[i].text, &k, &n), cases[i].want, "%s", cases[i].name);
    }
}

Test(klines, io_errors)
{
    static char big[4096];
    struct kline *k = NULL;
    size_t n = 0;
    FILE *f;
    long size;

    cr_expect_eq(klines_load(DIR_1D "NOPE_1d.csv.gz", PS, QS, &k, &n), CG_EIO);
    cr_expect_eq(klines_load(DIR_1D "BTCUSDT_1d.csv.gz", 19, QS, &k, &n), CG_EINVAL);

    /* A gzip stream cut short. */
    write_tmp(D1 "2024-01-01,10,11,9,10,1\n", true);
    f = fopen(tmp_path, "r+");
    cr_assert_not_null(f);
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    size = ftell(f);
    cr_assert_eq(ftruncate(fileno(f), size - 10), 0);
    fclose(f);
    cr_expect_eq(klines_load(tmp_path, 2, 3, &k, &n), CG_EIO);
    unlink(tmp_path);

    /* A line longer than 1 KiB. */
    memset(big, '1', sizeof(big) - 1);
    write_tmp(big, false);
    cr_expect_eq(klines_load(tmp_path, 2, 3, &k, &n), CG_EINVAL);
    unlink(tmp_path);
    cr_expect_null(k);
}
