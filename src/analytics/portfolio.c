/* Portfolio accounting and the equity/TWR walk: see portfolio.h for the rules and sources. */
#include "analytics/portfolio.h"

#include <string.h>

#include "core/amount.h"

void pf_state_init(struct pf_state *s)
{
    memset(s, 0, sizeof(*s));
}

int64_t pf_value(int64_t quantity, int64_t price, int scale)
{
    __int128 v;
    if (quantity <= 0 || price <= 0)
        return 0;
    v = (__int128)quantity * price / amount_pow10(scale);
    return v > INT64_MAX ? INT64_MAX : (int64_t)v;
}

int64_t pf_average_cost(const struct pf_position *p, int scale)
{
    __int128 num;
    __int128 q;
    if (p->quantity <= 0)
        return 0;
    num = (__int128)p->cost * amount_pow10(scale);
    q = num / p->quantity;
    if ((num % p->quantity) * 2 >= p->quantity)
        q++;
    return q > INT64_MAX ? INT64_MAX : (int64_t)q;
}

static bool add_ok(int64_t a, int64_t b, int64_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}

/* Cost released when q of p->quantity units leave (0 < q <= quantity). */
static int64_t released_cost(const struct pf_position *p, int64_t q)
{
    if (q == p->quantity)
        return p->cost;
    return (int64_t)((__int128)p->cost * q / p->quantity);
}

enum cg_err pf_apply(struct pf_state *s, const struct pf_assets *a, const struct pf_event *e,
                     int64_t *flow)
{
    /* work on copies of the two positions and the totals; commit them only on success */
    struct pf_position p_copy;
    struct pf_position c_copy;
    struct {
        int64_t net_flow, deposits, withdrawals;
    } n;
    struct pf_position *p = &p_copy;
    struct pf_position *cash = &c_copy;
    int64_t f = 0;
    int64_t rel;
    int64_t tmp;

    if (e->asset >= a->n || a->cash >= a->n || e->quantity <= 0)
        return CG_EINVAL;
    p_copy = s->pos[e->asset];
    c_copy = s->pos[a->cash];
    if (e->asset == a->cash)
        cash = p; /* deposits/withdrawals of cash: one position */
    n.net_flow = s->net_flow;
    n.deposits = s->deposits;
    n.withdrawals = s->withdrawals;
    switch (e->kind) {
    case PF_DEPOSIT:
        f = e->asset == a->cash ? e->quantity : pf_value(e->quantity, e->price, a->scale[e->asset]);
        if (!add_ok(p->quantity, e->quantity, &p->quantity) || !add_ok(p->cost, f, &p->cost))
            return CG_EOVERFLOW;
        break;
    case PF_WITHDRAWAL:
        if (e->quantity > p->quantity)
            return CG_EINVAL;
        if (e->asset == a->cash) {
            f = -e->quantity;
            rel = e->quantity;
        } else {
            f = -pf_value(e->quantity, e->price, a->scale[e->asset]);
            rel = released_cost(p, e->quantity);
        }
        p->quantity -= e->quantity;
        p->cost -= rel;
        break;
    case PF_BUY:
        if (e->asset == a->cash || e->notional < 0 || e->fee < 0)
            return CG_EINVAL;
        if (!add_ok(e->notional, e->fee, &tmp) || tmp > cash->quantity)
            return CG_EINVAL;
        if (!add_ok(p->quantity, e->quantity, &p->quantity) || !add_ok(p->cost, tmp, &p->cost) ||
            !add_ok(p->fees, e->fee, &p->fees) || !add_ok(p->bought, e->quantity, &p->bought))
            return CG_EOVERFLOW;
        cash->quantity -= tmp;
        cash->cost -= tmp;
        p->n_trades++;
        break;
    case PF_SELL:
        if (e->asset == a->cash || e->notional < 0 || e->fee < 0 || e->fee > e->notional ||
            e->quantity > p->quantity)
            return CG_EINVAL;
        rel = released_cost(p, e->quantity);
        tmp = e->notional - e->fee; /* proceeds */
        if (!add_ok(p->realized, tmp - rel, &p->realized) || !add_ok(p->fees, e->fee, &p->fees) ||
            !add_ok(cash->quantity, tmp, &cash->quantity) ||
            !add_ok(cash->cost, tmp, &cash->cost) || !add_ok(p->sold, e->quantity, &p->sold))
            return CG_EOVERFLOW;
        p->quantity -= e->quantity;
        p->cost -= rel;
        p->n_trades++;
        break;
    default:
        return CG_EINVAL;
    }
    if (f > 0 && !add_ok(n.deposits, f, &n.deposits))
        return CG_EOVERFLOW;
    if (f < 0 && !add_ok(n.withdrawals, -f, &n.withdrawals))
        return CG_EOVERFLOW;
    if (!add_ok(n.net_flow, f, &n.net_flow))
        return CG_EOVERFLOW;
    if (e->asset != a->cash)
        s->pos[a->cash] = c_copy;
    s->pos[e->asset] = p_copy;
    s->net_flow = n.net_flow;
    s->deposits = n.deposits;
    s->withdrawals = n.withdrawals;
    if (flow)
        *flow = f;
    return CG_OK;
}

int64_t pf_equity(const struct pf_state *s, const struct pf_assets *a, const struct pf_prices *px,
                  int64_t t)
{
    int64_t eq = s->pos[a->cash].quantity;
    for (uint32_t i = 0; i < a->n; i++) {
        int64_t price;
        if (i == a->cash || s->pos[i].quantity == 0)
            continue;
        if (!px->price_at(px->ctx, i, t, &price))
            continue;
        if (!add_ok(eq, pf_value(s->pos[i].quantity, price, a->scale[i]), &eq))
            eq = INT64_MAX;
    }
    return eq;
}

static bool is_flow(uint8_t kind)
{
    return kind == PF_DEPOSIT || kind == PF_WITHDRAWAL;
}

enum cg_err pf_walk(const struct pf_event *ev, size_t n_ev, const struct pf_assets *a,
                    const struct pf_prices *px, const int64_t *times, size_t n_times,
                    struct pf_point *out, struct pf_flow *flows, size_t max_flows, size_t *n_flows,
                    struct pf_state *final)
{
    struct pf_state s;
    size_t i = 0;
    double index = 1.0;
    int64_t base;
    int64_t net = 0;
    enum cg_err e;

    if (n_flows)
        *n_flows = 0;
    if (n_times == 0)
        return CG_EINVAL;
    pf_state_init(&s);
    for (; i < n_ev && ev[i].ts <= times[0]; i++) {
        e = pf_apply(&s, a, &ev[i], NULL);
        if (e != CG_OK)
            return e;
    }
    base = pf_equity(&s, a, px, times[0]);
    out[0] = (struct pf_point){times[0], base, 0, 1.0};
    for (size_t k = 1; k < n_times; k++) {
        int64_t v;
        for (; i < n_ev && ev[i].ts <= times[k]; i++) {
            int64_t f = 0;
            if (is_flow(ev[i].kind)) {
                /* close the sub-period just before the flow, open the next just after it */
                int64_t before = pf_equity(&s, a, px, ev[i].ts);
                if (base > 0)
                    index *= (double)before / (double)base;
                e = pf_apply(&s, a, &ev[i], &f);
                if (e != CG_OK)
                    return e;
                base = pf_equity(&s, a, px, ev[i].ts);
                net += f;
                if (flows && n_flows && *n_flows < max_flows)
                    flows[(*n_flows)++] = (struct pf_flow){ev[i].ts, f};
            } else {
                e = pf_apply(&s, a, &ev[i], NULL);
                if (e != CG_OK)
                    return e;
            }
        }
        v = pf_equity(&s, a, px, times[k]);
        if (base > 0)
            index *= (double)v / (double)base;
        base = v;
        out[k] = (struct pf_point){times[k], v, net, index};
    }
    if (final)
        *final = s;
    return CG_OK;
}
