/*
 * Unit tests for src/analytics/portfolio.h, returns.h and risk.h on a small ledger worked out by
 * hand (the arithmetic is in the comments; every expected figure below was computed on paper and
 * cross-checked with a few lines of Python, not with the code under test).
 *
 * The ledger (USDT is cash, scale 8; BTC scale 8; fee 0.1% of the notional, in USDT):
 *   day 0  deposit 10,000 USDT
 *   day 1  buy  0.1  BTC at 30,000: notional 3,000, fee 3     -> BTC qty 0.1,  cost 3,003
 *   day 2  buy  0.1  BTC at 40,000: notional 4,000, fee 4     -> BTC qty 0.2,  cost 7,007
 *   day 3  sell 0.05 BTC at 50,000: notional 2,500, fee 2.5   -> released 7,007 x 0.05/0.2
 *          = 1,751.75; realized = (2,500 - 2.5) - 1,751.75 = 745.75; qty 0.15, cost 5,255.25
 *   day 4  withdraw 1,000 USDT
 *   BTC closes: day 1 30,000, day 2 40,000, day 3 50,000, day 4 40,000, day 5 45,000.
 * Cash: 10,000 - 3,003 - 4,004 + 2,497.5 - 1,000 = 4,490.5.
 * Average cost = 5,255.25 / 0.15 = 35,035 per BTC (unchanged by the sale: WAC).
 * At 45,000: market value 0.15 x 45,000 = 6,750; unrealized = 6,750 - 5,255.25 = 1,494.75;
 * equity = 4,490.5 + 6,750 = 11,240.5; fees 9.5.
 * Check: equity - net flows = 11,240.5 - 9,000 = 2,240.5 = realized 745.75 + unrealized 1,494.75.
 *
 * Equity at the daily grid (events at a grid time are applied before valuing it):
 *   V0 = 10,000; V1 = 6,997 + 0.1 x 30,000 = 9,997; V2 = 2,993 + 0.2 x 40,000 = 10,993;
 *   V3 = 5,490.5 + 0.15 x 50,000 = 12,990.5;
 *   day 4: just before the withdrawal 5,490.5 + 0.15 x 40,000 = 11,490.5, just after 10,490.5;
 *   V5 = 11,240.5.
 * TWR factors: 9,997/10,000, 10,993/9,997, 12,990.5/10,993, 11,490.5/12,990.5 (the sub-period
 * ends just before the withdrawal), then 10,490.5 -> 10,490.5 (factor 1) and 11,240.5/10,490.5.
 * They telescope: TWR = (11,490.5/10,000) x (11,240.5/10,490.5) - 1 = 0.231199325580287.
 * Daily returns r = -0.0003, 0.099629888966690, 0.181706540525789, -0.115468996574420,
 *   0.071493255802869.
 * MWR: V0 = 10,000 in at day 0, 1,000 out at day 4, 11,240.5 out at day 5; solve
 *   10,000 = 1,000 (1+m)^-0.8 + 11,240.5 (1+m)^-1  ->  m = 0.228247470385674 over the 5 days.
 * Index: 1, 0.9997, 1.0993, 1.29905, 1.14905, 1.231199...; max drawdown from the day-3 peak
 *   1.29905 to the day-4 trough 1.14905: 1.14905/1.29905 - 1 = -0.115468996574420, not
 *   recovered by day 5 (1.2312 < 1.29905). (The day-1 dip of -0.03% recovered on day 2.)
 * Historical VaR (n = 5): k = ceil(5 x 0.05) = ceil(5 x 0.01) = 1, so VaR95 = VaR99 = CVaR95 =
 *   CVaR99 = 0.115468996574420 (the worst day).
 * mean = 0.047412137744186, sample stdev = 0.111969072083762;
 *   parametric VaR95 = 1.6448536269514722 x sd - mean = 0.136760596579181,
 *   VaR99 = 2.3263478740408408 x sd - mean = 0.213066875056200,
 *   CVaR95 = sd phi(1.64485)/0.05 - mean = 0.183547901287713,
 *   CVaR99 = sd phi(2.32635)/0.01 - mean = 0.251009425412382.
 * rf = 0: Sharpe = mean/sd x sqrt(365) = 8.089801968464794; downside deviation =
 *   sqrt((0.0003^2 + 0.115468996574420^2)/5); Sortino = 17.540990537820910.
 */
#include <criterion/criterion.h>

#include <math.h>

#include "analytics/portfolio.h"
#include "analytics/returns.h"
#include "analytics/risk.h"

#define USDT 0
#define BTC 1
#define ETH 2
#define DAY 86400000LL
#define U(x) ((int64_t)((x)*100000000.0 + 0.5)) /* whole units -> minor units (scale 8) */

static const struct pf_assets assets = {3, {8, 8, 8}, USDT};

static bool day_price(void *ctx, uint32_t asset, int64_t t, int64_t *price)
{
    static const double btc[] = {30000, 30000, 40000, 50000, 40000, 45000};
    int64_t d = t / DAY;
    (void)ctx;
    if (asset != BTC || d < 0)
        return false;
    *price = U(btc[d > 5 ? 5 : d]);
    return true;
}

static const struct pf_prices prices = {day_price, NULL};

static const struct pf_event ledger[] = {
    {0 * DAY, 1, PF_DEPOSIT, USDT, U(10000), 0, 0, 0},
    {1 * DAY, 2, PF_BUY, BTC, U(0.1), U(3000), U(3), U(30000)},
    {2 * DAY, 3, PF_BUY, BTC, U(0.1), U(4000), U(4), U(40000)},
    {3 * DAY, 4, PF_SELL, BTC, U(0.05), U(2500), U(2.5), U(50000)},
    {4 * DAY, 5, PF_WITHDRAWAL, USDT, U(1000), 0, 0, 0},
};
#define N_LEDGER (sizeof(ledger) / sizeof(ledger[0]))

static void apply_all(struct pf_state *s)
{
    pf_state_init(s);
    for (size_t i = 0; i < N_LEDGER; i++)
        cr_assert_eq(pf_apply(s, &assets, &ledger[i], NULL), CG_OK, "event %zu", i);
}

Test(portfolio, weighted_average_cost_and_pnl)
{
    struct pf_state s;
    const struct pf_position *b;
    int64_t mv;
    apply_all(&s);
    b = &s.pos[BTC];
    cr_assert_eq(b->quantity, U(0.15));
    cr_assert_eq(b->cost, U(5255.25));
    cr_assert_eq(pf_average_cost(b, 8), U(35035));
    cr_assert_eq(b->realized, U(745.75));
    cr_assert_eq(b->fees, U(9.5));
    cr_assert_eq(b->bought, U(0.2));
    cr_assert_eq(b->sold, U(0.05));
    cr_assert_eq(s.pos[USDT].quantity, U(4490.5));
    cr_assert_eq(s.net_flow, U(9000));
    cr_assert_eq(s.deposits, U(10000));
    cr_assert_eq(s.withdrawals, U(1000));
    mv = pf_value(b->quantity, U(45000), 8);
    cr_assert_eq(mv, U(6750));
    cr_assert_eq(mv - b->cost, U(1494.75)); /* unrealized */
    cr_assert_eq(pf_equity(&s, &assets, &prices, 5 * DAY), U(11240.5));
    /* equity - net flows == realized + unrealized */
    cr_assert_eq(U(11240.5) - s.net_flow, b->realized + (mv - b->cost));
}

Test(portfolio, closing_a_position_leaves_no_cost_residue)
{
    /* 3 units for 10 minor units: selling one third releases floor(10/3) = 3, then 3 again
     * (floor(7 x 1/2)), and the last unit takes the remaining 4. */
    static const struct pf_assets a = {2, {0, 0}, 0};
    struct pf_state s;
    struct pf_event dep = {0, 1, PF_DEPOSIT, 0, 100, 0, 0, 0};
    struct pf_event buy = {1, 2, PF_BUY, 1, 3, 9, 1, 3};
    struct pf_event sell = {2, 3, PF_SELL, 1, 1, 5, 0, 5};
    pf_state_init(&s);
    cr_assert_eq(pf_apply(&s, &a, &dep, NULL), CG_OK);
    cr_assert_eq(pf_apply(&s, &a, &buy, NULL), CG_OK);
    cr_assert_eq(s.pos[1].cost, 10);
    cr_assert_eq(pf_apply(&s, &a, &sell, NULL), CG_OK);
    cr_assert_eq(s.pos[1].cost, 7);
    cr_assert_eq(s.pos[1].realized, 5 - 3);
    cr_assert_eq(pf_apply(&s, &a, &sell, NULL), CG_OK);
    cr_assert_eq(s.pos[1].cost, 4);
    cr_assert_eq(pf_apply(&s, &a, &sell, NULL), CG_OK);
    cr_assert_eq(s.pos[1].cost, 0);
    cr_assert_eq(s.pos[1].quantity, 0);
    cr_assert_eq(s.pos[1].realized, 15 - 10); /* proceeds 15, cost 10, all realized */
    cr_assert_eq(pf_apply(&s, &a, &sell, NULL), CG_EINVAL, "selling more than held");
    cr_assert_eq(s.pos[1].realized, 5, "a refused event changes nothing");
}

Test(portfolio, transfer_in_and_out_of_an_asset)
{
    /* deposit 1 ETH when it is worth 2,000: cost 2,000 (flow +2,000); withdraw 0.25 ETH when
     * it is worth 3,000: the units leave at the average cost (cost 1,500, avg still 2,000,
     * realized 0) and the flow is -750 (0.25 x 3,000). */
    struct pf_state s;
    struct pf_event in = {0, 1, PF_DEPOSIT, ETH, U(1), 0, 0, U(2000)};
    struct pf_event out = {1, 2, PF_WITHDRAWAL, ETH, U(0.25), 0, 0, U(3000)};
    int64_t flow;
    pf_state_init(&s);
    cr_assert_eq(pf_apply(&s, &assets, &in, &flow), CG_OK);
    cr_assert_eq(flow, U(2000));
    cr_assert_eq(pf_apply(&s, &assets, &out, &flow), CG_OK);
    cr_assert_eq(flow, -U(750));
    cr_assert_eq(s.pos[ETH].quantity, U(0.75));
    cr_assert_eq(s.pos[ETH].cost, U(1500));
    cr_assert_eq(pf_average_cost(&s.pos[ETH], 8), U(2000));
    cr_assert_eq(s.pos[ETH].realized, 0);
}

Test(portfolio, refuses_what_the_ledger_would_refuse)
{
    struct pf_state s;
    struct pf_event buy = {0, 1, PF_BUY, BTC, U(1), U(100), 0, U(100)};
    struct pf_event bad_asset = {0, 1, PF_DEPOSIT, 9, U(1), 0, 0, 0};
    pf_state_init(&s);
    cr_assert_eq(pf_apply(&s, &assets, &buy, NULL), CG_EINVAL, "buy without cash");
    cr_assert_eq(pf_apply(&s, &assets, &bad_asset, NULL), CG_EINVAL);
    cr_assert_eq(s.pos[BTC].quantity, 0);
}

static struct pf_point pts[6];

static void walk(struct pf_flow *flows, size_t *n_flows)
{
    int64_t times[6];
    for (int i = 0; i < 6; i++)
        times[i] = i * DAY;
    cr_assert_eq(
        pf_walk(ledger, N_LEDGER, &assets, &prices, times, 6, pts, flows, 8, n_flows, NULL), CG_OK);
}

Test(portfolio, equity_series_and_twr)
{
    static const double eq[] = {10000, 9997, 10993, 12990.5, 10490.5, 11240.5};
    struct pf_flow flows[8];
    size_t nf;
    walk(flows, &nf);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(pts[i].equity, U(eq[i]), "day %d", i);
    cr_assert_eq(nf, 1);
    cr_assert_eq(flows[0].time, 4 * DAY);
    cr_assert_eq(flows[0].amount, -U(1000));
    cr_assert_eq(pts[5].net_flow, -U(1000));
    cr_assert_float_eq(pts[5].twr_index - 1.0, 0.231199325580287, 1e-12);
    cr_assert_float_eq(pts[4].twr_index, 1.14905, 1e-12);
    /* absolute P&L over the range = V5 - V0 - flows = 11,240.5 - 10,000 + 1,000 = 2,240.5 */
    cr_assert_eq(pts[5].equity - pts[0].equity - pts[5].net_flow, U(2240.5));
}

Test(portfolio, twr_ignores_a_deposit_before_anything_is_invested)
{
    /* Range starts at -1 day with nothing: the first sub-period has V_start = 0 and no return. */
    int64_t times[] = {-DAY, 5 * DAY};
    struct pf_point p[2];
    struct pf_flow flows[8];
    size_t nf;
    cr_assert_eq(pf_walk(ledger, N_LEDGER, &assets, &prices, times, 2, p, flows, 8, &nf, NULL),
                 CG_OK);
    cr_assert_eq(p[0].equity, 0);
    cr_assert_eq(nf, 2);
    cr_assert_float_eq(p[1].twr_index - 1.0, 0.231199325580287, 1e-12);
    /* MWR: nothing invested at -1 day, so it runs from the first deposit (day 0) and equals the
     * hand-computed 0.228247470385674 of the [0, 5 days] range (see mwr_by_hand). */
    {
        double period;
        double annual;
        cr_assert_eq(flows[0].amount, U(10000));
        cr_assert(ret_mwr(-DAY, 0, 5 * DAY, p[1].equity, flows, nf, &period, &annual));
        cr_assert_float_eq(period, 0.228247470385674, 1e-11);
    }
}

Test(returns, mwr_by_hand)
{
    struct pf_flow flows[8];
    size_t nf;
    double period;
    double annual;
    walk(flows, &nf);
    cr_assert(ret_mwr(0, pts[0].equity, 5 * DAY, pts[5].equity, flows, nf, &period, &annual));
    cr_assert_float_eq(period, 0.228247470385674, 1e-11);
    cr_assert_float_eq(annual, pow(1.228247470385674, 73.0) - 1.0, 1e-6 * annual);
    /* nothing invested: no MWR */
    cr_assert_not(ret_mwr(0, 0, DAY, 0, NULL, 0, &period, &annual));
}

Test(returns, mwr_equals_simple_return_without_flows)
{
    /* 100 -> 110 with no flows: MWR = TWR = 10%; annualised over 365 days it is 10% too. */
    double period;
    double annual;
    cr_assert(ret_mwr(0, 100, RET_YEAR_MS, 110, NULL, 0, &period, &annual));
    cr_assert_float_eq(period, 0.10, 1e-12);
    cr_assert_float_eq(annual, 0.10, 1e-12);
    cr_assert_float_eq(ret_annualise(0.21, 2 * RET_YEAR_MS), 0.10, 1e-12);
}

Test(risk, metrics_by_hand)
{
    struct pf_flow flows[8];
    size_t nf;
    double r[5];
    double idx[6];
    int64_t t[6];
    struct risk_report rep;
    walk(flows, &nf);
    for (int i = 0; i < 6; i++) {
        idx[i] = pts[i].twr_index;
        t[i] = pts[i].time;
    }
    for (int i = 0; i < 5; i++)
        r[i] = idx[i + 1] / idx[i] - 1.0;
    cr_assert_float_eq(r[0], -0.0003, 1e-12);
    cr_assert_float_eq(r[3], -0.115468996574420, 1e-12);
    cr_assert_eq(risk_compute(r, 5, idx, t, 365, 0.0, &rep), CG_OK);
    cr_assert_float_eq(rep.mean, 0.047412137744186, 1e-12);
    cr_assert_float_eq(rep.stdev, 0.111969072083762, 1e-12);
    cr_assert_float_eq(rep.volatility, 0.111969072083762 * sqrt(365), 1e-10);
    cr_assert_float_eq(rep.hist_var95, 0.115468996574420, 1e-12);
    cr_assert_float_eq(rep.hist_cvar95, 0.115468996574420, 1e-12);
    cr_assert_float_eq(rep.hist_var99, 0.115468996574420, 1e-12);
    cr_assert_float_eq(rep.param_var95, 0.136760596579181, 1e-12);
    cr_assert_float_eq(rep.param_var99, 0.213066875056200, 1e-12);
    cr_assert_float_eq(rep.param_cvar95, 0.183547901287713, 1e-12);
    cr_assert_float_eq(rep.param_cvar99, 0.251009425412382, 1e-12);
    cr_assert_float_eq(rep.sharpe, 8.089801968464794, 1e-9);
    cr_assert_float_eq(rep.sortino, 17.540990537820910, 1e-9);
    cr_assert_float_eq(rep.drawdown.depth, -0.115468996574420, 1e-12);
    cr_assert_eq(rep.drawdown.start, 3 * DAY);
    cr_assert_eq(rep.drawdown.trough, 4 * DAY);
    cr_assert_not(rep.drawdown.recovered);
    cr_assert_float_eq(rep.annual_return, pow(1.231199325580287, 73.0) - 1.0,
                       1e-9 * rep.annual_return);
    cr_assert_float_eq(rep.calmar, rep.annual_return / 0.115468996574420, 1e-9 * rep.calmar);
}

Test(risk, historical_var_tail_count_and_risk_free_rate)
{
    /* 20 returns -0.10, -0.09, ..., 0.09: at 95% k = ceil(20 x 0.05) = 1 -> VaR 0.10, CVaR 0.10;
     * at 90%-like depth we check via 99%: k = ceil(0.2) = 1 as well. With 40 returns (each twice)
     * k95 = 2: VaR = 0.10 (the 2nd worst is also -0.10), CVaR = 0.10. With 100 returns
     * -0.50..0.49 step 0.01: k95 = 5 -> VaR = -r_(5) = 0.46, CVaR = mean(0.50..0.46) = 0.48. */
    double r[100];
    double scratch[100];
    double var;
    double cvar;
    for (int i = 0; i < 100; i++)
        r[99 - i] = -0.50 + 0.01 * i; /* descending order: the function must sort */
    cr_assert(risk_historical(r, 100, 0.95, scratch, &var, &cvar));
    cr_assert_float_eq(var, 0.46, 1e-12);
    cr_assert_float_eq(cvar, 0.48, 1e-12);
    cr_assert(risk_historical(r, 100, 0.99, scratch, &var, &cvar));
    cr_assert_float_eq(var, 0.50, 1e-12);
    /* rf 3.65%/yr on daily periods: rf_p = 1.0365^(1/365) - 1 */
    {
        struct risk_report rep;
        double idx[101];
        int64_t t[101];
        idx[0] = 1;
        t[0] = 0;
        for (int i = 0; i < 100; i++) {
            idx[i + 1] = idx[i] * (1 + r[i]);
            t[i + 1] = (i + 1) * DAY;
        }
        cr_assert_eq(risk_compute(r, 100, idx, t, 365, 0.0365, &rep), CG_OK);
        cr_assert_float_eq(rep.rf_period, pow(1.0365, 1.0 / 365) - 1, 1e-15);
        cr_assert_float_eq(rep.sharpe, (rep.mean - rep.rf_period) / rep.stdev * sqrt(365), 1e-12);
        cr_assert_eq(risk_compute(r, 100, idx, t, 0, 0, &rep), CG_EINVAL);
    }
}

Test(risk, drawdown_with_recovery)
{
    /* 100 -> 120 (peak, t=1) -> 90 (t=2, -25%) -> 110 -> 125 (t=4, recovered) -> 100 (-20%) */
    double idx[] = {1.00, 1.20, 0.90, 1.10, 1.25, 1.00};
    int64_t t[] = {0, 1, 2, 3, 4, 5};
    struct risk_drawdown dd;
    risk_drawdown(idx, t, 6, &dd);
    cr_assert_float_eq(dd.depth, -0.25, 1e-12);
    cr_assert_eq(dd.start, 1);
    cr_assert_eq(dd.trough, 2);
    cr_assert(dd.recovered);
    cr_assert_eq(dd.recovery, 4);
    risk_drawdown(idx, t, 2, &dd);
    cr_assert_float_eq(dd.depth, 0.0, 0);
}
