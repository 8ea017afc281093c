/* Market statistics; definitions in stats.h. */
#include "analytics/stats.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

double stats_periods_per_year(int64_t interval_ms)
{
    return 365.0 * 86400000.0 / (double)interval_ms;
}

size_t stats_log_returns(const double *c, size_t n, double *out)
{
    if (n < 2)
        return 0;
    for (size_t i = 1; i < n; i++)
        out[i - 1] = log(c[i] / c[i - 1]);
    return n - 1;
}

double stats_mean(const double *x, size_t n)
{
    double s = 0.0;
    if (n == 0)
        return NAN;
    for (size_t i = 0; i < n; i++)
        s += x[i];
    return s / (double)n;
}

double stats_stdev(const double *x, size_t n)
{
    double mean;
    double ss = 0.0;
    if (n < 2)
        return NAN;
    mean = stats_mean(x, n);
    for (size_t i = 0; i < n; i++)
        ss += (x[i] - mean) * (x[i] - mean);
    return sqrt(ss / (double)(n - 1));
}

enum cg_err stats_rolling_volatility(const double *c, size_t n, int window, double periods_per_year,
                                     double *out)
{
    size_t w = (size_t)window;
    double ann = sqrt(periods_per_year);
    double mean = 0.0;
    double m2 = 0.0;
    double *r;
    if (window < 2 || !(periods_per_year > 0.0))
        return CG_EINVAL;
    for (size_t i = 0; i < n && i < w + 1; i++)
        out[i] = NAN;
    if (n < w + 1)
        return CG_OK;
    r = malloc((n - 1) * sizeof(*r));
    if (!r)
        return CG_ENOMEM;
    stats_log_returns(c, n, r);
    /* returns r[0..n-2]; out[i] uses r[i-w..i-1] (the w returns ending at bar i) */
    for (size_t j = 0; j < n - 1; j++) {
        if (j < w) {
            double d = r[j] - mean;
            mean += d / (double)(j + 1);
            m2 += d * (r[j] - mean);
        } else if ((j - w) % 4096 == 4095) {
            mean = stats_mean(r + j + 1 - w, w);
            m2 = 0.0;
            for (size_t t = j + 1 - w; t <= j; t++)
                m2 += (r[t] - mean) * (r[t] - mean);
        } else {
            double old = r[j - w];
            double nmean = mean + (r[j] - old) / (double)w;
            m2 += (r[j] - old) * (r[j] - nmean + old - mean);
            mean = nmean;
        }
        if (j + 1 >= w)
            out[j + 1] = sqrt(m2 > 0.0 ? m2 / (double)(w - 1) : 0.0) * ann;
    }
    free(r);
    return CG_OK;
}

double stats_correlation(const double *x, const double *y, size_t n)
{
    double mx;
    double my;
    double sxy = 0.0;
    double sxx = 0.0;
    double syy = 0.0;
    if (n < 2)
        return NAN;
    mx = stats_mean(x, n);
    my = stats_mean(y, n);
    for (size_t i = 0; i < n; i++) {
        sxy += (x[i] - mx) * (y[i] - my);
        sxx += (x[i] - mx) * (x[i] - mx);
        syy += (y[i] - my) * (y[i] - my);
    }
    if (sxx <= 0.0 || syy <= 0.0)
        return NAN;
    return sxy / sqrt(sxx * syy);
}

enum cg_err stats_correlation_matrix(const double *const *series, size_t k, size_t n, double *m)
{
    double *z;
    if (k == 0)
        return CG_EINVAL;
    z = malloc(k * (n ? n : 1) * sizeof(*z));
    if (!z)
        return CG_ENOMEM;
    /* z = (x - mean) / sqrt(sum of squared deviations): then r(a,b) = z_a . z_b */
    for (size_t a = 0; a < k; a++) {
        const double *x = series[a];
        double *za = z + a * n;
        double mean = n ? stats_mean(x, n) : 0.0;
        double ss = 0.0;
        for (size_t i = 0; i < n; i++) {
            za[i] = x[i] - mean;
            ss += za[i] * za[i];
        }
        if (n < 2 || ss <= 0.0) {
            for (size_t i = 0; i < n; i++)
                za[i] = NAN;
        } else {
            double inv = 1.0 / sqrt(ss);
            for (size_t i = 0; i < n; i++)
                za[i] *= inv;
        }
    }
    for (size_t a = 0; a < k; a++) {
        const double *za = z + a * n;
        bool defined = n >= 2 && !isnan(za[0]);
        m[a * k + a] = defined ? 1.0 : NAN;
        for (size_t b = a + 1; b < k; b++) {
            const double *zb = z + b * n;
            double s = 0.0;
            for (size_t i = 0; i < n; i++)
                s += za[i] * zb[i];
            if (s > 1.0)
                s = 1.0;
            if (s < -1.0)
                s = -1.0;
            m[a * k + b] = m[b * k + a] = (n < 2 || isnan(s)) ? NAN : s;
        }
    }
    free(z);
    return CG_OK;
}

double stats_beta(const double *a, const double *b, size_t n)
{
    double ma;
    double mb;
    double cov = 0.0;
    double var = 0.0;
    if (n < 2)
        return NAN;
    ma = stats_mean(a, n);
    mb = stats_mean(b, n);
    for (size_t i = 0; i < n; i++) {
        cov += (a[i] - ma) * (b[i] - mb);
        var += (b[i] - mb) * (b[i] - mb);
    }
    return var > 0.0 ? cov / var : NAN;
}

void stats_drawdown(const double *c, size_t n, double *out, struct stats_drawdown *dd)
{
    double peak = n ? c[0] : 0.0;
    size_t peak_at = 0;
    dd->max_drawdown = 0.0;
    dd->peak = dd->trough = 0;
    dd->recovery = n;
    for (size_t i = 0; i < n; i++) {
        if (c[i] >= peak) {
            peak = c[i];
            peak_at = i;
        }
        out[i] = c[i] / peak - 1.0;
        if (out[i] < dd->max_drawdown) {
            dd->max_drawdown = out[i];
            dd->peak = peak_at;
            dd->trough = i;
        }
    }
    if (dd->max_drawdown < 0.0) {
        for (size_t i = dd->trough + 1; i < n; i++) {
            if (c[i] >= c[dd->peak]) {
                dd->recovery = i;
                break;
            }
        }
    }
}

size_t stats_align(const int64_t *const *times, const size_t *n, size_t k, size_t cap, size_t *idx)
{
    size_t *pos;
    size_t count = 0;
    if (k == 0 || cap == 0)
        return 0;
    /* walk backwards from the newest common time so at most cap are kept */
    pos = malloc(k * sizeof(*pos));
    if (!pos)
        return 0;
    for (size_t j = 0; j < k; j++) {
        if (n[j] == 0) {
            free(pos);
            return 0;
        }
        pos[j] = n[j];
    }
    while (count < cap) {
        int64_t t = INT64_MAX;
        bool done = false;
        bool all = true;
        /* candidate: the smallest of the current last times */
        for (size_t j = 0; j < k; j++) {
            if (pos[j] == 0) {
                done = true;
                break;
            }
            if (times[j][pos[j] - 1] < t)
                t = times[j][pos[j] - 1];
        }
        if (done)
            break;
        for (size_t j = 0; j < k; j++) {
            while (pos[j] > 0 && times[j][pos[j] - 1] > t)
                pos[j]--;
            if (pos[j] == 0 || times[j][pos[j] - 1] != t)
                all = false;
        }
        if (all) {
            count++;
            for (size_t j = 0; j < k; j++)
                idx[j * cap + (cap - count)] = --pos[j];
        }
    }
    /* shift to the front: the t-th oldest common time at column t */
    if (count < cap) {
        for (size_t j = 0; j < k; j++)
            for (size_t t = 0; t < count; t++)
                idx[j * cap + t] = idx[j * cap + (cap - count) + t];
    }
    free(pos);
    return count;
}
