/* Money-weighted return by bisection: see returns.h. */
#include "analytics/returns.h"

#include <math.h>

static double npv(double x, int64_t t0, int64_t v0, int64_t tE, int64_t vE,
                  const struct pf_flow *flows, size_t n)
{
    double span = (double)(tE - t0);
    double s = (double)v0 - (double)vE * exp(-x);
    for (size_t i = 0; i < n; i++)
        s += (double)flows[i].amount * exp(-x * (double)(flows[i].time - t0) / span);
    return s;
}

bool ret_mwr(int64_t t0, int64_t v0, int64_t tE, int64_t vE, const struct pf_flow *flows, size_t n,
             double *period, double *annual)
{
    double lo = -40.0;
    double hi = 40.0;
    double flo;
    double fhi;

    if (v0 <= 0) {
        /* nothing invested at t0: the range starts at the first deposit */
        size_t i = 0;
        while (i < n && flows[i].amount <= 0)
            i++;
        if (i == n)
            return false;
        t0 = flows[i].time;
        flows += i;
        n -= i;
        v0 = 0;
    }
    if (tE <= t0)
        return false;
    flo = npv(lo, t0, v0, tE, vE, flows, n);
    fhi = npv(hi, t0, v0, tE, vE, flows, n);
    if (!isfinite(flo) || !isfinite(fhi) || (flo > 0) == (fhi > 0))
        return false;
    for (int it = 0; it < 200 && hi - lo > 1e-13; it++) {
        double mid = 0.5 * (lo + hi);
        double fm = npv(mid, t0, v0, tE, vE, flows, n);
        if ((fm > 0) == (flo > 0)) {
            lo = mid;
            flo = fm;
        } else {
            hi = mid;
        }
    }
    {
        double x = 0.5 * (lo + hi);
        double a = exp(x * (double)RET_YEAR_MS / (double)(tE - t0)) - 1.0;
        *period = exp(x) - 1.0;
        *annual = isfinite(a) ? a : NAN;
    }
    return true;
}

double ret_annualise(double r, int64_t ms)
{
    double a;
    if (ms <= 0 || r <= -1.0)
        return NAN;
    a = pow(1.0 + r, (double)RET_YEAR_MS / (double)ms) - 1.0;
    return isfinite(a) ? a : NAN;
}
