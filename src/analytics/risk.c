/* Risk metrics: see risk.h for every formula and its source. */
#include "analytics/risk.h"

#include <math.h>
#include <stdlib.h>

void risk_drawdown(const double *index, const int64_t *times, size_t n, struct risk_drawdown *out)
{
    double peak;
    int64_t peak_t;
    size_t trough_i = 0;
    double worst_peak = 0;
    *out = (struct risk_drawdown){0};
    if (n == 0)
        return;
    peak = index[0];
    peak_t = times[0];
    for (size_t i = 1; i < n; i++) {
        double dd;
        if (index[i] >= peak) {
            peak = index[i];
            peak_t = times[i];
            continue;
        }
        dd = peak > 0 ? index[i] / peak - 1.0 : 0.0;
        if (dd < out->depth) {
            out->depth = dd;
            out->start = peak_t;
            out->trough = times[i];
            trough_i = i;
            worst_peak = peak;
        }
    }
    if (out->depth < 0) {
        for (size_t i = trough_i + 1; i < n; i++) {
            if (index[i] >= worst_peak) {
                out->recovered = true;
                out->recovery = times[i];
                break;
            }
        }
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;
    return (x > y) - (x < y);
}

bool risk_historical(const double *r, size_t n, double c, double *scratch, double *var,
                     double *cvar)
{
    size_t k;
    double s = 0;
    *var = *cvar = NAN;
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        scratch[i] = r[i];
    qsort(scratch, n, sizeof(*scratch), cmp_double);
    k = (size_t)ceil((double)n * (1.0 - c) - 1e-9);
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    for (size_t i = 0; i < k; i++)
        s += scratch[i];
    *var = -scratch[k - 1];
    *cvar = -s / (double)k;
    return true;
}

static double norm_pdf(double z)
{
    return exp(-0.5 * z * z) / sqrt(2.0 * M_PI);
}

enum cg_err risk_compute(const double *r, size_t n, const double *index, const int64_t *times,
                         double periods_per_year, double rf_annual, struct risk_report *out)
{
    double *scratch;
    double sum = 0;
    double ss = 0;
    double dd2 = 0;
    double growth = 1.0;
    double ann = sqrt(periods_per_year);

    if (periods_per_year <= 0 || rf_annual <= -1.0)
        return CG_EINVAL;
    *out = (struct risk_report){0};
    out->n = n;
    out->rf_period = pow(1.0 + rf_annual, 1.0 / periods_per_year) - 1.0;
    risk_drawdown(index, times, n + 1, &out->drawdown);
    out->mean = out->stdev = out->volatility = NAN;
    out->sharpe = out->sortino = out->annual_return = out->calmar = NAN;
    out->param_var95 = out->param_cvar95 = out->param_var99 = out->param_cvar99 = NAN;
    out->hist_var95 = out->hist_cvar95 = out->hist_var99 = out->hist_cvar99 = NAN;
    if (n == 0)
        return CG_OK;
    scratch = malloc(n * sizeof(*scratch));
    if (!scratch)
        return CG_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        double d = r[i] - out->rf_period;
        sum += r[i];
        growth *= 1.0 + r[i];
        if (d < 0)
            dd2 += d * d;
    }
    out->mean = sum / (double)n;
    risk_historical(r, n, 0.95, scratch, &out->hist_var95, &out->hist_cvar95);
    risk_historical(r, n, 0.99, scratch, &out->hist_var99, &out->hist_cvar99);
    free(scratch);
    if (n < 2)
        return CG_OK;
    out->annual_return = growth > 0 ? pow(growth, periods_per_year / (double)n) - 1.0 : -1.0;
    if (!isfinite(out->annual_return))
        out->annual_return = NAN;
    if (out->drawdown.depth < 0 && isfinite(out->annual_return))
        out->calmar = out->annual_return / -out->drawdown.depth;
    if (dd2 > 0)
        out->sortino = (out->mean - out->rf_period) / sqrt(dd2 / (double)n) * ann;
    for (size_t i = 0; i < n; i++)
        ss += (r[i] - out->mean) * (r[i] - out->mean);
    out->stdev = sqrt(ss / (double)(n - 1));
    out->volatility = out->stdev * ann;
    out->param_var95 = RISK_Z95 * out->stdev - out->mean;
    out->param_var99 = RISK_Z99 * out->stdev - out->mean;
    out->param_cvar95 = out->stdev * norm_pdf(RISK_Z95) / 0.05 - out->mean;
    out->param_cvar99 = out->stdev * norm_pdf(RISK_Z99) / 0.01 - out->mean;
    if (out->stdev > 0)
        out->sharpe = (out->mean - out->rf_period) / out->stdev * ann;
    return CG_OK;
}
