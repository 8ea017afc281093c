/*
 * Reference-check driver: load a shipped Binance kline file with the project's own loader
 * (market/klines.c), run Coinage's indicators (analytics/indicators.c) with the given
 * parameter sets, and print one JSON document with the inputs (as the doubles the indicators
 * saw) and every output column; NaN (warm-up) is printed as null. Used by reference.test.mjs,
 * which runs the npm package technicalindicators on the same inputs and compares.
 *
 * usage: ind_ref FILE PRICE_SCALE QTY_SCALE SPEC...
 *   SPEC = name[:key=value,...], keys period fast slow signal stddev k d smooth
 *   e.g.  sma:period=20  macd:fast=12,slow=26,signal=9  stoch:k=14,d=3,smooth=3  obv
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analytics/indicators.h"
#include "market/klines.h"

static void print_array(const double *v, size_t n)
{
    putchar('[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            putchar(',');
        if (isnan(v[i]))
            fputs("null", stdout);
        else
            printf("%.17g", v[i]);
    }
    putchar(']');
}

static int parse_spec(const char *spec, int *kind, struct ind_params *p)
{
    char buf[256];
    char *colon;
    char *save = NULL;
    snprintf(buf, sizeof(buf), "%s", spec);
    colon = strchr(buf, ':');
    if (colon)
        *colon = '\0';
    *kind = ind_parse(buf);
    if (*kind < 0)
        return -1;
    ind_defaults((enum ind_kind) * kind, p);
    if (!colon)
        return 0;
    for (char *kv = strtok_r(colon + 1, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq)
            return -1;
        *eq++ = '\0';
        if (strcmp(kv, "period") == 0)
            p->period = atoi(eq);
        else if (strcmp(kv, "fast") == 0)
            p->fast = atoi(eq);
        else if (strcmp(kv, "slow") == 0)
            p->slow = atoi(eq);
        else if (strcmp(kv, "signal") == 0)
            p->signal = atoi(eq);
        else if (strcmp(kv, "stddev") == 0)
            p->stddev = atof(eq);
        else if (strcmp(kv, "k") == 0)
            p->k = atoi(eq);
        else if (strcmp(kv, "d") == 0)
            p->d = atoi(eq);
        else if (strcmp(kv, "smooth") == 0)
            p->smooth = atoi(eq);
        else
            return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct kline *k = NULL;
    size_t n = 0;
    double *col[5];
    double *out[3];
    const char *names[] = {"open_time", "high", "low", "close", "volume"};
    double ps;
    double qs;
    if (argc < 5) {
        fprintf(stderr, "usage: %s FILE PRICE_SCALE QTY_SCALE SPEC...\n", argv[0]);
        return 2;
    }
    if (klines_load(argv[1], atoi(argv[2]), atoi(argv[3]), &k, &n) != CG_OK || n == 0) {
        fprintf(stderr, "cannot load %s\n", argv[1]);
        return 1;
    }
    ps = pow(10.0, atoi(argv[2]));
    qs = pow(10.0, atoi(argv[3]));
    for (int c = 0; c < 5; c++) {
        col[c] = malloc(n * sizeof(double));
        if (!col[c])
            return 1;
    }
    for (int c = 0; c < 3; c++) {
        out[c] = malloc(n * sizeof(double));
        if (!out[c])
            return 1;
    }
    /* minor units -> decimal value: one correctly rounded division, the same double that
     * parseFloat() of the file's decimal text gives */
    for (size_t i = 0; i < n; i++) {
        col[0][i] = (double)k[i].open_time_ms;
        col[1][i] = (double)k[i].high / ps;
        col[2][i] = (double)k[i].low / ps;
        col[3][i] = (double)k[i].close / ps;
        col[4][i] = (double)k[i].volume / qs;
    }
    printf("{\"n\":%zu", n);
    for (int c = 0; c < 5; c++) {
        printf(",\"%s\":", names[c]);
        print_array(col[c], n);
    }
    fputs(",\"outputs\":[", stdout);
    for (int a = 4; a < argc; a++) {
        int kind;
        struct ind_params p;
        const char *const *cols;
        int nc;
        struct ind_series s = {col[1], col[2], col[3], col[4], n};
        if (parse_spec(argv[a], &kind, &p) != 0 || ind_validate((enum ind_kind)kind, &p) != CG_OK) {
            fprintf(stderr, "bad spec %s\n", argv[a]);
            return 2;
        }
        if (ind_compute((enum ind_kind)kind, &p, &s, out) != CG_OK) {
            fprintf(stderr, "compute failed for %s\n", argv[a]);
            return 1;
        }
        nc = ind_columns((enum ind_kind)kind, &cols);
        printf("%s{\"spec\":\"%s\",\"lookback\":%zu,\"columns\":{", a > 4 ? "," : "", argv[a],
               ind_lookback((enum ind_kind)kind, &p));
        for (int c = 0; c < nc; c++) {
            printf("%s\"%s\":", c ? "," : "", cols[c]);
            print_array(out[c], n);
        }
        fputs("}}", stdout);
    }
    fputs("]}\n", stdout);
    for (int c = 0; c < 5; c++)
        free(col[c]);
    for (int c = 0; c < 3; c++)
        free(out[c]);
    free(k);
    return 0;
}
