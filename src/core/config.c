#include "core/config.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

static enum cg_err cfg_fail(char *errbuf, size_t errlen, enum cg_err e, const char *what,
                            const char *detail)
{
    snprintf(errbuf, errlen, "%s%s%s", what, detail ? ": " : "", detail ? detail : "");
    return e;
}

static enum cg_err get_amount(json_t *obj, const char *key, int scale, int64_t *out, bool required)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return required ? CG_EINVAL : CG_OK;
    if (!json_is_string(v))
        return CG_ETYPE;
    return amount_parse(json_string_value(v), scale, out);
}

static void resolve(const char *root, const char *rel, char *out)
{
    if (rel[0] == '/' || !root || !root[0])
        snprintf(out, CFG_PATH_MAX, "%s", rel);
    else
        snprintf(out, CFG_PATH_MAX, "%s/%s", root, rel);
}

static enum cg_err load_assets(json_t *arr, struct config *cfg, char *errbuf, size_t errlen)
{
    size_t i;
    json_t *a;

    if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > CFG_MAX_ASSETS)
        return cfg_fail(errbuf, errlen, CG_EINVAL, "config: assets must be a non-empty array",
                        NULL);
    json_array_foreach(arr, i, a)
    {
        struct asset_cfg *as = &cfg->assets[i];
        const char *sym = json_string_value(json_object_get(a, "symbol"));
        const char *name = json_string_value(json_object_get(a, "name"));
        json_t *scale = json_object_get(a, "scale");
        if (!sym || strlen(sym) >= sizeof(as->symbol) || !json_is_integer(scale))
            return cfg_fail(errbuf, errlen, CG_EINVAL, "config: asset needs symbol and scale", sym);
        snprintf(as->symbol, sizeof(as->symbol), "%s", sym);
        snprintf(as->name, sizeof(as->name), "%s", name ? name : sym);
        as->scale = (int)json_integer_value(scale);
        if (as->scale < 0 || as->scale > 12)
            return cfg_fail(errbuf, errlen, CG_EINVAL, "config: asset scale must be 0..12", sym);
        as->deposit_limit = amount_pow10(6) * amount_pow10(as->scale);
        if (get_amount(a, "deposit_limit", as->scale, &as->deposit_limit, false) != CG_OK)
            return cfg_fail(errbuf, errlen, CG_EINVAL, "config: bad deposit_limit", sym);
        cfg->n_assets++;
    }
    return CG_OK;
}

static enum cg_err load_market(json_t *m, struct config *cfg, const char *root,
                               struct market_cfg *mk, char *errbuf, size_t errlen)
{
    const char *name = json_string_value(json_object_get(m, "name"));
    const char *base = json_string_value(json_object_get(m, "base"));
    const char *quote = json_string_value(json_object_get(m, "quote"));
    int bi;
    int qi;
    int bs;
    int qs;
    int64_t fee;
    json_t *replay;
    json_t *hist;

    if (!name || !base || !quote || strlen(name) >= sizeof(mk->name))
        return cfg_fail(errbuf, errlen, CG_EINVAL, "config: market needs name, base, quote", name);
    bi = config_asset_index(cfg, base);
    qi = config_asset_index(cfg, quote);
    if (bi < 0 || qi < 0 || bi == qi)
        return cfg_fail(errbuf, errlen, CG_EINVAL, "config: market has unknown assets", name);
    snprintf(mk->name, sizeof(mk->name), "%s", name);
    snprintf(mk->symbol, sizeof(mk->symbol), "%s%s", base, quote);
    mk->base = (uint32_t)bi;
    mk->quote = (uint32_t)qi;
    bs = cfg->assets[bi].scale;
    qs = cfg->assets[qi].scale;
    if (get_amount(m, "tick_size", qs, &mk->tick_size, true) != CG_OK || mk->tick_size <= 0 ||
        get_amount(m, "lot_size", bs, &mk->lot_size, true) != CG_OK || mk->lot_size <= 0)
        return cfg_fail(errbuf, errlen, CG_EINVAL, "config: bad tick_size/lot_size", name);
    mk->min_quantity = mk->lot_size;
    mk->max_quantity = INT64_MAX / 4;
    mk->min_notional = 0;
    if (get_amount(m, "min_quantity", bs, &mk->min_quantity, false) != CG_OK ||
        get_amount(m, "max_quantity", bs, &mk->max_quantity, false) != CG_OK ||
        get_amount(m, "min_notional", qs, &mk->min_notional, false) != CG_OK)
        return cfg_fail(errbuf, errlen, CG_EINVAL, "config: bad quantity limits", name);
    fee = 0;
    if (get_amount(m, "maker_fee", 6, &fee, true) != CG_OK || fee < 0 || fee >= 1000000)
        return cfg_fail(errbuf, errlen, CG_EINVAL, "config: maker_fee must be 0..<1 (6 dp)", name);
    mk->maker_fee_ppm = fee;
    if (get_amount(m, "taker_fee", 6, &fee, true) != CG_OK || fee < 0 || fee >= 1000000)
        return cfg_fail(errbuf, errlen, CG_EINVAL, "config: taker_fee must be 0..<1 (6 dp)", name);
    mk->taker_fee_ppm = fee;
    fee = 50000; /* 5% */
    if (get_amount(m, "market_protection", 6, &fee, false) != CG_OK || fee <= 0 || fee >= 1000000)
        return cfg_fail(errbuf, errlen, CG_EINVAL, "config: market_protection must be 0..<1", name);
    mk->protection_ppm = fee;
    /* tick x lot must be a whole number of quote minor units: notional = price*qty/10^bs. */
    if (((__int128)mk->tick_size * mk->lot_size) % amount_pow10(bs) != 0)
        return cfg_fail(errbuf, errlen, CG_EINVAL,
                        "config: tick_size x lot_size has more decimals than the quote scale",
                        name);
    replay = json_object_get(m, "replay");
    if (replay) {
        const char *kind = json_string_value(json_object_get(replay, "kind"));
        const char *src = json_string_value(json_object_get(replay, "source"));
        json_t *files = json_object_get(replay, "files");
        size_t i;
        json_t *f;
        if (kind && !strcmp(kind, "l2"))
            mk->replay_kind = REPLAY_L2;
        else if (kind && !strcmp(kind, "klines"))
            mk->replay_kind = REPLAY_KLINES;
        else
            return cfg_fail(errbuf, errlen, CG_EINVAL, "config: replay.kind is l2 or klines", name);
        snprintf(mk->replay_source, sizeof(mk->replay_source), "%s", src ? src : "");
        if (!json_is_array(files) || json_array_size(files) == 0 ||
            json_array_size(files) > CFG_MAX_FILES)
            return cfg_fail(errbuf, errlen, CG_EINVAL, "config: replay.files", name);
        json_array_foreach(files, i, f)
        {
            if (!json_is_string(f))
                return cfg_fail(errbuf, errlen, CG_EINVAL, "config: replay.files", name);
            resolve(root, json_string_value(f), mk->replay_files[i]);
        }
        mk->n_replay_files = json_array_size(files);
    }
    hist = json_object_get(m, "history");
    if (hist) {
        const char *h1 = json_string_value(json_object_get(hist, "1h"));
        const char *d1 = json_string_value(json_object_get(hist, "1d"));
        if (h1)
            resolve(root, h1, mk->history_1h);
        if (d1)
            resolve(root, d1, mk->history_1d);
    }
    return CG_OK;
}

static void load_house(json_t *h, struct config *cfg, int quote_scale)
{
    json_t *v;
    cfg->house.levels = 10;
    cfg->house.ladder_levels = 10;
    cfg->house.ladder_step_bps = 5;
    cfg->house.ladder_level_notional = 20000 * amount_pow10(quote_scale);
    if (!h)
        return;
    v = json_object_get(h, "levels");
    if (json_is_integer(v) && json_integer_value(v) > 0 && json_integer_value(v) <= 50)
        cfg->house.levels = (int)json_integer_value(v);
    v = json_object_get(h, "ladder_levels");
    if (json_is_integer(v) && json_integer_value(v) > 0 && json_integer_value(v) <= 50)
        cfg->house.ladder_levels = (int)json_integer_value(v);
    v = json_object_get(h, "ladder_step_bps");
    if (json_is_integer(v) && json_integer_value(v) > 0 && json_integer_value(v) <= 1000)
        cfg->house.ladder_step_bps = json_integer_value(v);
    v = json_object_get(h, "ladder_level_notional");
    if (json_is_string(v)) {
        int64_t n;
        if (amount_parse(json_string_value(v), quote_scale, &n) == CG_OK && n > 0)
            cfg->house.ladder_level_notional = n;
    }
}

/* "analytics": {"risk_free_rate": "0.04", "concentration_limit": "0.5"}; both optional
 * decimal fractions (defaults 0 and 0.5). */
static enum cg_err load_analytics(json_t *a, struct config *cfg, char *errbuf, size_t errlen)
{
    static const char *const keys[] = {"risk_free_rate", "concentration_limit"};
    int64_t *dst[] = {&cfg->analytics.risk_free_ppm, &cfg->analytics.concentration_ppm};
    cfg->analytics.risk_free_ppm = 0;
    cfg->analytics.concentration_ppm = 500000;
    for (size_t i = 0; a && i < 2; i++) {
        json_t *v = json_object_get(a, keys[i]);
        int64_t ppm;
        if (!v)
            continue;
        if (!json_is_string(v) || amount_parse(json_string_value(v), 6, &ppm) != CG_OK ||
            ppm < (i == 0 ? -500000 : 0) || ppm > 1000000)
            return cfg_fail(errbuf, errlen, CG_EINVAL,
                            "config: analytics values are decimal strings (fractions)", keys[i]);
        *dst[i] = ppm;
    }
    return CG_OK;
}

enum cg_err config_load(const char *path, const char *root, struct config *cfg, char *errbuf,
                        size_t errlen)
{
    json_error_t jerr;
    json_t *doc;
    json_t *markets;
    json_t *m;
    size_t i;
    enum cg_err e;

    memset(cfg, 0, sizeof(*cfg));
    doc = json_load_file(path, 0, &jerr);
    if (!doc) {
        snprintf(errbuf, errlen, "config: %s: %s (line %d)", path, jerr.text, jerr.line);
        return CG_EJSON;
    }
    e = load_assets(json_object_get(doc, "assets"), cfg, errbuf, errlen);
    if (e != CG_OK)
        goto out;
    markets = json_object_get(doc, "markets");
    if (!json_is_array(markets) || json_array_size(markets) == 0 ||
        json_array_size(markets) > CFG_MAX_MARKETS) {
        e = cfg_fail(errbuf, errlen, CG_EINVAL, "config: markets must be a non-empty array", NULL);
        goto out;
    }
    json_array_foreach(markets, i, m)
    {
        e = load_market(m, cfg, root, &cfg->markets[i], errbuf, errlen);
        if (e != CG_OK)
            goto out;
        if (config_market_index(cfg, cfg->markets[i].name) >= 0) {
            e = cfg_fail(errbuf, errlen, CG_EINVAL, "config: duplicate market",
                         cfg->markets[i].name);
            goto out;
        }
        cfg->n_markets++;
    }
    load_house(json_object_get(doc, "house"), cfg, cfg->assets[cfg->markets[0].quote].scale);
    e = load_analytics(json_object_get(doc, "analytics"), cfg, errbuf, errlen);
out:
    json_decref(doc);
    return e;
}

int config_asset_index(const struct config *cfg, const char *symbol)
{
    for (size_t i = 0; i < cfg->n_assets; i++)
        if (!strcmp(cfg->assets[i].symbol, symbol))
            return (int)i;
    return -1;
}

int config_market_index(const struct config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_markets; i++)
        if (!strcmp(cfg->markets[i].name, name))
            return (int)i;
    return -1;
}

int config_market_by_symbol(const struct config *cfg, const char *symbol)
{
    for (size_t i = 0; i < cfg->n_markets; i++)
        if (!strcmp(cfg->markets[i].symbol, symbol))
            return (int)i;
    return -1;
}
