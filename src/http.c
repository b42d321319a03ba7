/* SPDX-License-Identifier: MIT
**
** libcurl multi session: the "kiva.core.http" userdata owns one CURLM handle and
** every request in it (easy handle, header list, a reference to the body, the
** response buffers). Registers http_session(opts) and curl_version(); the session
** has add, poll, pending, stats, close (= __close = __gc, idempotent). libcurl
** callbacks only fill kc_buf buffers; Lua values are built after they return.
*/
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "buf.h"
#include "kiva_core.h"

#define SESSION_MT "kiva.core.http"
#define MAX_HEADER_BYTES (256 * 1024)
/* a Retry-After beyond this (ten years) is taken as this: it only ever means "give up" */
#define MAX_RETRY_AFTER ((curl_off_t)10 * 365 * 86400)

#define KC_SPARE_EASY 32

/* A request's header list (its headers and "Expect:"), shared by the requests that
** send the same headers: every request of a run does (one token, one content type),
** and building the list was four curl_slist_append, eight mallocs and frees each.
** curl only reads it. Freed with its last user (requests and the session's `last`). */
typedef struct kc_headers {
    struct curl_slist *list;
    int refs;
} kc_headers;

typedef struct kc_request {
    CURL *easy;
    lua_Integer id;
    kc_headers *headers;
    const char *body;       /* the Lua string's bytes, kept alive by body_ref */
    int body_ref;           /* the body in the session's anchor table, or LUA_NOREF */
    size_t body_len, body_pos;
    int has_body;
    int body_sent;          /* the read callback handed out the body's last byte */
    int too_large;          /* the write callback refused past max_body */
    int head_too_large;     /* the header callback refused past MAX_HEADER_BYTES */
    CURLcode result;
    kc_buf resp;
    kc_buf head;
    char errbuf[CURL_ERROR_SIZE];
    struct kc_request *next;
} kc_request;

typedef struct kc_session {
    CURLM *multi;
    kc_request *active;     /* added to the multi handle */
    kc_request *done;       /* finished, waiting to be pushed to Lua */
    kc_request *building;   /* under construction in add (freed if Lua raised) */
    kc_headers *last_headers;   /* the last list built, for the next request to share */
    lua_Integer next_id;
    long connects, requests;
    long connect_timeout, timeout, low_speed_time, maxage_conn, max_host_connections;
    size_t max_body;
    char *ca_file, *user_agent;
    /* Finished easy handles, kept with the session's options for the next request
    ** (which sets its own): curl_easy_init allocates and clears several KB, and a
    ** reset with some twenty options set again was a visible cost per request. */
    CURL *spare[KC_SPARE_EASY];
    int nspare;
} kc_session;

/* curl_global_init is not thread-safe in libcurl 7.88, and curl_easy_init would
** call it lazily (also unsafely) from whichever thread comes first. An MIS may
** open kiva in several Lua states on several threads, so it runs exactly once
** per process under pthread_once. curl_global_cleanup is never called: a
** library cannot know that no other part of the process still uses libcurl. */
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result = CURLE_OK;

static void curl_init_once(void)
{
    curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static const char *curl_code_name(CURLcode c, char *tmp, size_t n)
{
    switch (c) {
#define X(name) case CURLE_##name: return #name;
#include "curl_codes.h"
#undef X
    default:
        snprintf(tmp, n, "CURL_%d", (int)c);
        return tmp;
    }
}

static void headers_release(kc_headers *h)
{
    if (h && --h->refs == 0) {
        curl_slist_free_all(h->list);
        free(h);
    }
}

static void request_free(kc_session *s, kc_request *r)
{
    if (r->easy) {
        if (s->multi)
            curl_multi_remove_handle(s->multi, r->easy);
        if (s->multi && s->nspare < KC_SPARE_EASY) {
            /* kept with the session's options; the next request sets its own */
            s->spare[s->nspare++] = r->easy;
        } else {
            curl_easy_cleanup(r->easy);
        }
    }
    headers_release(r->headers);
    kc_buf_free(&r->resp);
    kc_buf_free(&r->head);
    free(r);
}

static void request_list_free(kc_session *s, kc_request **list)
{
    while (*list) {
        kc_request *r = *list;
        *list = r->next;
        request_free(s, r);
    }
}

static int kc_http_release(lua_State *L)
{
    kc_session *s = luaL_checkudata(L, 1, SESSION_MT);
    request_list_free(s, &s->active);
    request_list_free(s, &s->done);
    request_list_free(s, &s->building);
    while (s->nspare > 0)
        curl_easy_cleanup(s->spare[--s->nspare]);
    headers_release(s->last_headers);
    s->last_headers = NULL;
    if (s->multi) {
        curl_multi_cleanup(s->multi);
        s->multi = NULL;
    }
    free(s->ca_file);
    free(s->user_agent);
    s->ca_file = s->user_agent = NULL;
    /* the bodies of the requests just freed */
    lua_pushnil(L);
    lua_setiuservalue(L, 1, 1);
    return 0;
}

static kc_session *check_open(lua_State *L)
{
    kc_session *s = luaL_checkudata(L, 1, SESSION_MT);
    if (!s->multi)
        luaL_error(L, "attempt to use a closed http session");
    return s;
}

/* ===== libcurl callbacks: no Lua here ===== */

static size_t on_read(char *dst, size_t size, size_t nitems, void *ud)
{
    kc_request *r = ud;
    size_t room = size * nitems, left = r->body_len - r->body_pos;
    size_t n = left < room ? left : room;
    memcpy(dst, r->body + r->body_pos, n);
    r->body_pos += n;
    if (r->body_pos == r->body_len)
        r->body_sent = 1;
    return n;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud)
{
    kc_request *r = ud;
    size_t n = size * nmemb;
    if (kc_buf_add(&r->resp, p, n) != 0) {
        r->too_large = 1;
        return 0;   /* curl fails the transfer with CURLE_WRITE_ERROR */
    }
    return n;
}

/* Keeps only the last response's header block: a new status line starts over. */
static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    kc_request *r = ud;
    size_t n = size * nmemb;
    if (n >= 5 && memcmp(p, "HTTP/", 5) == 0)
        kc_buf_reset(&r->head);
    if (kc_buf_add(&r->head, p, n) != 0) {
        r->head_too_large = 1;
        return 0;
    }
    return n;
}

/* ===== session construction ===== */

/* Reads a non-negative number of seconds from opts (at index 1) as milliseconds. */
static long opt_ms(lua_State *L, const char *key, double def)
{
    double v = def;
    if (lua_getfield(L, 1, key) != LUA_TNIL) {
        if (lua_type(L, -1) != LUA_TNUMBER || lua_tonumber(L, -1) < 0)
            luaL_error(L, "http_session: option '%s' must be a non-negative number", key);
        v = lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
    if (v > 1e9)
        v = 1e9;
    return v > 0 && v < 0.001 ? 1 : (long)(v * 1000 + 0.5);
}

static lua_Integer opt_int(lua_State *L, const char *key, lua_Integer def, lua_Integer min)
{
    lua_Integer v = def;
    if (lua_getfield(L, 1, key) != LUA_TNIL) {
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < min)
            luaL_error(L, "http_session: option '%s' must be an integer >= %d", key, (int)min);
        v = lua_tointeger(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

static const char *opt_str(lua_State *L, const char *key)
{
    const char *v = NULL;
    if (lua_getfield(L, 1, key) != LUA_TNIL) {
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "http_session: option '%s' must be a string", key);
        v = lua_tostring(L, -1);   /* still referenced by opts */
    }
    lua_pop(L, 1);
    return v;
}

static char *dup_str(const char *v)
{
    char *copy;
    if (!v)
        return NULL;
    copy = malloc(strlen(v) + 1);
    if (copy)
        strcpy(copy, v);
    return copy;
}

static void check_option_keys(lua_State *L)
{
    static const char *const known[] = { "ca_file", "connect_timeout", "timeout",
        "low_speed_time", "max_body", "user_agent", "max_host_connections", "maxage_conn", NULL };
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        int i, ok = 0;
        lua_pop(L, 1);
        if (lua_type(L, -1) == LUA_TSTRING)
            for (i = 0; known[i]; i++)
                if (strcmp(known[i], lua_tostring(L, -1)) == 0)
                    ok = 1;
        if (!ok)
            luaL_error(L, "http_session: unknown option '%s'", luaL_tolstring(L, -1, NULL));
    }
}

/* core.http_session(opts): every option is read (and may raise) before anything
** is allocated; the userdata gets its metatable before the multi handle exists. */
static int kc_http_session(lua_State *L)
{
    kc_session *s;
    long connect_timeout, timeout, low_speed_time, maxage_conn;
    lua_Integer max_body, max_host;
    const char *ca_file, *user_agent;
    if (lua_isnoneornil(L, 1)) {
        lua_settop(L, 0);
        lua_newtable(L);
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    check_option_keys(L);
    connect_timeout = opt_ms(L, "connect_timeout", 10);
    timeout = opt_ms(L, "timeout", 60);
    low_speed_time = opt_ms(L, "low_speed_time", 30);
    maxage_conn = opt_ms(L, "maxage_conn", 20);
    max_body = opt_int(L, "max_body", 16 * 1024 * 1024, 1);
    max_host = opt_int(L, "max_host_connections", 4, 0);
    ca_file = opt_str(L, "ca_file");
    user_agent = opt_str(L, "user_agent");

    pthread_once(&curl_once, curl_init_once);
    if (curl_init_result != CURLE_OK)
        return kc_fail(L, "CURL_INIT", "curl_global_init failed: %s", curl_easy_strerror(curl_init_result));

    /* user value 1: the anchor table, holding each request's body string (no
    ** copy: a Lua string does not move) until poll hands its result back */
    s = lua_newuserdatauv(L, sizeof *s, 1);
    memset(s, 0, sizeof *s);
    luaL_setmetatable(L, SESSION_MT);
    lua_newtable(L);
    lua_setiuservalue(L, -2, 1);
    s->connect_timeout = connect_timeout;
    s->timeout = timeout;
    s->low_speed_time = (low_speed_time + 999) / 1000;
    s->maxage_conn = (maxage_conn + 999) / 1000;
    s->max_body = (size_t)max_body;
    s->max_host_connections = (long)max_host;
    s->ca_file = dup_str(ca_file);
    s->user_agent = dup_str(user_agent);
    s->next_id = 1;
    s->multi = curl_multi_init();
    if (!s->multi || (ca_file && !s->ca_file) || (user_agent && !s->user_agent)) {
        lua_pushcfunction(L, kc_http_release);
        lua_pushvalue(L, -2);
        lua_call(L, 1, 0);
        return kc_fail(L, "ENOMEM", "cannot create an http session: out of memory");
    }
    curl_multi_setopt(s->multi, CURLMOPT_MAX_HOST_CONNECTIONS, s->max_host_connections);
    curl_multi_setopt(s->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    return 1;
}

/* ===== requests ===== */

/* The options every request of the session shares, set once per easy handle: a
** finished handle is kept (not reset) for the next request, which sets only its own. */
static CURLcode setup_easy_session(kc_session *s, CURL *e)
{
    CURLcode rc = CURLE_OK;
#define SET(opt, val) if (rc == CURLE_OK) rc = curl_easy_setopt(e, opt, val)
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_FOLLOWLOCATION, 0L);   /* a token must not travel to another host */
    SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    SET(CURLOPT_PIPEWAIT, 1L);         /* wait to multiplex on HTTP/2 rather than open more */
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    SET(CURLOPT_CONNECTTIMEOUT_MS, s->connect_timeout);
    SET(CURLOPT_TIMEOUT_MS, s->timeout);
    SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
    SET(CURLOPT_LOW_SPEED_TIME, s->low_speed_time);
    SET(CURLOPT_MAXAGE_CONN, s->maxage_conn);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    SET(CURLOPT_ACCEPT_ENCODING, "");
    SET(CURLOPT_WRITEFUNCTION, on_write);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_READFUNCTION, on_read);
    /* curl mallocs the upload buffer for each transfer and frees it when the transfer
    ** is done; at its default 64 KiB the freed block, merged into the heap's top
    ** between Lua's small allocations, made glibc give memory back and take it again
    ** (~1 brk per 5 requests, with page faults). 16 KiB (curl's minimum, a TLS
    ** record's size) cut that by two thirds; a body still goes whole, in more reads. */
    SET(CURLOPT_UPLOAD_BUFFERSIZE, 16384L);
    if (s->ca_file)
        SET(CURLOPT_CAINFO, s->ca_file);
    if (s->user_agent)
        SET(CURLOPT_USERAGENT, s->user_agent);
#undef SET
    return rc;
}

/* The options of this request: every one a previous request on the handle may have set. */
static CURLcode setup_easy(kc_request *r, const char *method, const char *url)
{
    CURL *e = r->easy;
    CURLcode rc = CURLE_OK;
#define SET(opt, val) if (rc == CURLE_OK) rc = curl_easy_setopt(e, opt, val)
    SET(CURLOPT_URL, url);
    /* Plain http is only allowed to a loopback host (kiva.config): it goes there
    ** directly, never through a proxy from http_proxy/ALL_PROXY, which would
    ** carry the client secret in clear text over the network. https goes through a
    ** proxy only as a CONNECT tunnel, TLS end to end. */
    SET(CURLOPT_NOPROXY, strncasecmp(url, "http://", 7) == 0 ? "*" : (const char *)NULL);
    SET(CURLOPT_PRIVATE, (void *)r);
    SET(CURLOPT_ERRORBUFFER, r->errbuf);
    SET(CURLOPT_WRITEDATA, (void *)r);
    SET(CURLOPT_HEADERDATA, (void *)r);
    if (strcmp(method, "POST") == 0) {
        /* A read callback and no seek callback: curl cannot rewind the body, so
        ** it never resends a POST by itself (a retry on a stale reused
        ** connection fails with SEND_FAIL_REWIND instead). */
        SET(CURLOPT_POST, 1L);
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
        SET(CURLOPT_READDATA, (void *)r);
    } else {
        SET(CURLOPT_HTTPGET, 1L);
    }
    SET(CURLOPT_HTTPHEADER, r->headers->list);
#undef SET
    return rc;
}

/* Drops the anchor of r's body (the session at index 1). */
static void body_unanchor(lua_State *L, kc_request *r)
{
    if (r->body_ref == LUA_NOREF)
        return;
    lua_getiuservalue(L, 1, 1);
    luaL_unref(L, -1, r->body_ref);
    lua_pop(L, 1);
    r->body_ref = LUA_NOREF;
}

/* Whether the Lua array of header strings at the top of the stack (or nil) is the
** list `h` holds, "Expect:" aside. */
static int headers_same(lua_State *L, const kc_headers *h)
{
    const struct curl_slist *item = h->list;
    lua_Integer i, n = lua_istable(L, -1) ? (lua_Integer)lua_rawlen(L, -1) : 0;
    for (i = 1; i <= n; i++, item = item->next) {
        int same;
        if (lua_rawgeti(L, -1, i) != LUA_TSTRING)
            luaL_error(L, "add: headers[%d] must be a string", (int)i);
        same = item->next != NULL && strcmp(item->data, lua_tostring(L, -1)) == 0;
        lua_pop(L, 1);
        if (!same)
            return 0;
    }
    return item->next == NULL;   /* only "Expect:" left */
}

/* r->headers from the array at the top of the stack (popped): the session's last
** list when it holds the same headers, else a new one that becomes the last.
** Raises on a header that is not a string; -1 when out of memory. */
static int set_headers(lua_State *L, kc_session *s, kc_request *r)
{
    kc_headers *h;
    lua_Integer i, n;
    if (!lua_isnil(L, -1))
        luaL_checktype(L, -1, LUA_TTABLE);
    if (s->last_headers && headers_same(L, s->last_headers)) {
        r->headers = s->last_headers;
        r->headers->refs++;
        lua_pop(L, 1);
        return 0;
    }
    h = calloc(1, sizeof *h);
    if (!h)
        return -1;
    h->refs = 1;
    r->headers = h;   /* freed with r if anything below fails */
    n = lua_istable(L, -1) ? (lua_Integer)lua_rawlen(L, -1) : 0;
    for (i = 1; i <= n; i++) {
        struct curl_slist *item;
        if (lua_rawgeti(L, -1, i) != LUA_TSTRING)
            return luaL_error(L, "add: headers[%d] must be a string", (int)i);
        item = curl_slist_append(h->list, lua_tostring(L, -1));
        lua_pop(L, 1);
        if (!item)
            return -1;
        h->list = item;
    }
    lua_pop(L, 1);
    {
        /* no "Expect: 100-continue" round trip; the body goes at once */
        struct curl_slist *item = curl_slist_append(h->list, "Expect:");
        if (!item)
            return -1;
        h->list = item;
    }
    headers_release(s->last_headers);
    s->last_headers = h;
    h->refs++;
    return 0;
}

/* session:add{ method, url, headers, body } -> id. The request is owned by
** s->building while Lua may still raise, so a raise leaks nothing. */
static int kc_http_add(lua_State *L)
{
    kc_session *s = check_open(L);
    const char *method, *url;
    kc_request *r;
    CURLcode rc;
    CURLMcode mrc;
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    request_list_free(s, &s->building);

    lua_getfield(L, 2, "method");
    method = luaL_optstring(L, -1, "GET");
    if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
        return luaL_error(L, "add: method must be \"GET\" or \"POST\", got '%s'", method);
    lua_getfield(L, 2, "url");
    if (lua_type(L, -1) != LUA_TSTRING)
        return luaL_error(L, "add: url must be a string");
    url = lua_tostring(L, -1);

    r = calloc(1, sizeof *r);
    if (!r)
        return kc_fail(L, "ENOMEM", "out of memory");
    r->body_ref = LUA_NOREF;
    s->building = r;
    kc_buf_init(&r->resp, s->max_body);
    kc_buf_init(&r->head, MAX_HEADER_BYTES);

    if (lua_getfield(L, 2, "body") != LUA_TNIL) {
        size_t blen;
        const char *body;
        if (lua_type(L, -1) != LUA_TSTRING)
            return luaL_error(L, "add: body must be a string");
        body = lua_tolstring(L, -1, &blen);
        r->body = body;
        r->body_len = blen;
        r->has_body = 1;
    }
    /* the body stays at index 5 until it is anchored */
    if (strcmp(method, "POST") == 0 && !r->has_body)
        r->body = "";

    lua_getfield(L, 2, "headers");
    if (set_headers(L, s, r) != 0)
        return kc_fail(L, "ENOMEM", "out of memory");

    if (s->nspare > 0) {
        r->easy = s->spare[--s->nspare];
    } else {
        r->easy = curl_easy_init();
        if (!r->easy)
            return kc_fail(L, "ENOMEM", "curl_easy_init failed");
        rc = setup_easy_session(s, r->easy);
        if (rc != CURLE_OK) {
            char tmp[32];
            const char *name = curl_code_name(rc, tmp, sizeof tmp);
            curl_easy_cleanup(r->easy);   /* half set up: never kept as a spare */
            r->easy = NULL;
            request_list_free(s, &s->building);
            return kc_fail(L, name, "cannot set up the request: %s", curl_easy_strerror(rc));
        }
    }
    rc = setup_easy(r, method, url);
    if (rc != CURLE_OK) {
        char tmp[32];
        const char *name = curl_code_name(rc, tmp, sizeof tmp);
        request_list_free(s, &s->building);
        return kc_fail(L, name, "cannot set up the request: %s", curl_easy_strerror(rc));
    }
    if (r->has_body) {
        lua_getiuservalue(L, 1, 1);
        lua_pushvalue(L, 5);
        r->body_ref = luaL_ref(L, -2);
        lua_pop(L, 1);
    }
    mrc = curl_multi_add_handle(s->multi, r->easy);
    if (mrc != CURLM_OK) {
        /* not in the multi handle: request_free's remove is a harmless no-op */
        body_unanchor(L, r);
        request_list_free(s, &s->building);
        return kc_fail(L, "CURLM", "cannot add the request: %s", curl_multi_strerror(mrc));
    }
    s->building = NULL;
    r->id = s->next_id++;
    r->next = s->active;
    s->active = r;
    lua_pushinteger(L, r->id);
    return 1;
}

/* Moves finished transfers from active to done (no Lua calls). */
static void collect_done(kc_session *s)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(s->multi, &left)) != NULL) {
        kc_request **pp, *r = NULL;
        if (msg->msg != CURLMSG_DONE)
            continue;
        for (pp = &s->active; *pp; pp = &(*pp)->next)
            if ((*pp)->easy == msg->easy_handle) {
                r = *pp;
                *pp = r->next;
                break;
            }
        if (!r)
            continue;
        r->result = msg->data.result;
        curl_multi_remove_handle(s->multi, r->easy);
        r->next = s->done;
        s->done = r;
    }
}

/* Parses the raw header block into { lower-case name = value } (last wins,
** except repeated names are joined with ", "). */
static void push_headers(lua_State *L, const kc_buf *h)
{
    const char *p = h->data ? h->data : "", *end = p + h->len;
    lua_createtable(L, 0, 8);   /* room for a usual answer's headers: no regrowth */
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = eol ? eol : end, *colon, *v;
        const char *next = eol ? eol + 1 : end;
        while (line_end > p && (line_end[-1] == '\r' || line_end[-1] == '\n'))
            line_end--;
        colon = memchr(p, ':', (size_t)(line_end - p));
        if (colon && colon > p && memcmp(p, "HTTP/", 5) != 0) {
            /* lower-cased in a stack buffer: one string made per name, not a
            ** luaL_Buffer walked byte by byte (every answer's headers come here) */
            char small[64];
            size_t len = (size_t)(colon - p), k;
            char *name = len <= sizeof small ? small : lua_newuserdatauv(L, len, 0);
            for (k = 0; k < len; k++)
                name[k] = (char)((p[k] >= 'A' && p[k] <= 'Z') ? p[k] + 32 : p[k]);
            lua_pushlstring(L, name, len);
            if (name != small)
                lua_remove(L, -2);
            v = colon + 1;
            while (v < line_end && (*v == ' ' || *v == '\t'))
                v++;
            lua_pushvalue(L, -1);
            if (lua_rawget(L, -3) == LUA_TSTRING) {
                lua_pushliteral(L, ", ");
                lua_pushlstring(L, v, (size_t)(line_end - v));
                lua_concat(L, 3);
            } else {
                lua_pop(L, 1);
                lua_pushlstring(L, v, (size_t)(line_end - v));
            }
            lua_rawset(L, -3);
        }
        p = next;
    }
}

static void push_result(lua_State *L, kc_session *s, kc_request *r)
{
    long status = 0, connects = 0, version = 0;
    curl_off_t connect_us = 0, pretransfer_us = 0, total_us = 0, retry_after = 0;
    char tmp[32];
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(r->easy, CURLINFO_NUM_CONNECTS, &connects);
    curl_easy_getinfo(r->easy, CURLINFO_CONNECT_TIME_T, &connect_us);
    curl_easy_getinfo(r->easy, CURLINFO_PRETRANSFER_TIME_T, &pretransfer_us);
    curl_easy_getinfo(r->easy, CURLINFO_TOTAL_TIME_T, &total_us);
    curl_easy_getinfo(r->easy, CURLINFO_HTTP_VERSION, &version);
    /* seconds or an HTTP date, read by curl; 0 when absent, unreadable or past */
    curl_easy_getinfo(r->easy, CURLINFO_RETRY_AFTER, &retry_after);
    s->connects += connects;
    s->requests++;

    lua_createtable(L, 0, 10);
    lua_pushinteger(L, r->id);
    lua_setfield(L, -2, "id");
    lua_pushinteger(L, status);
    lua_setfield(L, -2, "status");
    lua_pushlstring(L, r->resp.data ? r->resp.data : "", r->resp.len);
    lua_setfield(L, -2, "body");
    push_headers(L, &r->head);
    lua_setfield(L, -2, "headers");
    if (r->result != CURLE_OK) {
        if (r->too_large) {
            lua_pushliteral(L, "RESPONSE_TOO_LARGE");
            lua_pushfstring(L, "response body larger than max_body (%d bytes)", (int)s->max_body);
        } else if (r->head_too_large || (r->result == CURLE_OUT_OF_MEMORY && r->head.len > 0)) {
            /* curl refuses a header line over 100 KiB as "out of memory" */
            lua_pushliteral(L, "HEADER_TOO_LARGE");
            lua_pushfstring(L, "the answer's headers are too large (over %d KiB in all or 100 KiB in one line)",
                MAX_HEADER_BYTES / 1024);
        } else {
            lua_pushstring(L, curl_code_name(r->result, tmp, sizeof tmp));
            lua_pushstring(L, r->errbuf[0] ? r->errbuf : curl_easy_strerror(r->result));
        }
        lua_setfield(L, -3, "message");
        lua_setfield(L, -2, "code");
    }
    lua_pushboolean(L, r->body_sent);
    lua_setfield(L, -2, "body_sent");
    /* connected: a connection was made, or a kept-alive one was reused and used */
    lua_pushboolean(L, connect_us > 0 || (connects == 0 && pretransfer_us > 0) || status > 0);
    lua_setfield(L, -2, "connected");
    lua_pushboolean(L, connects == 0 && (pretransfer_us > 0 || status > 0));
    lua_setfield(L, -2, "reused");
    lua_pushnumber(L, (double)total_us / 1e6);
    lua_setfield(L, -2, "total_time");
    lua_pushstring(L, version == CURL_HTTP_VERSION_2_0 ? "2" : version == CURL_HTTP_VERSION_1_1 ? "1.1"
        : version == CURL_HTTP_VERSION_1_0 ? "1.0" : version == CURL_HTTP_VERSION_3 ? "3" : "");
    lua_setfield(L, -2, "http_version");
    if (retry_after > 0) {
        lua_pushinteger(L, (lua_Integer)(retry_after < MAX_RETRY_AFTER ? retry_after : MAX_RETRY_AFTER));
        lua_setfield(L, -2, "retry_after");
    }
}

/* session:poll(timeout_s) -> array of finished results (maybe empty). Waits at
** most timeout_s for the first one. Requests stay owned by s->done until pushed. */
static int kc_http_poll(lua_State *L)
{
    kc_session *s = check_open(L);
    double timeout = luaL_optnumber(L, 2, 1.0);
    int running = 0, n = 0;
    CURLMcode mrc;
    lua_settop(L, 2);
    mrc = curl_multi_perform(s->multi, &running);
    collect_done(s);
    if (mrc == CURLM_OK && !s->done && running > 0 && timeout > 0) {
        mrc = curl_multi_poll(s->multi, NULL, 0, (int)(timeout * 1000), NULL);
        if (mrc == CURLM_OK)
            mrc = curl_multi_perform(s->multi, &running);
        collect_done(s);
    }
    if (mrc != CURLM_OK && !s->done)
        return kc_fail(L, "CURLM", "curl multi: %s", curl_multi_strerror(mrc));
    lua_newtable(L);
    while (s->done) {
        kc_request *r = s->done;
        push_result(L, s, r);
        lua_rawseti(L, -2, ++n);
        s->done = r->next;
        body_unanchor(L, r);
        request_free(s, r);
    }
    return 1;
}

static int kc_http_pending(lua_State *L)
{
    kc_session *s = check_open(L);
    lua_Integer n = 0;
    kc_request *r;
    for (r = s->active; r; r = r->next)
        n++;
    lua_pushinteger(L, n);
    return 1;
}

static int kc_http_stats(lua_State *L)
{
    kc_session *s = luaL_checkudata(L, 1, SESSION_MT);
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, s->connects);
    lua_setfield(L, -2, "connects");
    lua_pushinteger(L, s->requests);
    lua_setfield(L, -2, "requests");
    return 1;
}

static int kc_http_tostring(lua_State *L)
{
    kc_session *s = luaL_checkudata(L, 1, SESSION_MT);
    lua_pushstring(L, s->multi ? "kiva.core.http (open)" : "kiva.core.http (closed)");
    return 1;
}

static int kc_curl_version(lua_State *L)
{
    lua_pushstring(L, curl_version_info(CURLVERSION_NOW)->version);
    return 1;
}

void kc_http_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        { "add", kc_http_add },
        { "poll", kc_http_poll },
        { "pending", kc_http_pending },
        { "stats", kc_http_stats },
        { "close", kc_http_release },
        { NULL, NULL }
    };
    static const luaL_Reg meta[] = {
        { "__gc", kc_http_release },
        { "__close", kc_http_release },
        { "__tostring", kc_http_tostring },
        { NULL, NULL }
    };
    static const luaL_Reg funcs[] = {
        { "http_session", kc_http_session },
        { "curl_version", kc_curl_version },
        { NULL, NULL }
    };
    if (luaL_newmetatable(L, SESSION_MT)) {
        luaL_setfuncs(L, meta, 0);
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    luaL_setfuncs(L, funcs, 0);
}
