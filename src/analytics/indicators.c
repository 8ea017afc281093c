/* Technical indicators; formulas and sources in indicators.h. */
#include "analytics/indicators.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[IND_KIND_COUNT] = {
    "sma", "ema", "wma", "rsi", "macd", "bbands", "atr", "stoch", "vwap", "obv",
};

static const char *const col_value[] = {"value"};
static const char *const col_macd[] = {"macd", "signal", "histogram"};
static const char *const col_bbands[] = {"upper", "middle", "lower"};
static const char *const col_stoch[] = {"k", "d"};

int ind_parse(const char *name)
{
    if (!name)
        return -1;
    for (int i = 0; i < IND_KIND_COUNT; i++) {
        if (strcmp(name, kind_names[i]) == 0)
            return i;
    }
    return -1;
}

const char *ind_name(enum ind_kind kind)
{
    return kind < IND_KIND_COUNT ? kind_names[kind] : "?";
}

int ind_columns(enum ind_kind kind, const char *const **names)
{
    switch (kind) {
    case IND_MACD:
        *names = col_macd;
        return 3;
    case IND_BBANDS:
        *names = col_bbands;
        return 3;
    case IND_STOCH:
        *names = col_stoch;
        return 2;
    default:
        *names = col_value;
        return 1;
    }
}

void ind_defaults(enum ind_kind kind, struct ind_params *p)
{
    memset(p, 0, sizeof(*p));
    p->period = (kind == IND_RSI || kind == IND_ATR) ? 14 : 20;
    if (kind == IND_VWAP)
        p->period = 0;
    p->fast = 12;
    p->slow = 26;
    p->signal = 9;
    p->stddev = 2.0;
    p->k = 14;
    p->d = 3;
    p->smooth = 1;
}

static bool period_ok(int p)
{
    return p >= 1 && p <= IND_MAX_PERIOD;
}

enum cg_err ind_validate(enum ind_kind kind, const struct ind_params *p)
{
    switch (kind) {
    case IND_SMA:
    case IND_EMA:
    case IND_WMA:
    case IND_RSI:
    case IND_ATR:
        return period_ok(p->period) ? CG_OK : CG_EINVAL;
    case IND_BBANDS:
        if (!period_ok(p->period) || !(p->stddev > 0.0 && p->stddev <= 10.0))
            return CG_EINVAL;
        return CG_OK;
    case IND_MACD:
        if (!period_ok(p->fast) || !period_ok(p->slow) || !period_ok(p->signal) ||
            p->fast >= p->slow)
            return CG_EINVAL;
        return CG_OK;
    case IND_STOCH:
        return period_ok(p->k) && period_ok(p->d) && period_ok(p->smooth) ? CG_OK : CG_EINVAL;
    case IND_VWAP:
        return p->period == 0 || period_ok(p->period) ? CG_OK : CG_EINVAL;
    case IND_OBV:
        return CG_OK;
    default:
        return CG_EINVAL;
    }
}

size_t ind_lookback(enum ind_kind kind, const struct ind_params *p)
{
    switch (kind) {
    case IND_SMA:
    case IND_EMA:
    case IND_WMA:
    case IND_BBANDS:
        return (size_t)p->period - 1;
    case IND_RSI:
    case IND_ATR:
        return (size_t)p->period;
    case IND_MACD:
        return (size_t)(p->slow - 1 + p->signal - 1);
    case IND_STOCH:
        return (size_t)(p->k - 1 + p->smooth - 1 + p->d - 1);
    case IND_VWAP:
        return p->period > 0 ? (size_t)p->period - 1 : 0;
    default:
        return 0;
    }
}

/* Bars after which a seed weighted (1 - alpha)^m has fallen below 1e-9. */
static size_t settle(double alpha)
{
    if (alpha >= 1.0)
        return 0;
    return (size_t)ceil(log(1e-9) / log(1.0 - alpha));
}

size_t ind_history_needed(enum ind_kind kind, const struct ind_params *p)
{
    size_t lb = ind_lookback(kind, p);
    size_t extra = 0;
    switch (kind) {
    case IND_EMA:
        extra = settle(2.0 / (p->period + 1));
        break;
    case IND_RSI:
    case IND_ATR:
        extra = settle(1.0 / p->period);
        break;
    case IND_MACD:
        extra = settle(2.0 / (p->slow + 1));
        break;
    default:
        break;
    }
    return lb + extra > 5000 ? 5000 : lb + extra;
}

static void fill_nan(double *out, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        out[i] = NAN;
}

enum cg_err ind_sma(const double *x, size_t n, int period, double *out)
{
    size_t p = (size_t)period;
    double sum = 0.0;
    if (!period_ok(period))
        return CG_EINVAL;
    fill_nan(out, 0, n < p - 1 ? n : p - 1);
    for (size_t i = 0; i < n; i++) {
        if (i < p) {
            sum += x[i];
        } else if ((i - p) % IND_RESUM == IND_RESUM - 1) {
            sum = 0.0;
            for (size_t j = i + 1 - p; j <= i; j++)
                sum += x[j];
        } else {
            sum = sum - x[i - p] + x[i];
        }
        if (i + 1 >= p)
            out[i] = sum / (double)p;
    }
    return CG_OK;
}

/* EMA of x with smoothing alpha, seeded at bar `seed_at` with the SMA of the `period` values
 * ending there; NaN before. */
static void ema_from(const double *x, size_t n, size_t period, double alpha, size_t seed_at,
                     double *out)
{
    double prev = 0.0;
    double beta = 1.0 - alpha;
    fill_nan(out, 0, n < seed_at ? n : seed_at);
    if (seed_at >= n)
        return;
    for (size_t j = seed_at + 1 - period; j <= seed_at; j++)
        prev += x[j];
    prev /= (double)period;
    out[seed_at] = prev;
    /* prev + alpha (x - prev) written as beta prev + alpha x: the same value to rounding, with
     * alpha x off the loop-carried dependency (about twice as fast on long series) */
    for (size_t i = seed_at + 1; i < n; i++) {
        prev = beta * prev + alpha * x[i];
        out[i] = prev;
    }
}

enum cg_err ind_ema(const double *x, size_t n, int period, double *out)
{
    if (!period_ok(period))
        return CG_EINVAL;
    ema_from(x, n, (size_t)period, 2.0 / (period + 1), (size_t)period - 1, out);
    return CG_OK;
}

enum cg_err ind_wma(const double *x, size_t n, int period, double *out)
{
    size_t p = (size_t)period;
    double denom = (double)period * (period + 1) / 2.0;
    double sum = 0.0; /* plain sum of the window */
    double num = 0.0; /* weighted sum of the window */
    if (!period_ok(period))
        return CG_EINVAL;
    fill_nan(out, 0, n < p - 1 ? n : p - 1);
    for (size_t i = p - 1; i < n; i++) {
        if (i + 1 == p || (i - p) % IND_RESUM == IND_RESUM - 1) {
            size_t first = i + 1 - p;
            sum = 0.0;
            num = 0.0;
            for (size_t j = first; j <= i; j++) {
                sum += x[j];
                num += x[j] * (double)(j - first + 1);
            }
        } else {
            num = num + (double)p * x[i] - sum;
            sum = sum - x[i - p] + x[i];
        }
        out[i] = num / denom;
    }
    return CG_OK;
}

enum cg_err ind_rsi(const double *x, size_t n, int period, double *out)
{
    size_t p = (size_t)period;
    double gain_sum = 0.0;
    double loss_sum = 0.0;
    double ag = 0.0;
    double al = 0.0;
    double pm1 = (double)period - 1.0;
    double inv_p = 1.0 / (double)period;
    if (!period_ok(period))
        return CG_EINVAL;
    fill_nan(out, 0, n < p ? n : p);
    for (size_t i = 1; i < n; i++) {
        double ch = x[i] - x[i - 1];
        double gain = ch > 0 ? ch : 0.0;
        double loss = ch < 0 ? -ch : 0.0;
        if (i < p) {
            gain_sum += gain;
            loss_sum += loss;
            continue;
        }
        if (i == p) {
            ag = (gain_sum + gain) / (double)p;
            al = (loss_sum + loss) / (double)p;
        } else {
            /* (avg (p-1) + current) / p, with the division as a multiplication by 1/p */
            ag = (ag * pm1 + gain) * inv_p;
            al = (al * pm1 + loss) * inv_p;
        }
        /* 100 - 100 / (1 + AG/AL) = 100 AG / (AG + AL): one division */
        if (al == 0.0)
            out[i] = 100.0;
        else if (ag == 0.0)
            out[i] = 0.0;
        else
            out[i] = 100.0 * ag / (ag + al);
    }
    return CG_OK;
}

enum cg_err ind_macd(const double *x, size_t n, int fast, int slow, int signal, double *line,
                     double *sig, double *hist)
{
    size_t s = (size_t)slow;
    if (!period_ok(fast) || !period_ok(slow) || !period_ok(signal) || fast >= slow)
        return CG_EINVAL;
    fill_nan(line, 0, n < s - 1 ? n : s - 1);
    if (n >= s) {
        /* TA-Lib: both EMAs start at bar slow-1, seeded with the SMA of their last `period`
         * closes; the two recursions run in one loop (independent dependency chains) */
        double af = 2.0 / (fast + 1);
        double as = 2.0 / (slow + 1);
        double ef = 0.0;
        double es = 0.0;
        for (size_t j = s - (size_t)fast; j < s; j++)
            ef += x[j];
        for (size_t j = 0; j < s; j++)
            es += x[j];
        ef /= (double)fast;
        es /= (double)slow;
        line[s - 1] = ef - es;
        for (size_t i = s; i < n; i++) {
            ef = (1.0 - af) * ef + af * x[i];
            es = (1.0 - as) * es + as * x[i];
            line[i] = ef - es;
        }
    }
    fill_nan(sig, 0, n < s - 1 ? n : s - 1);
    if (n >= s)
        ema_from(line + (s - 1), n - (s - 1), (size_t)signal, 2.0 / (signal + 1),
                 (size_t)signal - 1, sig + (s - 1));
    for (size_t i = 0; i < n; i++)
        hist[i] = line[i] - sig[i];
    return CG_OK;
}

enum cg_err ind_bbands(const double *x, size_t n, int period, double k, double *upper,
                       double *middle, double *lower)
{
    size_t p = (size_t)period;
    double mean = 0.0;
    double m2 = 0.0; /* sum of squared deviations from mean over the window */
    double inv_p = 1.0 / (double)period;
    if (!period_ok(period) || !(k > 0.0 && k <= 10.0))
        return CG_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (i < p) {
            /* Welford add */
            double d = x[i] - mean;
            mean += d / (double)(i + 1);
            m2 += d * (x[i] - mean);
        } else if ((i - p) % IND_RESUM == IND_RESUM - 1) {
            double sum = 0.0;
            mean = 0.0;
            m2 = 0.0;
            for (size_t j = i + 1 - p; j <= i; j++)
                sum += x[j];
            mean = sum / (double)p;
            for (size_t j = i + 1 - p; j <= i; j++)
                m2 += (x[j] - mean) * (x[j] - mean);
        } else {
            /* Welford replace: x[i-p] leaves, x[i] enters */
            double old = x[i - p];
            double nmean = mean + (x[i] - old) * inv_p;
            m2 += (x[i] - old) * (x[i] - nmean + old - mean);
            mean = nmean;
        }
        if (i + 1 < p) {
            upper[i] = middle[i] = lower[i] = NAN;
        } else {
            double sd = sqrt(m2 > 0.0 ? m2 * inv_p : 0.0);
            middle[i] = mean;
            upper[i] = mean + sd * k;
            lower[i] = mean - sd * k;
        }
    }
    return CG_OK;
}

static double true_range(const double *h, const double *l, const double *c, size_t i)
{
    double a = h[i] - l[i];
    double b = fabs(h[i] - c[i - 1]);
    double d = fabs(l[i] - c[i - 1]);
    double m = a > b ? a : b;
    return m > d ? m : d;
}

enum cg_err ind_atr(const double *h, const double *l, const double *c, size_t n, int period,
                    double *out)
{
    size_t p = (size_t)period;
    double sum = 0.0;
    double atr = 0.0;
    double alpha = 1.0 / (double)period;
    double beta = 1.0 - alpha;
    if (!period_ok(period))
        return CG_EINVAL;
    fill_nan(out, 0, n < p ? n : p);
    for (size_t i = 1; i < n; i++) {
        double tr = true_range(h, l, c, i);
        if (i < p) {
            sum += tr;
            continue;
        }
        if (i == p)
            atr = (sum + tr) / (double)p;
        else
            atr = atr * beta + tr * alpha;
        out[i] = atr;
    }
    return CG_OK;
}

/*
 * Sliding-window maximum (or minimum) of the last w values for every bar, van Herk / Gil-Werman:
 * in blocks of w bars, pre[i] = extreme of the block up to i, suf[i] = extreme of i to the end of
 * its block; the window ending at i spans at most two blocks, so its extreme is
 * ext(suf[i-w+1], pre[i]). Three comparisons per bar, no data-dependent branches, O(n) for any
 * w. out[i] for i >= w-1.
 */
static void window_extreme(const double *v, size_t n, size_t w, bool want_max, double *pre,
                           double *suf, double *out)
{
    for (size_t b = 0; b < n; b += w) {
        size_t e = b + w < n ? b + w : n; /* block [b, e) */
        pre[b] = v[b];
        suf[e - 1] = v[e - 1];
        if (want_max) {
            for (size_t i = b + 1; i < e; i++)
                pre[i] = v[i] > pre[i - 1] ? v[i] : pre[i - 1];
            for (size_t i = e - 1; i-- > b;)
                suf[i] = v[i] > suf[i + 1] ? v[i] : suf[i + 1];
        } else {
            for (size_t i = b + 1; i < e; i++)
                pre[i] = v[i] < pre[i - 1] ? v[i] : pre[i - 1];
            for (size_t i = e - 1; i-- > b;)
                suf[i] = v[i] < suf[i + 1] ? v[i] : suf[i + 1];
        }
    }
    for (size_t i = w - 1; i < n; i++) {
        double a = suf[i + 1 - w];
        double b = pre[i];
        out[i] = want_max ? (a > b ? a : b) : (a < b ? a : b);
    }
}

enum cg_err ind_stoch(const double *h, const double *l, const double *c, size_t n, int k, int d,
                      int smooth, double *k_out, double *d_out)
{
    size_t kw = (size_t)k;
    double *buf;
    double *fast;
    double *hh;
    double *ll;
    enum cg_err e;
    if (!period_ok(k) || !period_ok(d) || !period_ok(smooth))
        return CG_EINVAL;
    buf = malloc(3 * (n ? n : 1) * sizeof(*buf));
    if (!buf)
        return CG_ENOMEM;
    fast = buf;       /* fast %K */
    hh = buf + n;     /* highest high of the last k bars */
    ll = buf + 2 * n; /* lowest low of the last k bars */
    /* scratch for the block extremes: k_out, d_out and fast, all overwritten below */
    if (n >= kw) {
        window_extreme(h, n, kw, true, k_out, d_out, hh);
        window_extreme(l, n, kw, false, k_out, fast, ll);
    }
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < kw)
            fast[i] = NAN;
        else
            fast[i] = hh[i] > ll[i] ? (c[i] - ll[i]) / (hh[i] - ll[i]) * 100.0 : 0.0;
    }
    /* %K = SMA_smooth(fast %K), starting at bar k-1 */
    fill_nan(k_out, 0, n);
    fill_nan(d_out, 0, n);
    e = CG_OK;
    if (n >= kw) {
        size_t off = kw - 1;
        e = ind_sma(fast + off, n - off, smooth, k_out + off);
        if (e == CG_OK && n >= off + (size_t)smooth) {
            size_t off2 = off + (size_t)smooth - 1;
            e = ind_sma(k_out + off2, n - off2, d, d_out + off2);
        }
    }
    free(buf);
    return e;
}

enum cg_err ind_vwap(const double *h, const double *l, const double *c, const double *v, size_t n,
                     int period, double *out)
{
    size_t p = (size_t)period;
    double pv = 0.0;
    double vol = 0.0;
    if (period != 0 && !period_ok(period))
        return CG_EINVAL;
    for (size_t i = 0; i < n; i++) {
        double tp = (h[i] + l[i] + c[i]) / 3.0;
        if (p > 0 && i >= p && (i - p) % IND_RESUM == IND_RESUM - 1) {
            pv = 0.0;
            vol = 0.0;
            for (size_t j = i + 1 - p; j <= i; j++) {
                pv += v[j] * ((h[j] + l[j] + c[j]) / 3.0);
                vol += v[j];
            }
        } else {
            pv = pv + v[i] * tp;
            vol = vol + v[i];
            if (p > 0 && i >= p) {
                size_t o = i - p;
                pv -= v[o] * ((h[o] + l[o] + c[o]) / 3.0);
                vol -= v[o];
            }
        }
        if (p > 0 && i + 1 < p)
            out[i] = NAN;
        else
            out[i] = vol > 0.0 ? pv / vol : NAN;
    }
    return CG_OK;
}

enum cg_err ind_obv(const double *c, const double *v, size_t n, double *out)
{
    double obv;
    if (n == 0)
        return CG_OK;
    obv = v[0];
    out[0] = obv;
    for (size_t i = 1; i < n; i++) {
        if (c[i] > c[i - 1])
            obv += v[i];
        else if (c[i] < c[i - 1])
            obv -= v[i];
        out[i] = obv;
    }
    return CG_OK;
}

enum cg_err ind_compute(enum ind_kind kind, const struct ind_params *p, const struct ind_series *s,
                        double *const *out)
{
    if (ind_validate(kind, p) != CG_OK || !s->close)
        return CG_EINVAL;
    switch (kind) {
    case IND_SMA:
        return ind_sma(s->close, s->n, p->period, out[0]);
    case IND_EMA:
        return ind_ema(s->close, s->n, p->period, out[0]);
    case IND_WMA:
        return ind_wma(s->close, s->n, p->period, out[0]);
    case IND_RSI:
        return ind_rsi(s->close, s->n, p->period, out[0]);
    case IND_MACD:
        return ind_macd(s->close, s->n, p->fast, p->slow, p->signal, out[0], out[1], out[2]);
    case IND_BBANDS:
        return ind_bbands(s->close, s->n, p->period, p->stddev, out[0], out[1], out[2]);
    case IND_ATR:
        if (!s->high || !s->low)
            return CG_EINVAL;
        return ind_atr(s->high, s->low, s->close, s->n, p->period, out[0]);
    case IND_STOCH:
        if (!s->high || !s->low)
            return CG_EINVAL;
        return ind_stoch(s->high, s->low, s->close, s->n, p->k, p->d, p->smooth, out[0], out[1]);
    case IND_VWAP:
        if (!s->high || !s->low || !s->volume)
            return CG_EINVAL;
        return ind_vwap(s->high, s->low, s->close, s->volume, s->n, p->period, out[0]);
    case IND_OBV:
        if (!s->volume)
            return CG_EINVAL;
        return ind_obv(s->close, s->volume, s->n, out[0]);
    default:
        return CG_EINVAL;
    }
}
