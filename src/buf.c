/* SPDX-License-Identifier: MIT
** Growable byte buffer (see buf.h). Capacity doubles; a cap (max) bounds it.
*/
#include <stdlib.h>
#include <string.h>

#include "buf.h"

void kc_buf_init(kc_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

int kc_buf_reserve(kc_buf *b, size_t extra)
{
    size_t need, cap;
    char *p;
    if (extra > (size_t)-1 - b->len - 1)
        return -1;
    need = b->len + extra;
    if (b->max && need > b->max)
        return -1;
    if (need + 1 <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 256;
    while (cap < need + 1)
        cap = cap > ((size_t)-1) / 2 ? need + 1 : cap * 2;
    p = realloc(b->data, cap);
    if (!p)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int kc_buf_add(kc_buf *b, const void *p, size_t n)
{
    if (kc_buf_reserve(b, n) != 0)
        return -1;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int kc_buf_addc(kc_buf *b, char c)
{
    return kc_buf_add(b, &c, 1);
}

int kc_buf_adds(kc_buf *b, const char *s)
{
    return kc_buf_add(b, s, strlen(s));
}

void kc_buf_reset(kc_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void kc_buf_free(kc_buf *b)
{
    free(b->data);
    kc_buf_init(b, b->max);
}
