/* Static files of the web dashboard; see static.h for the rules. */
#include "api/static.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
    const char *ext;
    const char *mime;
} mimes[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".map", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".woff2", "font/woff2"},
    {".txt", "text/plain; charset=utf-8"},
};

const char *static_mime(const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof(mimes) / sizeof(mimes[0]); i++) {
        size_t e = strlen(mimes[i].ext);
        if (n > e && !strcmp(name + n - e, mimes[i].ext))
            return mimes[i].mime;
    }
    return "application/octet-stream";
}

static bool seg_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

bool static_path_ok(const char *url_path, char *rel, size_t relsz)
{
    size_t n;
    const char *p;
    if (!url_path || url_path[0] != '/')
        return false;
    if (!strcmp(url_path, "/")) {
        if (relsz < sizeof("index.html"))
            return false;
        memcpy(rel, "index.html", sizeof("index.html"));
        return true;
    }
    p = url_path + 1;
    n = strlen(p);
    if (n == 0 || n >= relsz)
        return false;
    /* every segment: non-empty, [A-Za-z0-9._-]+, not starting with '.' */
    for (size_t i = 0; i < n; i++) {
        bool seg_start = i == 0 || p[i - 1] == '/';
        if (p[i] == '/') {
            if (seg_start || i + 1 == n)
                return false;
            continue;
        }
        if (!seg_char_ok(p[i]) || (seg_start && p[i] == '.'))
            return false;
    }
    memcpy(rel, p, n + 1);
    return true;
}

static enum cg_err read_all(int fd, size_t len, char **out)
{
    char *buf = malloc(len + 1);
    size_t got = 0;
    if (!buf)
        return CG_ENOMEM;
    while (got < len) {
        ssize_t r = read(fd, buf + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            free(buf);
            return CG_EIO;
        }
        got += (size_t)r;
    }
    buf[len] = '\0';
    *out = buf;
    return CG_OK;
}

enum cg_err static_load(const char *root, const char *url_path, const char *if_none_match,
                        struct static_file *out)
{
    char rel[512];
    char joined[PATH_MAX + 512];
    char real_root[PATH_MAX];
    char real_file[PATH_MAX];
    size_t rl;
    struct stat st;
    enum cg_err e;
    int fd;

    memset(out, 0, sizeof(*out));
    if (!static_path_ok(url_path, rel, sizeof(rel)))
        return CG_ENOTFOUND;
    if (!realpath(root, real_root))
        return CG_ENOTFOUND;
    snprintf(joined, sizeof(joined), "%s/%s", real_root, rel);
    if (!realpath(joined, real_file))
        return CG_ENOTFOUND;
    /* symlinks are followed, but the target must still be inside the root */
    rl = strlen(real_root);
    if (strncmp(real_file, real_root, rl) != 0 || real_file[rl] != '/')
        return CG_ENOTFOUND;
    fd = open(real_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return CG_ENOTFOUND;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return CG_ENOTFOUND;
    }
    if (st.st_size > STATIC_MAX_FILE) {
        close(fd);
        return CG_ETOOLARGE;
    }
    snprintf(out->etag, sizeof(out->etag), "\"%llx-%llx\"", (unsigned long long)st.st_size,
             (unsigned long long)st.st_mtim.tv_sec * 1000000000ull +
                 (unsigned long long)st.st_mtim.tv_nsec);
    out->mime = static_mime(rel);
    if (if_none_match && strstr(if_none_match, out->etag)) {
        close(fd);
        out->not_modified = true;
        return CG_OK;
    }
    e = read_all(fd, (size_t)st.st_size, &out->data);
    close(fd);
    if (e != CG_OK)
        return e;
    out->len = (size_t)st.st_size;
    return CG_OK;
}
