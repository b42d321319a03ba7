--- kiva.mapping: runs a partner's mapping script over an export.
-- load() reads the script, context() builds the `ctx` lookups (Kiva's config
-- lists, fetched once per run, cached on disk for a day), items() maps each row
-- (or group of rows) and yields one item per draft, repayment or journal:
--
--   { where = "loans.csv:12", payload = {...} }            mapped, not yet validated
--   { where = ..., errors = { {path=, message=}, ... } }    a helper failed, the script raised, or the row was bad
--   { where = ..., skipped = true }                          the script returned nil on purpose
--
-- Group loans (group_by) are read in two passes over the input: the first counts
-- the rows of each group value, the second holds a group's rows until its last
-- one is read and then maps them together. Memory: one counter per group plus the
-- rows of groups still open, never the whole file. A group is yielded at its last
-- row, with the `where` of its first row.
local map = require "kiva.map"
local source = require "kiva.source"

local M = {}

local KIND_FUNCTION = { loans = "loan_draft", repayments = "repayment", journals = "journal" }

local input_error = require("kiva.errors").input

--- Loads a mapping script: a Lua file returning a table of functions.
-- @return table (with .path) | nil, err (kind "input", where = the script's file:line)
function M.load(path)
  local chunk, err = loadfile(path, "t")
  if not chunk then
    return nil, input_error(err:match("^(.-:%d+):") or path, err)
  end
  local ok, m = pcall(chunk)
  if not ok then
    local msg = tostring(m)
    return nil, input_error(msg:match("^(.-:%d+):") or path, msg)
  end
  if type(m) ~= "table" then
    return nil, input_error(path, path .. ": a mapping script must return a table of functions, got " .. type(m))
  end
  for _, name in ipairs({ "loan_draft", "repayment", "journal" }) do
    if m[name] ~= nil and type(m[name]) ~= "function" then
      return nil, input_error(path, path .. ": '" .. name .. "' must be a function")
    end
  end
  if m.group_by ~= nil and type(m.group_by) ~= "string" then
    return nil, input_error(path, path .. ": 'group_by' must be a column name (a string)")
  end
  if m.source ~= nil and type(m.source) ~= "table" then
    return nil, input_error(path, path .. ": 'source' must be a table of options")
  end
  m.path = path
  return m
end

---------------------------------------------------------------- matching names

local ACCENTS = {}
do
  local groups = {
    a = "àáâãäåÀÁÂÃÄÅ", c = "çÇ", e = "èéêëÈÉÊË", i = "ìíîïÌÍÎÏ", n = "ñÑ",
    o = "òóôõöøÒÓÔÕÖØ", u = "ùúûüÙÚÛÜ", y = "ýÿÝ", oe = "œŒ", ae = "æÆ",
  }
  for ascii, chars in pairs(groups) do
    for ch in chars:gmatch(utf8.charpattern) do ACCENTS[ch] = ascii end
  end
end

--- The form names are compared in: lower case, no accents, single spaces.
function M.normalize(s)
  s = tostring(s or ""):gsub("[\192-\247][\128-\191]*", function(ch) return ACCENTS[ch] end)
  s = s:lower():gsub("[%s%p]+", " ")
  return (s:match("^%s*(.-)%s*$"))
end

local function distance(a, b)
  if a == b then return 0 end
  local la, lb = #a, #b
  local prev, cur = {}, {}
  for j = 0, lb do prev[j] = j end
  for i = 1, la do
    cur[0] = i
    local ai = a:byte(i)
    for j = 1, lb do
      local cost = ai == b:byte(j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev, cur = cur, prev
  end
  return prev[lb]
end

local function nearest(wanted, entries, n)
  local key = M.normalize(wanted)
  local scored = {}
  for _, e in ipairs(entries) do
    local d = distance(key, e.key)
    if #key >= 3 and (e.key:find(key, 1, true) or key:find(e.key, 1, true)) then d = d / 4 end
    scored[#scored + 1] = { d = d, label = e.label }
  end
  table.sort(scored, function(x, y) if x.d ~= y.d then return x.d < y.d end return x.label < y.label end)
  local out, seen = {}, {}
  for _, s in ipairs(scored) do
    if #out >= n then break end
    if not seen[s.label] then
      seen[s.label] = true
      out[#out + 1] = "'" .. s.label .. "'"
    end
  end
  return table.concat(out, ", ")
end

local function field(item, ...)
  for i = 1, select("#", ...) do
    local v = item[select(i, ...)]
    if v ~= nil and v ~= require("cjson").null then return v end
  end
  return nil
end

-- How each lookup reads its list: names matched, value returned.
local LOOKUPS = {
  activity = { list = "activities", what = "activity",
    names = function(e) return { field(e, "activity", "name") } end,
    value = function(e) return math.tointeger(field(e, "activity_id", "activityId", "id")) end },
  theme = { list = "themes", what = "theme",
    names = function(e) return { field(e, "theme_type", "themeType", "name") } end,
    value = function(e) return math.tointeger(field(e, "theme_type_id", "themeTypeId", "id")) end },
  language = { list = "locales", what = "language",
    names = function(e)
      return { field(e, "language_code", "languageCode"), field(e, "language_name", "languageName") }
    end,
    value = function(e) return math.tointeger(field(e, "language_id", "languageId", "id")) end },
  location = { list = "locations", what = "location",
    names = function(e) return { field(e, "full_name", "fullName"), field(e, "location") } end,
    value = function(e) return field(e, "full_name", "fullName") end },
}

local function read_cache(path)
  local f = path and io.open(path, "rb")
  if not f then return {} end
  local text = f:read("a")
  f:close()
  local data = require("cjson.safe").decode(text)
  return type(data) == "table" and data or {}
end

local function write_cache(path, data)
  local tmp = path .. ".tmp"
  local f = io.open(tmp, "wb")
  if not f then return end
  f:write(require("cjson").encode(data))
  f:close()
  os.rename(tmp, path)
end

--- Builds the ctx given to mapping functions.
-- opts: fetch = function(list_name) -> list | nil, err (client:config), cache_file
-- (JSON, optional), max_age (s, default 86400). Lists are fetched on first use.
-- ctx.activity(name), ctx.theme(name), ctx.language(code_or_name) -> integer id;
-- ctx.location(name) -> full_name; each | nil, message naming the nearest names.
-- ctx.join(path, key_column [, source opts]) -> function(key) -> array of rows | nil, message.
-- @return ctx
function M.context(opts)
  opts = opts or {}
  local max_age = opts.max_age or 86400
  local ctx = { _base = nil }
  local lists, indexes, list_errors = {}, {}, {}
  local cache = nil

  local function get_list(name)
    if lists[name] then return lists[name] end
    if list_errors[name] then return nil, list_errors[name] end
    cache = cache or read_cache(opts.cache_file)
    local cached = cache[name]
    if type(cached) == "table" and type(cached.list) == "table" and tonumber(cached.fetched_at)
        and os.time() - cached.fetched_at < max_age then
      lists[name] = cached.list
      return cached.list
    end
    if not opts.fetch then
      list_errors[name] = "the " .. name .. " list is not available (no connection to Kiva in this run)"
      return nil, list_errors[name]
    end
    local list, err = opts.fetch(name)
    if type(list) == "table" and type(list[name]) == "table" then list = list[name] end
    if type(list) ~= "table" then
      local msg = type(err) == "table" and (err.message or err.kind) or tostring(err or "no list")
      list_errors[name] = "could not fetch the " .. name .. " list: " .. msg
      return nil, list_errors[name]
    end
    lists[name] = list
    if opts.cache_file then
      cache[name] = { fetched_at = os.time(), list = list }
      write_cache(opts.cache_file, cache)
    end
    return list
  end

  local function index_of(spec)
    local idx = indexes[spec.list]
    if idx then return idx end
    local list, err = get_list(spec.list)
    if not list then return nil, err end
    idx = { by_key = {}, entries = {} }
    for _, e in ipairs(list) do
      if type(e) == "table" then
        for _, n in ipairs(spec.names(e)) do
          if type(n) == "string" and n ~= "" then
            local key = M.normalize(n)
            if idx.by_key[key] == nil then idx.by_key[key] = spec.value(e) end
            idx.entries[#idx.entries + 1] = { key = key, label = n }
          end
        end
      end
    end
    indexes[spec.list] = idx
    return idx
  end

  local function failure(helper, value, msg)
    if map.on_failure then map.on_failure(helper, value, msg) end
    return nil, msg
  end

  for helper, spec in pairs(LOOKUPS) do
    -- names found, as written in the export: an export repeats a few names on
    -- every row, and normalizing one costs more than the rest of the lookup
    local found = {}
    ctx[helper] = function(name)
      name = map.trim(name)
      if name == nil then return nil end
      local v = found[name]
      if v ~= nil then return v end
      local idx, err = index_of(spec)
      if not idx then return failure(helper, name, err) end
      v = idx.by_key[M.normalize(name)]
      if v ~= nil then
        found[name] = v
        return v
      end
      return failure(helper, name, "no " .. spec.what .. " named '" .. name .. "'; nearest: "
        .. nearest(name, idx.entries, 3))
    end
  end

  local joins = {}
  ctx.join = function(path, key_column, join_opts)
    local resolved = path
    if ctx._base and not path:find("^/") then
      local f = io.open(ctx._base .. "/" .. path, "rb")
      if f then f:close() resolved = ctx._base .. "/" .. path end
    end
    local cache_key = resolved .. "\0" .. tostring(key_column)
    local j = joins[cache_key]
    if not j then
      j = { rows = {} }
      local it, err = source.rows(resolved, join_opts)
      if not it then
        j.err = "join " .. path .. ": " .. err.message
      else
        for row, where in it do
          if not row then
            j.err = j.err or ("join " .. path .. ": " .. where.message)
          elseif row[key_column] == nil then
            j.err = "join " .. path .. ": no column '" .. tostring(key_column) .. "'"
            break
          else
            local k = map.trim(row[key_column])
            if k then
              local list = j.rows[k] or {}
              list[#list + 1] = row
              j.rows[k] = list
            end
          end
        end
      end
      joins[cache_key] = j
    end
    if j.err then return failure("join", path, j.err) end
    return function(key)
      return j.rows[map.trim(key) or ""] or {}
    end
  end

  return ctx
end

---------------------------------------------------------------- running rows

local function dirname(path)
  return path:match("^(.*)/[^/]*$") or "."
end

local function column_of(rows, value)
  for _, row in ipairs(rows) do
    for k, v in pairs(row) do
      if v == value or (type(v) == "string" and map.trim(v) == value) then return k end
    end
  end
  return nil
end

local function as_message(e)
  if type(e) ~= "string" then e = tostring(e) end
  return e
end

-- A runner calls fn(arg, ctx) for one row or group at a time, under a CPU time limit
-- per call, collecting kiva.map's failures; run(arg, rows, where) returns an item.
-- The hook, the failure collector and the error handler are made once per runner,
-- not per row: per row, only the deadline and the current rows change.
local function runner(fn, ctx, limit, image_base)
  local errors, current_rows, deadline
  local function on_failure(helper, value, message)
    errors = errors or {}
    errors[#errors + 1] = { path = column_of(current_rows, value) or helper, message = message }
  end
  -- The clock is read in the hook (every 10,000 VM instructions), not per row: most
  -- rows finish before the first call, and os.clock costs more than the mapping of
  -- a simple row. The limit therefore counts from a row's first 10,000 instructions.
  local function hook()
    local now = os.clock()
    if not deadline then
      deadline = now + limit
    elseif now > deadline then
      error(string.format("the mapping took longer than %g s on this row (an endless loop?)", limit), 2)
    end
  end
  return function(arg, rows, where)
    errors, current_rows = nil, rows
    local previous_failure, previous_base = map.on_failure, map.image_base
    map.on_failure, map.image_base = on_failure, image_base
    -- a profiler's (or debugger's) hook is put back after the row
    local old_hook, old_mask, old_count = debug.gethook()
    deadline = nil
    debug.sethook(hook, "", 10000)
    local ok, result = xpcall(fn, as_message, arg, ctx)
    if old_hook then debug.sethook(old_hook, old_mask, old_count) else debug.sethook() end
    map.on_failure, map.image_base = previous_failure, previous_base
    local errs = errors
    errors, current_rows = nil, nil
    if not ok then
      errs = errs or {}
      errs[#errs + 1] = { path = "", message = "mapping error: " .. result }
      return { where = where, errors = errs }
    end
    if errs then return { where = where, errors = errs } end
    if result == nil then return { where = where, skipped = true } end
    result = source.plain(result)   -- a script that returns its row as the payload
    if type(result) ~= "table" then
      return { where = where, errors = { { path = "", message = "the mapping returned a " .. type(result)
        .. " where a table (or nil to skip the row) was expected" } } }
    end
    return { where = where, payload = result }
  end
end

local function bad_item(err)
  return { where = err.where, errors = { { path = "", message = err.message } } }
end

--- Maps the rows of `input` with the script `m` for `kind` ("loans", "repayments", "journals").
-- opts: ctx (from M.context; default: one without a connection), source (rows
-- options, over the script's own `source`), row_time_limit (s of CPU, default 5),
-- on_warning(message).
-- @return iterator over items | nil, err (kind "input")
function M.items(m, kind, input, opts)
  opts = opts or {}
  local fn_name = KIND_FUNCTION[kind]
  if not fn_name then error("kiva.mapping.items: kind must be loans, repayments or journals", 2) end
  local fn = m[fn_name]
  if type(fn) ~= "function" then
    return nil, input_error(m.path or "mapping", (m.path or "the mapping") .. " has no " .. fn_name
      .. " function, needed for " .. kind)
  end
  local ctx = opts.ctx or M.context({})
  ctx._base = dirname(input)
  local limit = opts.row_time_limit or 5
  local rows_opts = {}
  for k, v in pairs(m.source or {}) do rows_opts[k] = v end
  for k, v in pairs(opts.source or {}) do rows_opts[k] = v end
  rows_opts.on_warning = rows_opts.on_warning or opts.on_warning
  local run = runner(fn, ctx, limit, ctx._base)

  local it, err = source.rows(input, rows_opts)
  if not it then return nil, err end
  local group_by = kind == "loans" and m.group_by or nil

  if not group_by then
    return function()
      local row, where = it()
      if row == nil then return nil end
      if row == false then return bad_item(where) end
      return run(row, { row }, where)
    end
  end

  -- pass 1: how many rows each group has; the warnings were already given
  local counts, seen_column = {}, false
  for row in it do
    if row then
      if row[group_by] ~= nil then seen_column = true end
      local g = map.trim(row[group_by])
      if g then counts[g] = (counts[g] or 0) + 1 end
    end
  end
  if not seen_column then
    return nil, input_error(input, input .. ": no column '" .. group_by .. "' (the mapping's group_by)")
  end
  rows_opts.on_warning = nil
  it, err = source.rows(input, rows_opts)
  if not it then return nil, err end
  local open, done, seq = {}, false, 0
  local leftovers
  return function()
    while true do
      if done then
        if not leftovers then
          leftovers = {}
          for _, g in pairs(open) do leftovers[#leftovers + 1] = g end
          table.sort(leftovers, function(a, b) return a.order < b.order end)
        end
        local g = table.remove(leftovers, 1)
        if not g then return nil end
        return run(g.rows, g.rows, g.where)
      end
      local row, where = it()
      if row == nil then
        done = true
      elseif row == false then
        return bad_item(where)
      else
        local g = map.trim(row[group_by])
        if not g then
          return run({ row }, { row }, where)
        end
        local group = open[g]
        if not group then
          seq = seq + 1
          group = { rows = {}, where = where, order = seq }
          open[g] = group
        end
        group.rows[#group.rows + 1] = row
        if #group.rows >= (counts[g] or 0) then
          open[g] = nil
          return run(group.rows, group.rows, group.where)
        end
      end
    end
  end
end

return M
