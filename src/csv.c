/* SPDX-License-Identifier: MIT
** Placeholder being replaced by the csv work in progress.
*/
#include "kiva_core.h"

void kc_csv_open(lua_State *L)
{
    (void)L;
}
