/* SPDX-License-Identifier: MIT
**
** Single-byte encodings to UTF-8, for the CSV reader.
** No Lua, no global state: the tables are constant. Output goes to a kc_buf
** owned by the caller.
*/
#ifndef KIVA_TRANSCODE_H
#define KIVA_TRANSCODE_H

#include <stddef.h>

#include "buf.h"

enum kc_encoding {
    KC_ENC_UTF8 = 0,
    KC_ENC_CP1252,
    KC_ENC_LATIN1,
    KC_ENC_LATIN9
};

/* The encoding named `name` ("utf-8", "windows-1252", "iso-8859-1", "iso-8859-15"
** and a few aliases, case-insensitive), or -1. */
int kc_encoding_from_name(const char *name);
const char *kc_encoding_name(int enc);

/* Appends s (in encoding enc, not UTF-8) to out as UTF-8; -1 when out is full. */
int kc_transcode_to_utf8(kc_buf *out, const char *s, size_t n, int enc);

#endif
