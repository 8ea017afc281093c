/*
 * Portfolio accounting: holdings, weighted average cost, realized/unrealized P&L, fees, and the
 * equity / time-weighted-return walk over a user's activity. Pure functions over arrays the caller
 * loads (src/api/api_portfolio.c loads them from the store); no I/O, no globals, any thread.
 *
 * Units. Quantities are minor units of their asset (asset scale from config). Money -- cost,
 * proceeds, fees, market value, equity, P&L -- is in minor units of the valuation ("cash") asset,
 * USDT in the shipped config. Prices are cash minor units per one whole unit of the asset
 * (the convention of src/core/amount.h). Times are ms since the Unix epoch (UTC).
 *
 * Activity (struct pf_event), applied in journal order:
 *   - deposit of cash:      cash += amount. An external flow of +amount.
 *   - withdrawal of cash:   cash -= amount. An external flow of -amount.
 *   - deposit of an asset (a transfer in, e.g. BTC): quantity += q, cost += value at the event's
 *     `price` (the market price of its time, floor(q x price / 10^scale)); no fee. An external
 *     flow of +value.
 *   - withdrawal of an asset: the units leave at the current average cost: cost -= the removed
 *     share of cost (see "removing units"); realized P&L is unchanged, the average cost too.
 *     An external flow of -(value at the event's price).
 *   - buy (a fill where the user bought q for notional n and paid fee f, fees are always charged
 *     in the quote asset by the engine): quantity += q, cost += n + f (fees are part of the cost
 *     basis), cash -= n + f, fees += f.
 *   - sell (q for notional n, fee f): proceeds = n - f; released = the removed share of cost;
 *     realized += proceeds - released; cost -= released; cash += n - f; fees += f.
 *   Removing units: released = floor(cost x q / quantity) through __int128, except that removing
 *   the whole quantity releases the whole cost, so a closed position has cost exactly 0 and no
 *   rounding residue is ever lost (the residue, < 1 minor unit per sale, stays with the units
 *   still held).
 *   Average cost = cost x 10^scale / quantity, rounded half away from zero (reporting only; the
 *   exact figure is `cost`). Market value = floor(quantity x price / 10^scale).
 *   Unrealized P&L = market value - cost. For the cash asset, cost == quantity and P&L is 0.
 *   Identity (checked in tests): equity - net external flows == realized + unrealized, up to the
 *   flooring of market values and transfer-in values (< 1 minor unit per asset).
 *   Trades in markets whose quote is not the cash asset are not supported (every shipped market
 *   is quoted in USDT); the loader skips them and counts them.
 *
 * Equity walk (pf_walk): equity(t) = cash + sum over assets of floor(quantity x price(t) /
 * 10^scale), with every event whose ts <= t applied. Time-weighted return (TWR, GIPS "true
 * time-weighted return"; Bacon, "Practical Portfolio Performance Measurement and Attribution",
 * 2nd ed., ch. 2): the range is cut at every external flow; each sub-period's factor is
 * V_end / V_start, where V_end is valued just before the flow (the flow's own events not yet
 * applied) and V_start just after the previous flow; the TWR index is the product of the factors
 * since the range start (index = 1 at start), so deposits and withdrawals do not move it. A
 * sub-period that starts with V_start = 0 (nothing invested yet) has no return (factor 1).
 * Chaining additionally at each grid time does not change the result (the factors telescope) and
 * gives the index at every grid point for drawdown and period returns (src/analytics/risk.h).
 */
#ifndef CG_ANALYTICS_PORTFOLIO_H
#define CG_ANALYTICS_PORTFOLIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define PF_MAX_ASSETS 32

enum pf_kind { PF_DEPOSIT = 1, PF_WITHDRAWAL, PF_BUY, PF_SELL };

struct pf_event {
    int64_t ts;        /* ms */
    uint64_t entry_id; /* journal entry id: the order of application */
    uint8_t kind;      /* enum pf_kind */
    uint32_t asset;    /* asset moved (deposits/withdrawals) or the base asset (trades) */
    int64_t quantity;  /* minor units of `asset`, > 0 */
    int64_t notional;  /* trades: cash minor units (price x quantity, as settled) */
    int64_t fee;       /* trades: fee this user paid, cash minor units */
    int64_t price;     /* trades: fill price; non-cash transfers: market price of the time,
                        * cash minor units per whole unit (0 = unknown, valued at 0) */
};

struct pf_position {
    int64_t quantity;     /* minor units of the asset */
    int64_t cost;         /* cost basis of `quantity`, cash minor units */
    int64_t realized;     /* realized P&L, cash minor units */
    int64_t fees;         /* fees paid on this asset's trades, cash minor units */
    int64_t bought, sold; /* quantities traded, minor units */
    int64_t n_trades;
};

/* Static facts about the assets: scales and which one is cash (the valuation asset). */
struct pf_assets {
    size_t n;
    int scale[PF_MAX_ASSETS];
    uint32_t cash;
};

struct pf_state {
    struct pf_position pos[PF_MAX_ASSETS];
    int64_t net_flow;              /* sum of external flows so far, cash minor units (deposits +) */
    int64_t deposits, withdrawals; /* their value, cash minor units, both >= 0 */
};

/* Empty state. */
void pf_state_init(struct pf_state *s);

/*
 * Apply one event (rules in the file comment). Returns CG_OK; CG_EINVAL for an unknown kind,
 * an asset index >= a->n, a non-positive quantity, or a sell/withdrawal of more than is held
 * (the ledger never allows it, so this means the caller's data is inconsistent);
 * CG_EOVERFLOW if an amount leaves int64. On error the state is unchanged.
 * `flow` (may be NULL) receives the external flow in cash minor units (0 for trades).
 */
enum cg_err pf_apply(struct pf_state *s, const struct pf_assets *a, const struct pf_event *e,
                     int64_t *flow) __attribute__((warn_unused_result));

/* floor(quantity x price / 10^scale) through __int128, saturating at INT64_MAX. */
int64_t pf_value(int64_t quantity, int64_t price, int scale);

/* Average cost in cash minor units per whole unit, rounded half away from zero; 0 when flat. */
int64_t pf_average_cost(const struct pf_position *p, int scale);

/*
 * Price source for valuations: the price of `asset` at time t (cash minor units per whole unit).
 * Returns false when the asset has no price at t (it is then valued at 0).
 */
struct pf_prices {
    bool (*price_at)(void *ctx, uint32_t asset, int64_t t, int64_t *price);
    void *ctx;
};

/* Equity at time t of state s: cash + sum of floor(quantity x price(t)). */
int64_t pf_equity(const struct pf_state *s, const struct pf_assets *a, const struct pf_prices *px,
                  int64_t t);

/* One point of the walk. */
struct pf_point {
    int64_t time;     /* ms */
    int64_t equity;   /* cash minor units */
    int64_t net_flow; /* external flows inside (times[0], time], cash minor units */
    double twr_index; /* 1.0 at times[0] */
};

/* An external flow inside the walk's range (for the money-weighted return). */
struct pf_flow {
    int64_t time;
    int64_t amount; /* cash minor units, + into the portfolio */
};

/*
 * Walk the events (sorted by entry_id; their ts must be non-decreasing) over the grid times
 * (strictly increasing, n_times >= 1): events with ts <= times[0] are applied without valuation,
 * then for each grid time the events with ts <= time are applied, sub-periods are cut at every
 * external flow as documented above, and out[i] is filled. If flows != NULL, the external flows
 * with times[0] < ts <= times[n_times-1] are written there (at most max_flows; *n_flows is the
 * number written). `final` (may be NULL) receives the state after the last grid time.
 * Returns CG_OK or the first pf_apply error.
 */
enum cg_err pf_walk(const struct pf_event *ev, size_t n_ev, const struct pf_assets *a,
                    const struct pf_prices *px, const int64_t *times, size_t n_times,
                    struct pf_point *out, struct pf_flow *flows, size_t max_flows, size_t *n_flows,
                    struct pf_state *final) __attribute__((warn_unused_result));

#endif
