/* coinage: command line. Wiring only: every piece lives in its module. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "core/clock.h"
#include "core/log.h"
#include "market/history.h"

struct opts {
    char host[256];
    int port;
    char data_dir[512];
    char db_url[1024]; /* empty: SQLite at <data_dir>/coinage.db */
    char config[512];
    char web_dir[1024];
    int64_t speed_milli;
    char email[256];
    char password[160];
    int role;
};

static const char usage[] =
    "coinage: a self-hosted paper-money crypto exchange on replayed real market data\n"
    "\n"
    "usage: coinage <command> [options]\n"
    "\n"
    "commands:\n"
    "  serve      run the exchange: HTTP + WebSocket API on one port (default command)\n"
    "  migrate    create or upgrade the store in the data directory, then exit\n"
    "  import     import the shipped kline history into the store (done by serve too)\n"
    "  check      verify the ledger (postings sum to zero per asset, balances match), exit 0/1\n"
    "  user add   create a user: --email E --password P [--admin | --role admin|trader|viewer]\n"
    "             (the password may also come from COINAGE_PASSWORD)\n"
    "  help       this text\n"
    "\n"
    "options (environment variable in brackets):\n"
    "  --host H            listen address (COINAGE_HOST, default 127.0.0.1)\n"
    "  --port P            listen port (COINAGE_PORT, default 8080)\n"
    "  --data-dir D        store, keys and logs (COINAGE_DATA_DIR, default ./var)\n"
    "  --db URL            the store (COINAGE_DB): a PostgreSQL connection URI\n"
    "                      (postgres://user:pass@host:5432/db or postgresql:///db?host=/run/pg)\n"
    "                      or a SQLite file path; default SQLite at <data-dir>/coinage.db.\n"
    "                      Every command that opens the store takes it.\n"
    "  --replay-speed S    market replay speed factor, e.g. 1, 10, 0.5 (COINAGE_REPLAY_SPEED,\n"
    "                      default 1 = real time)\n"
    "  --config F          markets and assets (COINAGE_CONFIG, default config/markets.json)\n"
    "  --web-dir D         web dashboard files served at / (COINAGE_WEB_DIR, default ./web;\n"
    "                      run `make` first: it vendors the chart library into D/vendor)\n"
    "  COINAGE_AUTH_RATE   sign-up/log-in attempts per minute per IP (default 30)\n"
    "\n"
    "The store is SQLite at <data-dir>/coinage.db (WAL, synchronous=FULL) unless --db names\n"
    "another; PostgreSQL 15 needs the database to exist (coinage creates its tables) and keeps\n"
    "its defaults fsync=on, synchronous_commit=on. Every acknowledged request is committed\n"
    "before its response is sent.\n";

static enum cg_err parse_speed(const char *s, int64_t *out)
{
    int64_t v;
    enum cg_err e = amount_parse(s, 3, &v);
    if (e != CG_OK || v <= 0 || v > 1000000000)
        return CG_EINVAL;
    *out = v;
    return CG_OK;
}

static void env_defaults(struct opts *o)
{
    const char *v;
    snprintf(o->host, sizeof(o->host), "%s", (v = getenv("COINAGE_HOST")) ? v : "127.0.0.1");
    o->port = (v = getenv("COINAGE_PORT")) ? atoi(v) : 8080;
    snprintf(o->data_dir, sizeof(o->data_dir), "%s", (v = getenv("COINAGE_DATA_DIR")) ? v : "var");
    snprintf(o->db_url, sizeof(o->db_url), "%s", (v = getenv("COINAGE_DB")) ? v : "");
    snprintf(o->config, sizeof(o->config), "%s",
             (v = getenv("COINAGE_CONFIG")) ? v : "config/markets.json");
    snprintf(o->web_dir, sizeof(o->web_dir), "%s", (v = getenv("COINAGE_WEB_DIR")) ? v : "web");
    o->speed_milli = 1000;
    if ((v = getenv("COINAGE_REPLAY_SPEED")) && parse_speed(v, &o->speed_milli) != CG_OK)
        fprintf(stderr, "coinage: ignoring bad COINAGE_REPLAY_SPEED=%s\n", v);
    if ((v = getenv("COINAGE_PASSWORD")))
        snprintf(o->password, sizeof(o->password), "%s", v);
    o->role = ROLE_TRADER;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
    static const struct option longopts[] = {{"host", required_argument, NULL, 'h'},
                                             {"port", required_argument, NULL, 'p'},
                                             {"data-dir", required_argument, NULL, 'd'},
                                             {"db", required_argument, NULL, 'D'},
                                             {"replay-speed", required_argument, NULL, 's'},
                                             {"config", required_argument, NULL, 'c'},
                                             {"web-dir", required_argument, NULL, 'W'},
                                             {"email", required_argument, NULL, 'e'},
                                             {"password", required_argument, NULL, 'w'},
                                             {"admin", no_argument, NULL, 'a'},
                                             {"role", required_argument, NULL, 'r'},
                                             {"help", no_argument, NULL, 'H'},
                                             {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'h':
            snprintf(o->host, sizeof(o->host), "%s", optarg);
            break;
        case 'p':
            o->port = atoi(optarg);
            break;
        case 'd':
            snprintf(o->data_dir, sizeof(o->data_dir), "%s", optarg);
            break;
        case 'D':
            snprintf(o->db_url, sizeof(o->db_url), "%s", optarg);
            break;
        case 's':
            if (parse_speed(optarg, &o->speed_milli) != CG_OK) {
                fprintf(stderr, "coinage: --replay-speed takes a positive number\n");
                return -1;
            }
            break;
        case 'c':
            snprintf(o->config, sizeof(o->config), "%s", optarg);
            break;
        case 'W':
            snprintf(o->web_dir, sizeof(o->web_dir), "%s", optarg);
            break;
        case 'e':
            snprintf(o->email, sizeof(o->email), "%s", optarg);
            break;
        case 'w':
            snprintf(o->password, sizeof(o->password), "%s", optarg);
            break;
        case 'a':
            o->role = ROLE_ADMIN;
            break;
        case 'r':
            o->role = auth_role_parse(optarg);
            if (o->role < 0) {
                fprintf(stderr, "coinage: --role is admin, trader or viewer\n");
                return -1;
            }
            break;
        case 'H':
            fputs(usage, stdout);
            exit(0);
        default:
            fputs(usage, stderr);
            return -1;
        }
    }
    if (o->port <= 0 || o->port > 65535) {
        fprintf(stderr, "coinage: bad port\n");
        return -1;
    }
    return 0;
}

/* The project root: the directory above the config file's directory (config/markets.json). */
static void config_root(const char *config, char *root, size_t len)
{
    char tmp[1024];
    char *slash;
    snprintf(tmp, sizeof(tmp), "%s", config);
    slash = strrchr(tmp, '/');
    if (!slash) {
        snprintf(root, len, "..");
        return;
    }
    *slash = '\0';
    slash = strrchr(tmp, '/');
    if (!slash)
        snprintf(root, len, ".");
    else {
        *slash = '\0';
        snprintf(root, len, "%s", tmp[0] ? tmp : "/");
    }
}

static int open_store(const struct opts *o, struct db **db, char *path, size_t len)
{
    if (mkdir(o->data_dir, 0700) != 0 && errno != EEXIST) {
        log_error("cannot create data directory %s: %s", o->data_dir, strerror(errno));
        return -1;
    }
    if (o->db_url[0])
        snprintf(path, len, "%s", o->db_url);
    else
        snprintf(path, len, "%s/coinage.db", o->data_dir);
    if (db_open(path, db) != CG_OK)
        return -1;
    if (db_migrate(*db) != CG_OK) {
        db_close(*db);
        return -1;
    }
    return 0;
}

static int load_config(const struct opts *o, struct config *cfg)
{
    char root[1024];
    char err[512];
    config_root(o->config, root, sizeof(root));
    if (config_load(o->config, root, cfg, err, sizeof(err)) != CG_OK) {
        log_error("%s", err);
        return -1;
    }
    return 0;
}

static struct app *g_app;

static void on_signal(int sig)
{
    (void)sig;
    if (g_app)
        api_stop(g_app);
}

static void seed_mdata(struct db *db, const struct config *cfg, struct mdata *md)
{
    /* The last 24 h of fills, read newest first along the primary key so that a store with
     * millions of older fills is not scanned (there is no index on ts), then seeded in order. */
    static const char *sql_fills = "SELECT market, id, price, quantity, quote_quantity, "
                                   "taker_side, ts FROM fills ORDER BY id DESC";
    static const char *sql_candle = "SELECT open_time, open, high, low, close, volume, "
                                    "quote_volume FROM candles WHERE market = ? AND interval = ? "
                                    "AND source = 'coinage' ORDER BY open_time DESC LIMIT 1";
    struct seeded {
        int m;
        struct md_trade t;
    };
    struct seeded *v = NULL;
    size_t n = 0;
    size_t cap = 0;
    int64_t since = clock_now_ms() - 24LL * 3600 * 1000;
    struct db_stmt *st = db_prepare(db, sql_fills);
    if (st) {
        while (db_step(st) == DB_ROW) {
            struct seeded sd = {config_market_index(cfg, db_col_text(st, 0)),
                                {(uint64_t)db_col_int64(st, 1), db_col_int64(st, 2),
                                 db_col_int64(st, 3), db_col_int64(st, 4), db_col_int64(st, 6),
                                 (uint8_t)store_side_parse(db_col_text(st, 5))}};
            if (sd.t.ts < since)
                break;
            if (n == cap) {
                struct seeded *nv;
                cap = cap ? cap * 2 : 1024;
                nv = realloc(v, cap * sizeof(*v));
                if (!nv)
                    break;
                v = nv;
            }
            v[n++] = sd;
        }
        db_reset(st);
        for (size_t i = n; i-- > 0;)
            if (v[i].m >= 0)
                mdata_seed_trade(md, (uint32_t)v[i].m, &v[i].t);
        free(v);
    }
    for (uint32_t m = 0; m < cfg->n_markets; m++) {
        for (int iv = 0; iv < MD_INTERVALS; iv++) {
            st = db_prepare(db, sql_candle);
            if (!st)
                return;
            db_bind_text(st, 1, cfg->markets[m].name);
            db_bind_text(st, 2, md_interval_name[iv]);
            if (db_step(st) == DB_ROW) {
                struct md_candle c = {db_col_int64(st, 0), db_col_int64(st, 1), db_col_int64(st, 2),
                                      db_col_int64(st, 3), db_col_int64(st, 4), db_col_int64(st, 5),
                                      db_col_int64(st, 6)};
                mdata_seed_candle(md, m, iv, &c);
            }
            db_reset(st);
        }
    }
}

static int cmd_serve(const struct opts *o)
{
    static struct config cfg;
    static struct app app;
    struct db *wdb = NULL;
    char path[1024];
    char keypath[1024];
    char msg[512];
    char err[512];
    char root[1024];
    int rc = 1;

    if (load_config(o, &cfg) != 0 || open_store(o, &wdb, path, sizeof(path)) != 0)
        return 1;
    if (history_import(wdb, &cfg) != CG_OK || auth_init() != CG_OK)
        goto out;
    snprintf(keypath, sizeof(keypath), "%s/jwt.key", o->data_dir);
    if (auth_load_key(keypath, app.jwt_key) != CG_OK)
        goto out;
    /* seals API-key secrets at rest; created (random, mode 0600) on first start */
    snprintf(keypath, sizeof(keypath), "%s/apikeys.key", o->data_dir);
    if (auth_load_key(keypath, app.apikey_key) != CG_OK)
        goto out;
    app.cfg = &cfg;
    app.started_at = clock_now_ms();
    app.auth_rate_per_min = getenv("COINAGE_AUTH_RATE") ? atoi(getenv("COINAGE_AUTH_RATE")) : 30;
    snprintf(app.db_path, sizeof(app.db_path), "%s", path);
    if (access(o->web_dir, R_OK | X_OK) == 0) {
        char chart_js[1200];
        snprintf(app.web_dir, sizeof(app.web_dir), "%s", o->web_dir);
        snprintf(chart_js, sizeof(chart_js),
                 "%s/vendor/lightweight-charts.standalone.production.js", o->web_dir);
        if (access(chart_js, R_OK) != 0)
            log_warn("web: %s missing (run `make`): the dashboard's charts will not load",
                     chart_js);
    } else {
        log_warn("web: dashboard directory %s not found: / is not served", o->web_dir);
    }
    pthread_mutex_init(&app.cmu, NULL);
    app.eng = engine_new(&cfg);
    app.md = mdata_new(&cfg);
    if (!app.eng || !app.md)
        goto out;
    if (store_recover(wdb, &cfg, app.eng, msg, sizeof(msg)) != CG_OK) {
        log_error("recovery failed: %s", msg);
        goto out;
    }
    seed_mdata(wdb, &cfg, app.md);
    app.feed = feed_new(&cfg, app.eng, app.md, o->speed_milli, err, sizeof(err));
    if (!app.feed) {
        log_error("%s", err);
        goto out;
    }
    if (db_open(path, &app.rdb) != CG_OK)
        goto out;
    if (getenv("COINAGE_TEST_STATE_HASH")) {
        /* crash harness: every batch commits the engine's hash, recovery compares */
        engine_hash_every_batch(app.eng, true);
        log_warn("engine: COINAGE_TEST_STATE_HASH is set: hashing the state after every batch");
    }
    app.store =
        store_new(wdb, &cfg, (struct store_hooks){api_render_batch, api_batch_committed, &app});
    if (app.store && getenv("COINAGE_TEST_FAIL_COMMIT_AFTER")) {
        /* failure injection for the store-failure test; not for production use */
        store_fail_after(app.store, atol(getenv("COINAGE_TEST_FAIL_COMMIT_AFTER")));
        log_warn("store: COINAGE_TEST_FAIL_COMMIT_AFTER is set: a commit will fail on purpose");
    }
    if (!app.store || store_start(app.store) != CG_OK ||
        engine_start(app.eng, store_emit, app.store) != CG_OK || api_worker_start(&app) != CG_OK)
        goto out;
    config_root(o->config, root, sizeof(root));
    if (api_analytics_start(&app, root) != CG_OK)
        goto out;
    if (api_portfolio_start(&app) != CG_OK || api_admin_start(&app) != CG_OK)
        goto out;
    g_app = &app;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    if (feed_start(app.feed) != CG_OK)
        goto out;
    log_info("coinage: %zu markets, replay speed %lld.%03lldx, data in %s", cfg.n_markets,
             (long long)(o->speed_milli / 1000), (long long)(o->speed_milli % 1000), o->data_dir);
    rc = api_serve(&app, o->host, o->port) == 0 ? 0 : 1;
    log_info("coinage: shutting down");
out:
    if (app.feed)
        feed_stop(app.feed);
    if (app.eng)
        engine_stop(app.eng);
    if (app.store)
        store_stop(app.store);
    api_worker_stop(&app);
    api_analytics_stop(&app);
    api_portfolio_stop(&app);
    api_admin_stop(&app);
    feed_free(app.feed);
    store_free(app.store);
    engine_free(app.eng);
    mdata_free(app.md);
    db_close(app.rdb);
    db_close(wdb);
    return rc;
}

static int cmd_migrate(const struct opts *o, bool import)
{
    struct config cfg;
    struct db *db;
    char path[1024];
    int rc = 0;
    int version;
    if (open_store(o, &db, path, sizeof(path)) != 0)
        return 1;
    if (import && (load_config(o, &cfg) != 0 || history_import(db, &cfg) != CG_OK))
        rc = 1;
    version = db_schema_version(db);
    db_close(db);
    /* a PostgreSQL URL may hold a password: name the driver instead */
    if (rc == 0)
        printf("store %s is at schema version %d\n",
               db_url_is_postgres(path) ? "(postgresql)" : path, version);
    return rc;
}

static int cmd_check(const struct opts *o)
{
    struct db *db;
    char path[1024];
    char msg[512];
    bool ok;
    if (open_store(o, &db, path, sizeof(path)) != 0)
        return 1;
    ok = store_check_ledger(db, msg, sizeof(msg));
    db_close(db);
    printf("%s\n", ok ? "ledger ok: every asset sums to zero, balances equal their postings" : msg);
    return ok ? 0 : 1;
}

static int cmd_user_add(const struct opts *o)
{
    struct db *db;
    char path[1024];
    uint64_t id;
    enum cg_err e;
    if (!o->email[0] || !o->password[0]) {
        fprintf(stderr, "coinage user add: --email and --password (or COINAGE_PASSWORD) needed\n");
        return 2;
    }
    if (auth_init() != CG_OK || open_store(o, &db, path, sizeof(path)) != 0)
        return 1;
    e = auth_user_create(db, o->email, o->password, o->role, clock_now_ms(), &id);
    db_close(db);
    if (e != CG_OK) {
        fprintf(stderr, "coinage user add: %s: %s\n", cg_err_code(e), cg_err_message(e));
        return 1;
    }
    printf("user %llu %s created with role %s\n", (unsigned long long)id, o->email,
           auth_role_name(o->role));
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o;
    const char *cmd = argc > 1 && argv[1][0] != '-' ? argv[1] : "serve";
    int shift = argc > 1 && argv[1][0] != '-' ? 1 : 0;

    memset(&o, 0, sizeof(o));
    env_defaults(&o);
    if (!strcmp(cmd, "help") || (argc > 1 && !strcmp(argv[1], "--help"))) {
        fputs(usage, stdout);
        return 0;
    }
    if (!strcmp(cmd, "user")) {
        if (argc < 3 || strcmp(argv[2], "add")) {
            fputs(usage, stderr);
            return 2;
        }
        shift = 2;
    }
    if (parse_opts(argc - shift, argv + shift, &o) != 0)
        return 2;
    if (!strcmp(cmd, "serve"))
        return cmd_serve(&o);
    if (!strcmp(cmd, "migrate"))
        return cmd_migrate(&o, false);
    if (!strcmp(cmd, "import"))
        return cmd_migrate(&o, true);
    if (!strcmp(cmd, "check"))
        return cmd_check(&o);
    if (!strcmp(cmd, "user"))
        return cmd_user_add(&o);
    fprintf(stderr, "coinage: unknown command '%s'\n\n%s", cmd, usage);
    return 2;
}
