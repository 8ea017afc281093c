/*
 * Static files of the web dashboard (web/), served by coinage itself for GET requests outside
 * the API (/api/, /ws, /health).
 *
 * Safety: a URL path is mapped to a file under the web root only if every segment is made of
 * [A-Za-z0-9._-], does not start with '.', and the resolved real path (symlinks followed) stays
 * under the real path of the root; anything else is "not found" (no directory traversal, no
 * hidden files, no directory listings). "/" serves index.html.
 * Caching: every file is sent with a strong ETag (size + mtime) and "Cache-Control: no-cache",
 * so browsers revalidate and get 304 Not Modified while the file is unchanged (the file names
 * are not versioned, so a max-age would serve a stale dashboard after an upgrade).
 *
 * Threads: any thread; the functions only read the file system.
 */
#ifndef CG_API_STATIC_H
#define CG_API_STATIC_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

#define STATIC_MAX_FILE (16 * 1024 * 1024) /* bytes; bigger files are refused (CG_ETOOLARGE) */

struct static_file {
    char *data;        /* malloc'ed file contents (NULL when not_modified); caller frees */
    size_t len;        /* bytes */
    const char *mime;  /* static string, e.g. "text/javascript; charset=utf-8" */
    char etag[48];     /* quoted strong validator, e.g. "\"1a2b-5f3c\"" */
    bool not_modified; /* if_none_match matched etag: send 304 without a body */
};

/*
 * MIME type for a file name by its extension; "application/octet-stream" when unknown.
 * Returns a static string.
 */
const char *static_mime(const char *name);

/*
 * true if url_path (the decoded path of the request, without the query) is a safe relative
 * name under the web root: see the rules above. Writes the relative file name ("index.html"
 * for "/") to rel (size relsz).
 */
bool static_path_ok(const char *url_path, char *rel, size_t relsz);

/*
 * Resolve url_path under root (a directory) and read it. if_none_match is the request's
 * If-None-Match header or NULL. Returns CG_OK (out filled), CG_ENOTFOUND (unsafe path, missing
 * file, directory, or outside root), CG_ETOOLARGE (> STATIC_MAX_FILE), CG_EIO or CG_ENOMEM.
 * On error out->data is NULL.
 */
enum cg_err static_load(const char *root, const char *url_path, const char *if_none_match,
                        struct static_file *out) __attribute__((warn_unused_result));

#endif
