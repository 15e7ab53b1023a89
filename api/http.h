/*
 * http.h — the request and response objects every route handler works on,
 * and the small helpers that fill a response in the forms of spec/api.md
 * §0.3 (JSON, empty, text, file, binary).
 *
 * Everything here runs on the network thread only.  A cd_req is filled by
 * server.c from the libwebsockets connection; a handler reads it and fills
 * the cd_resp that server.c then writes out in WRITEABLE callbacks.
 */
#ifndef CD_API_HTTP_H
#define CD_API_HTTP_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "buf.h"
#include "config.h"
#include "log.h"
#include "runtime.h"

/* Request methods as bits, so a route can accept several. */
enum {
    CD_GET = 1, CD_HEAD = 2, CD_POST = 4, CD_PUT = 8, CD_DELETE = 16,
    CD_PATCH = 32, CD_OPTIONS = 64
};

#define CD_REQ_MAX_QUERY 32
#define CD_REQ_MAX_PARAMS 4
#define CD_REQ_MAX_HEADERS 16
#define CD_JSON_DEPTH 64             /* nesting ceiling for request bodies */

typedef struct cd_api cd_api;        /* server state (server.c)          */

typedef struct cd_kv {
    char *key;                       /* owned */
    char *val;                       /* owned */
} cd_kv;

typedef struct cd_req {
    int method;                      /* one CD_* bit                      */
    char *path;                      /* owned; decoded path, no query      */
    cd_kv query[CD_REQ_MAX_QUERY];   /* decoded, in request order          */
    size_t n_query;
    char *params[CD_REQ_MAX_PARAMS]; /* owned; captured route segments     */
    size_t n_params;
    /* Request headers the handlers use; NULL when absent.  Owned. */
    char *host, *origin, *accept, *accept_encoding, *range, *if_none_match,
         *if_modified_since, *if_match, *if_unmodified_since, *content_type,
         *comfy_user, *upgrade;
    const char *body;                /* borrowed from the connection       */
    size_t body_len;
    int body_too_large;              /* body passed the ceiling (drained)  */
    uint64_t body_total;             /* bytes the client sent              */
    cd_api *api;                     /* borrowed                           */
} cd_req;

typedef struct cd_header {
    char *name;                      /* owned, "Name" without colon        */
    char *value;                     /* owned                              */
} cd_header;

typedef struct cd_resp {
    int status;
    char *content_type;              /* owned; NULL: no Content-Type       */
    cd_header headers[CD_REQ_MAX_HEADERS];
    size_t n_headers;
    cd_buf body;                     /* memory body                        */
    int fd;                          /* >= 0: file body (owned, closed)    */
    uint64_t file_off, file_len;
    int framework_error;             /* router 404/405: no CORS, no cache  */
    int close_after;                 /* close the connection when written  */
} cd_resp;

/* ---- requests ------------------------------------------------------------ */

/* The first value of query key `k`, or NULL when absent (borrowed). */
const char *cd_req_query(const cd_req *r, const char *k);

/* Parses an application/x-www-form-urlencoded string (a query string or a
 * form body) into r->query, appending after what is there.  '+' is a space,
 * %XX decoded.  0, or -1 when memory runs out (entries beyond
 * CD_REQ_MAX_QUERY are ignored). */
int cd_req_parse_query(cd_req *r, const char *s, size_t len);

/* Frees everything the request owns and zeroes it. */
void cd_req_clear(cd_req *r);

/* The request body parsed as JSON (bounded depth), or NULL.  New ref. */
struct json_object *cd_req_json(const cd_req *r);

/* Percent-decodes s[0..len) into a new string ('+' stays as is unless
 * plus_space).  Caller frees; NULL when memory runs out. */
char *cd_url_decode(const char *s, size_t len, int plus_space);

/* ---- responses ----------------------------------------------------------- */

void cd_resp_init(cd_resp *w);
void cd_resp_clear(cd_resp *w);

/* Adds (or replaces, when replace) a header.  0 or -1. */
int cd_resp_header(cd_resp *w, const char *name, const char *value, int replace);
/* The value of header `name` already set (case-insensitive), or NULL. */
const char *cd_resp_get_header(const cd_resp *w, const char *name);
/* Sets the Content-Type.  0 or -1. */
int cd_resp_set_type(cd_resp *w, const char *type);

/* The forms of spec §0.3.  Each resets status and body and returns 0, or -1
 * when memory runs out (the caller then answers 500). */
int cd_resp_empty(cd_resp *w, int status);
int cd_resp_text(cd_resp *w, int status, const char *text);
/* `o` is borrowed; written with cd_json_dump. */
int cd_resp_json(cd_resp *w, int status, const struct json_object *o);
/* Raw JSON text already in Python form. */
int cd_resp_json_text(cd_resp *w, int status, const char *text, size_t len);
/* Binary bytes with a given content type. */
int cd_resp_bytes(cd_resp *w, int status, const char *type, const void *p,
                  size_t n);

/* A file response (spec §0.3): Content-Type `type` (NULL: guessed from the
 * name), Last-Modified, ETag, Accept-Ranges, Range (206/416) and the
 * conditional headers (304/412).  Opens `path`; 404 (empty) when it is not
 * a regular file, 403 when it is a directory.  0, or -1 on memory. */
int cd_resp_file(cd_resp *w, const cd_req *r, const char *path,
                 const char *type);

/* The guessed content type of a file name (Python mimetypes-like, with
 * .js and .webp as the server registers them); NULL when unknown. */
const char *cd_mime_guess(const char *name);

/* ---- shared state handlers need ------------------------------------------ */

cd_runtime *cd_api_runtime(const cd_api *a);
const cd_config *cd_api_config(const cd_api *a);
cd_logger *cd_api_logger(const cd_api *a);
const cd_paths *cd_api_paths(const cd_api *a);
/* The body ceiling L of spec §0.5 in bytes. */
uint64_t cd_api_max_body(const cd_api *a);
/* The server feature flags object (spec §1.11).  New reference. */
struct json_object *cd_api_features(const cd_api *a);

/* A route handler: fills `w` from `r`.  Returns 0; -1 means "answer 500". */
typedef int (*cd_handler)(cd_req *r, cd_resp *w);

#endif
