/* Coin listings metadata loader; see coins.h. */
#include "analytics/coins.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"

#define COINS_FIELDS 12

static const char *const header = "market_cap_rank,id,symbol,name,market_cap,circulating_supply,"
                                  "total_supply,max_supply,fully_diluted_valuation,current_price,"
                                  "total_volume,last_updated";

/* A plain non-negative decimal ("123", "19832115.0"); empty allowed when `optional`. */
static bool decimal_ok(const char *s, bool optional)
{
    bool digits = false;
    bool dot = false;
    if (*s == '\0')
        return optional;
    for (; *s; s++) {
        if (isdigit((unsigned char)*s))
            digits = true;
        else if (*s == '.' && !dot)
            dot = true;
        else
            return false;
    }
    return digits;
}

/* Split a CSV line without quoting (the file has no quoted fields) into f[]. */
static int split(char *line, char **f, int max)
{
    int n = 0;
    char *p = line;
    while (n < max) {
        f[n++] = p;
        p = strchr(p, ',');
        if (!p)
            break;
        *p++ = '\0';
    }
    return p ? -1 : n;
}

static bool copy(char *dst, size_t cap, const char *src)
{
    size_t len = strlen(src);
    if (len >= cap)
        return false;
    memcpy(dst, src, len + 1);
    return true;
}

enum cg_err coins_load(const char *path, struct coins *out)
{
    struct coins *tmp;
    char line[1024];
    int lineno = 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        log_error("coins: cannot open %s", path);
        return CG_EIO;
    }
    tmp = calloc(1, sizeof(*tmp));
    if (!tmp) {
        fclose(f);
        return CG_ENOMEM;
    }
    while (fgets(line, sizeof(line), f)) {
        char *fld[COINS_FIELDS];
        struct coin_meta *c;
        size_t len = strcspn(line, "\r\n");
        line[len] = '\0';
        lineno++;
        if (lineno == 1) {
            if (strcmp(line, header) != 0)
                goto bad;
            continue;
        }
        if (len == 0)
            continue;
        if (tmp->n == COINS_MAX || split(line, fld, COINS_FIELDS) != COINS_FIELDS)
            goto bad;
        c = &tmp->c[tmp->n];
        if (!decimal_ok(fld[0], true) || !fld[2][0] || !decimal_ok(fld[4], false) ||
            !decimal_ok(fld[5], false) || !decimal_ok(fld[6], true) || !decimal_ok(fld[7], true) ||
            !copy(c->id, sizeof(c->id), fld[1]) || !copy(c->symbol, sizeof(c->symbol), fld[2]) ||
            !copy(c->name, sizeof(c->name), fld[3]) ||
            !copy(c->market_cap, sizeof(c->market_cap), fld[4]) ||
            !copy(c->circulating_supply, sizeof(c->circulating_supply), fld[5]) ||
            !copy(c->total_supply, sizeof(c->total_supply), fld[6]) ||
            !copy(c->max_supply, sizeof(c->max_supply), fld[7]) ||
            !copy(c->last_updated, sizeof(c->last_updated), fld[11]) || strlen(fld[11]) < 10)
            goto bad;
        c->rank = fld[0][0] ? atoi(fld[0]) : 0;
        c->market_cap_value = strtod(fld[4], NULL);
        if (strncmp(c->last_updated, tmp->as_of, 10) > 0)
            snprintf(tmp->as_of, sizeof(tmp->as_of), "%.10s", c->last_updated);
        tmp->n++;
    }
    if (ferror(f) || lineno == 0) {
        fclose(f);
        free(tmp);
        log_error("coins: cannot read %s", path);
        return lineno == 0 ? CG_EINVAL : CG_EIO;
    }
    fclose(f);
    snprintf(tmp->currency, sizeof(tmp->currency), "EUR");
    snprintf(tmp->source, sizeof(tmp->source),
             "CoinGecko /coins/markets snapshot of %s (data/coins/SOURCE.md)", tmp->as_of);
    memcpy(out, tmp, sizeof(*tmp));
    free(tmp);
    return CG_OK;
bad:
    fclose(f);
    free(tmp);
    log_error("coins: %s:%d: malformed line", path, lineno);
    return CG_EINVAL;
}

const struct coin_meta *coins_find(const struct coins *cs, const char *symbol)
{
    for (size_t i = 0; i < cs->n; i++) {
        if (strcasecmp(cs->c[i].symbol, symbol) == 0)
            return &cs->c[i];
    }
    return NULL;
}
