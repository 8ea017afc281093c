/*
 * Market statistics over close-price series: log returns, volatility, correlation, beta and
 * drawdown. Statistics on prices Coinage only reads, in double (CONVENTIONS.md); never money.
 *
 * Definitions (the usual ones of portfolio statistics, e.g. Hull, "Options, Futures and Other
 * Derivatives", ch. 15 for volatility from log returns; Sharpe 1964 / CAPM for beta):
 * - log return of bar i: r[i] = ln(c[i] / c[i-1]).
 * - volatility over a window of w returns: sample standard deviation (divide by w - 1) of the
 *   w returns, annualised by sqrt(periods per year) with a 365-day year (crypto trades every
 *   day): periods per year = 365 * 86,400,000 / interval ms (365 for 1d, 8760 for 1h).
 * - correlation: Pearson's r of two return series over the same bars.
 * - beta of an asset against a benchmark: cov(r_a, r_b) / var(r_b) (both sample, n - 1).
 * - drawdown at bar i: c[i] / max(c[0..i]) - 1 (0 at a new high, negative below it);
 *   the maximum drawdown is its minimum, from the peak before it to the trough, recovered at the
 *   first later bar whose close regains the peak.
 *
 * Inputs are borrowed; outputs caller-owned. Pure functions: any thread.
 * NaN marks values that are not defined (too few bars, a constant series), rendered as null.
 */
#ifndef CG_ANALYTICS_STATS_H
#define CG_ANALYTICS_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* Periods per 365-day year for bars of interval_ms (> 0). */
double stats_periods_per_year(int64_t interval_ms);

/* r[i-1] = ln(c[i] / c[i-1]) for i = 1..n-1 into out (n-1 values); c must be > 0. Returns n-1
 * (0 when n < 2). */
size_t stats_log_returns(const double *c, size_t n, double *out);

/* Sample mean and standard deviation (n - 1) of x; NaN when n < 2. */
double stats_mean(const double *x, size_t n);
double stats_stdev(const double *x, size_t n);

/*
 * Rolling annualised volatility of closes c[0..n-1]: out[i] (i >= window) is the sample stdev of
 * the `window` log returns ending at bar i, times sqrt(periods_per_year); NaN for i < window.
 * window >= 2. O(n) with sliding sums (re-added every 4096 bars). CG_OK, CG_EINVAL.
 */
enum cg_err stats_rolling_volatility(const double *c, size_t n, int window, double periods_per_year,
                                     double *out) __attribute__((warn_unused_result));

/* Pearson correlation of x and y (n values each); NaN when n < 2 or either is constant. */
double stats_correlation(const double *x, const double *y, size_t n);

/*
 * Correlation matrix of k series of n values each (series[j][0..n-1]) into m (k x k, row-major):
 * m[a*k+b] = Pearson r; the diagonal is 1 (NaN for a constant series). Each series is
 * standardised once, then each pair is one dot product: O(k^2 n / 2).
 * CG_OK, CG_EINVAL (k == 0), CG_ENOMEM.
 */
enum cg_err stats_correlation_matrix(const double *const *series, size_t k, size_t n, double *m)
    __attribute__((warn_unused_result));

/* Beta of returns a against benchmark returns b (n each): cov(a,b) / var(b); NaN when n < 2 or
 * var(b) = 0. */
double stats_beta(const double *a, const double *b, size_t n);

struct stats_drawdown {
    double max_drawdown; /* <= 0; 0 when the series never fell below a previous high */
    size_t peak;         /* bar of the high before the deepest trough */
    size_t trough;       /* bar of the deepest trough */
    size_t recovery;     /* first bar after the trough closing >= the peak close, or n if none */
};

/* Drawdown series out[i] = c[i] / max(c[0..i]) - 1 and its maximum. n >= 1. */
void stats_drawdown(const double *c, size_t n, double *out, struct stats_drawdown *dd);

/*
 * Align k time series on the times they all have. times[j] is sorted ascending (n[j] values).
 * Writes into idx (k x cap, row-major: idx[j*cap + t] = index into series j of the t-th common
 * time) the last `cap` common times at most, oldest first, and returns how many.
 */
size_t stats_align(const int64_t *const *times, const size_t *n, size_t k, size_t cap, size_t *idx);

#endif
