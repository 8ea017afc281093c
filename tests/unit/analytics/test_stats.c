/* Market statistics: hand-computed cases (arithmetic in the comments). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "analytics/stats.h"

#define EPS 1e-12

Test(stats, stdev_is_sample)
{
    /* mean 2.5; squared deviations 2.25+0.25+0.25+2.25 = 5; / (4-1) */
    double x[] = {1, 2, 3, 4};
    cr_expect_float_eq(stats_stdev(x, 4), sqrt(5.0 / 3), EPS);
    cr_expect(isnan(stats_stdev(x, 1)));
}

Test(stats, periods_per_year)
{
    cr_expect_float_eq(stats_periods_per_year(86400000), 365.0, EPS);
    cr_expect_float_eq(stats_periods_per_year(3600000), 8760.0, EPS);
}

Test(stats, rolling_volatility_by_hand)
{
    /* returns ln 1.1, ln 0.9, ln 1.1; window 2: stdev of two values = |a - b| / sqrt 2;
     * annualised with sqrt(365) */
    double c[] = {100, 110, 99, 108.9};
    double out[4];
    double want = fabs(log(1.1) - log(0.9)) / sqrt(2) * sqrt(365);
    cr_assert_eq(stats_rolling_volatility(c, 4, 2, 365, out), CG_OK);
    cr_expect(isnan(out[0]) && isnan(out[1]));
    cr_expect_float_eq(out[2], want, 1e-12);
    cr_expect_float_eq(out[3], want, 1e-12);
    cr_expect_eq(stats_rolling_volatility(c, 4, 1, 365, out), CG_EINVAL);
}

Test(stats, rolling_volatility_matches_direct_on_long_series)
{
    enum { N = 9000, W = 30 };
    static double c[N], r[N], out[N];
    uint64_t s = 42;
    c[0] = 100;
    for (size_t i = 1; i < N; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        c[i] = c[i - 1] * (1 + ((double)(s >> 11) / 9007199254740992.0 - 0.5) * 0.05);
    }
    stats_log_returns(c, N, r);
    cr_assert_eq(stats_rolling_volatility(c, N, W, 365, out), CG_OK);
    for (size_t i = W; i < N; i += 13)
        cr_assert_float_eq(out[i], stats_stdev(r + i - W, W) * sqrt(365), 1e-12, "bar %zu", i);
}

Test(stats, correlation_and_beta)
{
    /* y = 2x + 1: r = 1, beta(y vs x) = 2; z = -x: r = -1 */
    double x[] = {0.01, -0.02, 0.03, 0.0, -0.01};
    double y[5];
    double z[5];
    for (int i = 0; i < 5; i++) {
        y[i] = 2 * x[i] + 1;
        z[i] = -x[i];
    }
    cr_expect_float_eq(stats_correlation(x, y, 5), 1.0, EPS);
    cr_expect_float_eq(stats_correlation(x, z, 5), -1.0, EPS);
    cr_expect_float_eq(stats_beta(y, x, 5), 2.0, EPS);
    cr_expect(isnan(stats_beta(x, (double[]){1, 1, 1, 1, 1}, 5)), "constant benchmark");
}

Test(stats, beta_by_hand)
{
    /* b = 1 2 3 (mean 2), a = 1 3 2 (mean 2): cov = (-1)(-1) + 0 + (1)(0) = 1 (/2),
     * var(b) = 1 + 0 + 1 = 2 (/2): beta = 1/2; r = 1 / sqrt(2 * 2) = 0.5 */
    double b[] = {1, 2, 3};
    double a[] = {1, 3, 2};
    cr_expect_float_eq(stats_beta(a, b, 3), 0.5, EPS);
    cr_expect_float_eq(stats_correlation(a, b, 3), 0.5, EPS);
}

Test(stats, correlation_matrix_matches_pairs)
{
    enum { K = 4, N = 500 };
    static double data[K][N];
    const double *series[K];
    double m[K * K];
    uint64_t s = 7;
    for (int k = 0; k < K; k++) {
        for (int i = 0; i < N; i++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            data[k][i] = (double)(s >> 11) / 9007199254740992.0 + (k ? 0.5 * data[0][i] : 0);
        }
        series[k] = data[k];
    }
    cr_assert_eq(stats_correlation_matrix(series, K, N, m), CG_OK);
    for (int a = 0; a < K; a++) {
        cr_expect_float_eq(m[a * K + a], 1.0, EPS);
        for (int b = 0; b < K; b++) {
            cr_expect_eq(m[a * K + b], m[b * K + a]);
            if (a != b)
                cr_expect_float_eq(m[a * K + b], stats_correlation(data[a], data[b], N), 1e-12);
        }
    }
    cr_expect(m[1] > 0.3, "series 1 is built on series 0");
}

Test(stats, drawdown_by_hand)
{
    /* peak 120 at bar 1; 90 -> -25%, 60 -> -50% (trough, bar 3); 130 regains it at bar 4
     * (new peak); 110 -> 110/130 - 1 */
    double c[] = {100, 120, 90, 60, 130, 110};
    double out[6];
    struct stats_drawdown dd;
    stats_drawdown(c, 6, out, &dd);
    cr_expect_float_eq(out[0], 0.0, EPS);
    cr_expect_float_eq(out[2], -0.25, EPS);
    cr_expect_float_eq(out[3], -0.5, EPS);
    cr_expect_float_eq(out[5], 110.0 / 130 - 1, EPS);
    cr_expect_float_eq(dd.max_drawdown, -0.5, EPS);
    cr_expect_eq(dd.peak, 1);
    cr_expect_eq(dd.trough, 3);
    cr_expect_eq(dd.recovery, 4);
    /* never recovered */
    stats_drawdown((double[]){10, 8, 9}, 3, out, &dd);
    cr_expect_float_eq(dd.max_drawdown, -0.2, EPS);
    cr_expect_eq(dd.recovery, 3);
}

Test(stats, align_common_times)
{
    int64_t ta[] = {1, 2, 3, 5, 6};
    int64_t tb[] = {2, 3, 4, 5, 6, 7};
    const int64_t *times[] = {ta, tb};
    size_t n[] = {5, 6};
    size_t idx[2 * 10];
    size_t c = stats_align(times, n, 2, 10, idx);
    /* common times 2 3 5 6 */
    cr_assert_eq(c, 4);
    cr_expect(idx[0] == 1 && idx[1] == 2 && idx[2] == 3 && idx[3] == 4);
    cr_expect(idx[10] == 0 && idx[11] == 1 && idx[12] == 3 && idx[13] == 4);
    /* cap 2: the newest two, 5 and 6 */
    c = stats_align(times, n, 2, 2, idx);
    cr_assert_eq(c, 2);
    cr_expect(ta[idx[0]] == 5 && ta[idx[1]] == 6 && tb[idx[2]] == 5 && tb[idx[3]] == 6);
}
