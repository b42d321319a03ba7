/* SPDX-License-Identifier: MIT
**
** An upper bound of the steps Lua's pattern matcher (lstrlib) may take for one call
** of string.find/match/gmatch/gsub. The matcher runs in C, where no debug hook can
** stop it, and backtracks: each item quantified with * + - may be tried at every
** length of the run of subject bytes its class matches, so a pattern with k such
** items can take (run + 1)^k steps per start position. The bound multiplies, per
** quantified item, one plus the longest run of subject bytes matching its class
** (two for ?), by the start positions (one when anchored with ^) and by the work of
** one path (its items, the runs a greedy item scans on entry, %b and back references
** counted as the whole subject).
** Classes are matched as lstrlib does (C locale), so the bound is exact enough for
** ordinary patterns and never below the real count. Registers:
** pattern_cost(subject, pattern [, anchor_ok = true]) -> steps (a float).
*/
#include <ctype.h>
#include <string.h>

#include "kiva_core.h"

#define L_ESC '%'

static int match_class(int c, int cl)
{
    int res;
    switch (tolower(cl)) {
    case 'a': res = isalpha(c); break;
    case 'c': res = iscntrl(c); break;
    case 'd': res = isdigit(c); break;
    case 'g': res = isgraph(c); break;
    case 'l': res = islower(c); break;
    case 'p': res = ispunct(c); break;
    case 's': res = isspace(c); break;
    case 'u': res = isupper(c); break;
    case 'w': res = isalnum(c); break;
    case 'x': res = isxdigit(c); break;
    default: return cl == c;
    }
    if (isupper(cl))
        res = !res;
    return res;
}

/* p at '[', ec at its closing ']' */
static int match_bracket(int c, const char *p, const char *ec)
{
    int sig = 1;
    if (p[1] == '^') {
        sig = 0;
        p++;
    }
    while (++p < ec) {
        if (*p == L_ESC) {
            p++;
            if (p < ec && match_class(c, (unsigned char)*p))
                return sig;
        } else if (p + 2 < ec && p[1] == '-') {
            p += 2;
            if ((unsigned char)p[-2] <= c && c <= (unsigned char)*p)
                return sig;
        } else if ((unsigned char)*p == c) {
            return sig;
        }
    }
    return !sig;
}

static int single_match(int c, const char *p, const char *ep)
{
    switch (*p) {
    case '.': return 1;
    case L_ESC: return match_class(c, (unsigned char)p[1]);
    case '[': return match_bracket(c, p, ep - 1);
    default: return (unsigned char)*p == c;
    }
}

/* The end of the single-character class at p, or NULL when the pattern is malformed
** (the real call then raises its own error). */
static const char *class_end(const char *p, const char *end)
{
    if (p >= end)
        return NULL;
    if (*p == L_ESC)
        return p + 1 < end ? p + 2 : NULL;
    if (*p == '[') {
        p++;
        if (p < end && *p == '^')
            p++;
        do {
            if (p >= end)
                return NULL;
            if (*p++ == L_ESC && p < end)
                p++;
        } while (p >= end || *p != ']');
        return p + 1;
    }
    return p + 1;
}

static size_t longest_run(const unsigned char *s, size_t n, const char *p, const char *ep)
{
    size_t i, run = 0, best = 0;
    for (i = 0; i < n; i++) {
        if (single_match(s[i], p, ep)) {
            if (++run > best)
                best = run;
        } else {
            run = 0;
        }
    }
    return best;
}

static int kc_pattern_cost(lua_State *L)
{
    size_t n, plen;
    const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
    const char *p = luaL_checklstring(L, 2, &plen);
    const char *end = p + plen;
    int anchor_ok = lua_isnoneornil(L, 3) ? 1 : lua_toboolean(L, 3);
    double starts = (double)n + 1, paths = 1, work = 1 + (double)plen;
    if (anchor_ok && p < end && *p == '^') {
        starts = 1;
        p++;
    }
    while (p < end) {
        const char *ep;
        if (*p == '(' || *p == ')') {
            p++;
            continue;
        }
        if (*p == '$' && p + 1 == end)
            break;
        if (*p == L_ESC && p + 1 < end && p[1] == 'b') {
            work += (double)n;
            p += 4;
            continue;
        }
        if (*p == L_ESC && p + 1 < end && p[1] == 'f') {
            p += 2;
            if (p >= end || *p != '[' || !(ep = class_end(p, end)))
                break;
            p = ep;
            continue;
        }
        if (*p == L_ESC && p + 1 < end && isdigit((unsigned char)p[1])) {
            work += (double)n;
            p += 2;
            continue;
        }
        ep = class_end(p, end);
        if (!ep)
            break;
        if (ep < end && (*ep == '*' || *ep == '+' || *ep == '-')) {
            size_t run = longest_run(s, n, p, ep);
            paths *= (double)run + 1;
            if (*ep != '-')   /* a greedy item scans its run once on entry; - steps one by one */
                work += (double)run;
            p = ep + 1;
        } else if (ep < end && *ep == '?') {
            paths *= 2;
            p = ep + 1;
        } else {
            p = ep;
        }
        if (paths > 1e300)
            paths = 1e300;
    }
    lua_pushnumber(L, starts * paths * work);
    return 1;
}

void kc_pattern_cost_open(lua_State *L)
{
    lua_pushcfunction(L, kc_pattern_cost);
    lua_setfield(L, -2, "pattern_cost");
}
