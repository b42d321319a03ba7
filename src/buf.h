/* SPDX-License-Identifier: MIT
**
** A growable byte buffer that knows nothing of Lua and never exits: every
** allocation failure or cap overflow is reported by a -1 return, and the
** buffer stays valid (its old contents kept) so the caller can free it.
*/
#ifndef KIVA_BUF_H
#define KIVA_BUF_H

#include <stddef.h>

typedef struct kc_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max;   /* 0 = unlimited; appending past it fails */
} kc_buf;

void kc_buf_init(kc_buf *b, size_t max);
int kc_buf_reserve(kc_buf *b, size_t extra);
int kc_buf_add(kc_buf *b, const void *p, size_t n);
int kc_buf_addc(kc_buf *b, char c);
int kc_buf_adds(kc_buf *b, const char *s);
void kc_buf_reset(kc_buf *b);
void kc_buf_free(kc_buf *b);

#endif
