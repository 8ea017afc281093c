/*
 * Exact fixed-point amounts. An amount is an int64_t count of minor units at a per-asset scale
 * (number of decimals): "1.5" at scale 8 is 150000000. Prices are quote minor units per one whole
 * base unit. Never float. Products go through __int128 with range checks.
 * All functions are pure and may be called from any thread.
 */
#ifndef CG_CORE_AMOUNT_H
#define CG_CORE_AMOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

typedef int64_t amount_t;

#define AMOUNT_MAX_SCALE 18
/* Longest string amount_format writes, including sign and NUL. */
#define AMOUNT_STR_MAX 48

/*
 * Parse a decimal string ("123", "0.5", "-2.25") into minor units at `scale` decimals.
 * Accepts an optional leading '-', digits, and an optional '.' followed by digits. No exponent,
 * no spaces, no leading '+', at least one digit before the point ("0.5", not ".5").
 * Returns CG_OK, CG_EAMOUNT (syntax), CG_ESCALE (more significant decimals than `scale`;
 * trailing zeros past the scale are accepted), CG_EOVERFLOW (outside -INT64_MAX..INT64_MAX:
 * the range is kept symmetric so that negating an amount is always safe).
 * On error *out is left unchanged.
 */
enum cg_err amount_parse(const char *s, int scale, amount_t *out)
    __attribute__((warn_unused_result));
/* Same as amount_parse on the first `len` bytes of s. */
enum cg_err amount_parse_n(const char *s, size_t len, int scale, amount_t *out)
    __attribute__((warn_unused_result));

/*
 * Format `v` minor units at `scale` into buf (size >= AMOUNT_STR_MAX): always exactly `scale`
 * decimals ("1.50000000"), or `trim` true to drop trailing zeros and a bare point ("1.5").
 * Returns buf.
 */
char *amount_format(amount_t v, int scale, bool trim, char *buf);

/* 10^n for 0 <= n <= 18. */
int64_t amount_pow10(int n);

/*
 * a * b / d, rounding toward zero (`round_up` false) or away from zero (`round_up` true), all
 * through __int128. d > 0. Returns CG_OK or CG_EOVERFLOW when the result does not fit int64.
 */
enum cg_err amount_mul_div(int64_t a, int64_t b, int64_t d, bool round_up, int64_t *out)
    __attribute__((warn_unused_result));

/*
 * Notional of `qty` base minor units at `price` (quote minor units per whole base unit), in quote
 * minor units: price * qty / 10^base_scale. `exact` is set false when the division leaves a
 * remainder (the result is then rounded toward zero). Returns CG_OK or CG_EOVERFLOW.
 */
enum cg_err amount_notional(int64_t price, int64_t qty, int base_scale, int64_t *out, bool *exact)
    __attribute__((warn_unused_result));

/* a + b with overflow check. */
enum cg_err amount_add(int64_t a, int64_t b, int64_t *out) __attribute__((warn_unused_result));

#endif
