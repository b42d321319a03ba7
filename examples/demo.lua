-- `make demo`: a local sandbox on a free port, every example pushed to it through
-- `kiva push` (loan drafts, repayments, journals), what Kiva answered, sandbox stopped.
--
-- Each examples/<name>/ says what the demo runs in examples/<name>/demo.lua:
--   return { prepare = "script.lua" (run first, e.g. to build a database),
--            loans = { mapping = "loans.lua", input = "prets.csv" },          -- required
--            repayments = { mapping =, input =, period = "YYYY-MM" }, journals = { ... },
--            portfolio = "portfolio.json" (default) }
-- (paths relative to the example's directory). Portfolios (arrays of loans) are
-- merged and given to the sandbox, so the examples' repayments and journals find
-- their loans. The demo fails (exit 1) when any example lacks its manifest, a
-- mapping that does not load or lacks its function, an input that is missing, or a
-- push that does not exit 0: nothing is skipped silently.
local root = (arg and arg[0] or ""):match("^(.*)/examples/[^/]*$") or "."
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path
package.cpath = root .. "/build/?.so;" .. package.cpath
local json = require "kiva.json"
local mapping = require "kiva.mapping"

local function quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
local function exists(p) local f = io.open(p, "rb"); if f then f:close() return true end return false end
local read = require("kiva.files").read
local function lines_of(cmd)
  local p = io.popen(cmd)
  local out = {}
  for l in p:lines() do out[#out + 1] = l end
  p:close()
  return out
end

local contract = require "kiva.contract"
local KINDS = contract.KIND_ORDER
local FN = {}
for kind, spec in pairs(contract.KINDS) do FN[kind] = spec.fn end

-- The example's steps, or nil and why it cannot run.
local function plan_for(dir)
  if not exists(dir .. "/demo.lua") then return nil, "no demo.lua saying what to run" end
  local ok, manifest = pcall(dofile, dir .. "/demo.lua")
  if not ok or type(manifest) ~= "table" then return nil, "demo.lua: " .. tostring(manifest) end
  if manifest.prepare and not os.execute("lua5.4 " .. quote(dir .. "/" .. manifest.prepare) .. " >/dev/null") then
    return nil, manifest.prepare .. " failed"
  end
  if not manifest.loans then return nil, "demo.lua has no loans step" end
  local plan = { portfolio = dir .. "/" .. (manifest.portfolio or "portfolio.json") }
  for _, kind in ipairs(KINDS) do
    local step = manifest[kind]
    if step then
      local m, err = mapping.load(dir .. "/" .. tostring(step.mapping))
      if not m then return nil, kind .. ": " .. err.message end
      if type(m[FN[kind]]) ~= "function" then
        return nil, kind .. ": " .. step.mapping .. " has no " .. FN[kind] .. " function"
      end
      local input = dir .. "/" .. tostring(step.input)
      if not exists(input) then return nil, kind .. ": no input " .. input end
      plan[kind] = { mapping = dir .. "/" .. step.mapping, input = input, period = step.period }
    end
  end
  return plan
end

-- The examples under `base` with their plans, and what cannot run (printed).
local function find_examples(base)
  local examples, failures = {}, {}
  for _, name in ipairs(lines_of("ls -1 " .. quote(base))) do
    local dir = base .. "/" .. name
    if name ~= "demo.lua" and os.execute("test -d " .. quote(dir)) then
      local plan, why = plan_for(dir)
      if plan then
        examples[#examples + 1] = { name = name, dir = dir, plan = plan }
      else
        failures[#failures + 1] = name .. ": not run: " .. why
        print("demo: " .. failures[#failures])
      end
    end
  end
  return examples, failures
end

-- Writes the examples' portfolios merged into one at `path`; returns how many loans.
local function merge_portfolios(examples, path)
  local merged = {}
  for _, ex in ipairs(examples) do
    local text = read(ex.plan.portfolio)
    local list = text and json.decode(text)
    if type(list) == "table" then
      for _, loan in ipairs(list.loans or list) do merged[#merged + 1] = loan end
    end
  end
  assert(require("kiva.files").write(path, json.encode(json.array(merged))))
  return #merged
end

-- Starts `kiva sandbox` with the portfolio; returns the KIVA_* it exported (empty
-- when it did not start) and its pid.
local function start_sandbox(kiva, tmp, portfolio)
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
    require("kiva.core").sleep(0.05)
  end
  return env, pid
end

-- What Kiva answered each item of a run's JSON report, one line each.
local function print_answers(report)
  local r = read(report)
  local t = r and json.decode(r)
  if not t then return end
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
      print(string.format("  %-45s %s %s", it.key or it.where, it.status, json.encode(it.errors)))
    end
  end
end

-- Runs `kiva push KIND` for one step of an example; returns its exit code.
local function push_step(prefix, kiva, tmp, ex, kind, step)
  local function shown(path) return (path:gsub("^" .. root:gsub("%p", "%%%0") .. "/", "")) end
  print(string.format("== %s: kiva push %s --mapping %s --input %s", ex.name, kind, shown(step.mapping),
    shown(step.input)))
  local report = tmp .. "/" .. ex.name .. "-" .. kind .. ".json"
  local cmd = prefix .. kiva .. " push " .. kind .. " --mapping " .. quote(step.mapping) .. " --input "
    .. quote(step.input) .. (step.period and (" --period " .. quote(step.period)) or "")
    .. " --report " .. quote(report) .. " 2>&1"
  local p = io.popen(cmd)
  io.write(p:read("a"))
  local _, _, code = p:close()
  print_answers(report)
  print(string.format("(exit %d)\n", code or -1))
  return code
end

local function main()
  local tmp = lines_of("mktemp -d")[1]
  -- KIVA_DEMO_EXAMPLES points the demo at another examples tree (used to test it).
  local base = os.getenv("KIVA_DEMO_EXAMPLES") or (root .. "/examples")
  local examples, failures = find_examples(base)
  if #examples == 0 then
    print("demo: no example to run under " .. base)
    return 1
  end
  local portfolio = tmp .. "/portfolio.json"
  local loans = merge_portfolios(examples, portfolio)
  local kiva = "lua5.4 " .. quote(root .. "/kiva")
  local env, pid = start_sandbox(kiva, tmp, portfolio)
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
    env.KIVA_API_URL, loans))
  local prefix = {}
  for k, v in pairs(env) do prefix[#prefix + 1] = k .. "=" .. quote(v) end
  prefix[#prefix + 1] = "KIVA_LEDGER=" .. quote(tmp .. "/ledger.sqlite3")
  prefix = "env " .. table.concat(prefix, " ") .. " "

  local steps = 0
  for _, ex in ipairs(examples) do
    for _, kind in ipairs(KINDS) do
      if ex.plan[kind] then
        local code = push_step(prefix, kiva, tmp, ex, kind, ex.plan[kind])
        steps = steps + 1
        if code ~= 0 then
          failures[#failures + 1] = ex.name .. ": kiva push " .. kind .. " exited " .. tostring(code)
        end
      end
    end
  end
  local state = lines_of("curl -s " .. quote(env.KIVA_API_URL .. "/__sandbox/state"))[1]
  local st = state and json.decode(state)
  if st then
    print(string.format("Sandbox state: %d request(s), %d draft(s), %d repayment(s), %d journal(s), %d duplicate(s).",
      st.requests or 0, #(st.loan_drafts or {}), #(st.repayments or {}), #(st.journals or {}), st.duplicates or 0))
  end
  stop()
  print("Sandbox stopped.")
  if #failures > 0 then
    print(string.format("demo FAILED: %d step(s) run, %d problem(s):", steps, #failures))
    for _, failure in ipairs(failures) do print("  " .. failure) end
    return 1
  end
  print(string.format("demo: all %d step(s) of %d example(s) ran and exited 0.", steps, #examples))
  return 0
end

os.exit(main())
