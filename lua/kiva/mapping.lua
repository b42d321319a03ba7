--- kiva.mapping: runs a partner's mapping script over an export.
-- load() reads the script, context() builds the `ctx` lookups (Kiva's config
-- lists, fetched once per run, cached on disk for a day), items() maps each row
-- (or group of rows) and yields one item per draft, repayment or journal:
--
--   { where = "loans.csv:12", payload = {...} }            mapped, not yet validated
--   { where = ..., errors = { {path=, message=}, ... } }    a helper failed, the script raised, or the row was bad
--   { where = ..., skipped = true }                          the script returned nil on purpose
--   { where = ..., fatal = err }                             the run must stop: a missing column
--                                                            (kind "input"), Kiva's lists needed and
--                                                            no credentials (kind "config"); the last item
--
-- Each item also has rows = how many input rows it was mapped from.
--
-- Groups (group_by: loans, and repayments paid in several rows) are mapped one group
-- at a time, each at its last row, with the `where` of its first row. A CSV export is
-- read twice (the first reading finds each group's last row) and groups of adjacent
-- rows never leave memory; groups spread over the export, too many groups, or other
-- formats go through a group store on disk (kiva.groupstore) in one pass. Memory:
-- a bounded number of held rows and group values, never the whole file.
local core = require "kiva.core"
local map = require "kiva.map"
local script_env = require "kiva.script_env"
local source = require "kiva.source"
local groupstore = require "kiva.groupstore"

local getmetatable, setmetatable = getmetatable, setmetatable   -- called on every row

local M = {}

local KIND_FUNCTION = {}
for kind, spec in pairs(require("kiva.contract").KINDS) do KIND_FUNCTION[kind] = spec.fn end

local errors = require "kiva.errors"
local files = require "kiva.files"
local json = require "kiva.json"
local input_error = errors.input

-- The per-run slot of each loaded script: its own kiva.map helpers report to it.
local runs = setmetatable({}, { __mode = "k" })
-- The box each loaded script runs in (kiva.script_env), by the script's table.
local boxes = setmetatable({}, { __mode = "k" })

M.ROW_TIME_LIMIT = 5   -- CPU seconds a script may spend on one row (or group)

-- The message for a failed limited call (why: "time", "memory" or "error").
local function limit_message(why, seconds, message)
  if why == "time" then
    -- where the script was when its time ran out, if it was in Lua code
    local at = tostring(message):match("^(.-:%d+): ")
    return string.format("%sthe mapping took longer than %g s of CPU on this row (an endless loop?)",
      at and (at .. ": ") or "", seconds)
  elseif why == "memory" then
    return string.format("the mapping used more than %d MiB of memory (the cap for a run)",
      script_env.MEMORY_CAP // (1024 * 1024))
  end
  return tostring(message)
end

--- Loads a mapping script: a Lua file returning a table of functions. The script
-- runs in its own box (kiva.script_env): no os.exit, no debug, output captured,
-- CPU and memory limited (its top level too, with the default limits).
-- @return table (with .path) | nil, err (kind "input", where = the script's file:line)
function M.load(path)
  -- the script gets its own kiva.map (map.for_run): a helper's failure is recorded
  -- against the row this script is mapping, with no state in the shared module
  local run = {}
  local box = script_env.new { modules = { ["kiva.map"] = map.for_run(run) } }
  local chunk, err = loadfile(path, "t", box.env)
  if not chunk then
    return nil, input_error(err:match("^(.-:%d+):") or path, err)
  end
  box:set_limits(M.ROW_TIME_LIMIT, script_env.MEMORY_CAP)
  local ok, m, why = box:call(chunk)
  if not ok then
    local msg = limit_message(why, M.ROW_TIME_LIMIT, m)
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
  local g = m.group_by
  if g ~= nil and type(g) ~= "string"
      and not (type(g) == "table" and (g.loans == nil or type(g.loans) == "string")
        and (g.repayments == nil or type(g.repayments) == "string")) then
    return nil, input_error(path, path .. ": 'group_by' must be a column name (a string), or"
      .. " { loans = column, repayments = column }")
  end
  if m.source ~= nil and type(m.source) ~= "table" then
    return nil, input_error(path, path .. ": 'source' must be a table of options")
  end
  m.path = path
  runs[m] = run
  boxes[m] = box
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
    if v ~= nil and v ~= json.null then return v end
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
  local text = path and files.read(path)
  local data = text and json.decode(text)
  return type(data) == "table" and data or {}
end

local function write_cache(path, data)
  local tmp = path .. ".tmp"
  if files.write(tmp, json.encode(data)) then os.rename(tmp, path) end
end

-- Kiva's list `name` from opts.fetch (client:config). @return list | nil, err (a
-- kiva.errors table when the run has no credentials: the same for every row, so
-- the run stops once with it; else a message)
local function fetch_list(opts, name)
  local list, err
  if opts.fetch then list, err = opts.fetch(name) end
  if type(list) == "table" and type(list[name]) == "table" then list = list[name] end
  if type(list) == "table" then return list end
  if not opts.fetch or (type(err) == "table" and err.kind == "config") then
    return nil, errors.config("the mapping looks up names in Kiva's " .. name .. " list, which"
      .. " needs credentials even for a dry run: set KIVA_CLIENT_ID and KIVA_CLIENT_SECRET (or"
      .. " --credentials FILE, a file of client_id= and client_secret= lines, mode 0600) with the stage"
      .. " credentials Kiva's partner team gives you; to try without them, run against the sandbox:"
      .. " eval \"$(kiva sandbox --port 0)\"")
  end
  local msg = type(err) == "table" and (err.message or err.kind) or tostring(err or "no list")
  return nil, "could not fetch the " .. name .. " list: " .. msg
end

-- The getter of Kiva's lists for one context: each fetched on first use, or taken
-- from opts.cache_file while younger than opts.max_age; a failure is kept.
local function list_getter(opts)
  local max_age = opts.max_age or 86400
  local lists, list_errors, cache = {}, {}, nil
  return function(name)
    if lists[name] then return lists[name] end
    if list_errors[name] then return nil, list_errors[name] end
    cache = cache or read_cache(opts.cache_file)
    local cached = cache[name]
    if type(cached) == "table" and type(cached.list) == "table" and tonumber(cached.fetched_at)
        and os.time() - cached.fetched_at < max_age then
      lists[name] = cached.list
      return cached.list
    end
    local list, err = fetch_list(opts, name)
    if not list then
      list_errors[name] = err
      return nil, err
    end
    lists[name] = list
    if opts.cache_file then
      cache[name] = { fetched_at = os.time(), list = list }
      write_cache(opts.cache_file, cache)
    end
    return list
  end
end

-- A list's names, normalized, to the values a lookup answers (the first one wins).
local function build_index(list, spec)
  local idx = { by_key = {}, entries = {} }
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
  return idx
end

-- A failed lookup or join, told to the mapping run using `ctx` (ctx._run, set by
-- items): a kiva.errors table stops the run, a message is the row's.
local function failure(ctx, helper, value, msg)
  local run = ctx._run
  if type(msg) == "table" then
    if run and run.on_fatal then run.on_fatal(msg) end
    return nil, msg.message
  end
  if run and run.on_failure then run.on_failure(helper, value, msg) end
  return nil, msg
end

-- ctx[helper]: a name -> the value of LOOKUPS[helper] | nil, message.
local function lookup_function(ctx, helper, spec, index_of)
  -- names found, as written in the export: an export repeats a few names on
  -- every row, and normalizing one costs more than the rest of the lookup
  local found = {}
  return function(name)
    name = map.trim(name)
    if name == nil then return nil end
    local v = found[name]
    if v ~= nil then return v end
    local idx, err = index_of(spec)
    if not idx then return failure(ctx, helper, name, err) end
    v = idx.by_key[M.normalize(name)]
    if v ~= nil then
      found[name] = v
      return v
    end
    return failure(ctx, helper, name, "no " .. spec.what .. " named '" .. name .. "'; nearest: "
      .. nearest(name, idx.entries, 3))
  end
end

-- The rows of `resolved` by their trimmed `key_column`: { rows = { key = {row...} } }
-- or { err = message }. The file is closed as soon as the loop ends.
local function read_join(path, resolved, key_column, join_opts)
  local j = { rows = {} }
  local it, err, _, closing = source.rows(resolved, join_opts)
  if not it then
    j.err = "join " .. path .. ": " .. err.message
    return j
  end
  for row, where in it, nil, nil, closing do
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
  return j
end

-- ctx.join: each file read once per context; a relative path is looked up next to
-- the input (ctx._base) first.
local function join_function(ctx)
  local joins = {}
  return function(path, key_column, join_opts)
    local resolved = path
    if ctx._base and not path:find("^/") then
      local f = io.open(ctx._base .. "/" .. path, "rb")
      if f then f:close() resolved = ctx._base .. "/" .. path end
    end
    local cache_key = resolved .. "\0" .. tostring(key_column)
    local j = joins[cache_key]
    if not j then
      j = read_join(path, resolved, key_column, join_opts)
      joins[cache_key] = j
    end
    if j.err then return failure(ctx, "join", path, j.err) end
    return function(key)
      return j.rows[map.trim(key) or ""] or {}
    end
  end
end

--- Builds the ctx given to mapping functions.
-- opts: fetch = function(list_name) -> list | nil, err (client:config), cache_file
-- (JSON, optional), max_age (s, default 86400). Lists are fetched on first use.
-- ctx.activity(name), ctx.theme(name), ctx.language(code_or_name) -> integer id;
-- ctx.location(name) -> full_name; each | nil, message naming the nearest names.
-- ctx.join(path, key_column [, source opts]) -> function(key) -> array of rows | nil, message.
-- ctx.input: opts.input (else the input items() maps); ctx.period: opts.period
-- ("YYYY-MM", the run's period, or nil).
-- A lookup that needs a list while the run has no credentials (no opts.fetch, or
-- fetch fails with kind "config") stops the run once (an item with fatal).
-- @return ctx
function M.context(opts)
  opts = opts or {}
  -- _run: the mapping run using this ctx (set by items), where lookups report
  local ctx = { _base = nil, _run = nil, input = opts.input, period = opts.period }
  local get_list, indexes = list_getter(opts), {}
  local function index_of(spec)
    local idx = indexes[spec.list]
    if idx then return idx end
    local list, err = get_list(spec.list)
    if not list then return nil, err end
    idx = build_index(list, spec)
    indexes[spec.list] = idx
    return idx
  end
  for helper, spec in pairs(LOOKUPS) do ctx[helper] = lookup_function(ctx, helper, spec, index_of) end
  ctx.join = join_function(ctx)
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

-- What a header that does not hold the wanted column says about how the file was
-- read: one column holding delimiters, or letters decoded in the wrong encoding.
local function reading_hint(columns)
  if #columns == 1 then
    local d = columns[1]:match("[;,\t|]")
    if d then
      return "; the header reads as one column: the delimiter may be wrong (try source = { delimiter = "
        .. string.format("%q", d) .. " })"
    end
  end
  for _, c in ipairs(columns) do
    -- "Ã©": UTF-8 read as Windows-1252; U+FFFD: bytes that were not UTF-8
    if c:find("\195\131", 1, true) or c:find("\239\191\189", 1, true) then
      return "; the column names look wrongly decoded: the encoding may be wrong"
        .. " (try source = { encoding = \"windows-1252\" } or \"utf-8\")"
    end
  end
  return ""
end

--- The message for a column the mapping wants and the input lacks, naming the
-- nearest columns it has.
function M.missing_column(wanted, columns)
  local entries = {}
  for _, c in ipairs(columns) do entries[#entries + 1] = { key = M.normalize(c), label = c } end
  return "no column '" .. tostring(wanted) .. "'; columns like it: " .. nearest(wanted, entries, 3)
    .. reading_hint(columns)
end

-- The columns of a keyed row, sorted.
local function columns_of(row)
  local list = {}
  for k in pairs(row) do if type(k) == "string" then list[#list + 1] = k end end
  table.sort(list)
  return list
end

-- The item of one call: the script's result (ok, result, why from box:call), the
-- helpers' failures (errs), for `n` input rows read at `where`.
local function item_of(ok, result, why, errs, where, n, limit)
  if not ok then
    errs = errs or {}
    local message = limit_message(why, limit, result)
    errs[#errs + 1] = { path = "", message = why == "error" and ("mapping error: " .. message) or message }
    return { where = where, errors = errs, rows = n }
  end
  if errs then return { where = where, errors = errs, rows = n } end
  if result == nil then return { where = where, skipped = true, rows = n } end
  result = source.plain(result)   -- a script that returns its row as the payload
  if type(result) ~= "table" then
    return { where = where, rows = n, errors = { { path = "", message = "the mapping returned a " .. type(result)
      .. " where a table (or nil to skip the row) was expected" } } }
  end
  return { where = where, payload = result, rows = n }
end

-- A runner calls fn(arg, ctx) for one row or group at a time in the script's box
-- (a CPU limit per call, a memory cap for the run: kiva.core.limits), collecting
-- kiva.map's failures and the script's output; run(arg, where, single) returns an
-- item (single: arg is one row, given to fn as it is; else an array of rows).
-- `run` is the script's slot (see load): its helpers report there during a call.
-- check_columns: rows are of a format with a fixed header (CSV, TSV, xlsx), where
-- reading a column the header lacks is a mistake in the mapping, not an empty cell.
local function runner(fn, ctx, limit, run, check_columns, box, on_output)
  -- current: the row or rows of the call; single: whether it is one row
  local errors_list, current, single, current_where, fatal
  local function on_failure(helper, value, message)
    errors_list = errors_list or {}
    errors_list[#errors_list + 1] = { path = column_of(single and { current } or current, value) or helper,
      message = message }
  end
  local function on_fatal(err) fatal = fatal or err end
  local row_meta
  if check_columns then
    local columns
    row_meta = { __index = function(row, key)
      if type(key) == "string" and not fatal then
        columns = columns or columns_of(row)
        fatal = input_error(nil, M.missing_column(key, columns))
      end
      return nil
    end }
  end
  box:set_limits(limit, script_env.MEMORY_CAP)
  local limits = box.limits   -- its call is box:call, without a Lua frame per row
  -- each printed line on its own, control characters escaped: a script cannot
  -- forge a line of the run's summary nor move the terminal's cursor
  box.output = function(text)
    if not on_output then return end
    for line in tostring(text):gmatch("[^\n]+") do
      line = line:gsub("[%z\1-\8\11-\31\127]", function(c) return string.format("\\%03d", c:byte()) end)
      on_output(line, current_where)
    end
  end
  -- a lazy CSV row (src/row.c) is no table: the same check is handed to the file's
  -- table of column names, shared by all its rows, once (every row of a run comes
  -- from one file); a table row gets it as its metatable
  -- (a group may mix both: rows held as read and rows kept on disk by group_by)
  local hooked = false
  local function check(row)
    local mt = getmetatable(row)
    if mt == nil then
      setmetatable(row, row_meta)
    elseif mt == "kiva row" and not hooked then
      core.row_on_missing(row, row_meta.__index)
      hooked = true
    end
  end
  return function(arg, where, one)
    errors_list, current, single, current_where = nil, arg, one, where
    if row_meta then
      if not one then
        for i = 1, #arg do check(arg[i]) end
      elseif not hooked then
        check(arg)
      end
    end
    -- the script's helpers and ctx report to this runner (another items() over the
    -- same script or ctx, interleaved, takes them back on its own next row)
    if run.on_failure ~= on_failure or ctx._run ~= run then
      run.on_failure, run.on_fatal, ctx._run = on_failure, on_fatal, run
    end
    local ok, result, why = limits:call(fn, arg, ctx)
    local errs = errors_list
    errors_list, current = nil, nil
    local n = one and 1 or #arg
    if fatal then
      fatal.where = fatal.where or where
      if not fatal.message:find(where, 1, true) then fatal.message = where .. ": " .. fatal.message end
      return { where = where, fatal = fatal, rows = n }
    end
    -- the common case first: a table (a lazy row, which source.plain copies, is no table)
    if ok and not errs and type(result) == "table" then return { where = where, payload = result, rows = n } end
    return item_of(ok, result, why, errs, where, n, limit)
  end
end

-- The marks of a bad record kept in a group store (no column is named so).
local BAD_RECORD, BAD_WHERE = "\0bad record", "\0bad record where"

local function bad_item(err)
  return { where = err.where, errors = { { path = "", message = err.message } }, rows = 1 }
end

-- The group_by column for kind: a string applies to loans and repayments; a table
-- names one per kind. Journals are one per row.
local function group_column(m, kind)
  local g = m.group_by
  if type(g) == "table" then return g[kind] end
  if kind == "journals" then return nil end
  return g
end


-- The error for a group_by column no row has (columns: those of the first row).
local function group_by_missing(group_by, input, columns, first_bad)
  -- a file that cannot be read is said first: its header is then no guide
  if first_bad and not columns then return first_bad end
  local msg = input .. ": " .. M.missing_column(group_by, columns or {}) .. " (the mapping's group_by)"
  if first_bad then msg = msg .. "; and " .. first_bad.message end
  return input_error(input, msg)
end

-- Every row goes to a group store on disk as it is read, and the groups come back
-- one at a time, each at its last row: memory holds one group, whatever the export.
-- @return the filled store | nil, err (a bad file, or no group_by column)
local function grouped_store(it, group_by, input)
  local store, serr = groupstore.open()
  if not store then return nil, serr end
  local columns, first_bad = nil, nil
  for row, where in it do
    local ok, aerr
    if row then
      if row[group_by] == nil then
        columns = columns or columns_of(row)
      else
        columns = false
      end
      ok, aerr = store:add(map.trim(row[group_by]), row, where)
    else
      first_bad = first_bad or where
      -- a bad record keeps its place among the items
      ok, aerr = store:add(nil, { [BAD_RECORD] = where.message, [BAD_WHERE] = where.where }, where.where)
    end
    if not ok then
      store:close()
      return nil, aerr
    end
  end
  if columns ~= false then
    store:close()
    return nil, group_by_missing(group_by, input, columns, first_bad)
  end
  return store
end

-- The most distinct group values the first reading of a CSV export keeps (value ->
-- its first and last row, its rows); an export with more is grouped through the
-- store instead.
M.MAX_GROUPS = 30000

-- The first of two readings of a CSV export (options without on_warning: the second
-- reading says what there is to say): each group value's last row.
-- @return last (value -> row number), count (rows and bad records) | false (too many
-- groups, or groups too spread out to be held: the store then) | nil, err (no
-- group_by column)
local function last_rows(input, rows_opts, group_by)
  local quiet = {}
  for k, v in pairs(rows_opts) do quiet[k] = v end
  quiet.on_warning, quiet.on_header = nil, nil
  local it, err, _, closing = source.rows(input, quiet)
  if not it then return nil, err end
  local first, last, count, groups, seq, columns, first_bad = {}, {}, {}, 0, 0, nil, nil
  -- rows going back to a group left earlier: many mean groups spread over the export
  local previous, returns = nil, 0
  for row, where in it, nil, nil, closing do
    seq = seq + 1
    if row then
      local value = row[group_by]
      if value == nil then
        columns = columns or columns_of(row)
      else
        columns = false
        local grp = map.trim(value)
        if grp then
          local n = count[grp]
          if not n then
            groups = groups + 1
            if groups > M.MAX_GROUPS then return false end
            first[grp], n = seq, 0
          elseif grp ~= previous then
            returns = returns + 1
            if returns > groupstore.HOLD_MAX then return false end
          end
          last[grp], count[grp], previous = seq, n + 1, grp
        end
      end
    else
      first_bad = first_bad or where
    end
  end
  if columns ~= false then return nil, group_by_missing(group_by, input, columns, first_bad) end
  -- groups spread over the export would be held in memory until their last row
  if groupstore.held_at_most(first, last, count) > groupstore.HOLD_MAX then return false end
  return last, seq
end

-- The items of a CSV export's groups on its second reading (groupstore.grouper):
-- each group mapped by run_one at its last row; an item with fatal is the last.
local function held_groups(it, grouper, group_by, input, run_one)
  local done = false
  local function stop(err)
    done = true
    return { where = err.where, fatal = err, rows = 0 }
  end
  return function()
    if done then return nil end
    while true do
      local row, where = it()
      if row == nil then
        done = true
        local err = grouper:finish(input)
        if err then return stop(err) end
        return nil
      end
      if not row then
        local err = grouper:skip(where.where)
        if err then return stop(err) end
        return bad_item(where)
      end
      local rows, first, err = grouper:add(map.trim(row[group_by]), row, where)
      if err then return stop(err) end
      if rows then
        local item = run_one(rows, first, false)
        if item.fatal then done = true end
        return item
      end
    end
  end
end

-- The items of the groups kept in a store (grouped_store), one at a time.
local function stored_groups(store, run_one)
  local next_group, gerr = store:groups()
  if not next_group then
    store:close()
    return nil, gerr
  end
  local done = false
  return function()
    if done then store:close(); return nil end
    local rows, where = next_group()
    if not rows then store:close(); return nil end
    local bad = rows[1][BAD_RECORD]
    if bad then return bad_item({ where = rows[1][BAD_WHERE], message = bad }) end
    local item = run_one(rows, where, false)
    if item.fatal then done = true end
    return item
  end
end

--- Maps the rows of `input` with the script `m` (from M.load: its helpers report to
-- the run) for `kind` ("loans", "repayments", "journals").
-- opts: ctx (from M.context; default: one without a connection), source (rows
-- options, over the script's own `source`), row_time_limit (s of CPU, default 5),
-- on_warning(message), input (ctx.input; default `input`), period (ctx.period),
-- on_output(text, where) (what the script printed with print or io.write, a line at
-- a time; default: on_warning("mapping output at <where>: <text>")).
-- With group_by (loans and repayments), the function receives the array of rows
-- sharing the column's value (one-row arrays for rows whose value is empty).
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
  ctx.input = opts.input or ctx.input or input
  ctx.period = opts.period or ctx.period
  local limit = opts.row_time_limit or M.ROW_TIME_LIMIT
  local rows_opts = {}
  for k, v in pairs(m.source or {}) do rows_opts[k] = v end
  for k, v in pairs(opts.source or {}) do rows_opts[k] = v end
  rows_opts.on_warning = rows_opts.on_warning or opts.on_warning
  local run = runs[m] or {}
  run.image_base = ctx._base
  local fmt = source.format_of(input, rows_opts)
  local check_columns = fmt == "csv" or fmt == "tsv" or fmt == "xlsx"
  local on_output = opts.on_output
  if not on_output and opts.on_warning then
    on_output = function(text, where)
      opts.on_warning(string.format("mapping output at %s: %s", tostring(where), text))
    end
  end
  local run_one = runner(fn, ctx, limit, run, check_columns, boxes[m] or script_env.new(), on_output)

  local it, err = source.rows(input, rows_opts)
  if not it then return nil, err end
  local group_by = group_column(m, kind)

  if not group_by then
    local stopped = false   -- an item with fatal is the run's last
    return function()
      if stopped then return nil end
      local row, where = it()
      if not row then
        if row == nil then return nil end
        return bad_item(where)
      end
      local item = run_one(row, where, true)
      if item.fatal then stopped = true end
      return item
    end
  end

  if fmt == "csv" or fmt == "tsv" then
    -- read twice: groups of adjacent rows (and rows of their own) never go to disk
    local last, count = last_rows(input, rows_opts, group_by)
    if last == nil then return nil, count end
    if last then return held_groups(it, groupstore.grouper(last, count), group_by, input, run_one) end
  end
  local store, serr = grouped_store(it, group_by, input)
  if not store then return nil, serr end
  return stored_groups(store, run_one)
end

return M
