/*
 * The web dashboard's static files: GET / and GET /<file> under app->web_dir. Network thread: the
 * files are a few small local files (the largest, the vendored chart library, ~200 KB) that the
 * page cache keeps, so they are read in place instead of going through a worker.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/static.h"

static bool has_prefix_segment(const char *path, const char *prefix)
{
    size_t n = strlen(prefix);
    return !strncmp(path, prefix, n) && (path[n] == '\0' || path[n] == '/');
}

bool web_path_is_static(const char *path)
{
    return path[0] == '/' && !has_prefix_segment(path, "/api") &&
           !has_prefix_segment(path, "/ws") && !has_prefix_segment(path, "/stream") &&
           !has_prefix_segment(path, "/health");
}

void h_static(struct req *r, struct resp *out)
{
    struct static_file f;
    enum cg_err e;

    if (!r->app->web_dir[0]) {
        resp_error(out, CG_EROUTE, "the web dashboard is not served (no --web-dir)");
        return;
    }
    e = static_load(r->app->web_dir, r->path, r->if_none_match[0] ? r->if_none_match : NULL, &f);
    if (e == CG_ENOTFOUND) {
        resp_error(out, CG_EROUTE, NULL);
        return;
    }
    if (e != CG_OK) {
        resp_error(out, e, NULL);
        return;
    }
    out->status = f.not_modified ? 304 : 200;
    out->content_type = f.mime;
    out->cache_control = "no-cache";
    snprintf(out->etag, sizeof(out->etag), "%s", f.etag);
    out->body = f.data; /* NULL for 304 */
    out->body_len = f.len;
}
