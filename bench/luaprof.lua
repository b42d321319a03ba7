-- A sampling profiler for the bench workers (BENCH_PROFILE=FILE): every 1000 VM
-- instructions it records the running Lua function and line, and at exit writes the
-- top entries. Coarse, but enough to find the Lua hot spots that callgrind shows only
-- as "luaV_execute".
local M = {}

local counts, lines = {}, {}

local function sample()
  local info = debug.getinfo(2, "Sl")
  if info then
    local key = info.short_src .. ":" .. (info.linedefined or 0)
    counts[key] = (counts[key] or 0) + 1
    local lkey = info.short_src .. ":" .. (info.currentline or 0)
    lines[lkey] = (lines[lkey] or 0) + 1
  end
end

function M.start()
  debug.sethook(sample, "", 1000)
end

local function top(t, n)
  local list, total = {}, 0
  for k, v in pairs(t) do list[#list + 1] = { k, v }; total = total + v end
  table.sort(list, function(a, b) return a[2] > b[2] end)
  local out = {}
  for i = 1, math.min(n, #list) do
    out[i] = string.format("%6.1f%%  %s", 100 * list[i][2] / math.max(total, 1), list[i][1])
  end
  return table.concat(out, "\n")
end

function M.stop(path)
  debug.sethook()
  local f = assert(io.open(path, "wb"))
  f:write("# functions (file:line defined), share of samples\n", top(counts, 25),
    "\n\n# lines\n", top(lines, 40), "\n")
  f:close()
end

return M
