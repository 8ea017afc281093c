#include "core/amount.h"

#include <string.h>

static const int64_t pow10_table[19] = {1LL,
                                        10LL,
                                        100LL,
                                        1000LL,
                                        10000LL,
                                        100000LL,
                                        1000000LL,
                                        10000000LL,
                                        100000000LL,
                                        1000000000LL,
                                        10000000000LL,
                                        100000000000LL,
                                        1000000000000LL,
                                        10000000000000LL,
                                        100000000000000LL,
                                        1000000000000000LL,
                                        10000000000000000LL,
                                        100000000000000000LL,
                                        1000000000000000000LL};

int64_t amount_pow10(int n)
{
    if (n < 0 || n > 18)
        return 0;
    return pow10_table[n];
}

/*
 * True when s[0..len) is '-'? digits ('.' digits)?. Checked before any value is computed so that a
 * malformed string is CG_EAMOUNT whatever its digits ("1.123456789x" is not CG_ESCALE, and
 * "99999999999999999999x" is not CG_EOVERFLOW).
 */
static bool amount_syntax_ok(const char *s, size_t len)
{
    size_t i = 0;
    size_t start;

    if (i < len && s[i] == '-')
        i++;
    start = i;
    while (i < len && s[i] >= '0' && s[i] <= '9')
        i++;
    if (i == start)
        return false;
    if (i < len && s[i] == '.') {
        start = ++i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == start)
            return false;
    }
    return i == len;
}

enum cg_err amount_parse_n(const char *s, size_t len, int scale, amount_t *out)
{
    size_t i = 0;
    bool neg = false;
    __int128 v = 0;
    int frac_digits = 0;

    if (!s || scale < 0 || scale > AMOUNT_MAX_SCALE || !amount_syntax_ok(s, len))
        return CG_EAMOUNT;
    if (s[0] == '-') {
        neg = true;
        i++;
    }
    for (; i < len && s[i] != '.'; i++) {
        v = v * 10 + (s[i] - '0');
        if (v > (__int128)INT64_MAX * 10)
            return CG_EOVERFLOW;
    }
    if (i < len)
        i++; /* the point; amount_syntax_ok guarantees digits follow */
    for (; i < len; i++) {
        if (frac_digits < scale) {
            v = v * 10 + (s[i] - '0');
            frac_digits++;
        } else if (s[i] != '0') {
            return CG_ESCALE;
        }
        if (v > (__int128)INT64_MAX * 10)
            return CG_EOVERFLOW;
    }
    for (; frac_digits < scale; frac_digits++) {
        v *= 10;
        if (v > (__int128)INT64_MAX * 10)
            return CG_EOVERFLOW;
    }
    if (neg)
        v = -v;
    if (v > INT64_MAX || v < -(__int128)INT64_MAX)
        return CG_EOVERFLOW;
    *out = (amount_t)v;
    return CG_OK;
}

enum cg_err amount_parse(const char *s, int scale, amount_t *out)
{
    if (!s)
        return CG_EAMOUNT;
    return amount_parse_n(s, strlen(s), scale, out);
}

char *amount_format(amount_t v, int scale, bool trim, char *buf)
{
    char digits[AMOUNT_STR_MAX];
    int n = 0;
    int pos = 0;
    /* Work in unsigned 128 so INT64_MIN formats correctly. */
    unsigned __int128 u = v < 0 ? (unsigned __int128)(-(__int128)v) : (unsigned __int128)v;

    if (scale < 0 || scale > AMOUNT_MAX_SCALE)
        scale = 0;
    do {
        digits[n++] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u);
    while (n <= scale)
        digits[n++] = '0';
    if (v < 0)
        buf[pos++] = '-';
    for (int i = n - 1; i >= scale; i--)
        buf[pos++] = digits[i];
    if (scale > 0) {
        int last = 0;
        buf[pos++] = '.';
        for (int i = scale - 1; i >= 0; i--)
            buf[pos++] = digits[i];
        if (trim) {
            last = pos;
            while (buf[last - 1] == '0')
                last--;
            if (buf[last - 1] == '.')
                last--;
            pos = last;
        }
    }
    buf[pos] = '\0';
    return buf;
}

enum cg_err amount_mul_div(int64_t a, int64_t b, int64_t d, bool round_up, int64_t *out)
{
    __int128 p = (__int128)a * b;
    __int128 q;
    __int128 r;

    if (d <= 0)
        return CG_EINVAL;
    q = p / d;
    r = p % d;
    if (round_up && r != 0)
        q += (p < 0) ? -1 : 1;
    if (q > INT64_MAX || q < -(__int128)INT64_MAX)
        return CG_EOVERFLOW;
    *out = (int64_t)q;
    return CG_OK;
}

enum cg_err amount_notional(int64_t price, int64_t qty, int base_scale, int64_t *out, bool *exact)
{
    int64_t d = amount_pow10(base_scale);
    __int128 p = (__int128)price * qty;

    if (d == 0)
        return CG_EINVAL;
    if (p / d > INT64_MAX || p / d < -(__int128)INT64_MAX)
        return CG_EOVERFLOW;
    if (exact)
        *exact = (p % d) == 0;
    *out = (int64_t)(p / d);
    return CG_OK;
}

enum cg_err amount_add(int64_t a, int64_t b, int64_t *out)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return CG_EOVERFLOW;
    *out = r;
    return CG_OK;
}
