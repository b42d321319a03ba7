/* SPDX-License-Identifier: MIT
**
** B3 peer: the floor of libcurl itself. Posts request bodies from a JSON-lines file
** (cycled) to one URL at a given concurrency, with the options src/http.c sets
** (HTTP/2 over TLS when offered, TLS verified, keep-alive, body through a read
** callback, answer collected in memory), driven by curl_multi in C with no Lua.
** kiva's client uses the same library the same way, so "client / this" is the cost
** of kiva's own layer, and "this / wrk" is what libcurl costs against wrk.
**
**   curl_post URL CA_FILE TOKEN BODIES.jsonl COUNT CONCURRENCY [MAX_BODIES]
**
** Prints one key=value line: requests, failures, seconds, connects.
*/
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_CONCURRENCY 256

typedef struct body {
    char *data;
    size_t len;
} body;

typedef struct transfer {
    CURL *easy;
    const body *b;
    size_t sent;
    size_t answer_len;
    char answer[4096];
} transfer;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static size_t on_read(char *out, size_t size, size_t n, void *ud)
{
    transfer *t = ud;
    size_t room = size * n, left = t->b->len - t->sent;
    if (room > left) room = left;
    memcpy(out, t->b->data + t->sent, room);
    t->sent += room;
    return room;
}

static size_t on_write(char *in, size_t size, size_t n, void *ud)
{
    transfer *t = ud;
    size_t len = size * n, room = sizeof t->answer - t->answer_len;
    memcpy(t->answer + t->answer_len, in, len < room ? len : room);
    t->answer_len += len < room ? len : room;
    return len;
}

static int load_bodies(const char *path, size_t max, body **out, size_t *count)
{
    FILE *f = fopen(path, "rb");
    char *line = NULL;
    size_t cap = 0, n = 0;
    ssize_t len;
    body *list = calloc(max, sizeof *list);
    if (!f || !list) {
        if (f) fclose(f);
        free(list);
        return -1;
    }
    while (n < max && (len = getline(&line, &cap, f)) > 0) {
        if (line[len - 1] == '\n') len--;
        list[n].data = malloc((size_t)len + 1);
        if (!list[n].data) break;
        memcpy(list[n].data, line, (size_t)len);
        list[n].len = (size_t)len;
        n++;
    }
    free(line);
    fclose(f);
    *out = list;
    *count = n;
    return n > 0 ? 0 : -1;
}

static void start(CURLM *multi, transfer *t, const body *b)
{
    t->b = b;
    t->sent = 0;
    t->answer_len = 0;
    curl_easy_setopt(t->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)b->len);
    curl_multi_add_handle(multi, t->easy);
}

int main(int argc, char **argv)
{
    const char *url, *ca_file, *token, *path;
    long count, concurrency, started = 0, finished = 0, failures = 0, connects = 0;
    size_t nbodies = 0, max_bodies = 2000, i;
    body *bodies = NULL;
    transfer *t;
    struct curl_slist *headers = NULL;
    char auth[8192];
    CURLM *multi;
    double t0, seconds;

    if (argc < 7) {
        fprintf(stderr, "usage: curl_post URL CA_FILE TOKEN BODIES.jsonl COUNT CONCURRENCY [MAX_BODIES]\n");
        return 2;
    }
    url = argv[1], ca_file = argv[2], token = argv[3], path = argv[4];
    count = atol(argv[5]);
    concurrency = atol(argv[6]);
    if (argc > 7) max_bodies = (size_t)atol(argv[7]);
    if (count < 1 || concurrency < 1 || concurrency > MAX_CONCURRENCY || max_bodies < 1) {
        fprintf(stderr, "curl_post: COUNT >= 1, 1 <= CONCURRENCY <= %d\n", MAX_CONCURRENCY);
        return 2;
    }
    if (load_bodies(path, max_bodies, &bodies, &nbodies) != 0) {
        fprintf(stderr, "curl_post: cannot read bodies from %s\n", path);
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    headers = curl_slist_append(headers, "Accept: application/json");
    headers = curl_slist_append(headers, auth);
    headers = curl_slist_append(headers, "Content-Type: application/json; charset=utf-8");
    multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, concurrency);
    curl_multi_setopt(multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    t = calloc((size_t)concurrency, sizeof *t);
    for (i = 0; i < (size_t)concurrency; i++) {
        CURL *e = t[i].easy = curl_easy_init();
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)&t[i]);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
        curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
        curl_easy_setopt(e, CURLOPT_CAINFO, ca_file);
        curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(e, CURLOPT_READDATA, (void *)&t[i]);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, (void *)&t[i]);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    }

    t0 = now();
    for (i = 0; i < (size_t)concurrency && started < count; i++, started++)
        start(multi, &t[i], &bodies[(size_t)started % nbodies]);
    while (finished < count) {
        int running, left;
        CURLMsg *msg;
        curl_multi_perform(multi, &running);
        while ((msg = curl_multi_info_read(multi, &left))) {
            transfer *done;
            long status = 0, opened = 0;
            if (msg->msg != CURLMSG_DONE) continue;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&done);
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
            curl_easy_getinfo(msg->easy_handle, CURLINFO_NUM_CONNECTS, &opened);
            if (msg->data.result != CURLE_OK || status / 100 != 2) failures++;
            connects += opened;
            curl_multi_remove_handle(multi, msg->easy_handle);
            finished++;
            if (started < count) start(multi, done, &bodies[(size_t)started++ % nbodies]);
        }
        if (finished < count) curl_multi_poll(multi, NULL, 0, 1000, NULL);
    }
    seconds = now() - t0;
    printf("requests=%ld failures=%ld seconds=%.6f connects=%ld\n", finished, failures, seconds, connects);

    for (i = 0; i < (size_t)concurrency; i++) curl_easy_cleanup(t[i].easy);
    curl_multi_cleanup(multi);
    curl_slist_free_all(headers);
    for (i = 0; i < nbodies; i++) free(bodies[i].data);
    free(bodies);
    free(t);
    curl_global_cleanup();
    return failures ? 1 : 0;
}
