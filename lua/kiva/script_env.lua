--- kiva.script_env: the box a partner's mapping script runs in.
--
-- The script gets its own global table: the standard functions that only compute,
-- plus `os` reduced to clocks, dates and getenv (no os.exit, os.execute, os.remove),
-- `io` reduced to reading files, `print`/`io.write`/`warn` captured (handed to
-- box.output, never to the terminal), `debug` reduced to getinfo (no function
-- objects) and traceback (no sethook), no `package`, and `require`
-- limited to kiva.map, cjson and the standard libraries (their boxed copies). `load`,
-- `loadfile` and `dofile` take text only and default to the box. Finalizers (`__gc`)
-- are refused: Lua runs them outside any hook. Pattern functions (find, match,
-- gmatch, gsub) refuse a pattern whose worst case on the given string is above
-- PATTERN_BUDGET steps (kiva.core.pattern_cost): a match runs in C, where the CPU
-- hook cannot stop it. string.rep and table.move refuse loops that allocate nothing.
--
-- box:call(fn, ...) runs fn under box.limits (kiva.core.limits: CPU seconds per call,
-- MEMORY_CAP bytes of heap growth per run) with the string metatable pointing to the
-- boxed string table, so `s:find(...)` is guarded too.
local core = require "kiva.core"

local M = {}

M.MEMORY_CAP = 256 * 1024 * 1024   -- bytes the Lua heap may grow during a run
M.PATTERN_BUDGET = 2e8             -- worst-case matcher steps allowed per call
M.MOVE_MAX = 1e7                   -- elements one table.move may copy

local REQUIRABLE = { ["kiva.map"] = true, cjson = true, ["cjson.safe"] = true }
local BOXED_LIBS = { "string", "table", "math", "utf8", "coroutine", "os", "io", "debug" }

local function copy(t)
  local out = {}
  for k, v in pairs(t) do out[k] = v end
  return out
end

local function guarded_string()
  local s = copy(string)
  s.dump = nil
  local find, match, gmatch, gsub, rep = string.find, string.match, string.gmatch, string.gsub, string.rep
  local cost = core.pattern_cost
  local budget = M.PATTERN_BUDGET
  local function check(name, subject, pattern)
    if type(subject) == "number" then subject = tostring(subject) end
    if type(pattern) == "number" then pattern = tostring(pattern) end
    if type(subject) ~= "string" or type(pattern) ~= "string" then return end   -- the real one raises
    local steps = cost(subject, pattern, name ~= "gmatch")   -- gmatch has no ^ anchor
    if steps > budget then
      error(string.format("string.%s: the pattern '%s' on a %d-byte string could take up to %.3g steps "
        .. "(limit %.3g); use a simpler pattern or kiva.map's helpers", name, pattern:sub(1, 40), #subject,
        steps, budget), 3)
    end
  end
  function s.find(subject, pattern, init, plain)
    if not plain then check("find", subject, pattern) end
    return find(subject, pattern, init, plain)
  end
  function s.match(subject, pattern, init)
    check("match", subject, pattern)
    return match(subject, pattern, init)
  end
  function s.gmatch(subject, pattern, init)
    check("gmatch", subject, pattern)
    return gmatch(subject, pattern, init)
  end
  function s.gsub(subject, pattern, repl, n)
    check("gsub", subject, pattern)
    return gsub(subject, pattern, repl, n)
  end
  function s.rep(subject, n, sep)
    -- an empty result piece would loop n times in C without allocating
    if math.type(n) and n > 1 and #tostring(subject) + #tostring(sep or "") == 0 then return "" end
    return rep(subject, n, sep)
  end
  return s
end

local function guarded_table()
  local t = copy(table)
  local move = table.move
  function t.move(a1, f, e, tpos, a2)
    if math.type(f) and math.type(e) and e - f >= M.MOVE_MAX then
      error(string.format("table.move: %d elements is more than a mapping may move (%d)", e - f + 1,
        math.tointeger(M.MOVE_MAX)), 2)
    end
    return move(a1, f, e, tpos, a2)
  end
  return t
end

-- coroutine with create and wrap handing each new coroutine to core.limits_watch:
-- the CPU limit's timer stops the thread that called the script, not one of its own.
local function guarded_coroutine()
  local c = copy(coroutine)
  local create, resume, close, watch = coroutine.create, coroutine.resume, coroutine.close, core.limits_watch
  function c.create(f)
    local co = create(f)
    watch(co)
    return co
  end
  -- as coroutine.wrap: the error of a dead coroutine raised again, where it was called
  local function results(co, ok, ...)
    if ok then return ... end
    close(co)
    local err = ...
    if type(err) == "string" then error(err, 2) end
    error(err, 0)
  end
  function c.wrap(f)
    local co = c.create(f)
    return function(...) return results(co, resume(co, ...)) end
  end
  return c
end

-- The arguments of print, io.write and warn as strings.
local function out(...)
  local n = select("#", ...)
  local parts = {}
  for i = 1, n do parts[i] = tostring((select(i, ...))) end
  return parts
end

-- The standard libraries as a script sees them: copies, guarded where a call could
-- reach outside its row; io.write goes to box.output.
local function boxed_libs(box)
  local libs = {
    string = guarded_string(), table = guarded_table(), math = copy(math), utf8 = copy(utf8),
    coroutine = guarded_coroutine(),
    os = { time = os.time, clock = os.clock, date = os.date, difftime = os.difftime, getenv = os.getenv },
    -- where a script is (debug.getinfo(1, "S").source), never a function, hook or upvalue
    debug = {
      getinfo = function(level, what)
        if type(level) ~= "number" then error("debug.getinfo: a mapping script may only give a level", 2) end
        local info = debug.getinfo(level + 1, (tostring(what or "lnSrtu"):gsub("[fL]", "")))
        return info
      end,
      traceback = function(msg) return debug.traceback(msg, 2) end,
    },
    io = {
      write = function(...) box.output(table.concat(out(...))) end,
      open = function(path, mode)
        if mode ~= nil and not tostring(mode):match("^rb?$") then
          error("io.open: a mapping script may only read files (mode 'r')", 2)
        end
        return io.open(path, mode)
      end,
      lines = function(path, ...)
        if path == nil then error("io.lines: a mapping script may not read the standard input", 2) end
        return io.lines(path, ...)
      end,
    },
  }
  for _, name in ipairs { "exit", "execute", "remove", "rename", "tmpname", "setlocale" } do
    libs.os[name] = function()
      error("os." .. name .. " is not available to a mapping script (it would act outside its row)", 2)
    end
  end
  return libs
end

--- A new box. box.output(text) receives what the script prints (set it per run);
-- box:set_limits is called by the runner. opts.modules: what `require` gives
-- for a name instead of the shared module (the script's own kiva.map helpers).
-- @return box with .env (the script's _ENV)
function M.new(opts)
  local modules = opts and opts.modules or {}
  local box = { output = function() end }
  local env = {}

  for _, name in ipairs { "assert", "error", "ipairs", "next", "pairs", "pcall", "xpcall", "rawequal", "rawget",
      "rawlen", "rawset", "select", "tonumber", "tostring", "type", "_VERSION" } do
    env[name] = _G[name]
  end
  -- rawget(row, "Photo") reads a column some exports lack (the guide's way): a CSV
  -- row is a lazy object (src/row.c), read there without the missing-column check
  local row_get = require("kiva.core").row_get
  env.rawget = function(t, k)
    if getmetatable(t) == "kiva row" then return row_get(t, k) end
    return rawget(t, k)
  end
  local libs = boxed_libs(box)
  box.string = libs.string
  for _, name in ipairs(BOXED_LIBS) do env[name] = libs[name] end

  env.print = function(...) box.output(table.concat(out(...), "\t")) end
  env.warn = function(...) box.output("warning: " .. table.concat(out(...))) end
  env.setmetatable = function(t, mt)
    if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
      error("setmetatable: finalizers (__gc) are not allowed in a mapping script", 2)
    end
    return setmetatable(t, mt)
  end
  local string_meta = { __index = libs.string }
  env.getmetatable = function(v)
    if type(v) == "string" then return string_meta end
    return getmetatable(v)
  end
  env.collectgarbage = function(opt, ...)
    opt = opt or "collect"
    if opt ~= "count" and opt ~= "collect" and opt ~= "step" then
      error("collectgarbage: '" .. tostring(opt) .. "' is not available to a mapping script", 2)
    end
    return collectgarbage(opt, ...)
  end
  env.load = function(chunk, name, _, chunk_env)
    return load(chunk, name, "t", chunk_env or env)
  end
  env.loadfile = function(path, _, chunk_env)
    if path == nil then error("loadfile: a mapping script may not read the standard input", 2) end
    return loadfile(path, "t", chunk_env or env)
  end
  env.dofile = function(path)
    local chunk, err = env.loadfile(path)
    if not chunk then error(err, 2) end
    return chunk()
  end
  env.require = function(name)
    if modules[name] then return modules[name] end
    if libs[name] then return libs[name] end
    if REQUIRABLE[name] then return require(name) end
    error("require: a mapping script may require kiva.map, cjson and the standard libraries, not '"
      .. tostring(name) .. "'", 2)
  end
  env._G = env
  box.env = env
  return setmetatable(box, { __index = M })
end

--- Sets the box's limits: `cpu` seconds of CPU per call, `memory` bytes of heap
-- growth per run (kiva.core.limits), the boxed string table behind `s:method()`
-- during each call.
function M:set_limits(cpu, memory)
  self.limits = core.limits { cpu = cpu, memory = memory, strings = self.string }
end

--- Runs fn(...) under the box's limits (set_limits).
-- @return true, results... | false, message, why ("time" | "memory" | "error")
function M:call(fn, ...)
  return self.limits:call(fn, ...)
end

return M
