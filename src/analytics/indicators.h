/*
 * Technical indicators over a series of bars (oldest first), in double precision.
 *
 * These are statistics on prices Coinage only reads, so they use double (see CONVENTIONS.md:
 * "analytics may use double on prices it only reads"); money never passes through here.
 * Prices are in quote units per whole base unit (e.g. 64123.45 USDT), volumes in whole base
 * units, as converted by the caller from minor units.
 *
 * Every function writes `n` outputs aligned with the inputs: out[i] belongs to bar i. Bars whose
 * value is not defined yet (the warm-up, "lookback" in TA-Lib's words) get NaN, which the API
 * renders as null; nothing is invented for them. ind_lookback() gives the index of the first
 * defined value.
 *
 * Conventions: TA-Lib 0.4 (ta-lib.org, ta_func sources) wherever indicators have more than one
 * definition in use; each function says where the npm package `technicalindicators` 3.1.0
 * (the reference the tests compare against) differs and how the test accounts for it.
 *
 * Errors: CG_EINVAL for a parameter out of range (nothing written), CG_ENOMEM if a scratch
 * buffer could not be allocated (nothing meaningful written). Inputs are borrowed; outputs
 * are caller-owned arrays of n doubles. Pure functions: any thread, no shared state.
 * Cost: O(n) time for every indicator (sliding sums, van Herk / Gil-Werman sliding min/max);
 * sliding sums are recomputed exactly every IND_RESUM bars so rounding drift stays bounded.
 */
#ifndef CG_ANALYTICS_INDICATORS_H
#define CG_ANALYTICS_INDICATORS_H

#include <stddef.h>

#include "core/err.h"

/* Longest period any indicator accepts. */
#define IND_MAX_PERIOD 1000
/* Sliding sums are re-added from scratch every IND_RESUM bars (bounded rounding drift). */
#define IND_RESUM 4096

enum ind_kind {
    IND_SMA = 0,
    IND_EMA,
    IND_WMA,
    IND_RSI,
    IND_MACD,
    IND_BBANDS,
    IND_ATR,
    IND_STOCH,
    IND_VWAP,
    IND_OBV,
    IND_KIND_COUNT
};

/* Parameters of one indicator. Unused fields are ignored. */
struct ind_params {
    int period;    /* sma ema wma rsi bbands atr; vwap (0 = cumulative from bar 0) */
    int fast;      /* macd fast EMA period (12) */
    int slow;      /* macd slow EMA period (26), > fast */
    int signal;    /* macd signal EMA period (9) */
    double stddev; /* bbands width in standard deviations (2), 0 < stddev <= 10 */
    int k;         /* stoch %K look-back (14) */
    int d;         /* stoch %D SMA period (3) */
    int smooth;    /* stoch %K smoothing SMA period (1 = fast stochastic, 3 = slow) */
};

/* A bar series; arrays of n values, oldest first. Indicators read what they need. */
struct ind_series {
    const double *high, *low, *close, *volume;
    size_t n;
};

/* "sma".."obv" -> kind, or -1. */
int ind_parse(const char *name);
const char *ind_name(enum ind_kind kind);
/* Number of output columns (1, 2 for stoch, 3 for macd and bbands) and their names. */
int ind_columns(enum ind_kind kind, const char *const **names);
/* Default parameters of a kind (the values in the comments of struct ind_params; period 14 for
 * rsi and atr, 20 for the others; vwap 0). */
void ind_defaults(enum ind_kind kind, struct ind_params *p);
/* CG_OK if p is valid for kind: periods 1..IND_MAX_PERIOD (bbands, stoch k >= 1), fast < slow. */
enum cg_err ind_validate(enum ind_kind kind, const struct ind_params *p)
    __attribute__((warn_unused_result));
/* Index of the first defined value of the last column (the warm-up length), for valid p. */
size_t ind_lookback(enum ind_kind kind, const struct ind_params *p);
/*
 * Extra bars to load before a window so that recursive indicators (EMA, RSI, MACD, ATR), whose
 * value depends on where the recursion started, have forgotten their seed: the seed's weight
 * (1 - alpha)^m falls below 1e-9 after m = ln(1e-9) / ln(1 - alpha) bars. ind_lookback() plus
 * that m, capped at 5000; just ind_lookback() for the non-recursive ones.
 */
size_t ind_history_needed(enum ind_kind kind, const struct ind_params *p);

/*
 * Compute kind over s into out[0..cols-1] (each n doubles; column order as ind_columns()).
 * CG_OK, CG_EINVAL (invalid p, or a needed input array is NULL) or CG_ENOMEM.
 */
enum cg_err ind_compute(enum ind_kind kind, const struct ind_params *p, const struct ind_series *s,
                        double *const *out) __attribute__((warn_unused_result));

/*
 * SMA: out[i] = (x[i-p+1] + ... + x[i]) / p, first at i = p-1. (TA-Lib TA_SMA.)
 */
enum cg_err ind_sma(const double *x, size_t n, int period, double *out)
    __attribute__((warn_unused_result));

/*
 * EMA: alpha = 2 / (p + 1); seed out[p-1] = SMA of x[0..p-1]; then
 * out[i] = (x[i] - out[i-1]) * alpha + out[i-1]. (TA-Lib TA_EMA, default compatibility;
 * technicalindicators EMA is the same.)
 */
enum cg_err ind_ema(const double *x, size_t n, int period, double *out)
    __attribute__((warn_unused_result));

/*
 * WMA (linearly weighted): out[i] = sum_{j=1..p} j * x[i-p+j] / (p (p+1) / 2), first at p-1.
 * (TA-Lib TA_WMA.) Updated in O(1) per bar: num' = num + p x[i] - sum(previous window).
 */
enum cg_err ind_wma(const double *x, size_t n, int period, double *out)
    __attribute__((warn_unused_result));

/*
 * RSI, Wilder (J. Welles Wilder, "New Concepts in Technical Trading Systems", 1978):
 * gain/loss of each change x[i] - x[i-1]; the first average gain/loss is the simple mean of the
 * first p changes (out[p] is the first value); then avg = (avg (p-1) + current) / p (alpha 1/p).
 * RSI = 100 - 100 / (1 + avg_gain / avg_loss); 100 when avg_loss = 0, 0 when avg_gain = 0.
 * (TA-Lib TA_RSI.) technicalindicators' RSI rounds its output to 2 decimals; the reference
 * test compares with 100 - 100/(1 + AG/AL) built from its unrounded AverageGain/AverageLoss,
 * and with its rounded RSI within 0.005.
 */
enum cg_err ind_rsi(const double *x, size_t n, int period, double *out)
    __attribute__((warn_unused_result));

/*
 * MACD (Gerald Appel): line = EMA_fast - EMA_slow, signal = EMA_signal(line),
 * histogram = line - signal. Line from i = slow-1, signal and histogram from slow+signal-2.
 * TA-Lib convention (TA_MACD -> TA_INT_EMA): both EMAs start at bar slow-1, so the fast EMA is
 * seeded there with the SMA of x[slow-fast..slow-1]; the signal EMA is seeded with the SMA of
 * the first `signal` line values. technicalindicators seeds the fast EMA earlier (SMA of
 * x[0..fast-1] at bar fast-1); the difference decays by (1 - 2/(fast+1)) per bar. The reference
 * test checks our TA-Lib seeding exactly (the package's EMA run from bar slow-fast) and the
 * package's own MACD once the seed difference has decayed below 1e-12.
 */
enum cg_err ind_macd(const double *x, size_t n, int fast, int slow, int signal, double *line,
                     double *sig, double *hist) __attribute__((warn_unused_result));

/*
 * Bollinger Bands (John Bollinger): middle = SMA_p, upper/lower = middle +/- k * sigma, with
 * sigma the population standard deviation (divide by p) of the same p closes, first at p-1.
 * (TA-Lib TA_BBANDS with MA type SMA; technicalindicators the same.) Sliding mean and sum of
 * squared deviations are updated with Welford's add/remove steps.
 */
enum cg_err ind_bbands(const double *x, size_t n, int period, double k, double *upper,
                       double *middle, double *lower) __attribute__((warn_unused_result));

/*
 * ATR, Wilder 1978: true range TR[i] = max(h[i] - l[i], |h[i] - c[i-1]|, |l[i] - c[i-1]|) for
 * i >= 1; ATR[p] = mean(TR[1..p]); then ATR[i] = (ATR[i-1] (p-1) + TR[i]) / p. (TA-Lib TA_ATR;
 * technicalindicators ATR (TrueRange + WEMA) is the same.)
 */
enum cg_err ind_atr(const double *h, const double *l, const double *c, size_t n, int period,
                    double *out) __attribute__((warn_unused_result));

/*
 * Stochastic oscillator (George Lane): fast %K[i] = 100 (c[i] - LL) / (HH - LL) over the last
 * k bars (0 when HH = LL, as TA-Lib and technicalindicators do), from bar k-1;
 * %K = SMA_smooth(fast %K) (smooth 1 = fast %K itself); %D = SMA_d(%K).
 * (TA-Lib TA_STOCH with SMA for both; technicalindicators Stochastic is smooth = 1.)
 * Highest high / lowest low by the van Herk / Gil-Werman block method (O(n) for any k).
 */
enum cg_err ind_stoch(const double *h, const double *l, const double *c, size_t n, int k, int d,
                      int smooth, double *k_out, double *d_out) __attribute__((warn_unused_result));

/*
 * VWAP with typical price tp = (h + l + c) / 3: out[i] = sum(tp v) / sum(v) over the last
 * `period` bars, or over bars 0..i when period = 0 (anchored at the first bar, as
 * technicalindicators VWAP). NaN where the summed volume is 0.
 */
enum cg_err ind_vwap(const double *h, const double *l, const double *c, const double *v, size_t n,
                     int period, double *out) __attribute__((warn_unused_result));

/*
 * OBV (Joseph Granville): out[0] = v[0]; out[i] = out[i-1] + v[i] if c[i] > c[i-1], - v[i] if
 * c[i] < c[i-1], unchanged otherwise. (TA-Lib TA_OBV.) technicalindicators starts at 0 and has
 * no value for bar 0, so its values are ours minus v[0]; the test states and checks that.
 */
enum cg_err ind_obv(const double *c, const double *v, size_t n, double *out)
    __attribute__((warn_unused_result));

#endif
