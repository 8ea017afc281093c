/*
 * make bench-analytics: every indicator over 1,000,000 bars and the correlation matrix of
 * 8 markets x 20,000 bars, timed in-process (CLOCK_MONOTONIC), with the conditions printed.
 *
 * Data: real prices. The 1M-bar series is the shipped BTCUSDT 1h klines (data/klines/1h,
 * 23,988 bars) repeated end to end, each copy rescaled so it continues from the previous copy's
 * last close (the bars' shape, range and volume are the real ones). The correlation uses the last
 * 20,001 common hours' 1h closes of the 8 shipped coins (20,000 log returns each).
 * Each measurement is repeated (REPS) and the minimum and median are printed.
 * usage: bench_analytics "COMPILER AND FLAGS" "COMMIT"   (run from the repo root)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analytics/indicators.h"
#include "analytics/stats.h"
#include "market/klines.h"

#define N_POINTS 1000000
#define N_CORR 20000
#define REPS 15
#define TARGET_MS 20.0

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* CPU time of this thread: what the computation costs when other processes take the cores */
static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double tc[REPS];

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;
    return (x > y) - (x < y);
}

/* wall time min/median, thread CPU time min/median; the target is judged on the median CPU
 * time (on a shared, loaded machine the wall time mostly measures the other processes) */
static void report(const char *what, const char *size, double *t, int fails_ok)
{
    qsort(t, REPS, sizeof(double), cmp_double);
    qsort(tc, REPS, sizeof(double), cmp_double);
    printf("%-26s %-19s wall min %6.2f med %6.2f | cpu min %6.2f med %6.2f ms | < %.0f ms: %s\n",
           what, size, t[0], t[REPS / 2], tc[0], tc[REPS / 2], TARGET_MS,
           tc[REPS / 2] < TARGET_MS ? "met" : "MISSED");
    (void)fails_ok;
}

static struct kline *load(const char *coin, size_t *n)
{
    char path[256];
    struct kline *k = NULL;
    snprintf(path, sizeof(path), "data/klines/1h/%sUSDT_1h.csv.gz", coin);
    if (klines_load(path, 8, strcmp(coin, "DOGE") == 0 ? 6 : 8, &k, n) != CG_OK) {
        fprintf(stderr, "cannot load %s (run from the repo root)\n", path);
        exit(1);
    }
    return k;
}

static void print_conditions(const char *flags, const char *commit)
{
    char line[256];
    char model[256] = "unknown";
    FILE *f = fopen("/proc/cpuinfo", "r");
    double load1 = 0;
    int cpus = 0;
    while (f && fgets(line, sizeof(line), f)) {
        if (strncmp(line, "model name", 10) == 0 && cpus++ == 0) {
            char *c = strchr(line, ':');
            snprintf(model, sizeof(model), "%s", c ? c + 2 : line);
            model[strcspn(model, "\n")] = '\0';
        }
    }
    if (f)
        fclose(f);
    f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &load1) != 1)
            load1 = -1;
        fclose(f);
    }
    printf("coinage bench-analytics\n");
    printf("  commit     %s\n", commit);
    printf("  cpu        %s, %d logical CPUs (shared machine; load average %.2f at start)\n", model,
           cpus, load1);
    printf("  compiler   %s\n", flags);
    printf("  method     single thread, in-process, %d repetitions; wall = CLOCK_MONOTONIC, cpu = "
           "CLOCK_THREAD_CPUTIME_ID (target judged on median cpu)\n",
           REPS);
    printf("  data       real Binance 1h klines (data/klines/1h), see bench/bench_analytics.c\n\n");
}

int main(int argc, char **argv)
{
    size_t nb;
    struct kline *btc = load("BTC", &nb);
    static double h[N_POINTS], l[N_POINTS], c[N_POINTS], v[N_POINTS];
    static double o0[N_POINTS], o1[N_POINTS], o2[N_POINTS];
    double *out[3] = {o0, o1, o2};
    struct ind_series s = {h, l, c, v, N_POINTS};
    double scale = 1.0;
    double t[REPS];
    double checksum = 0;
    static const struct {
        enum ind_kind kind;
        const char *label;
        struct ind_params p;
    } runs[] = {
        {IND_SMA, "sma(20)", {.period = 20}},
        {IND_EMA, "ema(20)", {.period = 20}},
        {IND_WMA, "wma(20)", {.period = 20}},
        {IND_RSI, "rsi(14)", {.period = 14}},
        {IND_MACD, "macd(12,26,9)", {.fast = 12, .slow = 26, .signal = 9}},
        {IND_BBANDS, "bbands(20,2)", {.period = 20, .stddev = 2.0}},
        {IND_ATR, "atr(14)", {.period = 14}},
        {IND_STOCH, "stoch(14,3,3)", {.k = 14, .d = 3, .smooth = 3}},
        {IND_VWAP, "vwap(rolling 24)", {.period = 24}},
        {IND_VWAP, "vwap(anchored)", {.period = 0}},
        {IND_OBV, "obv", {.period = 0}},
    };
    static const char *const coins[8] = {"BTC", "ETH", "BNB", "SOL", "XRP", "ADA", "DOGE", "LTC"};
    static double closes[8][N_CORR + 1];
    static double rets[8][N_CORR];
    const double *series[8];
    double m[64];

    print_conditions(argc > 1 ? argv[1] : "?", argc > 2 ? argv[2] : "?");
    for (size_t i = 0; i < N_POINTS; i++) {
        const struct kline *k = &btc[i % nb];
        if (i > 0 && i % nb == 0)
            scale = c[i - 1] / ((double)btc[0].close / 1e8);
        h[i] = (double)k->high / 1e8 * scale;
        l[i] = (double)k->low / 1e8 * scale;
        c[i] = (double)k->close / 1e8 * scale;
        v[i] = (double)k->volume / 1e8;
    }
    free(btc);

    printf("indicators over %d bars\n", N_POINTS);
    for (size_t r = 0; r < sizeof(runs) / sizeof(runs[0]); r++) {
        for (int rep = 0; rep < REPS; rep++) {
            double t0 = now_ms();
            double c0 = cpu_ms();
            if (ind_compute(runs[r].kind, &runs[r].p, &s, out) != CG_OK) {
                fprintf(stderr, "%s failed\n", runs[r].label);
                return 1;
            }
            tc[rep] = cpu_ms() - c0;
            t[rep] = now_ms() - t0;
            checksum += out[0][N_POINTS - 1];
        }
        report(runs[r].label, "1,000,000 points", t, 0);
    }

    /* the 8 files end at slightly different hours: align on common open times */
    {
        struct kline *ks[8];
        int64_t *times[8];
        size_t ns[8];
        static size_t idx[8 * (N_CORR + 1)];
        size_t common;
        for (int j = 0; j < 8; j++) {
            ks[j] = load(coins[j], &ns[j]);
            times[j] = malloc(ns[j] * sizeof(int64_t));
            for (size_t i = 0; i < ns[j]; i++)
                times[j][i] = ks[j][i].open_time_ms;
        }
        common = stats_align((const int64_t *const *)times, ns, 8, N_CORR + 1, idx);
        if (common != N_CORR + 1) {
            fprintf(stderr, "only %zu common bars\n", common);
            return 1;
        }
        for (int j = 0; j < 8; j++) {
            for (size_t i = 0; i <= N_CORR; i++)
                closes[j][i] = (double)ks[j][idx[(size_t)j * (N_CORR + 1) + i]].close;
            free(ks[j]);
            free(times[j]);
            series[j] = rets[j];
        }
    }
    printf("\ncorrelation of 8 markets (BTC ETH BNB SOL XRP ADA DOGE LTC, 1h)\n");
    for (int j = 0; j < 8; j++)
        stats_log_returns(closes[j], N_CORR + 1, rets[j]);
    for (int rep = 0; rep < REPS; rep++) {
        double t0 = now_ms();
        double c0 = cpu_ms();
        if (stats_correlation_matrix(series, 8, N_CORR, m) != CG_OK)
            return 1;
        tc[rep] = cpu_ms() - c0;
        t[rep] = now_ms() - t0;
    }
    report("8x8 correlation matrix", "8 x 20,000 returns", t, 0);
    /* returns + matrix together: the endpoint's work after loading the candles */
    for (int rep = 0; rep < REPS; rep++) {
        double t0 = now_ms();
        double c0 = cpu_ms();
        for (int j = 0; j < 8; j++)
            stats_log_returns(closes[j], N_CORR + 1, rets[j]);
        if (stats_correlation_matrix(series, 8, N_CORR, m) != CG_OK)
            return 1;
        tc[rep] = cpu_ms() - c0;
        t[rep] = now_ms() - t0;
    }
    report("log returns + 8x8 matrix", "8 x 20,000 bars", t, 0);
    printf("  BTC/ETH r = %.4f, BTC/DOGE r = %.4f (last 20,000 hours of the shipped data)\n", m[1],
           m[6]);
    printf("\n(checksum %.6g)\n", checksum);
    return 0;
}
