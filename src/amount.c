/* SPDX-License-Identifier: MIT
**
** The two helpers every mapping script calls on every row, kiva.map.trim and
** kiva.map.amount, in C: in Lua they were half of a repayment row's cost (a dozen
** pattern matches and string copies per amount). kiva.map keeps the interface,
** the messages and the handling of nil and numbers; these do the text work.
** Registers: map_trim, map_amount.
**
** Spaces are ASCII white space plus the no-break (U+00A0), narrow no-break
** (U+202F) and thin (U+2009) spaces that spreadsheet exports put in values.
*/
#include <string.h>

#include "kiva_core.h"

#define AMOUNT_MAX 256   /* longer text is not an amount anyone typed */

static int ascii_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* Length of the Unicode space at s[0..n), or 0. */
static size_t unicode_space(const unsigned char *s, size_t n)
{
    if (n >= 2 && s[0] == 0xC2 && s[1] == 0xA0)
        return 2;
    if (n >= 3 && s[0] == 0xE2 && s[1] == 0x80 && (s[2] == 0xAF || s[2] == 0x89))
        return 3;
    return 0;
}

/* Pushes s[0..n) without ASCII spaces at its ends (nil when nothing is left), or
** the value at `same` itself when there is nothing to cut (same = 0: always a copy). */
static void push_trimmed(lua_State *L, const unsigned char *s, size_t n, int same)
{
    size_t first, last;
    for (first = 0; first < n && ascii_space(s[first]); first++) {}
    if (first == n) {
        lua_pushnil(L);
        return;
    }
    for (last = n; ascii_space(s[last - 1]); last--) {}
    if (same && first == 0 && last == n)
        lua_pushvalue(L, same);
    else
        lua_pushlstring(L, (const char *)s + first, last - first);
}

/* map_trim(s) -> s without surrounding spaces, inner Unicode spaces as " "; nil
** when nothing is left. Returns s itself when there is nothing to change. */
static int kc_map_trim(lua_State *L)
{
    size_t n, i, u;
    const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
    luaL_Buffer b;

    for (i = 0; i < n; i++)
        if (s[i] >= 0xC2 && unicode_space(s + i, n - i))
            break;
    if (i == n) {   /* the usual case: no Unicode space */
        push_trimmed(L, s, n, 1);
        return 1;
    }
    /* Unicode spaces become " ", then the ends are trimmed */
    luaL_buffinit(L, &b);
    for (i = 0; i < n; i += u ? u : 1) {
        u = unicode_space(s + i, n - i);
        luaL_addchar(&b, u ? ' ' : (char)s[i]);
    }
    luaL_pushresult(&b);
    s = (const unsigned char *)lua_tolstring(L, -1, &n);
    push_trimmed(L, s, n, 0);
    return 1;
}

/* "1.250.000" with sep '.': one to three digits, then groups of sep and three digits. */
static int grouped_ok(const char *s, size_t n, char sep)
{
    size_t i = 0;
    while (i < n && i < 3 && s[i] >= '0' && s[i] <= '9')
        i++;
    if (i == 0)
        return 0;
    while (i < n) {
        if (i + 4 > n || s[i] != sep)
            return 0;
        if (!(s[i + 1] >= '0' && s[i + 1] <= '9' && s[i + 2] >= '0' && s[i + 2] <= '9'
              && s[i + 3] >= '0' && s[i + 3] <= '9'))
            return 0;
        i += 4;
    }
    return 1;
}

static int all_digits(const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* Copies s[0..n) into out without the character c; returns the new length. */
static size_t without(const char *s, size_t n, char c, char *out)
{
    size_t i, k = 0;
    for (i = 0; i < n; i++)
        if (s[i] != c)
            out[k++] = s[i];
    return k;
}

static int failure(lua_State *L, const char *why)
{
    lua_pushnil(L);
    lua_pushstring(L, why);
    return 2;
}

/* map_amount(trimmed, decimal, max_decimals) -> integer | float | nil, why
** why: "not_number", "misplaced" (separators), "decimals" (too many), "too_long"
** (over 255 characters besides spaces: no amount anyone typed).
** Grouping by spaces, apostrophes, commas or dots; the last of "." and "," is the
** decimal mark when both appear; a single separator followed by exactly three
** digits (and at most three before) is a thousands separator unless it is the
** `decimal` the script declared. Values are read by Lua's own tonumber, so an
** amount is the same number it was when this was Lua. */
static int kc_map_amount(lua_State *L)
{
    size_t n, dlen, i, k = 0, len, int_len, frac_len, last_dot = 0, last_comma = 0, dots = 0, commas = 0;
    const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
    const char *decimal = luaL_optlstring(L, 2, ".", &dlen);
    lua_Number max_decimals = luaL_optnumber(L, 3, 2);
    char text[AMOUNT_MAX], intpart[AMOUNT_MAX], number[2 * AMOUNT_MAX + 4];
    const char *digits, *frac;
    int negative = 0;

    /* every space (ASCII or Unicode) and apostrophe goes */
    for (i = 0; i < n;) {
        size_t u = unicode_space(s + i, n - i);
        if (u) {
            i += u;
            continue;
        }
        if (!ascii_space(s[i]) && s[i] != '\'') {
            if (k == sizeof text)
                return failure(L, "too_long");
            text[k++] = (char)s[i];
        }
        i++;
    }
    digits = text;
    len = k;
    if (len > 0 && (text[0] == '-' || text[0] == '+')) {
        negative = text[0] == '-';
        digits++;
        len--;
    }
    if (len == 0 || digits[0] < '0' || digits[0] > '9')
        return failure(L, "not_number");
    for (i = 0; i < len; i++) {
        if (digits[i] == '.') { dots++; last_dot = i + 1; }
        else if (digits[i] == ',') { commas++; last_comma = i + 1; }
        else if (digits[i] < '0' || digits[i] > '9') return failure(L, "not_number");
    }

    if (dots && commas) {
        char mark = last_dot > last_comma ? '.' : ',', group = mark == '.' ? ',' : '.';
        size_t pos = last_dot > last_comma ? last_dot : last_comma;
        if (memchr(digits, mark, pos - 1) || !grouped_ok(digits, pos - 1, group))
            return failure(L, "misplaced");
        int_len = without(digits, pos - 1, group, intpart);
        frac = digits + pos;
        frac_len = len - pos;
    } else if (dots || commas) {
        char sep = dots ? '.' : ',';
        size_t count = dots ? dots : commas, pos = dots ? last_dot : last_comma;
        if (count > 1) {
            if (!grouped_ok(digits, len, sep))
                return failure(L, "misplaced");
            int_len = without(digits, len, sep, intpart);
            frac = "";
            frac_len = 0;
        } else {
            size_t before = pos - 1, after = len - pos;
            int declared = dlen == 1 && decimal[0] == sep;
            if (after == 3 && before <= 3 && !declared) {
                int_len = without(digits, len, sep, intpart);
                frac = "";
                frac_len = 0;
            } else {
                memcpy(intpart, digits, before);
                int_len = before;
                frac = digits + pos;
                frac_len = after;
            }
        }
    } else {
        memcpy(intpart, digits, len);
        int_len = len;
        frac = "";
        frac_len = 0;
    }
    if (int_len == 0 || !all_digits(intpart, int_len) || !all_digits(frac, frac_len))
        return failure(L, "misplaced");
    while (frac_len > 0 && frac[frac_len - 1] == '0')
        frac_len--;
    if ((lua_Number)frac_len > max_decimals)
        return failure(L, "decimals");

    k = 0;
    if (negative) number[k++] = '-';
    memcpy(number + k, intpart, int_len);
    k += int_len;
    if (frac_len) {
        number[k++] = '.';
        memcpy(number + k, frac, frac_len);
        k += frac_len;
    }
    number[k] = '\0';
    if (lua_stringtonumber(L, number) == 0)
        return failure(L, "not_number");
    if (!frac_len && !lua_isinteger(L, -1)) {
        /* like math.tointeger: a whole amount too long for an integer literal
        ** stays an integer when the float holds it exactly */
        int isnum;
        lua_Integer v = lua_tointegerx(L, -1, &isnum);
        if (isnum) {
            lua_pop(L, 1);
            lua_pushinteger(L, v);
        }
    }
    return 1;
}

void kc_amount_open(lua_State *L)
{
    static const luaL_Reg funcs[] = {
        { "map_trim", kc_map_trim },
        { "map_amount", kc_map_amount },
        { NULL, NULL }
    };
    luaL_setfuncs(L, funcs, 0);
}
