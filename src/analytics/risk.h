/*
 * Risk metrics of a return series (the portfolio's TWR period returns, so deposits and
 * withdrawals do not count as gains or losses). Pure, any thread. Returns are fractions
 * (0.01 = +1%) per period; `periods_per_year` is 365 for daily returns (crypto trades every
 * day) and 8760 for hourly ones. Losses (VaR, CVaR) are reported as positive fractions of
 * equity; a negative VaR means even the tail quantile is a gain.
 *
 * Formulas and sources:
 *   mean = sum r / n; stdev = sample standard deviation (n - 1 denominator).
 *   volatility = stdev * sqrt(periods_per_year).
 *   Historical VaR at confidence c (historical simulation; Jorion, "Value at Risk", 3rd ed.,
 *     ch. 10): sort the returns ascending, k = ceil(n (1 - c)) (at least 1); VaR = -r_(k).
 *   Historical CVaR / expected shortfall (Acerbi & Tasche 2002): -mean(r_(1) .. r_(k)).
 *   Parametric (variance-covariance, normal) VaR: z_c * stdev - mean, with z_0.95 =
 *     1.6448536269514722 and z_0.99 = 2.3263478740408408 (the standard normal quantiles);
 *     parametric CVaR: stdev * phi(z_c) / (1 - c) - mean, phi the standard normal density
 *     (McNeil, Frey, Embrechts, "Quantitative Risk Management", 2005, ex. 2.18).
 *   Risk-free rate per period: rf_p = (1 + rf_annual)^(1 / periods_per_year) - 1.
 *   Sharpe (Sharpe 1994, ex post): (mean - rf_p) / stdev * sqrt(periods_per_year).
 *   Sortino (Sortino & Price 1994): (mean - rf_p) / DD * sqrt(periods_per_year), downside
 *     deviation DD = sqrt(sum min(0, r - rf_p)^2 / n) over all n periods.
 *   Annualised return = (prod (1 + r))^(periods_per_year / n) - 1 (geometric).
 *   Calmar (Young 1991): annualised return / |max drawdown| over the same series.
 *   Max drawdown (risk_drawdown): on the wealth index, the most negative index_t / peak_t - 1,
 *     with the time of that peak (start), of the low (trough) and of the first later time the
 *     index is back at or above the peak (recovery; none if it has not recovered).
 * A figure whose denominator is 0 is NAN; with fewer than 2 returns only the mean, the
 * historical VaR/CVaR and the drawdown are given (every other figure is NAN).
 */
#ifndef CG_ANALYTICS_RISK_H
#define CG_ANALYTICS_RISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define RISK_Z95 1.6448536269514722
#define RISK_Z99 2.3263478740408408

struct risk_drawdown {
    double depth;   /* <= 0: -0.2 is a 20% drawdown; 0 when the index never fell */
    int64_t start;  /* time of the peak before the deepest fall, ms (0 when depth == 0) */
    int64_t trough; /* time of the low, ms */
    bool recovered;
    int64_t recovery; /* first time back at or above the peak, ms (valid when recovered) */
};

struct risk_report {
    size_t n;
    double mean, stdev, volatility;
    double hist_var95, hist_cvar95, hist_var99, hist_cvar99;
    double param_var95, param_cvar95, param_var99, param_cvar99;
    double rf_period;
    double sharpe, sortino, annual_return, calmar;
    struct risk_drawdown drawdown;
};

/* Max drawdown of index[0..n) at times[0..n). n == 0 gives depth 0. */
void risk_drawdown(const double *index, const int64_t *times, size_t n, struct risk_drawdown *out);

/* Historical VaR and CVaR at confidence c (0.5 < c < 1) of r[0..n); scratch holds n doubles.
 * false (outputs NAN) when n == 0. */
bool risk_historical(const double *r, size_t n, double c, double *scratch, double *var,
                     double *cvar);

/*
 * Every metric above for the returns r[0..n) and the wealth index index[0..n+1) at times
 * [0..n+1) (index[0] is the start, r[i] = index[i+1] / index[i] - 1). CG_OK, CG_EINVAL
 * (periods_per_year <= 0 or rf_annual <= -1), CG_ENOMEM.
 */
enum cg_err risk_compute(const double *r, size_t n, const double *index, const int64_t *times,
                         double periods_per_year, double rf_annual, struct risk_report *out)
    __attribute__((warn_unused_result));

#endif
