/*
 * Kline CSV reader. See klines.h for the contract.
 */
#include "market/klines.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "core/amount.h"

#define LINE_MAX_LEN 1024
#define FIELD_MAX 64    /* longest number accepted, in characters */
#define EXPONENT_MAX 40 /* |exponent| accepted in "1.5e-05" notation */
#define TICKER_MAX 32

enum layout { LAYOUT_1H, LAYOUT_1D }; /* the two headers of klines.h */

struct field {
    const char *s;
    size_t len;
};

/*
 * Rewrite "d[.d]e[+-]d" as a plain decimal in buf (size >= FIELD_MAX + EXPONENT_MAX + 4), so
 * that amount_parse sees exactly the same number: "1.412e-05" -> "0.00001412",
 * "2.5e3" -> "2500". Returns false when the text is not of that form.
 */
static bool expand_exponent(const char *s, size_t len, char *buf)
{
    char digits[FIELD_MAX];
    size_t nd = 0, i = 0, out = 0;
    int int_digits = -1, exp = 0, exp_sign = 1, point;
    const char *e = memchr(s, 'e', len);

    if (!e)
        e = memchr(s, 'E', len);
    if (!e || len > FIELD_MAX)
        return false;
    if (s[0] == '-')
        buf[out++] = s[i++];
    for (; s + i < e; i++) {
        if (s[i] == '.' && int_digits < 0 && nd > 0)
            int_digits = (int)nd;
        else if (s[i] >= '0' && s[i] <= '9')
            digits[nd++] = s[i];
        else
            return false;
    }
    if (nd == 0 || (int_digits >= 0 && (size_t)int_digits == nd))
        return false; /* no digits, or a point with none after it */
    if (int_digits < 0)
        int_digits = (int)nd;
    i++;
    if (i < len && (s[i] == '+' || s[i] == '-'))
        exp_sign = s[i++] == '-' ? -1 : 1;
    if (i == len)
        return false;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9' || exp > EXPONENT_MAX)
            return false;
        exp = exp * 10 + (s[i] - '0');
    }
    if (exp > EXPONENT_MAX)
        return false;
    point = int_digits + exp_sign * exp; /* digits before the point in the result */
    if (point <= 0) {
        buf[out++] = '0';
        buf[out++] = '.';
        for (int z = 0; z < -point; z++)
            buf[out++] = '0';
        point = 0;
    }
    for (size_t k = 0; k < nd || (int)k < point; k++) {
        if ((int)k == point && k > 0)
            buf[out++] = '.';
        buf[out++] = k < nd ? digits[k] : '0';
    }
    buf[out] = '\0';
    return true;
}

/* A CSV number at `scale`. Syntax errors are CG_EINVAL; CG_ESCALE and CG_EOVERFLOW pass on. */
static enum cg_err parse_number(struct field f, int scale, int64_t *out)
{
    char buf[FIELD_MAX + EXPONENT_MAX + 4];
    enum cg_err rc;

    if (memchr(f.s, 'e', f.len) || memchr(f.s, 'E', f.len)) {
        if (!expand_exponent(f.s, f.len, buf))
            return CG_EINVAL;
        rc = amount_parse(buf, scale, out);
    } else {
        rc = amount_parse_n(f.s, f.len, scale, out);
    }
    return rc == CG_EAMOUNT ? CG_EINVAL : rc;
}

static bool parse_digits(const char *s, int n, int *out)
{
    *out = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        *out = *out * 10 + (s[i] - '0');
    }
    return true;
}

/* `YYYY-MM-DD` or `YYYY-MM-DD HH:MM:SS` (UTC) -> ms since epoch. Rejects impossible dates such
 * as 2023-02-30 (timegm would silently normalise them). */
static bool parse_time(struct field f, enum layout layout, int64_t *out_ms)
{
    struct tm tm = {0}, back;
    const char *s = f.s;
    time_t t;

    if (f.len != (layout == LAYOUT_1H ? 19u : 10u) || s[4] != '-' || s[7] != '-')
        return false;
    if (!parse_digits(s, 4, &tm.tm_year) || !parse_digits(s + 5, 2, &tm.tm_mon) ||
        !parse_digits(s + 8, 2, &tm.tm_mday))
        return false;
    if (layout == LAYOUT_1H) {
        if (s[10] != ' ' || s[13] != ':' || s[16] != ':' || !parse_digits(s + 11, 2, &tm.tm_hour) ||
            !parse_digits(s + 14, 2, &tm.tm_min) || !parse_digits(s + 17, 2, &tm.tm_sec))
            return false;
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    back = tm;
    t = timegm(&tm);
    if (t == (time_t)-1 || !gmtime_r(&t, &tm))
        return false;
    if (tm.tm_year != back.tm_year || tm.tm_mon != back.tm_mon || tm.tm_mday != back.tm_mday ||
        tm.tm_hour != back.tm_hour || tm.tm_min != back.tm_min || tm.tm_sec != back.tm_sec)
        return false;
    *out_ms = (int64_t)t * 1000;
    return true;
}

/* Split a line on commas into exactly `want` non-empty fields. */
static bool split(const char *line, size_t len, struct field *f, size_t want)
{
    size_t nf = 0, start = 0;

    for (size_t i = 0; i <= len; i++) {
        if (i < len && line[i] != ',')
            continue;
        if (nf == want || i == start)
            return false;
        f[nf].s = line + start;
        f[nf].len = i - start;
        nf++;
        start = i + 1;
    }
    return nf == want;
}

static enum cg_err parse_row(const char *line, size_t len, enum layout layout, int price_scale,
                             int qty_scale, char *ticker, struct kline *k)
{
    struct field f[7];
    size_t want = layout == LAYOUT_1H ? 7 : 6;
    int64_t *px[4] = {&k->open, &k->high, &k->low, &k->close};
    enum cg_err rc;

    if (!split(line, len, f, want) || !parse_time(f[0], layout, &k->open_time_ms))
        return CG_EINVAL;
    for (int i = 0; i < 4; i++) {
        rc = parse_number(f[1 + i], price_scale, px[i]);
        if (rc != CG_OK)
            return rc;
        if (*px[i] <= 0)
            return CG_EINVAL;
    }
    rc = parse_number(f[5], qty_scale, &k->volume);
    if (rc != CG_OK)
        return rc;
    if (k->volume < 0 || k->low > k->high || k->open < k->low || k->open > k->high ||
        k->close < k->low || k->close > k->high)
        return CG_EINVAL;
    if (layout == LAYOUT_1H) {
        if (f[6].len >= TICKER_MAX)
            return CG_EINVAL;
        if (ticker[0] == '\0')
            memcpy(ticker, f[6].s, f[6].len);
        else if (strlen(ticker) != f[6].len || memcmp(ticker, f[6].s, f[6].len) != 0)
            return CG_EINVAL;
    }
    return CG_OK;
}

/*
 * Next line into buf (size LINE_MAX_LEN + 2), CR/LF stripped. *eof when none is left.
 * CG_EINVAL for a line longer than LINE_MAX_LEN, CG_EIO on a read error.
 */
static enum cg_err read_line(gzFile gz, char *buf, size_t *len, bool *eof)
{
    int errnum;
    size_t n;

    *eof = false;
    if (!gzgets(gz, buf, LINE_MAX_LEN + 2)) {
        gzerror(gz, &errnum);
        if (errnum != Z_OK)
            return CG_EIO;
        *eof = true;
        return CG_OK;
    }
    n = strlen(buf);
    if (n > 0 && buf[n - 1] != '\n' && !gzeof(gz))
        return CG_EINVAL;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    buf[n] = '\0';
    *len = n;
    return CG_OK;
}

static enum cg_err read_header(gzFile gz, char *buf, enum layout *layout)
{
    size_t len;
    bool eof;
    enum cg_err rc = read_line(gz, buf, &len, &eof);

    if (rc != CG_OK)
        return rc;
    if (eof)
        return CG_EINVAL;
    if (strcmp(buf, "date,open,high,low,close,volume,ticker") == 0)
        *layout = LAYOUT_1H;
    else if (strcmp(buf, "timestamp,open,high,low,close,volume") == 0)
        *layout = LAYOUT_1D;
    else
        return CG_EINVAL;
    return CG_OK;
}

enum cg_err klines_load(const char *path, int price_scale, int qty_scale, struct kline **out,
                        size_t *n)
{
    char buf[LINE_MAX_LEN + 2];
    char ticker[TICKER_MAX] = "";
    struct kline *rows = NULL;
    size_t count = 0, cap = 0, len;
    enum layout layout;
    enum cg_err rc;
    bool eof;
    gzFile gz;

    if (!path || !out || !n || price_scale < 0 || price_scale > AMOUNT_MAX_SCALE || qty_scale < 0 ||
        qty_scale > AMOUNT_MAX_SCALE)
        return CG_EINVAL;
    gz = gzopen(path, "rb");
    if (!gz)
        return CG_EIO;
    rc = read_header(gz, buf, &layout);
    while (rc == CG_OK) {
        rc = read_line(gz, buf, &len, &eof);
        if (rc != CG_OK || eof)
            break;
        if (count == cap) {
            size_t ncap = cap ? cap * 2 : 4096;
            struct kline *p = realloc(rows, ncap * sizeof(*p));

            if (!p) {
                rc = CG_ENOMEM;
                break;
            }
            rows = p;
            cap = ncap;
        }
        rc = parse_row(buf, len, layout, price_scale, qty_scale, ticker, &rows[count]);
        if (rc != CG_OK)
            break;
        if (count > 0 && rows[count].open_time_ms <= rows[count - 1].open_time_ms)
            rc = CG_EINVAL;
        count++;
    }
    gzclose(gz);
    if (rc != CG_OK) {
        free(rows);
        return rc;
    }
    if (count == 0) {
        free(rows);
        rows = NULL;
    }
    *out = rows;
    *n = count;
    return CG_OK;
}
