/* SPDX-License-Identifier: MIT
**
** The `image_encoded` rule: a data URI data:image/(jpeg|png|gif);base64,...
** whose base64 is strict (RFC 4648 alphabet, padded, no whitespace), decodes
** with OpenSSL's EVP_DecodeBlock, stays under a decoded size limit, and whose
** first bytes are the magic number of the declared type. No Lua, no heap.
*/
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "base64.h"
#include "schema.h"

#define CHUNK 4096   /* base64 characters decoded at a time: a multiple of 4 */

static int magic_matches(const char *type, const unsigned char *b, size_t n)
{
    if (strcmp(type, "jpeg") == 0)
        return n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF;
    if (strcmp(type, "png") == 0)
        return n >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0;
    return n >= 6 && (memcmp(b, "GIF87a", 6) == 0 || memcmp(b, "GIF89a", 6) == 0);
}

const char *kc_image_check(const char *s, size_t n, size_t max_decoded, char *msg, size_t cap)
{
    static const char *types[] = { "jpeg", "png", "gif" };
    const char *type = NULL, *b64 = NULL;
    unsigned char out[CHUNK / 4 * 3], head[8];
    size_t i, len = 0, pad = 0, decoded, headlen = 0;

    for (i = 0; i < 3 && !type; i++) {
        char prefix[32];
        int k = snprintf(prefix, sizeof prefix, "data:image/%s;base64,", types[i]);
        if (n >= (size_t)k && memcmp(s, prefix, (size_t)k) == 0) {
            type = types[i];
            b64 = s + k;
            len = n - (size_t)k;
        }
    }
    if (!type) {
        snprintf(msg, cap, "must be a data URI \"data:image/jpeg|png|gif;base64,...\"");
        return msg;
    }
    if (len == 0) {
        snprintf(msg, cap, "the data URI carries no image bytes");
        return msg;
    }
    if (len / 4 * 3 > max_decoded + 3) {
        snprintf(msg, cap, "larger than the %zu MiB limit (about %zu bytes decoded)",
                 max_decoded >> 20, len / 4 * 3);
        return msg;
    }
    while (pad < 2 && pad < len && b64[len - 1 - pad] == '=')
        pad++;
    i = kc_base64_scan(b64, len - pad, 0);
    if (i < len - pad) {
        snprintf(msg, cap, "base64 does not decode: invalid character at offset %zu of the data", i + 1);
        return msg;
    }
    if (len % 4 != 0) {
        snprintf(msg, cap, "base64 does not decode: length %zu is not a multiple of 4", len);
        return msg;
    }
    decoded = len / 4 * 3 - pad;
    if (decoded > max_decoded) {
        snprintf(msg, cap, "larger than the %zu MiB limit (%zu bytes decoded)", max_decoded >> 20, decoded);
        return msg;
    }
    for (i = 0; i < len; i += CHUNK) {
        size_t part = len - i < CHUNK ? len - i : CHUNK;
        int got = EVP_DecodeBlock(out, (const unsigned char *)b64 + i, (int)part);
        if (got < 0) {
            snprintf(msg, cap, "base64 does not decode (OpenSSL refused it)");
            return msg;
        }
        if (i == 0) {
            headlen = (size_t)got < sizeof head ? (size_t)got : sizeof head;
            if (headlen > decoded) headlen = decoded;
            memcpy(head, out, headlen);
        }
    }
    if (!magic_matches(type, head, headlen)) {
        snprintf(msg, cap, "declared image/%s but the decoded bytes are not a %s file", type,
                 strcmp(type, "jpeg") == 0 ? "JPEG" : strcmp(type, "png") == 0 ? "PNG" : "GIF");
        return msg;
    }
    return NULL;
}
