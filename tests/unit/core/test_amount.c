/*
 * Unit tests for src/core/amount.h: exact decimal parsing and formatting, and the __int128
 * arithmetic helpers. The random round-trip test prints its seed; set AMOUNT_SEED to replay it.
 */
#include <criterion/criterion.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/amount.h"

#define SENTINEL INT64_C(-777)

/* Parse `s` at `scale` and assert CG_OK with value `want`. */
static void parse_ok(const char *s, int scale, amount_t want)
{
    amount_t v = SENTINEL;
    enum cg_err e = amount_parse(s, scale, &v);

    cr_assert_eq(e, CG_OK, "parse(\"%s\", %d): err %d, want CG_OK", s, scale, (int)e);
    cr_assert_eq(v, want, "parse(\"%s\", %d) = %" PRId64 ", want %" PRId64, s, scale, v, want);
}

/* Parse `s` at `scale`, assert error `want` and that *out was left unchanged. */
static void parse_err(const char *s, int scale, enum cg_err want)
{
    amount_t v = SENTINEL;
    enum cg_err e = amount_parse(s, scale, &v);

    cr_assert_eq(e, want, "parse(\"%s\", %d): err %d, want %d", s, scale, (int)e, (int)want);
    cr_assert_eq(v, SENTINEL, "parse(\"%s\", %d) wrote %" PRId64 " on error", s, scale, v);
}

static void format_is(amount_t v, int scale, bool trim, const char *want)
{
    char buf[AMOUNT_STR_MAX];
    char *r = amount_format(v, scale, trim, buf);

    cr_assert_eq(r, buf, "amount_format must return buf");
    cr_assert_str_eq(buf, want, "format(%" PRId64 ", %d, %d)", v, scale, (int)trim);
}

/* splitmix64 (Steele, Lea, Flood 2014): a small, seedable, good-enough generator for tests. */
static uint64_t rng_next(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));

    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* Seed from the environment variable `name` if set, else from the clock; printed either way. */
static uint64_t test_seed(const char *name)
{
    const char *env = getenv(name);
    uint64_t seed;

    if (env && *env)
        seed = strtoull(env, NULL, 0);
    else
        seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    fprintf(stderr, "%s=%" PRIu64 " (set it to replay)\n", name, seed);
    return seed;
}

Test(amount_parse, exact_values)
{
    parse_ok("0", 8, 0);
    parse_ok("-0", 8, 0);
    parse_ok("0.1", 8, 10000000);
    parse_ok("1", 8, 100000000);
    parse_ok("1.5", 8, 150000000);
    parse_ok("-2.25", 8, -225000000);
    parse_ok("0.00000001", 8, 1);
    parse_ok("-0.00000001", 8, -1);
    parse_ok("61837.63", 2, 6183763);
    parse_ok("61837.63", 8, INT64_C(6183763000000));
    parse_ok("61837.6", 2, 6183760);
    parse_ok("007", 0, 7);
    parse_ok("00.5", 1, 5);
    parse_ok("123", 0, 123);
    parse_ok("1.000000000000000001", 18, INT64_C(1000000000000000001));
}

Test(amount_parse, trailing_zeros_beyond_scale_accepted)
{
    parse_ok("1.50000000000", 8, 150000000);
    parse_ok("0.100000000000000000000000000000000000000000", 8, 10000000);
    parse_ok("1.0", 0, 1);
    parse_ok("-3.000", 0, -3);
    parse_ok("61837.630", 2, 6183763);
}

Test(amount_parse, too_many_decimals)
{
    parse_err("0.000000001", 8, CG_ESCALE);
    parse_err("1.123456789", 8, CG_ESCALE);
    parse_err("1.5", 0, CG_ESCALE);
    parse_err("0.1", 0, CG_ESCALE);
    parse_err("-0.001", 2, CG_ESCALE);
    parse_err("61837.631", 2, CG_ESCALE);
    parse_err("1.0000000001000", 8, CG_ESCALE);
}

Test(amount_parse, syntax_errors)
{
    static const char *const bad[] = {
        "",     ".5",   "1.",   "1e5",  "+1",  " 1",  "1 ",  "1a",  "--1",   "-",   "-.5",
        "1..5", "1.5.", "1.-5", "0x10", "1,5", "\t1", "NaN", "inf", "1_000", "- 1", ".",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        parse_err(bad[i], 8, CG_EAMOUNT);
}

/*
 * A malformed string is CG_EAMOUNT even when its digits alone would be too precise or too large.
 * Before the fix the value loop ran first and returned CG_ESCALE / CG_EOVERFLOW for these.
 */
Test(amount_parse, syntax_error_wins_over_scale_and_overflow)
{
    parse_err("1.123456789x", 8, CG_EAMOUNT);
    parse_err("99999999999999999999x", 8, CG_EAMOUNT);
    parse_err("99999999999999999999.5.", 0, CG_EAMOUNT);
}

Test(amount_parse, overflow)
{
    char huge[1001];

    parse_err("92233720368.54775808", 8, CG_EOVERFLOW);
    parse_err("92233720368.54775810", 8, CG_EOVERFLOW);
    parse_err("92233720369", 8, CG_EOVERFLOW);
    parse_err("9223372036854775808", 0, CG_EOVERFLOW);
    parse_err("9.223372036854775808", 18, CG_EOVERFLOW);
    parse_err("10", 18, CG_EOVERFLOW);
    parse_err("-92233720368.54775809", 8, CG_EOVERFLOW);
    parse_err("18446744073709551616", 0, CG_EOVERFLOW);

    memset(huge, '9', sizeof(huge) - 1);
    huge[sizeof(huge) - 1] = '\0';
    parse_err(huge, 0, CG_EOVERFLOW);
    parse_err(huge, 8, CG_EOVERFLOW);
    huge[0] = '-';
    parse_err(huge, 8, CG_EOVERFLOW);

    /* 1 followed by 30 zeros: far past int64, and past int64 * 10 that the parser tracks. */
    parse_err("1000000000000000000000000000000", 0, CG_EOVERFLOW);
}

Test(amount_parse, int64_boundary)
{
    char zeros[1003];

    parse_ok("92233720368.54775807", 8, INT64_MAX);
    parse_ok("-92233720368.54775807", 8, -INT64_MAX);
    parse_ok("9223372036854775807", 0, INT64_MAX);
    parse_ok("9223372036854775807.000", 0, INT64_MAX);
    parse_ok("9.223372036854775807", 18, INT64_MAX);
    parse_ok("-9.223372036854775807", 18, -INT64_MAX);

    /* Leading zeros never count towards overflow. */
    memset(zeros, '0', sizeof(zeros) - 3);
    zeros[sizeof(zeros) - 3] = '4';
    zeros[sizeof(zeros) - 2] = '2';
    zeros[sizeof(zeros) - 1] = '\0';
    parse_ok(zeros, 8, INT64_C(4200000000));
}

/*
 * The parser's range is symmetric, [-INT64_MAX, INT64_MAX]: INT64_MIN is refused so that negating
 * any parsed amount is defined. (amount_mul_div and amount_notional use the same range.)
 */
Test(amount_parse, int64_min_is_refused)
{
    parse_err("-9223372036854775808", 0, CG_EOVERFLOW);
    parse_err("-92233720368.54775808", 8, CG_EOVERFLOW);
}

Test(amount_parse, negative_numbers)
{
    parse_ok("-1", 0, -1);
    parse_ok("-1.5", 1, -15);
    parse_ok("-0.5", 8, -50000000);
    parse_ok("-61837.63", 2, -6183763);
    parse_err("-1.55", 1, CG_ESCALE);
}

Test(amount_parse, parse_n_uses_only_len_bytes)
{
    char buf[5] = {'1', '2', '.', '5', '7'}; /* not NUL-terminated */
    amount_t v = SENTINEL;

    cr_assert_eq(amount_parse_n(buf, 4, 1, &v), CG_OK);
    cr_assert_eq(v, 125);
    cr_assert_eq(amount_parse_n(buf, 2, 0, &v), CG_OK);
    cr_assert_eq(v, 12);
    cr_assert_eq(amount_parse_n("1.5xyz", 3, 8, &v), CG_OK);
    cr_assert_eq(v, 150000000);
    v = SENTINEL;
    cr_assert_eq(amount_parse_n(buf, 3, 1, &v), CG_EAMOUNT); /* "12." */
    cr_assert_eq(amount_parse_n(buf, 0, 1, &v), CG_EAMOUNT);
    cr_assert_eq(amount_parse_n(buf, 5, 1, &v), CG_ESCALE); /* "12.57" at scale 1 */
    cr_assert_eq(v, SENTINEL);
}

Test(amount_parse, invalid_scale_and_null)
{
    amount_t v = SENTINEL;

    cr_assert_neq(amount_parse("1", -1, &v), CG_OK);
    cr_assert_neq(amount_parse("1", AMOUNT_MAX_SCALE + 1, &v), CG_OK);
    cr_assert_eq(amount_parse(NULL, 8, &v), CG_EAMOUNT);
    cr_assert_eq(v, SENTINEL);
}

Test(amount_format, fixed_decimals)
{
    format_is(150000000, 8, false, "1.50000000");
    format_is(0, 8, false, "0.00000000");
    format_is(1, 8, false, "0.00000001");
    format_is(-1, 8, false, "-0.00000001");
    format_is(-225000000, 8, false, "-2.25000000");
    format_is(6183763, 2, false, "61837.63");
    format_is(42, 0, false, "42");
    format_is(-42, 0, false, "-42");
    format_is(INT64_MAX, 8, false, "92233720368.54775807");
    format_is(INT64_MAX, 18, false, "9.223372036854775807");
    format_is(INT64_MAX, 0, false, "9223372036854775807");
}

Test(amount_format, trimmed)
{
    format_is(150000000, 8, true, "1.5");
    format_is(100000000, 8, true, "1");
    format_is(1000000000, 8, true, "10"); /* zeros of the integer part stay */
    format_is(0, 8, true, "0");
    format_is(1, 8, true, "0.00000001");
    format_is(10, 8, true, "0.0000001");
    format_is(-150000000, 8, true, "-1.5");
    format_is(-100000000, 8, true, "-1");
    format_is(-1, 8, true, "-0.00000001");
    format_is(6183760, 2, true, "61837.6");
    format_is(10, 0, true, "10");
    format_is(-100, 0, true, "-100");
}

Test(amount_format, int64_min)
{
    format_is(INT64_MIN, 8, false, "-92233720368.54775808");
    format_is(INT64_MIN, 8, true, "-92233720368.54775808");
    format_is(INT64_MIN, 0, false, "-9223372036854775808");
    format_is(INT64_MIN, 18, false, "-9.223372036854775808");
    format_is(INT64_MIN, 18, true, "-9.223372036854775808");
    format_is(-INT64_C(1000000000000000000), 18, true, "-1");
}

Test(amount_format, fits_str_max)
{
    char buf[AMOUNT_STR_MAX];

    for (int scale = 0; scale <= AMOUNT_MAX_SCALE; scale++) {
        memset(buf, 'x', sizeof(buf));
        amount_format(INT64_MIN, scale, false, buf);
        cr_assert(memchr(buf, '\0', sizeof(buf)) != NULL, "scale %d: no NUL inside buf", scale);
        memset(buf, 'x', sizeof(buf));
        amount_format(1, scale, false, buf);
        cr_assert(memchr(buf, '\0', sizeof(buf)) != NULL, "scale %d: no NUL inside buf", scale);
        cr_assert_eq(strlen(buf), scale ? (size_t)scale + 2 : 1);
    }
}

/* A random value in [-INT64_MAX, INT64_MAX], spread across magnitudes. */
static int64_t random_amount(uint64_t *rng)
{
    uint64_t r = rng_next(rng);
    int shift = (int)(rng_next(rng) % 64);
    int64_t v = (int64_t)((r >> 1) >> shift);

    return (rng_next(rng) & 1) ? -v : v;
}

Test(amount_format, round_trip_random)
{
    uint64_t seed = test_seed("AMOUNT_SEED");
    uint64_t rng = seed;
    char buf[AMOUNT_STR_MAX];

    for (int i = 0; i < 200000; i++) {
        int64_t v = random_amount(&rng);
        int scale = (int)(rng_next(&rng) % (AMOUNT_MAX_SCALE + 1));
        bool trim = rng_next(&rng) & 1;
        amount_t back = SENTINEL;
        enum cg_err e;

        amount_format(v, scale, trim, buf);
        e = amount_parse(buf, scale, &back);
        if (e != CG_OK || back != v)
            cr_assert_fail("seed %" PRIu64 " step %d: %" PRId64 " scale %d trim %d -> \"%s\" -> "
                           "err %d value %" PRId64,
                           seed, i, v, scale, (int)trim, buf, (int)e, back);
        /* The same string read at a finer scale is the value times a power of ten. */
        if (scale < AMOUNT_MAX_SCALE && v > -INT64_MAX / 10 && v < INT64_MAX / 10) {
            e = amount_parse(buf, scale + 1, &back);
            if (e != CG_OK || back != v * 10)
                cr_assert_fail("seed %" PRIu64
                               " step %d: \"%s\" at scale %d: err %d value %" PRId64,
                               seed, i, buf, scale + 1, (int)e, back);
        }
    }
}

static void mul_div_is(int64_t a, int64_t b, int64_t d, bool up, int64_t want)
{
    int64_t r = SENTINEL;
    enum cg_err e = amount_mul_div(a, b, d, up, &r);

    cr_assert_eq(e, CG_OK, "mul_div(%" PRId64 ", %" PRId64 ", %" PRId64 ", %d): err %d", a, b, d,
                 (int)up, (int)e);
    cr_assert_eq(r, want,
                 "mul_div(%" PRId64 ", %" PRId64 ", %" PRId64 ", %d) = %" PRId64 ", want %" PRId64,
                 a, b, d, (int)up, r, want);
}

static void mul_div_overflows(int64_t a, int64_t b, int64_t d, bool up)
{
    int64_t r = SENTINEL;

    cr_assert_eq(amount_mul_div(a, b, d, up, &r), CG_EOVERFLOW,
                 "mul_div(%" PRId64 ", %" PRId64 ", %" PRId64 ", %d)", a, b, d, (int)up);
    cr_assert_eq(r, SENTINEL, "*out written on overflow");
}

Test(amount_mul_div, rounding)
{
    mul_div_is(7, 3, 2, false, 10);
    mul_div_is(7, 3, 2, true, 11);
    mul_div_is(6, 3, 2, false, 9);
    mul_div_is(6, 3, 2, true, 9);
    mul_div_is(1, 1, 3, false, 0);
    mul_div_is(1, 1, 3, true, 1);
    mul_div_is(0, 5, 3, true, 0);
    mul_div_is(2, 1, 3, false, 0);
    mul_div_is(2, 1, 3, true, 1);
}

Test(amount_mul_div, negative_rounds_away_from_and_toward_zero)
{
    mul_div_is(-7, 3, 2, false, -10);
    mul_div_is(-7, 3, 2, true, -11);
    mul_div_is(7, -3, 2, false, -10);
    mul_div_is(7, -3, 2, true, -11);
    mul_div_is(-7, -3, 2, false, 10);
    mul_div_is(-7, -3, 2, true, 11);
    mul_div_is(-1, 1, 3, false, 0);
    mul_div_is(-1, 1, 3, true, -1);
    mul_div_is(-6, 3, 2, true, -9);
}

Test(amount_mul_div, wide_intermediate_and_overflow)
{
    /* 65535 * 281479271743489 = 2^64 - 1: the product only fits in __int128. */
    const int64_t a = 65535;
    const int64_t b = INT64_C(281479271743489);

    mul_div_is(INT64_MAX, INT64_MAX, INT64_MAX, false, INT64_MAX);
    mul_div_is(INT64_MAX, INT64_MAX, INT64_MAX, true, INT64_MAX);
    mul_div_is(a, b, 2, false, INT64_MAX); /* (2^64 - 1) / 2 = 2^63 - 1, remainder 1 */
    mul_div_overflows(a, b, 2, true);      /* rounding up crosses INT64_MAX */
    mul_div_is(-a, b, 2, false, -INT64_MAX);
    mul_div_overflows(INT64_MAX, 2, 1, false);
    mul_div_overflows(INT64_MAX, 3, 2, true);
    mul_div_overflows(INT64_MIN, INT64_MIN, 1, false);
    mul_div_overflows(INT64_MAX, -2, 1, false);
}

/* Checks the rounding definition directly on random operands, with the arithmetic in __int128. */
Test(amount_mul_div, random_rounding_property)
{
    uint64_t seed = test_seed("AMOUNT_SEED");
    uint64_t rng = seed;

    for (int i = 0; i < 100000; i++) {
        int64_t a = random_amount(&rng) >> (rng_next(&rng) % 40);
        int64_t b = random_amount(&rng) >> (rng_next(&rng) % 40);
        int64_t d = (int64_t)((rng_next(&rng) >> 1) >> (rng_next(&rng) % 63));
        __int128 p = (__int128)a * b;
        __int128 ap = p < 0 ? -p : p;
        int64_t down = 0;
        int64_t up = 0;
        enum cg_err e1;
        enum cg_err e2;
        __int128 ad;
        __int128 au;

        if (d == 0)
            d = 1;
        e1 = amount_mul_div(a, b, d, false, &down);
        e2 = amount_mul_div(a, b, d, true, &up);
        if (e1 != CG_OK || e2 != CG_OK) {
            /* Only allowed when the exact quotient is out of the symmetric int64 range. */
            if (ap / d < INT64_MAX)
                cr_assert_fail("seed %" PRIu64 " step %d: spurious overflow", seed, i);
            continue;
        }
        ad = down < 0 ? -(__int128)down : down;
        au = up < 0 ? -(__int128)up : up;
        if ((p != 0 && down != 0 && (down < 0) != (p < 0)) || (p != 0 && (up < 0) != (p < 0)))
            cr_assert_fail("seed %" PRIu64 " step %d: wrong sign", seed, i);
        /* toward zero: |down|*d <= |p| < (|down|+1)*d; away: (|up|-1)*d < |p| <= |up|*d */
        if (!(ad * d <= ap && ap < (ad + 1) * d))
            cr_assert_fail("seed %" PRIu64 " step %d: round-down wrong", seed, i);
        if (!((au - 1) * d < ap && ap <= au * d))
            cr_assert_fail("seed %" PRIu64 " step %d: round-up wrong", seed, i);
    }
}

Test(amount_notional, exactness_flag)
{
    int64_t out = SENTINEL;
    bool exact = true;

    /* 61837.63 (quote scale 2) x 1.5 (base scale 8) = 92756.445 -> 9275644, inexact */
    cr_assert_eq(amount_notional(6183763, 150000000, 8, &out, &exact), CG_OK);
    cr_assert_eq(out, 9275644);
    cr_assert_eq(exact, false);

    exact = false;
    cr_assert_eq(amount_notional(6183763, 100000000, 8, &out, &exact), CG_OK);
    cr_assert_eq(out, 6183763);
    cr_assert_eq(exact, true);

    exact = true;
    cr_assert_eq(amount_notional(6183763, 1, 8, &out, &exact), CG_OK);
    cr_assert_eq(out, 0);
    cr_assert_eq(exact, false);

    exact = false;
    cr_assert_eq(amount_notional(250, 4, 0, &out, &exact), CG_OK);
    cr_assert_eq(out, 1000);
    cr_assert_eq(exact, true);

    /* Rounded toward zero for negative quantities too. */
    cr_assert_eq(amount_notional(6183763, -150000000, 8, &out, &exact), CG_OK);
    cr_assert_eq(out, -9275644);
    cr_assert_eq(exact, false);
}

Test(amount_notional, overflow)
{
    int64_t out = SENTINEL;
    bool exact = false;

    cr_assert_eq(amount_notional(INT64_MAX, 100000000, 8, &out, &exact), CG_OK);
    cr_assert_eq(out, INT64_MAX);
    cr_assert_eq(exact, true);

    out = SENTINEL;
    cr_assert_eq(amount_notional(INT64_MAX, 200000000, 8, &out, &exact), CG_EOVERFLOW);
    cr_assert_eq(amount_notional(INT64_MAX, 2, 0, &out, &exact), CG_EOVERFLOW);
    cr_assert_eq(out, SENTINEL);
}

Test(amount_add, overflow_checked)
{
    int64_t out = SENTINEL;

    cr_assert_eq(amount_add(2, 3, &out), CG_OK);
    cr_assert_eq(out, 5);
    cr_assert_eq(amount_add(INT64_MAX - 1, 1, &out), CG_OK);
    cr_assert_eq(out, INT64_MAX);
    out = SENTINEL;
    cr_assert_eq(amount_add(INT64_MAX, 1, &out), CG_EOVERFLOW);
    cr_assert_eq(amount_add(-INT64_MAX, -2, &out), CG_EOVERFLOW);
    cr_assert_eq(out, SENTINEL);
}

Test(amount_pow10, table)
{
    int64_t p = 1;

    for (int n = 0; n <= 18; n++) {
        cr_assert_eq(amount_pow10(n), p, "10^%d", n);
        if (n < 18)
            p *= 10;
    }
}
