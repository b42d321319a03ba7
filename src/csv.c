/* SPDX-License-Identifier: MIT
**
** Streaming CSV reader: `core.csv_open(path, opts)` returns a reader userdata
** ("kiva.core.csv") with next, header, delimiter, encoding, warnings, close.
** The reader owns its FILE, a fixed 64 KiB read buffer and one record buffer
** capped at opts.max_record bytes, so memory stays flat whatever the file size.
** A record comes out as an array of strings, a table keyed by the header, or
** (opts.lazy) a row userdata holding its UTF-8 bytes (src/row.c).
** User values: 1 = header (array), 2 = warnings (array), 3 = on_warning,
** 4 = header name -> position (the rows' index), 5 = opts.where (a prefix).
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiva_core.h"
#include "buf.h"
#include "row.h"
#include "transcode.h"
#include "utf8.h"

#define CSV_MT "kiva.core.csv"
#define CSV_CHUNK 65536
#define CSV_MAX_RECORD_DEFAULT (16u << 20)
#define CSV_MAX_FIELDS 65536

typedef struct kc_csv {
    FILE *fp;
    char *path;
    unsigned char *in;
    size_t in_pos, in_len;
    int eof;
    kc_buf rec;         /* raw bytes of the current record's fields, back to back */
    kc_buf out;         /* the record transcoded to UTF-8, when it was not UTF-8 */
    size_t *ends;       /* end offset in rec of each field */
    size_t *out_ends;   /* end offset in out of each field (ends_cap of them) */
    size_t nfields, ends_cap, out_ends_cap;
    int delim;
    unsigned char stop[256];   /* STOP_* bits: the bytes that end a run of ordinary ones */
    int enc, enc_auto;
    long line;          /* line of the next byte */
    int done;           /* end of file reached or a fatal error reported */
    int header_state;   /* 0 none wanted, 1 wanted and not read, 2 read */
    size_t nheader;
    int keyed;          /* records as tables keyed by the header */
    int lazy;           /* records as rows (implies keyed) */
    char err[512];
} kc_csv;

enum { GOT_EOF = 0, GOT_RECORD = 1, GOT_BAD = -1, GOT_FATAL = -2 };
enum { STOP_QUOTED = 1, STOP_UNQUOTED = 2 };

static kc_csv *check_open(lua_State *L)
{
    kc_csv *r = luaL_checkudata(L, 1, CSV_MT);
    if (!r->in)
        luaL_error(L, "attempt to use a closed CSV reader");
    return r;
}

static int csv_release(lua_State *L)
{
    kc_csv *r = luaL_checkudata(L, 1, CSV_MT);
    if (r->fp)
        fclose(r->fp);
    r->fp = NULL;
    free(r->in);
    r->in = NULL;
    free(r->path);
    r->path = NULL;
    free(r->ends);
    r->ends = NULL;
    free(r->out_ends);
    r->out_ends = NULL;
    kc_buf_free(&r->rec);
    kc_buf_free(&r->out);
    return 0;
}

/* Refills the read buffer; 0 at end of file, -1 on a read error. */
static int fill(kc_csv *r)
{
    if (r->in_pos < r->in_len)
        return 1;
    if (r->eof)
        return 0;
    r->in_len = fread(r->in, 1, CSV_CHUNK, r->fp);
    r->in_pos = 0;
    if (r->in_len == 0) {
        r->eof = 1;
        return ferror(r->fp) ? -1 : 0;
    }
    return 1;
}

static int peek(kc_csv *r)
{
    int f = fill(r);
    if (f <= 0)
        return f < 0 ? -2 : -1;
    return r->in[r->in_pos];
}

/* Called from inside the parser: a warning goes to user value 2 and on_warning. */
static void warn(lua_State *L, int idx, const char *msg)
{
    lua_getiuservalue(L, idx, 2);
    lua_pushstring(L, msg);
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    lua_pop(L, 1);
    if (lua_getiuservalue(L, idx, 3) == LUA_TFUNCTION) {
        lua_pushstring(L, msg);
        lua_call(L, 1, 0);
    } else {
        lua_pop(L, 1);
    }
}

/* Doubles the field-end array; -1 past CSV_MAX_FIELDS or out of memory. */
static int grow_ends(kc_csv *r)
{
    size_t cap = r->ends_cap ? r->ends_cap * 2 : 64;
    size_t *p;
    if (cap > CSV_MAX_FIELDS)
        return -1;
    p = realloc(r->ends, cap * sizeof *p);
    if (!p)
        return -1;
    r->ends = p;
    r->ends_cap = cap;
    return 0;
}

/* Room for one more field end; -1 past CSV_MAX_FIELDS or out of memory. */
static inline int end_field_room(kc_csv *r)
{
    return r->nfields == r->ends_cap ? grow_ends(r) : 0;
}

/* Records the end of a field; -1 past CSV_MAX_FIELDS or out of memory. */
static inline int end_field(kc_csv *r)
{
    if (end_field_room(r) != 0)
        return -1;
    r->ends[r->nfields++] = r->rec.len;
    return 0;
}

/* The stop table: quote, CR, LF and NUL end a run in and out of quotes, the
** delimiter only outside. */
static void set_stops(kc_csv *r)
{
    memset(r->stop, 0, sizeof r->stop);
    r->stop['"'] = r->stop['\r'] = r->stop['\n'] = r->stop[0] = STOP_QUOTED | STOP_UNQUOTED;
    r->stop[(unsigned char)r->delim] |= STOP_UNQUOTED;
}

/* Appends the run of ordinary bytes at the read position (none of delim, quote,
** CR, LF, NUL) in one copy: the fast path that keeps throughput up. */
static void add_run(kc_csv *r, int quoted, int *overflow)
{
    size_t i = r->in_pos;
    unsigned char mask = quoted ? STOP_QUOTED : STOP_UNQUOTED;
    while (i < r->in_len && !(r->stop[r->in[i]] & mask))
        i++;
    if (i > r->in_pos && !*overflow) {
        size_t n = i - r->in_pos;
        /* the common case, room in the record buffer, without a call */
        if (r->rec.len + n < r->rec.cap && (!r->rec.max || r->rec.len + n <= r->rec.max)) {
            memcpy(r->rec.data + r->rec.len, r->in + r->in_pos, n);
            r->rec.len += n;
            r->rec.data[r->rec.len] = '\0';
        } else if (kc_buf_add(&r->rec, r->in + r->in_pos, n) != 0) {
            *overflow = 1;
        }
    }
    r->in_pos = i;
}

#define ADD(ch) do { if (!overflow && kc_buf_addc(&r->rec, (char)(ch)) != 0) overflow = 1; } while (0)
#define END_FIELD() do { if (end_field(r) != 0) too_many = 1; } while (0)

/* The usual record taken whole, as the state machine below would read it: a line
** whose end is in the buffer, with no quote, NUL or CR before its LF (or CRLF),
** within the record cap. Its delimiters found with memchr: a wide export's cost is
** per cell, and this is a few instructions a cell. @return 1 when taken (the line
** consumed), 0 to leave it to the state machine (nothing consumed). */
static int plain_record(kc_csv *r, int *blank)
{
    const char *line = (const char *)r->in + r->in_pos, *end, *p, *lf;
    size_t len, n;
    if (r->in_pos >= r->in_len)
        return 0;
    lf = memchr(line, '\n', r->in_len - r->in_pos);
    if (!lf)
        return 0;
    len = (size_t)(lf - line);
    n = len > 0 && line[len - 1] == '\r' ? len - 1 : len;
    if (memchr(line, '"', n) || memchr(line, '\r', n) || memchr(line, '\0', n)
        || (r->rec.max && n > r->rec.max) || kc_buf_reserve(&r->rec, n + 1) != 0)
        return 0;
    end = line + n;
    for (p = line;;) {
        const char *d = memchr(p, r->delim, (size_t)(end - p));
        size_t cell = (size_t)((d ? d : end) - p);
        if (end_field_room(r) != 0) {
            r->nfields = 0;
            kc_buf_reset(&r->rec);
            return 0;   /* more fields than allowed: the state machine says so */
        }
        memcpy(r->rec.data + r->rec.len, p, cell);
        r->rec.len += cell;
        r->ends[r->nfields++] = r->rec.len;
        if (!d)
            break;
        p = d + 1;
    }
    r->rec.data[r->rec.len] = '\0';
    r->in_pos += len + 1;
    r->line++;
    *blank = n == 0;
    return 1;
}

/* Reads one record's raw fields into rec/ends. *start_line gets its first line,
** *blank whether it was an empty line. */
static int read_record(kc_csv *r, long *start_line, int *blank)
{
    enum { FIELD_START, UNQUOTED, QUOTED, AFTER_QUOTE } state = FIELD_START;
    int overflow = 0, too_many = 0, any_quote = 0, text_after_quote = 0;
    long quote_line = 0;
    kc_buf_reset(&r->rec);
    r->nfields = 0;
    *start_line = r->line;
    *blank = 0;
    if (plain_record(r, blank))
        return GOT_RECORD;
    for (;;) {
        int c, f = fill(r);
        if (f < 0) {
            snprintf(r->err, sizeof r->err, "%s:%ld: read error: %s", r->path, r->line, strerror(errno));
            return GOT_FATAL;
        }
        c = f ? r->in[r->in_pos++] : -1;
        if (c == 0) {
            snprintf(r->err, sizeof r->err, "%s:%ld: NUL byte in the file: not a text CSV "
                     "(UTF-16 or a binary file?); save it as CSV UTF-8 or Windows-1252", r->path, r->line);
            return GOT_FATAL;
        }
        switch (state) {
        case FIELD_START:
            if (c == -1) {
                if (r->nfields == 0)
                    return GOT_EOF;
                END_FIELD();
                goto done;
            }
            if (c == '"') {
                state = QUOTED;
                any_quote = 1;
                quote_line = r->line;
                continue;
            }
            state = UNQUOTED;
            /* fall through */
        case UNQUOTED:
        case AFTER_QUOTE:
            if (c == -1) {
                END_FIELD();
                goto done;
            }
            if (c == r->delim) {
                END_FIELD();
                state = FIELD_START;
                continue;
            }
            if (c == '\r' || c == '\n') {
                if (c == '\r' && peek(r) == '\n')
                    r->in_pos++;
                r->line++;
                END_FIELD();
                *blank = r->nfields == 1 && r->rec.len == 0 && !any_quote;
                goto done;
            }
            /* a stray quote inside an unquoted field is kept as text, as spreadsheet
            ** programs do; text after a closing quote means the quoting is broken
            ** (`"Ana"x`), so the record is refused rather than guessed at */
            if (state == AFTER_QUOTE)
                text_after_quote = 1;
            state = UNQUOTED;
            if (r->stop[c] & STOP_UNQUOTED)
                ADD(c);        /* a stray quote: kept, and the run starts after it */
            else
                r->in_pos--;   /* an ordinary byte: it starts the run */
            add_run(r, 0, &overflow);
            /* the common case of a wide export: a delimiter, then another plain field,
            ** both in the buffer; taken here without a turn of the state machine */
            while (r->in_pos + 1 < r->in_len && r->in[r->in_pos] == r->delim
                   && !(r->stop[r->in[r->in_pos + 1]] & STOP_UNQUOTED)) {
                r->in_pos++;
                END_FIELD();
                add_run(r, 0, &overflow);
            }
            continue;
        case QUOTED:
            if (c == -1) {
                snprintf(r->err, sizeof r->err, "%s:%ld: unterminated quote: the field opened at line %ld "
                         "runs to the end of the file", r->path, quote_line, quote_line);
                return GOT_FATAL;
            }
            if (c == '"') {
                if (peek(r) == '"') {
                    r->in_pos++;
                    ADD('"');
                } else {
                    state = AFTER_QUOTE;
                }
                continue;
            }
            if (c == '\r' || c == '\n') {
                /* embedded line breaks come out as "\n" whatever the file uses */
                if (c == '\r' && peek(r) == '\n')
                    r->in_pos++;
                r->line++;
                ADD('\n');
                continue;
            }
            if (r->stop[c] & STOP_QUOTED)
                ADD(c);
            else
                r->in_pos--;
            add_run(r, 1, &overflow);
            continue;
        }
    }
done:
    if (overflow || too_many || text_after_quote) {
        if (text_after_quote && !overflow && !too_many)
            snprintf(r->err, sizeof r->err, "%s:%ld: text after a closing quote (field %zu): the quotes "
                     "of this record do not balance", r->path, *start_line, r->nfields);
        else if (overflow)
            snprintf(r->err, sizeof r->err, "%s:%ld: record longer than %zu bytes (an unbalanced quote?)",
                     r->path, *start_line, r->rec.max);
        else
            snprintf(r->err, sizeof r->err, "%s:%ld: more than %d fields in one record",
                     r->path, *start_line, CSV_MAX_FIELDS);
        return GOT_BAD;
    }
    return GOT_RECORD;
}

/* 1 when no field boundary of the (valid UTF-8) record splits a sequence: the
** byte that starts each field is not a continuation byte. */
static int boundaries_whole(const kc_csv *r, const char *s)
{
    size_t i;
    for (i = 0; i + 1 < r->nfields; i++) {
        size_t e = r->ends[i];
        if (e < r->rec.len && ((unsigned char)s[e] & 0xC0) == 0x80)
            return 0;
    }
    return 1;
}

/* Turns the switch to Windows-1252 on (automatic mode, first invalid UTF-8), once. */
static void switch_to_cp1252(lua_State *L, kc_csv *r, long line)
{
    char msg[600];
    r->enc = KC_ENC_CP1252;
    r->enc_auto = 0;
    snprintf(msg, sizeof msg, "%s:%ld: not valid UTF-8; reading the file as Windows-1252 "
             "(pass encoding = \"...\" to choose)", r->path, line);
    warn(L, 1, msg);
}

/* The current record in UTF-8: *data and *ends are the record itself when it
** already is, else its transcoding in out/out_ends; 0, or -1 with r->err set. In
** automatic mode the first invalid UTF-8 switches the rest of the file to
** Windows-1252 (the cells before it, valid UTF-8, stay as read). */
static int record_utf8(lua_State *L, kc_csv *r, long line, const char **data, const size_t **ends)
{
    const char *s = r->rec.data ? r->rec.data : "";
    size_t i, from = 0;
    *data = s;
    *ends = r->ends;
    if (r->enc == KC_ENC_UTF8) {
        if (kc_utf8_valid_prefix(s, r->rec.len) == r->rec.len && boundaries_whole(r, s))
            return 0;
        for (from = 0; from < r->nfields; from++) {
            size_t start = from ? r->ends[from - 1] : 0, n = r->ends[from] - start;
            size_t ok = kc_utf8_valid_prefix(s + start, n);
            if (ok == n)
                continue;
            if (!r->enc_auto) {
                snprintf(r->err, sizeof r->err, "%s:%ld: invalid UTF-8 (byte 0x%02X); pass the file's "
                         "encoding, such as encoding = \"windows-1252\"", r->path, line,
                         (unsigned char)s[start + ok]);
                return -1;
            }
            switch_to_cp1252(L, r, line);
            break;
        }
        if (from == r->nfields)
            return 0;
    }
    if (r->out_ends_cap < r->nfields) {
        size_t *p = realloc(r->out_ends, r->ends_cap * sizeof *p);
        if (!p)
            goto nomem;
        r->out_ends = p;
        r->out_ends_cap = r->ends_cap;
    }
    kc_buf_reset(&r->out);
    if (from) {
        if (kc_buf_add(&r->out, s, r->ends[from - 1]) != 0)
            goto nomem;
        memcpy(r->out_ends, r->ends, from * sizeof *r->ends);
    }
    for (i = from; i < r->nfields; i++) {
        size_t start = i ? r->ends[i - 1] : 0;
        if (kc_transcode_to_utf8(&r->out, s + start, r->ends[i] - start, r->enc) != 0)
            goto nomem;
        r->out_ends[i] = r->out.len;
    }
    *data = r->out.data ? r->out.data : "";
    *ends = r->out_ends;
    return 0;
nomem:
    snprintf(r->err, sizeof r->err, "%s:%ld: out of memory", r->path, line);
    return -1;
}

/* Pushes cell i of a UTF-8 record. */
static void push_cell(lua_State *L, const char *data, const size_t *ends, size_t i)
{
    size_t start = i ? ends[i - 1] : 0;
    lua_pushlstring(L, data + start, ends[i] - start);
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* Trims the string on top of the stack; names an empty header cell column_<i>. */
static void trim_header(lua_State *L, size_t i)
{
    size_t n;
    const char *s = lua_tolstring(L, -1, &n);
    while (n && is_space(*s)) { s++; n--; }
    while (n && is_space(s[n - 1])) n--;
    if (n == 0)
        lua_pushfstring(L, "column_%d", (int)i);
    else
        lua_pushlstring(L, s, n);
    lua_remove(L, -2);
}

/* Makes the name on top of the stack unique among header[1..i-1]: "Amount_2". */
static void unique_header(lua_State *L, int header, size_t i)
{
    int base = lua_gettop(L), suffix = 1;
    lua_pushvalue(L, base);
    for (;;) {
        size_t j;
        int clash = 0;
        const char *name = lua_tostring(L, -1);
        for (j = 1; j < i && !clash; j++) {
            lua_rawgeti(L, header, (lua_Integer)j);
            clash = strcmp(lua_tostring(L, -1), name) == 0;
            lua_pop(L, 1);
        }
        if (!clash)
            break;
        suffix++;
        lua_pop(L, 1);
        lua_pushfstring(L, "%s_%d", lua_tostring(L, base), suffix);
    }
    lua_replace(L, base);
}

/* Reads the next non-blank record into UTF-8 (*data, *ends, r->nfields cells):
** GOT_*, nothing pushed. */
static int next_record(lua_State *L, kc_csv *r, long *line, const char **data, const size_t **ends)
{
    int got, blank;
    do {
        got = read_record(r, line, &blank);
    } while (got == GOT_RECORD && blank);
    if (got != GOT_RECORD)
        return got;
    if (record_utf8(L, r, *line, data, ends) != 0)
        return GOT_BAD;
    return GOT_RECORD;
}

/* Pushes the first n cells of a UTF-8 record as an array. */
static void push_array(lua_State *L, const char *data, const size_t *ends, size_t n)
{
    size_t i;
    lua_createtable(L, (int)n, 0);
    for (i = 0; i < n; i++) {
        push_cell(L, data, ends, i);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

/* Reads the header on first use; 0 or -1 with r->err set. */
static int ensure_header(lua_State *L, kc_csv *r)
{
    long line;
    int got, header;
    size_t i;
    const char *data;
    const size_t *ends;
    if (r->header_state != 1)
        return 0;
    got = next_record(L, r, &line, &data, &ends);
    if (got == GOT_FATAL || got == GOT_BAD) {
        if (got == GOT_FATAL)
            r->done = 1;
        return -1;
    }
    r->header_state = 2;
    if (got == GOT_EOF) {
        r->done = 1;
        lua_newtable(L);
        lua_setiuservalue(L, 1, 1);
        lua_newtable(L);
        lua_setiuservalue(L, 1, 4);
        return 0;
    }
    push_array(L, data, ends, r->nfields);
    header = lua_gettop(L);
    lua_createtable(L, 0, (int)r->nfields);
    for (i = 1; i <= r->nfields; i++) {
        lua_rawgeti(L, header, (lua_Integer)i);
        trim_header(L, i);
        unique_header(L, header, i);
        lua_pushvalue(L, -1);
        lua_pushinteger(L, (lua_Integer)i);
        lua_rawset(L, header + 1);
        lua_rawseti(L, header, (lua_Integer)i);
    }
    r->nheader = r->nfields;
    lua_setiuservalue(L, 1, 4);
    lua_setiuservalue(L, 1, 1);
    return 0;
}

/* Pushes the record's line and, with opts.where, the prefix followed by the line
** ("loans.csv:42", the `where` of kiva.source, made here with no printf per row).
** @return the number of values pushed */
static int push_line(lua_State *L, long line)
{
    char digits[24], text[24];
    unsigned long v = line > 0 ? (unsigned long)line : 0;
    int n = 0, i;
    lua_pushinteger(L, line);
    if (lua_getiuservalue(L, 1, 5) != LUA_TSTRING) {
        lua_pop(L, 1);
        return 1;
    }
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v && n < (int)sizeof digits);
    for (i = 0; i < n; i++)
        text[i] = digits[n - 1 - i];
    lua_pushlstring(L, text, (size_t)n);
    lua_concat(L, 2);
    return 2;
}

/* reader:next() -> fields, line [, where] | nil (end) | false, message */
static int csv_next(lua_State *L)
{
    kc_csv *r = check_open(L);
    long line;
    int got;
    size_t n;
    const char *data;
    const size_t *ends;
    lua_settop(L, 1);
    if (r->done)
        return 0;
    if (ensure_header(L, r) != 0) {
        lua_pushboolean(L, 0);
        lua_pushstring(L, r->err);
        return 2;
    }
    if (r->done)
        return 0;
    got = next_record(L, r, &line, &data, &ends);
    if (got == GOT_EOF) {
        r->done = 1;
        return 0;
    }
    if (got != GOT_RECORD) {
        if (got == GOT_FATAL)
            r->done = 1;
        lua_pushboolean(L, 0);
        lua_pushstring(L, r->err);
        return 2;
    }
    n = r->nfields;
    if (r->header_state == 2) {
        /* trailing empty cells past the header (";;;" that Excel leaves) are dropped */
        while (n > r->nheader && ends[n - 1] == ends[n - 2])
            n--;
        if (n != r->nheader) {
            lua_pushboolean(L, 0);
            lua_pushfstring(L, "%s:%d: %d cells where the header has %d (a missing or extra delimiter?)",
                            r->path, (int)line, (int)r->nfields, (int)r->nheader);
            return 2;
        }
        if (r->lazy) {
            lua_getiuservalue(L, 1, 4);
            lua_getiuservalue(L, 1, 1);
            kc_row_push(L, data, ends, n, -2, -1);
            return 1 + push_line(L, line);
        }
        if (r->keyed) {
            size_t i;
            lua_getiuservalue(L, 1, 1);
            lua_createtable(L, 0, (int)n);
            for (i = 0; i < n; i++) {
                lua_rawgeti(L, -2, (lua_Integer)i + 1);
                push_cell(L, data, ends, i);
                lua_rawset(L, -3);
            }
            return 1 + push_line(L, line);
        }
    }
    push_array(L, data, ends, n);
    return 1 + push_line(L, line);
}

static int csv_header(lua_State *L)
{
    kc_csv *r = check_open(L);
    lua_settop(L, 1);
    if (r->header_state == 0)
        return 0;
    if (ensure_header(L, r) != 0)
        return kc_fail(L, "BAD_RECORD", "%s", r->err);
    lua_getiuservalue(L, 1, 1);
    return 1;
}

static int csv_delimiter(lua_State *L)
{
    kc_csv *r = check_open(L);
    char c = (char)r->delim;
    lua_pushlstring(L, &c, 1);
    return 1;
}

static int csv_encoding(lua_State *L)
{
    kc_csv *r = check_open(L);
    lua_pushstring(L, kc_encoding_name(r->enc));
    return 1;
}

static int csv_warnings(lua_State *L)
{
    luaL_checkudata(L, 1, CSV_MT);
    lua_getiuservalue(L, 1, 2);
    return 1;
}

/* The most frequent of , ; TAB | outside quotes on the first line of the buffer
** (ties go to that order), or ',' when none appears. */
static int sniff_delimiter(const kc_csv *r)
{
    static const char cand[] = { ',', ';', '\t', '|' };
    size_t counts[4] = { 0, 0, 0, 0 }, i, best = 0;
    int quoted = 0;
    for (i = r->in_pos; i < r->in_len; i++) {
        unsigned char c = r->in[i];
        size_t k;
        if (c == '"')
            quoted = !quoted;
        if (quoted)
            continue;
        if (c == '\n' || c == '\r')
            break;
        for (k = 0; k < 4; k++)
            if (c == (unsigned char)cand[k])
                counts[k]++;
    }
    for (i = 1; i < 4; i++)
        if (counts[i] > counts[best])
            best = i;
    return counts[best] ? cand[best] : ',';
}

/* In automatic mode, a first buffer that is not valid UTF-8 makes the whole file
** Windows-1252 before any record is returned. */
static void prescan_encoding(lua_State *L, kc_csv *r)
{
    size_t n = r->in_len - r->in_pos, ok;
    const char *s = (const char *)r->in + r->in_pos;
    ok = kc_utf8_valid_prefix(s, n);
    if (ok == n || (!r->eof && n - ok < 4 && r->in_len == CSV_CHUNK))
        return;
    {
        long line = 1;
        size_t i;
        char msg[600];
        for (i = 0; i < ok; i++)
            line += s[i] == '\n';
        r->enc = KC_ENC_CP1252;
        r->enc_auto = 0;
        snprintf(msg, sizeof msg, "%s:%ld: not valid UTF-8; reading the file as Windows-1252 "
                 "(pass encoding = \"...\" to choose)", r->path, line);
        warn(L, lua_gettop(L), msg);
    }
}

static int opt_field(lua_State *L, int opts, const char *name, int type)
{
    int t = lua_getfield(L, opts, name);
    if (t != LUA_TNIL && t != type)
        luaL_error(L, "csv_open: option '%s' must be a %s", name, lua_typename(L, type));
    return t;
}

/* core.csv_open(path, opts) -> reader | nil, message, code
** opts: delimiter (one byte; nil = sniff), encoding (nil = UTF-8 or else
** Windows-1252 with a warning), header (default true), keyed (rows keyed by the
** header), lazy (rows as src/row.c userdata: keyed, cells made on use),
** max_record (bytes), on_warning (function). */
static int csv_open(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    int has_opts = !lua_isnoneornil(L, 2), ud, f;
    kc_csv *r;
    const char *delim = NULL;
    if (has_opts)
        luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    r = lua_newuserdatauv(L, sizeof *r, 5);
    memset(r, 0, sizeof *r);
    ud = lua_gettop(L);
    luaL_setmetatable(L, CSV_MT);
    lua_newtable(L);
    lua_setiuservalue(L, ud, 2);
    kc_buf_init(&r->rec, CSV_MAX_RECORD_DEFAULT);
    kc_buf_init(&r->out, 0);
    r->enc_auto = 1;
    r->header_state = 1;
    r->line = 1;
    if (has_opts) {
        if (opt_field(L, 2, "delimiter", LUA_TSTRING) != LUA_TNIL) {
            size_t n;
            delim = lua_tolstring(L, -1, &n);
            if (n != 1 || *delim == '"' || *delim == '\r' || *delim == '\n')
                return luaL_error(L, "csv_open: delimiter must be one character other than a quote or newline");
        }
        if (opt_field(L, 2, "encoding", LUA_TSTRING) != LUA_TNIL) {
            int enc = kc_encoding_from_name(lua_tostring(L, -1));
            if (enc < 0)
                return kc_fail(L, "BAD_ENCODING", "unknown encoding '%s' (utf-8, windows-1252, "
                               "iso-8859-1 or iso-8859-15)", lua_tostring(L, -1));
            r->enc = enc;
            r->enc_auto = 0;
        }
        if (opt_field(L, 2, "header", LUA_TBOOLEAN) != LUA_TNIL && !lua_toboolean(L, -1))
            r->header_state = 0;
        if (opt_field(L, 2, "keyed", LUA_TBOOLEAN) != LUA_TNIL)
            r->keyed = lua_toboolean(L, -1);
        if (opt_field(L, 2, "lazy", LUA_TBOOLEAN) != LUA_TNIL)
            r->lazy = lua_toboolean(L, -1);
        if (opt_field(L, 2, "max_record", LUA_TNUMBER) != LUA_TNIL)
            r->rec.max = (size_t)luaL_checkinteger(L, -1);
        if (opt_field(L, 2, "on_warning", LUA_TFUNCTION) != LUA_TNIL) {
            lua_pushvalue(L, -1);
            lua_setiuservalue(L, ud, 3);
        }
        if (opt_field(L, 2, "where", LUA_TSTRING) != LUA_TNIL) {
            lua_pushvalue(L, -1);
            lua_setiuservalue(L, ud, 5);
        }
        lua_settop(L, ud);
    }
    r->path = strdup(path);
    r->in = malloc(CSV_CHUNK);
    if (!r->path || !r->in)
        return kc_fail(L, "ENOMEM", "out of memory");
    r->fp = fopen(path, "rb");
    if (!r->fp)
        return kc_fail(L, "OPEN", "%s: %s", path, strerror(errno));
    f = fill(r);
    if (f < 0)
        return kc_fail(L, "READ", "%s: %s", path, strerror(errno));
    if (r->in_len >= 2 && ((r->in[0] == 0xFF && r->in[1] == 0xFE) || (r->in[0] == 0xFE && r->in[1] == 0xFF)))
        return kc_fail(L, "BAD_ENCODING", "%s: a UTF-16 file; save it as CSV UTF-8 (or Windows-1252)", path);
    if (r->in_len >= 3 && memcmp(r->in, "\xEF\xBB\xBF", 3) == 0) {
        r->in_pos = 3;
        if (r->enc_auto) {
            r->enc = KC_ENC_UTF8;
            r->enc_auto = 0;
        }
    }
    r->delim = delim ? (unsigned char)*delim : sniff_delimiter(r);
    set_stops(r);
    if (r->enc_auto)
        prescan_encoding(L, r);
    return 1;
}

void kc_csv_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        { "next", csv_next },
        { "header", csv_header },
        { "delimiter", csv_delimiter },
        { "encoding", csv_encoding },
        { "warnings", csv_warnings },
        { "close", csv_release },
        { NULL, NULL }
    };
    static const luaL_Reg meta[] = {
        { "__gc", csv_release },
        { "__close", csv_release },
        { NULL, NULL }
    };
    kc_row_open(L);
    luaL_newmetatable(L, CSV_MT);
    luaL_setfuncs(L, meta, 0);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    lua_pushcfunction(L, csv_open);
    lua_setfield(L, -2, "csv_open");
}
