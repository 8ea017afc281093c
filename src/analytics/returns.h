/*
 * Return measures over a range: money-weighted return (MWR, the internal rate of return of the
 * range's cash flows; XIRR when annualised) and simple period returns. Pure, any thread.
 *
 * MWR (Bacon, "Practical Portfolio Performance Measurement and Attribution", 2nd ed., 2.3; the
 * XIRR convention of spreadsheets: act/365 year fractions): with the portfolio's value V0 at the
 * range start t0 treated as an investment, each external flow F_i at t_i (deposits +, withdrawals
 * -) as an investment, and the value VE at the range end tE as a withdrawal, find the period
 * growth x = ln(1 + r) that solves
 *     V0 + sum_i F_i exp(-x tau_i) - VE exp(-x) = 0,   tau_i = (t_i - t0) / (tE - t0),
 * i.e. the present value at t0 of what went in equals that of what came out. Then the period
 * MWR is exp(x) - 1 and the annualised XIRR is exp(x * 365 days / (tE - t0)) - 1.
 * When V0 = 0 (nothing invested at t0) the range starts at the first deposit instead, since
 * the rate of money that was not there is undefined; the flows before it (withdrawals of
 * nothing) cannot exist.
 * Solved by bisection on x in [-40, 40] to 1e-13 (the equation need not be monotone with mixed
 * flows; bisection finds a root whenever the ends have opposite signs).
 */
#ifndef CG_ANALYTICS_RETURNS_H
#define CG_ANALYTICS_RETURNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analytics/portfolio.h"

#define RET_YEAR_MS (365LL * 86400000LL)

/*
 * MWR of the range [t0, tE] (ms, tE > t0) with start value v0 and end value vE (cash minor units,
 * >= 0) and the flows inside the range (amounts in cash minor units, + = into the portfolio).
 * On success returns true with *period (the MWR over the range, a fraction: 0.05 = 5%) and
 * *annual (XIRR; set to NAN when it does not fit a double). Returns false when there is no
 * solution: nothing was ever invested, the range after the first deposit is empty, or no sign
 * change of the equation on the bracket.
 */
bool ret_mwr(int64_t t0, int64_t v0, int64_t tE, int64_t vE, const struct pf_flow *flows, size_t n,
             double *period, double *annual);

/* Annualise a period return over `ms` milliseconds: (1 + r)^(365 d / ms) - 1; NAN if ms <= 0
 * or r <= -1 or the result is not finite. */
double ret_annualise(double r, int64_t ms);

#endif
