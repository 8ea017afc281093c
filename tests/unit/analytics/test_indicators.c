/*
 * Indicators: small series worked out by hand (the arithmetic is in the comments), the warm-up
 * (NaN exactly up to the documented lookback), parameter validation, and the O(n) sliding
 * implementations against naive O(n p) recomputation on long random series (past IND_RESUM, so
 * the periodic exact re-sum is exercised). The comparison with an independent implementation on
 * real data is tests/analytics/reference.test.mjs.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "analytics/indicators.h"

#define EPS 1e-12

static void expect(const double *got, const double *want, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++) {
        if (isnan(want[i]))
            cr_expect(isnan(got[i]), "%s[%zu] = %.17g, want warm-up (NaN)", what, i, got[i]);
        else
            cr_expect(fabs(got[i] - want[i]) <= EPS * fmax(1.0, fabs(want[i])),
                      "%s[%zu] = %.17g, want %.17g", what, i, got[i], want[i]);
    }
}

Test(indicators, sma_by_hand)
{
    /* (1+2+3)/3 = 2, (2+3+4)/3 = 3, (3+4+5)/3 = 4 */
    double x[] = {1, 2, 3, 4, 5};
    double want[] = {NAN, NAN, 2, 3, 4};
    double out[5];
    cr_assert_eq(ind_sma(x, 5, 3, out), CG_OK);
    expect(out, want, 5, "sma");
}

Test(indicators, ema_seeded_with_sma)
{
    /* alpha = 2/(3+1) = 0.5; seed (2+4+6)/3 = 4; (8-4)*0.5+4 = 6; (12-6)*0.5+6 = 9 */
    double x[] = {2, 4, 6, 8, 12};
    double want[] = {NAN, NAN, 4, 6, 9};
    double out[5];
    cr_assert_eq(ind_ema(x, 5, 3, out), CG_OK);
    expect(out, want, 5, "ema");
}

Test(indicators, wma_by_hand)
{
    /* weights 1,2,3 over 6: (1+4+9)/6, (2+6+12)/6, (3+8+15)/6 */
    double x[] = {1, 2, 3, 4, 5};
    double want[] = {NAN, NAN, 14.0 / 6, 20.0 / 6, 26.0 / 6};
    double out[5];
    cr_assert_eq(ind_wma(x, 5, 3, out), CG_OK);
    expect(out, want, 5, "wma");
}

Test(indicators, rsi_wilder_by_hand)
{
    /* changes +1 -1 +2 -1, p = 2.
     * bar 2: AG = (1+0)/2 = 0.5, AL = (0+1)/2 = 0.5 -> RS 1 -> 50
     * bar 3: AG = (0.5*1 + 2)/2 = 1.25, AL = (0.5*1 + 0)/2 = 0.25 -> RS 5 -> 100 - 100/6
     * bar 4: AG = (1.25 + 0)/2 = 0.625, AL = (0.25 + 1)/2 = 0.625 -> 50 */
    double x[] = {1, 2, 1, 3, 2};
    double want[] = {NAN, NAN, 50, 100 - 100.0 / 6, 50};
    double out[5];
    cr_assert_eq(ind_rsi(x, 5, 2, out), CG_OK);
    expect(out, want, 5, "rsi");
}

Test(indicators, rsi_limits)
{
    /* only gains: AL = 0 -> 100; only losses: AG = 0 -> 0 */
    double up[] = {1, 2, 3, 4, 5, 6};
    double down[] = {6, 5, 4, 3, 2, 1};
    double out[6];
    cr_assert_eq(ind_rsi(up, 6, 3, out), CG_OK);
    cr_expect_eq(out[5], 100.0);
    cr_assert_eq(ind_rsi(down, 6, 3, out), CG_OK);
    cr_expect_eq(out[5], 0.0);
}

Test(indicators, macd_talib_seed_by_hand)
{
    /* fast 2 (alpha 2/3), slow 3 (alpha 1/2), signal 2 (alpha 2/3); x = 10 11 13 12 15 14.
     * slow EMA: seed bar 2 = (10+11+13)/3 = 34/3; bar 3 = 35/3; bar 4 = 40/3; bar 5 = 41/3.
     * fast EMA (TA-Lib: seeded at bar slow-1 = 2 with the SMA of x[1..2]) = 12; 12; 14; 14.
     * line = 2/3, 1/3, 2/3, 1/3 from bar 2.
     * signal: seed bar 3 = (2/3 + 1/3)/2 = 1/2; bar 4 = 1/2 + (2/3 - 1/2)*2/3 = 11/18;
     *         bar 5 = 11/18 + (1/3 - 11/18)*2/3 = 23/54.
     * histogram = line - signal = -1/6, 1/18, -5/54. */
    double x[] = {10, 11, 13, 12, 15, 14};
    double wl[] = {NAN, NAN, 2.0 / 3, 1.0 / 3, 2.0 / 3, 1.0 / 3};
    double ws[] = {NAN, NAN, NAN, 0.5, 11.0 / 18, 23.0 / 54};
    double wh[] = {NAN, NAN, NAN, -1.0 / 6, 1.0 / 18, -5.0 / 54};
    double l[6];
    double s[6];
    double h[6];
    cr_assert_eq(ind_macd(x, 6, 2, 3, 2, l, s, h), CG_OK);
    expect(l, wl, 6, "macd line");
    expect(s, ws, 6, "macd signal");
    expect(h, wh, 6, "macd histogram");
}

Test(indicators, bbands_population_sigma)
{
    /* window 1 2 3: mean 2, population variance (1+0+1)/3 = 2/3 */
    double x[] = {1, 2, 3, 4, 5};
    double sd = sqrt(2.0 / 3);
    double wu[] = {NAN, NAN, 2 + 2 * sd, 3 + 2 * sd, 4 + 2 * sd};
    double wm[] = {NAN, NAN, 2, 3, 4};
    double wlo[] = {NAN, NAN, 2 - 2 * sd, 3 - 2 * sd, 4 - 2 * sd};
    double u[5];
    double m[5];
    double lo[5];
    cr_assert_eq(ind_bbands(x, 5, 3, 2.0, u, m, lo), CG_OK);
    expect(u, wu, 5, "upper");
    expect(m, wm, 5, "middle");
    expect(lo, wlo, 5, "lower");
}

Test(indicators, atr_wilder_by_hand)
{
    /* TR1 = max(12-9, |12-9|, |9-9|) = 3; TR2 = max(13-11, |13-11|, |11-11|) = 2;
     * TR3 = max(12-10, |12-12|, |10-12|) = 2. ATR(2): bar 2 = (3+2)/2 = 2.5;
     * bar 3 = (2.5*1 + 2)/2 = 2.25 */
    double h[] = {10, 12, 13, 12};
    double l[] = {8, 9, 11, 10};
    double c[] = {9, 11, 12, 11};
    double want[] = {NAN, NAN, 2.5, 2.25};
    double out[4];
    cr_assert_eq(ind_atr(h, l, c, 4, 2, out), CG_OK);
    expect(out, want, 4, "atr");
}

Test(indicators, stochastic_by_hand)
{
    /* k = 3: bar 2 HH 13 LL 8 -> (12-8)/5 = 80; bar 3 HH 13 LL 9 -> (11-9)/4 = 50;
     * bar 4 HH 14 LL 10 -> (13-10)/4 = 75. %D(2) = 65, 62.5.
     * smooth 2: %K = 65, 62.5 (bars 3, 4); %D(2) = 63.75 (bar 4). */
    double h[] = {10, 12, 13, 12, 14};
    double l[] = {8, 9, 11, 10, 11};
    double c[] = {9, 11, 12, 11, 13};
    double wk[] = {NAN, NAN, 80, 50, 75};
    double wd[] = {NAN, NAN, NAN, 65, 62.5};
    double wk2[] = {NAN, NAN, NAN, 65, 62.5};
    double wd2[] = {NAN, NAN, NAN, NAN, 63.75};
    double k[5];
    double d[5];
    cr_assert_eq(ind_stoch(h, l, c, 5, 3, 2, 1, k, d), CG_OK);
    expect(k, wk, 5, "%K");
    expect(d, wd, 5, "%D");
    cr_assert_eq(ind_stoch(h, l, c, 5, 3, 2, 2, k, d), CG_OK);
    expect(k, wk2, 5, "slow %K");
    expect(d, wd2, 5, "slow %D");
}

Test(indicators, stochastic_flat_range_is_zero)
{
    double f[] = {5, 5, 5, 5};
    double k[4];
    double d[4];
    cr_assert_eq(ind_stoch(f, f, f, 4, 2, 2, 1, k, d), CG_OK);
    cr_expect_eq(k[1], 0.0);
    cr_expect_eq(d[2], 0.0);
}

Test(indicators, vwap_by_hand)
{
    /* typical prices (10+8+9)/3 = 9 and (12+9+12)/3 = 11; volumes 1 and 3:
     * anchored: 9, (9 + 33)/4 = 10.5; rolling 1: 9, 11; zero volume: undefined */
    double h[] = {10, 12, 11};
    double l[] = {8, 9, 11};
    double c[] = {9, 12, 11};
    double v[] = {1, 3, 0};
    double out[3];
    cr_assert_eq(ind_vwap(h, l, c, v, 2, 0, out), CG_OK);
    cr_expect_float_eq(out[0], 9.0, EPS);
    cr_expect_float_eq(out[1], 10.5, EPS);
    cr_assert_eq(ind_vwap(h, l, c, v, 3, 1, out), CG_OK);
    cr_expect_float_eq(out[1], 11.0, EPS);
    cr_expect(isnan(out[2]), "zero volume gives no VWAP");
}

Test(indicators, obv_talib_start)
{
    /* starts at v[0] = 10; up +20 -> 30; flat -> 30; down -40 -> -10; up +50 -> 40 */
    double c[] = {1, 2, 2, 1, 3};
    double v[] = {10, 20, 30, 40, 50};
    double want[] = {10, 30, 30, -10, 40};
    double out[5];
    cr_assert_eq(ind_obv(c, v, 5, out), CG_OK);
    expect(out, want, 5, "obv");
}

Test(indicators, validation)
{
    double x[4] = {1, 2, 3, 4};
    double o[4];
    struct ind_params p;
    cr_expect_eq(ind_sma(x, 4, 0, o), CG_EINVAL);
    cr_expect_eq(ind_ema(x, 4, IND_MAX_PERIOD + 1, o), CG_EINVAL);
    cr_expect_eq(ind_macd(x, 4, 26, 12, 9, o, o, o), CG_EINVAL);
    cr_expect_eq(ind_bbands(x, 4, 2, 0.0, o, o, o), CG_EINVAL);
    cr_expect_eq(ind_parse("SMA"), -1);
    cr_expect_eq(ind_parse("bbands"), IND_BBANDS);
    ind_defaults(IND_MACD, &p);
    cr_expect_eq(ind_validate(IND_MACD, &p), CG_OK);
    p.fast = p.slow;
    cr_expect_eq(ind_validate(IND_MACD, &p), CG_EINVAL);
    /* series shorter than the warm-up: all NaN, no overrun (ASan) */
    cr_assert_eq(ind_sma(x, 2, 3, o), CG_OK);
    cr_expect(isnan(o[0]) && isnan(o[1]));
    cr_assert_eq(ind_macd(x, 2, 2, 3, 2, o, o, o), CG_OK);
}

/* xorshift64*: deterministic pseudo-random prices; the seed is printed */
static uint64_t rng = 0x9E3779B97F4A7C15ull;
static double rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (double)((rng * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

#define LONG_N 20000

static void random_bars(double *h, double *l, double *c, double *v, size_t n)
{
    double px = 30000;
    for (size_t i = 0; i < n; i++) {
        px *= 1.0 + (rnd() - 0.5) * 0.02;
        c[i] = px;
        h[i] = px * (1.0 + rnd() * 0.01);
        l[i] = px * (1.0 - rnd() * 0.01);
        v[i] = rnd() * 100;
    }
}

Test(indicators, sliding_equals_naive_on_long_series)
{
    static double h[LONG_N], l[LONG_N], c[LONG_N], v[LONG_N];
    static double a[LONG_N], b[LONG_N], m[LONG_N], k[LONG_N], d[LONG_N];
    const int p = 20;
    printf("indicators random series seed 0x%llx\n", (unsigned long long)rng);
    random_bars(h, l, c, v, LONG_N);
    cr_assert_eq(ind_sma(c, LONG_N, p, a), CG_OK);
    cr_assert_eq(ind_wma(c, LONG_N, p, b), CG_OK);
    cr_assert_eq(ind_bbands(c, LONG_N, p, 2.0, m, k, d), CG_OK);
    for (size_t i = p - 1; i < LONG_N; i++) {
        double s = 0;
        double w = 0;
        double ss = 0;
        for (int j = 0; j < p; j++) {
            s += c[i - (size_t)j];
            w += c[i - (size_t)j] * (p - j);
        }
        for (int j = 0; j < p; j++)
            ss += (c[i - (size_t)j] - s / p) * (c[i - (size_t)j] - s / p);
        cr_assert(fabs(a[i] - s / p) <= 1e-11 * s / p, "sma %zu", i);
        cr_assert(fabs(b[i] - w / (p * (p + 1) / 2.0)) <= 1e-11 * s / p, "wma %zu", i);
        cr_assert(fabs(m[i] - (s / p + 2 * sqrt(ss / p))) <= 1e-11 * s / p, "bb upper %zu", i);
    }
    /* stochastic deques vs naive min/max */
    cr_assert_eq(ind_stoch(h, l, c, LONG_N, 14, 3, 1, k, d), CG_OK);
    for (size_t i = 13; i < LONG_N; i++) {
        double hh = h[i];
        double ll = l[i];
        for (size_t j = i - 13; j <= i; j++) {
            hh = fmax(hh, h[j]);
            ll = fmin(ll, l[j]);
        }
        cr_assert(fabs(k[i] - (c[i] - ll) / (hh - ll) * 100) <= 1e-9, "stoch %zu", i);
    }
    /* rolling VWAP vs naive */
    cr_assert_eq(ind_vwap(h, l, c, v, LONG_N, 24, a), CG_OK);
    for (size_t i = 23; i < LONG_N; i += 7) {
        double pv = 0;
        double vol = 0;
        for (size_t j = i - 23; j <= i; j++) {
            pv += v[j] * (h[j] + l[j] + c[j]) / 3;
            vol += v[j];
        }
        cr_assert(fabs(a[i] - pv / vol) <= 1e-10 * (pv / vol), "vwap %zu", i);
    }
}

Test(indicators, lookback_is_first_value)
{
    static double h[300], l[300], c[300], v[300];
    double *o[3];
    random_bars(h, l, c, v, 300);
    for (int col = 0; col < 3; col++)
        o[col] = malloc(300 * sizeof(double));
    for (int kind = 0; kind < IND_KIND_COUNT; kind++) {
        struct ind_params p;
        struct ind_series s = {h, l, c, v, 300};
        const char *const *names;
        int nc = ind_columns((enum ind_kind)kind, &names);
        size_t lb;
        ind_defaults((enum ind_kind)kind, &p);
        if (kind == IND_STOCH)
            p.smooth = 3;
        if (kind == IND_VWAP)
            p.period = 10;
        lb = ind_lookback((enum ind_kind)kind, &p);
        cr_assert_eq(ind_compute((enum ind_kind)kind, &p, &s, o), CG_OK);
        cr_expect(ind_history_needed((enum ind_kind)kind, &p) >= lb);
        for (size_t i = 0; i < 300; i++)
            cr_expect(isnan(o[nc - 1][i]) == (i < lb), "%s bar %zu (lookback %zu)",
                      ind_name((enum ind_kind)kind), i, lb);
    }
    for (int col = 0; col < 3; col++)
        free(o[col]);
}
