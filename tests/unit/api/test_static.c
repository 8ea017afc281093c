/*
 * Unit tests for src/api/static.h: which URL paths map to files under the web root (no
 * traversal, no hidden files, symlinks must stay inside), MIME types, and ETag revalidation.
 * Each test builds its own web root in a fresh temporary directory.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "api/static.h"

static char root[256];
static char outside[256];

static void write_file(const char *dir, const char *name, const char *text)
{
    char p[512];
    FILE *f;
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    f = fopen(p, "w");
    cr_assert_not_null(f, "create %s", p);
    fputs(text, f);
    fclose(f);
}

static void setup(void)
{
    char p[512];
    char tmpl[] = "/tmp/cg-static-XXXXXX";
    char *base = mkdtemp(tmpl);
    cr_assert_not_null(base);
    snprintf(root, sizeof(root), "%s/web", base);
    snprintf(outside, sizeof(outside), "%s/secret", base);
    cr_assert_eq(mkdir(root, 0700), 0);
    cr_assert_eq(mkdir(outside, 0700), 0);
    snprintf(p, sizeof(p), "%s/js", root);
    cr_assert_eq(mkdir(p, 0700), 0);
    write_file(root, "index.html", "<!doctype html><title>x</title>");
    write_file(root, "js/app.js", "export const x = 1;\n");
    write_file(root, ".env", "SECRET=1\n");
    write_file(outside, "key.txt", "top secret\n");
    /* a symlink inside the root that points outside it */
    snprintf(p, sizeof(p), "%s/leak.txt", root);
    {
        char target[512];
        snprintf(target, sizeof(target), "%s/key.txt", outside);
        cr_assert_eq(symlink(target, p), 0);
    }
    /* a symlink that stays inside */
    snprintf(p, sizeof(p), "%s/main.js", root);
    cr_assert_eq(symlink("js/app.js", p), 0);
}

/* remove what setup made (known names only) */
static void teardown(void)
{
    static const char *const files[] = {"web/index.html", "web/js/app.js", "web/.env",
                                        "web/leak.txt",   "web/main.js",   "secret/key.txt"};
    static const char *const dirs[] = {"web/js", "web", "secret", ""};
    char base[256];
    char p[600];
    snprintf(base, sizeof(base), "%.*s", (int)(strlen(root) - strlen("/web")), root);
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", base, files[i]);
        unlink(p);
    }
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", base, dirs[i]);
        rmdir(p);
    }
}

TestSuite(static_files, .init = setup, .fini = teardown);

Test(static_files, path_rules)
{
    char rel[128];
    cr_assert(static_path_ok("/", rel, sizeof(rel)));
    cr_assert_str_eq(rel, "index.html");
    cr_assert(static_path_ok("/js/app.js", rel, sizeof(rel)));
    cr_assert_str_eq(rel, "js/app.js");
    cr_assert(
        static_path_ok("/vendor/lightweight-charts.standalone.production.js", rel, sizeof(rel)));
    const char *bad[] = {
        "",           "js/app.js",   "/..",          "/../etc/passwd", "/js/../../x",
        "/.env",      "/js/.hidden", "//etc/passwd", "/js//app.js",    "/js/",
        "/a%2e%2e/b", "/a\\b",       "/a b",         "/a?b",           "/\xc3\xa9.js"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert(!static_path_ok(bad[i], rel, sizeof(rel)), "%s must be refused", bad[i]);
    /* too long for the caller's buffer */
    cr_assert(!static_path_ok("/abcdefghijklmnop", rel, 8));
}

Test(static_files, mime_types)
{
    cr_assert_str_eq(static_mime("index.html"), "text/html; charset=utf-8");
    cr_assert_str_eq(static_mime("js/app.js"), "text/javascript; charset=utf-8");
    cr_assert_str_eq(static_mime("styles.css"), "text/css; charset=utf-8");
    cr_assert_str_eq(static_mime("favicon.svg"), "image/svg+xml");
    cr_assert_str_eq(static_mime("x.png"), "image/png");
    cr_assert_str_eq(static_mime("README"), "application/octet-stream");
    cr_assert_str_eq(static_mime("js"), "application/octet-stream");
}

Test(static_files, load_and_revalidate)
{
    struct static_file f;
    struct static_file g;
    cr_assert_eq(static_load(root, "/", NULL, &f), CG_OK);
    cr_assert_str_eq(f.data, "<!doctype html><title>x</title>");
    cr_assert_eq(f.len, strlen("<!doctype html><title>x</title>"));
    cr_assert_str_eq(f.mime, "text/html; charset=utf-8");
    cr_assert(f.etag[0] == '"' && f.etag[strlen(f.etag) - 1] == '"', "etag %s", f.etag);
    cr_assert(!f.not_modified);
    /* the same validator: 304, no body */
    cr_assert_eq(static_load(root, "/", f.etag, &g), CG_OK);
    cr_assert(g.not_modified);
    cr_assert_null(g.data);
    /* another validator: the file */
    cr_assert_eq(static_load(root, "/", "\"0-0\"", &g), CG_OK);
    cr_assert(!g.not_modified);
    cr_assert_not_null(g.data);
    free(g.data);
    free(f.data);

    cr_assert_eq(static_load(root, "/js/app.js", NULL, &f), CG_OK);
    cr_assert_str_eq(f.mime, "text/javascript; charset=utf-8");
    free(f.data);
    /* a symlink that resolves inside the root is served */
    cr_assert_eq(static_load(root, "/main.js", NULL, &f), CG_OK);
    cr_assert_str_eq(f.data, "export const x = 1;\n");
    free(f.data);
}

Test(static_files, refuses_what_is_not_a_file_under_the_root)
{
    struct static_file f;
    cr_assert_eq(static_load(root, "/leak.txt", NULL, &f), CG_ENOTFOUND, "symlink out of the root");
    cr_assert_null(f.data);
    cr_assert_eq(static_load(root, "/.env", NULL, &f), CG_ENOTFOUND);
    cr_assert_eq(static_load(root, "/js", NULL, &f), CG_ENOTFOUND, "directory");
    cr_assert_eq(static_load(root, "/nope.js", NULL, &f), CG_ENOTFOUND);
    cr_assert_eq(static_load(root, "/../secret/key.txt", NULL, &f), CG_ENOTFOUND);
    cr_assert_eq(static_load("/nonexistent-root-dir", "/", NULL, &f), CG_ENOTFOUND);
}

/* Which paths the server hands to the static files at all (api_web.c). */
Test(static_files, only_paths_outside_the_api_are_static)
{
    cr_assert(web_path_is_static("/"));
    cr_assert(web_path_is_static("/index.html"));
    cr_assert(web_path_is_static("/js/app.js"));
    cr_assert(web_path_is_static("/healthz"));
    cr_assert(web_path_is_static("/apixyz"));
    const char *api[] = {"/api", "/api/", "/api/v1/nope", "/ws", "/ws/x", "/stream", "/health"};
    for (size_t i = 0; i < sizeof(api) / sizeof(api[0]); i++)
        cr_assert(!web_path_is_static(api[i]), "%s is not a static path", api[i]);
}
