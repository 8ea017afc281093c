/*
 * Binance spot capture loader and replay cursor. See capture.h for the contract.
 *
 * Loading is two steps: parse every depth diff and trade of all files into growing arrays (the
 * diffs before the snapshot line are needed too: Binance's procedure buffers them), then sync
 * against the snapshot, drop what precedes it, merge depth and trades by exchange time, and
 * replay the book once to learn how deep each side gets so cursors never allocate.
 */
#include "market/capture.h"

#include <assert.h>
#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/amount.h"

#define SYMBOL_MAX 32

/* One side of an L2 book, sorted by sign * price ascending so the best level is last: most
 * updates touch the top, and inserting/removing there moves few entries. */
struct book_side {
    struct px_qty *lv;
    size_t n, cap;
    size_t peak;  /* largest n so far: a diff may insert before it removes */
    int64_t sign; /* +1 bids (best = highest), -1 asks (best = lowest) */
};

struct capture {
    struct capture_event *ev;
    size_t n_ev;
    struct px_qty *lv;      /* levels of all kept depth events */
    struct px_qty *snap[2]; /* snapshot sides in book_side order (best last) */
    size_t n_snap[2];
    size_t max_levels[2];    /* deepest each side gets during the replay */
    char symbol[SYMBOL_MAX]; /* "" until the first depth/trade message */
};

struct capture_cursor {
    const struct capture *c;
    size_t pos;
    struct book_side side[2];
};

/* First and last update id (Binance U, u) of a depth diff, parallel to loader.depth. */
struct seq {
    int64_t first, last;
};

struct loader {
    int price_scale, qty_scale;
    struct capture_event *depth; /* all diffs, file order; level ranges index lv */
    struct seq *seq;
    size_t n_depth, cap_depth, cap_seq;
    struct capture_event *trades; /* all trades, file order */
    size_t n_trades, cap_trades;
    struct px_qty *lv;
    size_t n_lv, cap_lv;
    struct px_qty *snap[2];
    size_t n_snap[2];
    int64_t last_update_id; /* snapshot L */
    bool have_snapshot;
    char symbol[SYMBOL_MAX];
    char *line; /* line buffer */
    size_t cap_line;
};

/* Returns p grown to hold at least `need` (and at least one) elements of `size` bytes (doubling;
 * *cap updated), or NULL when out of memory, in which case p and *cap are unchanged. */
static void *grow(void *p, size_t *cap, size_t need, size_t size)
{
    size_t n = *cap ? *cap : 256;
    void *q;

    if (*cap > 0 && need <= *cap)
        return p;
    while (n < need) {
        if (n > SIZE_MAX / 2 / size)
            return NULL;
        n *= 2;
    }
    q = realloc(p, n * size);
    if (!q)
        return NULL;
    *cap = n;
    return q;
}

/* ---- book side ---- */

/* Index of the first level whose key (sign * price) is >= sign * price. */
static size_t side_find(const struct book_side *s, int64_t price)
{
    int64_t key = s->sign * price;
    size_t lo = 0, hi = s->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (s->sign * s->lv[mid].price < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Set the level at `price` to `qty` (0 removes it). The caller guarantees room for one insert. */
static void side_set(struct book_side *s, int64_t price, int64_t qty)
{
    size_t i = side_find(s, price);

    if (i < s->n && s->lv[i].price == price) {
        if (qty == 0) {
            memmove(&s->lv[i], &s->lv[i + 1], (s->n - i - 1) * sizeof(*s->lv));
            s->n--;
        } else {
            s->lv[i].qty = qty;
        }
        return;
    }
    if (qty == 0)
        return;
    assert(s->n < s->cap);
    memmove(&s->lv[i + 1], &s->lv[i], (s->n - i) * sizeof(*s->lv));
    s->lv[i].price = price;
    s->lv[i].qty = qty;
    s->n++;
    if (s->n > s->peak)
        s->peak = s->n;
}

static void book_apply(struct book_side side[2], const struct px_qty *lv,
                       const struct capture_event *e)
{
    for (uint32_t k = 0; k < e->n_bids; k++)
        side_set(&side[0], lv[e->first_bid + k].price, lv[e->first_bid + k].qty);
    for (uint32_t k = 0; k < e->n_asks; k++)
        side_set(&side[1], lv[e->first_ask + k].price, lv[e->first_ask + k].qty);
}

/* ---- JSON fields ---- */

static enum cg_err get_int(const json_t *obj, const char *key, int64_t *out)
{
    const json_t *v = json_object_get(obj, key);

    if (!json_is_integer(v))
        return CG_EINVAL;
    *out = json_integer_value(v);
    return CG_OK;
}

/* Exact decimal string -> minor units. Syntax errors are format errors here (CG_EINVAL). */
static enum cg_err get_amount(const json_t *v, int scale, int64_t *out)
{
    enum cg_err rc;

    if (!json_is_string(v))
        return CG_EINVAL;
    rc = amount_parse_n(json_string_value(v), json_string_length(v), scale, out);
    return rc == CG_EAMOUNT ? CG_EINVAL : rc;
}

/* A `["price","qty"]` pair: price > 0, qty >= 0. */
static enum cg_err get_level(const json_t *pair, int price_scale, int qty_scale, struct px_qty *out)
{
    enum cg_err rc;

    if (!json_is_array(pair) || json_array_size(pair) != 2)
        return CG_EINVAL;
    rc = get_amount(json_array_get(pair, 0), price_scale, &out->price);
    if (rc != CG_OK)
        return rc;
    rc = get_amount(json_array_get(pair, 1), qty_scale, &out->qty);
    if (rc != CG_OK)
        return rc;
    if (out->price <= 0 || out->qty < 0)
        return CG_EINVAL;
    return CG_OK;
}

/* The symbol of every depth/trade message must be the same. */
static enum cg_err check_symbol(struct loader *ld, const json_t *data)
{
    const json_t *s = json_object_get(data, "s");

    if (!json_is_string(s) || json_string_length(s) == 0 || json_string_length(s) >= SYMBOL_MAX)
        return CG_EINVAL;
    if (ld->symbol[0] == '\0') {
        memcpy(ld->symbol, json_string_value(s), json_string_length(s) + 1);
        return CG_OK;
    }
    return strcmp(ld->symbol, json_string_value(s)) == 0 ? CG_OK : CG_EINVAL;
}

/* ---- messages ---- */

/* Append the levels of a JSON level array to ld->lv; *first and *n receive the range. */
static enum cg_err add_levels(struct loader *ld, const json_t *arr, uint32_t *first, uint32_t *n)
{
    size_t cnt = json_array_size(arr);
    void *p;

    if (!json_is_array(arr))
        return CG_EINVAL;
    if (ld->n_lv + cnt > UINT32_MAX)
        return CG_ETOOLARGE;
    p = grow(ld->lv, &ld->cap_lv, ld->n_lv + cnt, sizeof(*ld->lv));
    if (!p)
        return CG_ENOMEM;
    ld->lv = p;
    for (size_t i = 0; i < cnt; i++) {
        enum cg_err rc = get_level(json_array_get(arr, i), ld->price_scale, ld->qty_scale,
                                   &ld->lv[ld->n_lv + i]);

        if (rc != CG_OK)
            return rc;
    }
    *first = (uint32_t)ld->n_lv;
    *n = (uint32_t)cnt;
    ld->n_lv += cnt;
    return CG_OK;
}

static enum cg_err add_depth(struct loader *ld, const json_t *data)
{
    struct capture_event e = {.kind = CAPTURE_DEPTH};
    struct seq q;
    enum cg_err rc;
    void *p;

    if (get_int(data, "E", &e.ts_ms) != CG_OK || get_int(data, "U", &q.first) != CG_OK ||
        get_int(data, "u", &q.last) != CG_OK || q.first > q.last)
        return CG_EINVAL;
    p = grow(ld->depth, &ld->cap_depth, ld->n_depth + 1, sizeof(*ld->depth));
    if (!p)
        return CG_ENOMEM;
    ld->depth = p;
    p = grow(ld->seq, &ld->cap_seq, ld->n_depth + 1, sizeof(*ld->seq));
    if (!p)
        return CG_ENOMEM;
    ld->seq = p;
    rc = add_levels(ld, json_object_get(data, "b"), &e.first_bid, &e.n_bids);
    if (rc != CG_OK)
        return rc;
    rc = add_levels(ld, json_object_get(data, "a"), &e.first_ask, &e.n_asks);
    if (rc != CG_OK)
        return rc;
    ld->depth[ld->n_depth] = e;
    ld->seq[ld->n_depth] = q;
    ld->n_depth++;
    return CG_OK;
}

static enum cg_err add_trade(struct loader *ld, const json_t *data)
{
    struct capture_event e = {.kind = CAPTURE_TRADE};
    const json_t *m = json_object_get(data, "m");
    enum cg_err rc;
    void *p;

    if (get_int(data, "T", &e.ts_ms) != CG_OK || !json_is_boolean(m))
        return CG_EINVAL;
    if (ld->n_trades > 0 && e.ts_ms < ld->trades[ld->n_trades - 1].ts_ms)
        return CG_EINVAL;
    e.buyer_maker = json_is_true(m);
    rc = get_amount(json_object_get(data, "p"), ld->price_scale, &e.price);
    if (rc != CG_OK)
        return rc;
    rc = get_amount(json_object_get(data, "q"), ld->qty_scale, &e.qty);
    if (rc != CG_OK)
        return rc;
    if (e.price <= 0 || e.qty <= 0)
        return CG_EINVAL;
    p = grow(ld->trades, &ld->cap_trades, ld->n_trades + 1, sizeof(*ld->trades));
    if (!p)
        return CG_ENOMEM;
    ld->trades = p;
    ld->trades[ld->n_trades++] = e;
    return CG_OK;
}

/*
 * One snapshot side. Binance lists best first (bids descending, asks ascending), strictly;
 * stored reversed (best last, see struct book_side). Every qty must be > 0.
 */
static enum cg_err add_snapshot_side(struct loader *ld, const json_t *arr, int side)
{
    size_t n = json_array_size(arr);
    int64_t sign = side == 0 ? 1 : -1;
    struct px_qty *out;

    if (!json_is_array(arr))
        return CG_EINVAL;
    out = malloc((n ? n : 1) * sizeof(*out));
    if (!out)
        return CG_ENOMEM;
    ld->snap[side] = out;
    ld->n_snap[side] = n;
    for (size_t i = 0; i < n; i++) {
        struct px_qty *lv = &out[n - 1 - i];
        enum cg_err rc = get_level(json_array_get(arr, i), ld->price_scale, ld->qty_scale, lv);

        if (rc != CG_OK)
            return rc;
        if (lv->qty == 0)
            return CG_EINVAL;
        if (i > 0 && sign * lv->price >= sign * lv[1].price)
            return CG_EINVAL;
    }
    return CG_OK;
}

static enum cg_err add_snapshot(struct loader *ld, const json_t *root)
{
    enum cg_err rc;

    if (ld->have_snapshot || get_int(root, "lastUpdateId", &ld->last_update_id) != CG_OK)
        return CG_EINVAL;
    ld->have_snapshot = true;
    rc = add_snapshot_side(ld, json_object_get(root, "bids"), 0);
    if (rc != CG_OK)
        return rc;
    rc = add_snapshot_side(ld, json_object_get(root, "asks"), 1);
    if (rc != CG_OK)
        return rc;
    if (ld->n_snap[0] > 0 && ld->n_snap[1] > 0 &&
        ld->snap[0][ld->n_snap[0] - 1].price >= ld->snap[1][ld->n_snap[1] - 1].price)
        return CG_EINVAL;
    return CG_OK;
}

/* True when the JSON text is a combined-stream bookTicker message, judged from its stream name
 * alone so that the ~75% of lines that are bookTickers are never parsed. */
static bool is_book_ticker(const char *json, size_t len)
{
    static const char head[] = "{\"stream\":\"";
    static const char tail[] = "@bookTicker\"";
    const char *name, *end;

    if (len < sizeof(head) - 1 || memcmp(json, head, sizeof(head) - 1) != 0)
        return false;
    name = json + sizeof(head) - 1;
    end = memchr(name, '"', len - (size_t)(name - json));
    if (!end || (size_t)(end - name) < sizeof(tail) - 2)
        return false;
    return memcmp(end + 1 - (sizeof(tail) - 1), tail, sizeof(tail) - 1) == 0;
}

/* One line `<local_ns> <json>` without its newline. */
static enum cg_err parse_line(struct loader *ld, const char *line, size_t len)
{
    const char *sp = memchr(line, ' ', len);
    const char *json;
    size_t jlen;
    json_t *root, *data;
    const char *e;
    enum cg_err rc = CG_EINVAL;

    if (!sp || sp == line)
        return CG_EINVAL;
    for (const char *d = line; d < sp; d++) {
        if (*d < '0' || *d > '9')
            return CG_EINVAL;
    }
    json = sp + 1;
    jlen = len - (size_t)(json - line);
    if (is_book_ticker(json, jlen))
        return CG_OK;
    root = json_loadb(json, jlen, 0, NULL);
    if (!json_is_object(root))
        goto out_decref;
    if (json_object_get(root, "lastUpdateId")) {
        rc = add_snapshot(ld, root);
        goto out_decref;
    }
    data = json_object_get(root, "data");
    e = json_string_value(json_object_get(data, "e"));
    if (!json_is_string(json_object_get(root, "stream")) || !e)
        goto out_decref;
    rc = check_symbol(ld, data);
    if (rc != CG_OK)
        goto out_decref;
    if (strcmp(e, "depthUpdate") == 0)
        rc = add_depth(ld, data);
    else if (strcmp(e, "trade") == 0)
        rc = add_trade(ld, data);
    else
        rc = CG_EINVAL;
out_decref:
    json_decref(root);
    return rc;
}

/*
 * Read one line into ld->line (NUL-terminated, trailing CR/LF stripped, length in *len).
 * *eof is set when there is no line left. CG_EIO on a read error, including a truncated gzip
 * stream; CG_ENOMEM.
 */
static enum cg_err read_line(struct loader *ld, gzFile gz, size_t *len, bool *eof)
{
    size_t n = 0;
    int errnum;

    for (;;) {
        void *p = grow(ld->line, &ld->cap_line, n + 4096, 1);
        size_t room;

        if (!p)
            return CG_ENOMEM;
        ld->line = p;
        room = ld->cap_line - n;
        if (!gzgets(gz, ld->line + n, room > INT_MAX ? INT_MAX : (int)room))
            break;
        n += strlen(ld->line + n);
        if (n > 0 && ld->line[n - 1] == '\n')
            break;
    }
    gzerror(gz, &errnum);
    if (errnum != Z_OK)
        return CG_EIO;
    *eof = n == 0 && gzeof(gz);
    while (n > 0 && (ld->line[n - 1] == '\n' || ld->line[n - 1] == '\r'))
        n--;
    ld->line[n] = '\0';
    *len = n;
    return CG_OK;
}

static enum cg_err read_file(struct loader *ld, const char *path)
{
    gzFile gz = gzopen(path, "rb");
    enum cg_err rc;
    bool eof = false;
    size_t len;

    if (!gz)
        return CG_EIO;
    gzbuffer(gz, 1 << 17);
    for (;;) {
        rc = read_line(ld, gz, &len, &eof);
        if (rc != CG_OK || eof)
            break;
        rc = parse_line(ld, ld->line, len);
        if (rc != CG_OK)
            break;
    }
    gzclose(gz);
    return rc;
}

/* ---- sync and build ---- */

/*
 * Index of the first diff to apply per Binance's rule, after checking the whole chain from it.
 * CG_EINVAL if there is none, it does not straddle L+1, or a later diff has a gap or goes back
 * in time.
 */
static enum cg_err sync_point(const struct loader *ld, size_t *first)
{
    int64_t next_id = ld->last_update_id + 1;
    size_t f = 0;

    while (f < ld->n_depth && ld->seq[f].last < next_id)
        f++;
    if (f == ld->n_depth || ld->seq[f].first > next_id)
        return CG_EINVAL;
    for (size_t k = f + 1; k < ld->n_depth; k++) {
        if (ld->seq[k].first != ld->seq[k - 1].last + 1)
            return CG_EINVAL;
        if (ld->depth[k].ts_ms < ld->depth[k - 1].ts_ms)
            return CG_EINVAL;
    }
    *first = f;
    return CG_OK;
}

/* Merge depth[f..] and the trades at or after its time into c->ev, by time, trades first on
 * ties. Moves the kept levels to the front of ld->lv. */
static enum cg_err merge_events(struct loader *ld, size_t f, struct capture *c)
{
    int64_t start = ld->depth[f].ts_ms;
    uint32_t off = ld->depth[f].first_bid;
    size_t t = 0, d = f, n = 0;

    while (t < ld->n_trades && ld->trades[t].ts_ms < start)
        t++;
    c->n_ev = (ld->n_depth - f) + (ld->n_trades - t);
    c->ev = malloc(c->n_ev * sizeof(*c->ev));
    if (!c->ev)
        return CG_ENOMEM;
    if (off > 0) {
        memmove(ld->lv, ld->lv + off, (ld->n_lv - off) * sizeof(*ld->lv));
        ld->n_lv -= off;
    }
    while (n < c->n_ev) {
        bool take_trade =
            d == ld->n_depth || (t < ld->n_trades && ld->trades[t].ts_ms <= ld->depth[d].ts_ms);

        if (take_trade) {
            c->ev[n++] = ld->trades[t++];
            continue;
        }
        c->ev[n] = ld->depth[d++];
        c->ev[n].first_bid -= off;
        c->ev[n].first_ask -= off;
        n++;
    }
    return CG_OK;
}

/* Replay every depth event once to find how many levels each side reaches. */
static enum cg_err measure_depth(struct capture *c)
{
    struct book_side side[2] = {{.sign = 1}, {.sign = -1}};
    enum cg_err rc = CG_OK;

    for (int s = 0; s < 2 && rc == CG_OK; s++) {
        side[s].lv = grow(NULL, &side[s].cap, c->n_snap[s] + 1, sizeof(*side[s].lv));
        if (!side[s].lv)
            rc = CG_ENOMEM;
        else
            memcpy(side[s].lv, c->snap[s], c->n_snap[s] * sizeof(*side[s].lv));
        side[s].n = c->n_snap[s];
        side[s].peak = c->n_snap[s];
    }
    for (size_t i = 0; i < c->n_ev && rc == CG_OK; i++) {
        const struct capture_event *e = &c->ev[i];
        uint32_t add[2] = {e->n_bids, e->n_asks};

        if (e->kind != CAPTURE_DEPTH)
            continue;
        for (int s = 0; s < 2; s++) {
            void *p = grow(side[s].lv, &side[s].cap, side[s].n + add[s], sizeof(*side[s].lv));

            if (!p) {
                rc = CG_ENOMEM;
                break;
            }
            side[s].lv = p;
        }
        if (rc != CG_OK)
            break;
        book_apply(side, c->lv, e);
    }
    for (int s = 0; s < 2; s++)
        c->max_levels[s] = side[s].peak;
    free(side[0].lv);
    free(side[1].lv);
    return rc;
}

static enum cg_err build(struct loader *ld, struct capture *c)
{
    size_t f;
    enum cg_err rc;
    void *p;

    if (!ld->have_snapshot)
        return CG_EINVAL;
    rc = sync_point(ld, &f);
    if (rc != CG_OK)
        return rc;
    rc = merge_events(ld, f, c);
    if (rc != CG_OK)
        return rc;
    /* Hand the arrays over; shrinking the level array is best effort. */
    p = realloc(ld->lv, (ld->n_lv ? ld->n_lv : 1) * sizeof(*ld->lv));
    c->lv = p ? p : ld->lv;
    ld->lv = NULL;
    for (int s = 0; s < 2; s++) {
        c->snap[s] = ld->snap[s];
        c->n_snap[s] = ld->n_snap[s];
        ld->snap[s] = NULL;
    }
    memcpy(c->symbol, ld->symbol, sizeof(c->symbol));
    return measure_depth(c);
}

static void loader_release(struct loader *ld)
{
    free(ld->depth);
    free(ld->seq);
    free(ld->trades);
    free(ld->lv);
    free(ld->snap[0]);
    free(ld->snap[1]);
    free(ld->line);
}

struct capture *capture_load(const char *const *files, size_t nfiles, int price_scale,
                             int qty_scale, enum cg_err *err)
{
    struct loader ld = {.price_scale = price_scale, .qty_scale = qty_scale};
    struct capture *c = NULL;
    enum cg_err rc = CG_OK;

    if (!files || nfiles == 0 || price_scale < 0 || price_scale > AMOUNT_MAX_SCALE ||
        qty_scale < 0 || qty_scale > AMOUNT_MAX_SCALE) {
        rc = CG_EINVAL;
        goto out_release;
    }
    for (size_t i = 0; i < nfiles && rc == CG_OK; i++)
        rc = read_file(&ld, files[i]);
    if (rc != CG_OK)
        goto out_release;
    c = calloc(1, sizeof(*c));
    if (!c) {
        rc = CG_ENOMEM;
        goto out_release;
    }
    rc = build(&ld, c);
    if (rc != CG_OK) {
        capture_free(c);
        c = NULL;
    }
out_release:
    loader_release(&ld);
    if (rc != CG_OK && err)
        *err = rc;
    return c;
}

void capture_free(struct capture *c)
{
    if (!c)
        return;
    free(c->ev);
    free(c->lv);
    free(c->snap[0]);
    free(c->snap[1]);
    free(c);
}

size_t capture_event_count(const struct capture *c)
{
    return c->n_ev;
}

const struct capture_event *capture_event(const struct capture *c, size_t i)
{
    assert(i < c->n_ev);
    return &c->ev[i];
}

const struct px_qty *capture_levels(const struct capture *c)
{
    return c->lv;
}

int64_t capture_start_ms(const struct capture *c)
{
    return c->ev[0].ts_ms;
}

int64_t capture_end_ms(const struct capture *c)
{
    return c->ev[c->n_ev - 1].ts_ms;
}

const char *capture_symbol(const struct capture *c)
{
    return c->symbol;
}

/* ---- cursor ---- */

struct capture_cursor *capture_cursor_new(const struct capture *c)
{
    struct capture_cursor *cur = calloc(1, sizeof(*cur));

    if (!cur)
        return NULL;
    cur->c = c;
    for (int s = 0; s < 2; s++) {
        cur->side[s].sign = s == 0 ? 1 : -1;
        cur->side[s].cap = c->max_levels[s];
        cur->side[s].lv = malloc((c->max_levels[s] ? c->max_levels[s] : 1) * sizeof(struct px_qty));
        if (!cur->side[s].lv) {
            capture_cursor_free(cur);
            return NULL;
        }
    }
    capture_cursor_rewind(cur);
    return cur;
}

void capture_cursor_free(struct capture_cursor *cur)
{
    if (!cur)
        return;
    free(cur->side[0].lv);
    free(cur->side[1].lv);
    free(cur);
}

void capture_cursor_rewind(struct capture_cursor *cur)
{
    cur->pos = 0;
    for (int s = 0; s < 2; s++) {
        memcpy(cur->side[s].lv, cur->c->snap[s], cur->c->n_snap[s] * sizeof(struct px_qty));
        cur->side[s].n = cur->c->n_snap[s];
    }
}

const struct capture_event *capture_cursor_next(struct capture_cursor *cur)
{
    const struct capture_event *e;

    if (cur->pos == cur->c->n_ev)
        return NULL;
    e = &cur->c->ev[cur->pos++];
    if (e->kind == CAPTURE_DEPTH)
        book_apply(cur->side, cur->c->lv, e);
    return e;
}

size_t capture_cursor_top(const struct capture_cursor *cur, int side, struct px_qty *out,
                          size_t max)
{
    const struct book_side *s = &cur->side[side ? 1 : 0];
    size_t n = s->n < max ? s->n : max;

    for (size_t k = 0; k < n; k++)
        out[k] = s->lv[s->n - 1 - k];
    return n;
}
