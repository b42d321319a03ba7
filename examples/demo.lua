-- `make demo`: a local sandbox on a free port, every example pushed to it through
-- `kiva push` (loan drafts, repayments, journals), what Kiva answered, sandbox stopped.
--
-- For each examples/<name>/ it uses, per kind (loans, repayments, journals):
--   the first of examples/<name>/<kind>.lua, mapping.lua, loans.lua, repayments.lua
--   that defines the kind's function (loan_draft, repayment, journal); the first input
--   file named after the kind, in English, French or Spanish (loans*, prets*,
--   remboursements*, journaux*, ... .csv/.tsv/.xlsx/.json/.jsonl; for journals, else the loans input);
--   examples/<name>/demo.lua may return { loans = { mapping =, input = }, ..., portfolio =,
--   prepare = "script.lua" (run first, e.g. to build a database) }
--   to say it explicitly (paths relative to the example's directory).
-- Portfolios (examples/<name>/portfolio.json, arrays of loans) are merged and given
-- to the sandbox, so the examples' repayments and journals find their loans.
local root = (arg and arg[0] or ""):match("^(.*)/examples/[^/]*$") or "."
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path
local cjson = require "cjson"

local function quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
local function exists(p) local f = io.open(p, "rb"); if f then f:close() return true end return false end
local function read(p)
  local f = io.open(p, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end
local function lines_of(cmd)
  local p = io.popen(cmd)
  local out = {}
  for l in p:lines() do out[#out + 1] = l end
  p:close()
  return out
end

local KINDS = { "loans", "repayments", "journals" }
local FN = { loans = "loan_draft", repayments = "repayment", journals = "journal" }
local INPUT_EXT = { csv = true, tsv = true, xlsx = true, json = true, jsonl = true }

local function defines(mapping_path, fn)
  local chunk = loadfile(mapping_path, "t")
  if not chunk then return false end
  local ok, m = pcall(chunk)
  return ok and type(m) == "table" and type(m[fn]) == "function"
end

-- Export names as MIS users write them (English, French, Spanish), by kind.
local NAMES = {
  loans = { "loans", "loan", "prets", "prêts", "prestamos", "préstamos" },
  repayments = { "repayments", "repayment", "remboursements", "pagos", "reembolsos" },
  journals = { "journals", "journal", "journaux" },
}

local function find_input(dir, kind)
  local files = lines_of("ls -1 " .. quote(dir) .. " 2>/dev/null")
  table.sort(files)
  for _, name in ipairs(NAMES[kind]) do
    for _, f in ipairs(files) do
      local ext = f:match("%.([%w]+)$")
      if f:lower():sub(1, #name) == name and ext and INPUT_EXT[ext:lower()] then
        return dir .. "/" .. f
      end
    end
  end
end

local function plan_for(dir)
  local manifest = {}
  if exists(dir .. "/demo.lua") then
    local ok, t = pcall(dofile, dir .. "/demo.lua")
    if ok and type(t) == "table" then manifest = t end
  end
  -- manifest.prepare: a Lua script run first (the SQLite example builds its database)
  if manifest.prepare and not os.execute("lua5.4 " .. quote(dir .. "/" .. manifest.prepare) .. " >/dev/null") then
    print("demo: " .. dir .. "/" .. manifest.prepare .. " failed")
  end
  local plan = { portfolio = manifest.portfolio and (dir .. "/" .. manifest.portfolio) or (dir .. "/portfolio.json") }
  for _, kind in ipairs(KINDS) do
    local m = manifest[kind]
    if m then
      plan[kind] = { mapping = dir .. "/" .. m.mapping, input = dir .. "/" .. m.input }
    else
      local mapping
      for _, candidate in ipairs({ kind, "mapping", "loans", "repayments" }) do
        local path = dir .. "/" .. candidate .. ".lua"
        if not mapping and exists(path) and defines(path, FN[kind]) then mapping = path end
      end
      local input = find_input(dir, kind) or (kind == "journals" and find_input(dir, "loans")) or nil
      if mapping and input then plan[kind] = { mapping = mapping, input = input } end
    end
  end
  return plan
end

local function main()
  local tmp = lines_of("mktemp -d")[1]
  local examples = {}
  -- KIVA_DEMO_EXAMPLES points the demo at another examples tree (used to test it).
  local base = os.getenv("KIVA_DEMO_EXAMPLES") or (root .. "/examples")
  for _, name in ipairs(lines_of("ls -1 " .. quote(base))) do
    local dir = base .. "/" .. name
    if name ~= "demo.lua" and os.execute("test -d " .. quote(dir)) then
      examples[#examples + 1] = { name = name, dir = dir, plan = plan_for(dir) }
    end
  end
  if #examples == 0 then
    print("demo: no examples under examples/")
    return 1
  end

  local merged = {}
  for _, ex in ipairs(examples) do
    local text = read(ex.plan.portfolio)
    local list = text and cjson.decode(text)
    if type(list) == "table" then
      for _, loan in ipairs(list.loans or list) do merged[#merged + 1] = loan end
    end
  end
  local portfolio = tmp .. "/portfolio.json"
  local f = assert(io.open(portfolio, "wb"))
  f:write(#merged > 0 and cjson.encode(merged) or "[]")
  f:close()

  local kiva = "lua5.4 " .. quote(root .. "/kiva")
  local out = tmp .. "/sandbox.out"
  local pid = lines_of(kiva .. " sandbox --port 0 --loans 100 --portfolio " .. quote(portfolio)
    .. " >" .. quote(out) .. " 2>" .. quote(tmp .. "/sandbox.err") .. " & echo $!")[1]
  local env = {}
  for _ = 1, 200 do
    local text = read(out) or ""
    if text:find("export KIVA_CLIENT_SECRET=", 1, true) then
      for k, v in text:gmatch("export (KIVA_[%w_]+)=(%S+)") do
        if v:sub(1, 1) == "'" then v = v:sub(2, -2):gsub("'\\''", "'") end
        env[k] = v
      end
      break
    end
    os.execute("sleep 0.05")
  end
  local function stop()
    if pid then os.execute("kill " .. pid .. " 2>/dev/null") end
    os.execute("rm -rf " .. quote(tmp))
  end
  if not env.KIVA_API_URL then
    print("demo: the sandbox did not start:\n" .. (read(tmp .. "/sandbox.err") or ""))
    stop()
    return 1
  end
  print(string.format("Sandbox listening at %s with %d example loan(s) added to its portfolio.\n",
    env.KIVA_API_URL, #merged))
  local prefix = {}
  for k, v in pairs(env) do prefix[#prefix + 1] = k .. "=" .. quote(v) end
  prefix[#prefix + 1] = "KIVA_LEDGER=" .. quote(tmp .. "/ledger.sqlite3")
  prefix = "env " .. table.concat(prefix, " ") .. " "

  local worst = 0
  for _, ex in ipairs(examples) do
    for _, kind in ipairs(KINDS) do
      local step = ex.plan[kind]
      if step then
        print(string.format("== %s: kiva push %s --mapping %s --input %s", ex.name, kind,
          step.mapping:gsub("^" .. root:gsub("%p", "%%%0") .. "/", ""),
          (step.input:gsub("^" .. root:gsub("%p", "%%%0") .. "/", ""))))
        local report = tmp .. "/" .. ex.name .. "-" .. kind .. ".json"
        local cmd = prefix .. kiva .. " push " .. kind .. " --mapping " .. quote(step.mapping) .. " --input "
          .. quote(step.input) .. " --report " .. quote(report)
          .. (kind == "repayments" and " --period 2026-10" or "") .. " 2>&1"
        local p = io.popen(cmd)
        io.write(p:read("a"))
        local _, _, code = p:close()
        local r = read(report)
        local t = r and cjson.decode(r)
        if t then
          print("Kiva answered:")
          for _, it in ipairs(t.items or {}) do
            if it.response then
              local parts = {}
              for k, v in pairs(it.response) do
                parts[#parts + 1] = k .. "=" .. tostring(math.type(v) == "float" and math.tointeger(v) or v)
              end
              table.sort(parts)
              print(string.format("  %-45s %s", it.key or it.where, table.concat(parts, " ")))
            elseif it.status ~= "valid" and it.errors then
              print(string.format("  %-45s %s %s", it.key or it.where, it.status, cjson.encode(it.errors)))
            end
          end
        end
        print(string.format("(exit %d)\n", code or -1))
        if (code or 0) >= 2 then worst = math.max(worst, code) end
      end
    end
  end
  local state = lines_of("curl -s " .. quote(env.KIVA_API_URL .. "/__sandbox/state"))[1]
  local st = state and cjson.decode(state)
  if st then
    print(string.format("Sandbox state: %d request(s), %d draft(s), %d repayment(s), %d journal(s), %d duplicate(s).",
      st.requests or 0, #(st.loan_drafts or {}), #(st.repayments or {}), #(st.journals or {}), st.duplicates or 0))
  end
  stop()
  print("Sandbox stopped.")
  return worst == 0 and 0 or 1
end

os.exit(main())
