--- kiva.cli: the `kiva` command. `main(argv)` parses, runs and returns the exit status
-- (0 done, 1 items invalid/rejected/unknown, 2 usage or configuration, 3 authentication,
-- 4 network gave up); it never calls os.exit. All printing of the project happens here.
local argparse = require "argparse"
local cjson = require "cjson"

local M = {}

local EXIT_FOR_KIND = { auth = 3, forbidden = 3, config = 2, input = 2, locked = 2, ledger = 2, usage = 2,
  network = 4, server = 4, rate_limited = 4, unknown_outcome = 4, validation = 1, rejected = 1 }

local function out(...) io.stdout:write(...) end

-- JSON numbers arrive as floats; ids print as integers.
local function cell(v)
  if v == nil then return "" end
  if math.type(v) == "float" and math.tointeger(v) then return tostring(math.tointeger(v)) end
  return tostring(v)
end
local function err_line(...) io.stderr:write("kiva: ", ...); io.stderr:write("\n") end

local function fail(err)
  local message = type(err) == "table" and (err.message or err.kind) or tostring(err)
  err_line(message)
  return type(err) == "table" and EXIT_FOR_KIND[err.kind] or 2
end

local EXAMPLES = {
  token = "Example:\n  KIVA_CLIENT_ID=... KIVA_CLIENT_SECRET=... kiva token\n"
    .. "  partner id 123, scopes read:loans create:loan_draft ..., expires 2026-12-01T10:00:00Z",
  config = "Example:\n  kiva config activities          # activity_id and name, one per line\n"
    .. "  kiva config locations --json   # the list as Kiva returns it",
  loans = "Example:\n  kiva loans --status payingBack\n  kiva loans --query L-1001 --json",
  push = "Examples:\n"
    .. "  kiva push loans --mapping mfi.lua --input loans.csv --dry-run --out drafts/\n"
    .. "  kiva push repayments --mapping mfi.lua --input repayments-2026-10.csv --period 2026-10 \\\n"
    .. "       --report report.json --problems problems.csv\n"
    .. "Running the same command again sends nothing new: the ledger remembers what was sent.",
  validate = "Examples:\n  kiva validate loans --mapping mfi.lua --input loans.csv\n"
    .. "  kiva validate loan_draft --json draft.json",
  reconcile = "Example:\n  kiva reconcile --mapping mfi.lua --input repayments-2026-10.csv --report reconcile.json\n"
    .. "Lists loans Kiva expects a repayment line for (payingBack, defaulted) that the export lacks,\n"
    .. "lines for loans Kiva does not expect, and amounts above the loan's local price.",
  ledger = "Examples:\n  kiva ledger list --state unknown\n"
    .. "  kiva ledger show repayment/123/2026-10/L-1001/C-77\n"
    .. "  kiva ledger resolve repayment/123/2026-10/L-1001/C-77 sent   # after checking PA2",
}

-- Flags every command accepts (interface.md's configuration table).
local function add_globals(cmd)
  cmd:option("--credentials", "File of client_id= / client_secret= lines (mode 600).")
  cmd:option("--env", "stage or production (default stage)."):choices({ "stage", "production" })
  cmd:option("--auth-url", "Token URL.")
  cmd:option("--api-url", "API base URL.")
  cmd:option("--audience", "OAuth2 audience (default the API base URL).")
  cmd:option("--partner-id", "Partner id (default: from the token).")
  cmd:option("--ca-file", "CA bundle for TLS.")
  cmd:option("--ledger", "Ledger file (default kiva-ledger.sqlite3).")
  cmd:option("--csv-format", "Repayment format two|three (default three)."):choices({ "two", "three" })
  cmd:option("--concurrency", "Requests in flight (default 4).")
  cmd:flag("--yes", "Confirm sending to production without asking.")
  cmd:option("--lock-wait", "Seconds to wait for another run holding the ledger (default 30).")
end

local function build_parser(state)
  local function helpful(p)
    p:add_help(false)
    state.parsers[#state.parsers + 1] = p
    p:flag("-h --help", "Show this help and exit."):action(function()
      state.help = p
      error("kiva-help", 0)
    end)
    return p
  end
  local p = helpful(argparse("kiva", "Connect an MIS to Kiva's Partner API: validate, push, reconcile."))
  p:epilog("Run `kiva COMMAND --help` for each command's options and an example.\n"
    .. "Exit status: 0 done, 1 items invalid/rejected/unknown, 2 usage or configuration, "
    .. "3 authentication, 4 network.")
  p:command_target("command")
  p:require_command(false)

  local c = helpful(p:command("token", "Check the credentials: partner id, scopes, expiry."))
  c:epilog(EXAMPLES.token)
  c:flag("--json", "Print JSON.")
  add_globals(c)

  c = helpful(p:command("config", "Kiva's configuration lists."))
  c:epilog(EXAMPLES.config)
  c:argument("name", "activities|locales|themes|locations"):choices({ "activities", "locales", "themes", "locations" })
  c:flag("--json", "Print JSON.")
  add_globals(c)

  c = helpful(p:command("loans", "The partner's loans."))
  c:epilog(EXAMPLES.loans)
  c:option("--status", "Only loans in this status (e.g. payingBack).")
  c:option("--query", "Search as PA2's search bar does.")
  c:flag("--json", "Print JSON.")
  add_globals(c)

  c = helpful(p:command("push", "Map an export and send what the ledger has not sent."))
  c:epilog(EXAMPLES.push)
  c:argument("what", "loans|repayments|journals"):choices({ "loans", "repayments", "journals" })
  c:option("--mapping", "Mapping script (Lua)."):count(1)
  c:option("--input", "MIS export (csv, tsv, xlsx, json, jsonl)."):count(1)
  c:flag("--dry-run", "Map, validate and write the payloads under --out; send nothing.")
  c:option("--out", "Directory for --dry-run payloads.", "kiva-out")
  c:option("--report", "Write a JSON report here.")
  c:option("--problems", "Write a CSV of problems here (for Excel).")
  c:option("--period", "Repayment period YYYY-MM (default the previous month).")
  c:flag("--resend-changed", "Resend items changed since they were sent.")
  add_globals(c)

  c = helpful(p:command("validate", "Map and validate without sending; or validate a JSON body."))
  c:epilog(EXAMPLES.validate)
  c:argument("what", "loans|repayments|journals (with --mapping), loan_draft|repayments|journals (with --json)")
    :choices({ "loans", "repayments", "journals", "loan_draft" })
  c:option("--mapping", "Mapping script (Lua).")
  c:option("--input", "MIS export.")
  c:option("--json", "A request body in JSON to validate.")
  c:option("--report", "Write a JSON report here.")
  c:option("--problems", "Write a CSV of problems here.")
  add_globals(c)

  c = helpful(p:command("reconcile", "Compare a repayment export with the loans Kiva expects."))
  c:epilog(EXAMPLES.reconcile)
  c:option("--mapping", "Mapping script (Lua)."):count(1)
  c:option("--input", "MIS repayment export."):count(1)
  c:option("--report", "Write a JSON report here.")
  c:option("--period", "Repayment period YYYY-MM (default the previous month).")
  add_globals(c)

  c = helpful(p:command("ledger", "What was sent: list, show KEY, resolve KEY sent|unsent."))
  c:epilog(EXAMPLES.ledger)
  c:argument("action", "list|show|resolve"):choices({ "list", "show", "resolve" }):args("?")
  c:argument("key", "Item key."):args("?")
  c:argument("verdict", "sent|unsent (for resolve)."):args("?")
  c:option("--state", "list: only items in this state.")
  c:flag("--json", "Print JSON.")
  add_globals(c)

  helpful(p:command("sandbox", "A local Kiva for tests and demos (see kiva sandbox --help)."))
  return p
end

-- The settings of interface.md from flags + environment (no credentials needed).
local function settings_of(args)
  local config = require "kiva.config"
  return config.resolve({
    credentials = args.credentials, env = args.env, auth_url = args.auth_url, api_url = args.api_url,
    audience = args.audience, partner_id = args.partner_id, ca_file = args.ca_file, ledger = args.ledger,
    csv_format = args.csv_format,
  })
end

local function client_opts(args)
  local o = {
    credentials = args.credentials, env = args.env, auth_url = args.auth_url, api_url = args.api_url,
    audience = args.audience, partner_id = args.partner_id, ca_file = args.ca_file, csv_format = args.csv_format,
    concurrency = math.tointeger(tonumber(args.concurrency)),
  }
  if os.getenv("KIVA_DEBUG") == "1" then
    local errors = require "kiva.errors"
    o.on_log = function(level, message)
      if type(message) == "table" then message = cjson.encode(errors.redact(message)) end
      io.stderr:write("kiva: ", tostring(level), ": ", errors.redact(tostring(message)), "\n")
    end
  end
  return o
end

local function new_client(args)
  local kiva = require "kiva"
  local client, err = kiva.client(client_opts(args))
  if not client then return nil, err end
  return client
end

-- Production is never reached by accident: say where we go, and ask.
local function production_guard(settings, args, sends)
  if settings.env ~= "production" then return true end
  err_line("target: production, ", settings.api_url)
  if not sends then return true end
  if args.yes or os.getenv("KIVA_ASSUME_YES") == "1" then return true end
  local core = require "kiva.core"
  if not core.isatty(0) then
    return nil, { kind = "usage", message = "refusing to send to production without --yes (or KIVA_ASSUME_YES=1) "
      .. "when stdin is not a terminal" }
  end
  io.stderr:write("Send to production? Type yes: ")
  local answer = io.stdin:read("l")
  if answer ~= "yes" then return nil, { kind = "usage", message = "not confirmed; nothing sent" } end
  return true
end

local function partner_of(settings, client)
  if settings.partner_id then return settings.partner_id end
  local info, err = client:token_info()
  if not info then return nil, err end
  if not info.partner_id then return nil, { kind = "auth", message = "the token carries no partner id" } end
  return tostring(info.partner_id)
end

local function valid_period(p)
  local y, m = tostring(p):match("^(%d%d%d%d)%-(%d%d)$")
  return y and tonumber(m) >= 1 and tonumber(m) <= 12
end

local function write_outputs(args, result)
  local report = require "kiva.report"
  if args.report then
    local ok, e = report.write_json(args.report, result)
    if not ok then return nil, e end
  end
  if args.problems then
    local ok, e = report.write_problems(args.problems, result)
    if not ok then return nil, e end
  end
  return true
end

local function cmd_push(args, validate_only)
  local push = require "kiva.push"
  local report = require "kiva.report"
  local settings, serr = settings_of(args)
  if not settings then return fail(serr) end
  local period = args.period or push.previous_month()
  if not valid_period(period) then return fail({ kind = "usage", message = "--period must be YYYY-MM" }) end
  local dry = args.dry_run or validate_only
  local opts = { kind = args.what, mapping = args.mapping, input = args.input, period = period,
    resend_changed = args.resend_changed, csv_format = settings.csv_format, out = args.out,
    concurrency = math.tointeger(tonumber(args.concurrency)), validate_only = validate_only, dry_run = args.dry_run,
    partner_id = settings.partner_id or (dry and "-" or nil) }
  if not dry then
    local ok, gerr = production_guard(settings, args, true)
    if not ok then return fail(gerr) end
  elseif settings.env == "production" then
    production_guard(settings, args, false)
  end

  local db, progress
  if dry then
    -- Lookups (ctx.activity ...) may need Kiva's lists; use credentials when there are some.
    local config = require "kiva.config"
    if config.resolve_for_calls(client_opts(args)) then opts.client = new_client(args) end
  else
    local client, cerr = new_client(args)
    if not client then return fail(cerr) end
    opts.client = client
    local partner, perr = partner_of(settings, client)
    if not partner then return fail(perr) end
    opts.partner_id = partner
    local ledger = require "kiva.ledger"
    local lerr
    db, lerr = ledger.open(settings.ledger or "kiva-ledger.sqlite3", { lock_wait = tonumber(args.lock_wait) or 30 })
    if not db then return fail(lerr) end
    opts.ledger = db
    progress = require("kiva.progress").new({ label = "sending " .. args.what })
    opts.on_progress = progress
  end
  -- Kiva's config lists (for ctx.activity and the like) are kept a day beside the
  -- ledger, per environment and partner, so a cron run does not fetch them each time.
  local ledger_dir = (settings.ledger or "kiva-ledger.sqlite3"):match("^(.*)/[^/]*$") or "."
  opts.config_cache = string.format("%s/kiva-config-%s-%s.json", ledger_dir, settings.env or "stage",
    tostring(opts.partner_id or "any"):gsub("[^%w_-]", "_"))
  local result = push.run(opts)
  if progress then progress.finish() end
  if db then db:close() end
  if opts.client and opts.client.close then opts.client:close() end
  out(report.summary(result))
  local ok, werr = write_outputs(args, result)
  if not ok then return fail(werr) end
  local code = push.exit_code(result)
  -- The summary (stdout) already ends with "Stopped: ..."; stderr gets it too, for
  -- cron mail and for logs that keep stdout apart, but not when both are the terminal.
  if result.fatal then
    local core = require "kiva.core"
    if not (core.isatty(1) and core.isatty(2)) then err_line(report.message_of(result.fatal)) end
  end
  return code
end

local function cmd_validate_json(args)
  local kiva = require "kiva"
  local kind = args.what == "loans" and "loan_draft" or args.what
  local f, ferr = io.open(args.json, "rb")
  if not f then return fail({ kind = "input", message = "cannot read " .. args.json .. ": " .. tostring(ferr) }) end
  local text = f:read("a")
  f:close()
  local value, derr = require("cjson.safe").decode(text)
  if value == nil then
    out(args.json, ": not JSON: ", tostring(derr), "\n")
    return 1
  end
  local settings = settings_of(args) or {}
  local ok, errs = kiva.validate(kind, value, { csv_format = settings.csv_format })
  if ok then
    out(args.json, ": valid ", kind, "\n")
    return 0
  end
  for _, e in ipairs(errs or {}) do
    out(args.json, ": ", tostring(e.path or ""), ": ", tostring(e.message), "\n")
  end
  out(string.format("%d error(s)\n", #(errs or {})))
  return 1
end

local function cmd_validate(args)
  if args.json then return cmd_validate_json(args) end
  if not args.mapping or not args.input then
    return fail({ kind = "usage", message = "validate needs --mapping and --input, or --json FILE" })
  end
  if args.what == "loan_draft" then args.what = "loans" end
  return cmd_push(args, true)
end

local function cmd_reconcile(args)
  local reconcile = require "kiva.reconcile"
  local report = require "kiva.report"
  local settings, serr = settings_of(args)
  if not settings then return fail(serr) end
  production_guard(settings, args, false)
  local client, cerr = new_client(args)
  if not client then return fail(cerr) end
  local result = reconcile.run({ mapping = args.mapping, input = args.input, client = client,
    csv_format = settings.csv_format, period = args.period or require("kiva.push").previous_month(),
    partner_id = settings.partner_id or "-" })
  if client.close then client:close() end
  if result.fatal then
    out(report.summary(result))
    write_outputs(args, result)
    return fail(result.fatal)
  end
  out(string.format("Kiva expects repayments for %d loan(s); the export has %d valid line(s), %d invalid.\n",
    result.expected or 0, result.counts.valid, result.counts.invalid))
  for _, e in ipairs(result.items) do
    if e.status == "invalid" then
      local msgs = {}
      for _, p in ipairs(e.errors or {}) do msgs[#msgs + 1] = report.message_of(p) end
      out("invalid ", tostring(e.where), ": ", table.concat(msgs, "; "), "\n")
    end
  end
  if #result.findings == 0 then
    out("The export and Kiva agree.\n")
  else
    out(reconcile.table(result))
  end
  local ok, werr = write_outputs(args, result)
  if not ok then return fail(werr) end
  return reconcile.exit_code(result)
end

local function print_json(v)
  out(cjson.encode(v), "\n")
end

local function cmd_token(args)
  local settings, serr = settings_of(args)
  if not settings then return fail(serr) end
  production_guard(settings, args, false)
  local client, cerr = new_client(args)
  if not client then return fail(cerr) end
  local info, err = client:token_info()
  if not info then return fail(err) end
  if args.json then
    print_json({ partner_id = info.partner_id, scopes = info.scopes, expires_at = info.expires_at })
  else
    local scopes = type(info.scopes) == "table" and table.concat(info.scopes, " ") or tostring(info.scopes or "")
    local exp = tonumber(info.expires_at)
    out(string.format("partner id %s\nscopes %s\nexpires %s\n", tostring(info.partner_id), scopes,
      exp and os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(exp)) or tostring(info.expires_at)))
  end
  return 0
end

local NAME_FIELDS = {
  activities = { "activity_id", "activity" }, locales = { "language_id", "language_code", "language_name", "currency" },
  themes = { "theme_type_id", "theme_type" }, locations = { "full_name", "country" },
}

local function cmd_config(args)
  local settings, serr = settings_of(args)
  if not settings then return fail(serr) end
  production_guard(settings, args, false)
  local client, cerr = new_client(args)
  if not client then return fail(cerr) end
  local list, err = client:config(args.name)
  if not list then return fail(err) end
  if args.json then print_json(list); return 0 end
  local entries = list[args.name] or list
  for _, e in ipairs(entries) do
    local cells = {}
    for i, f in ipairs(NAME_FIELDS[args.name]) do cells[i] = cell(e[f]) end
    out(table.concat(cells, "\t"), "\n")
  end
  return 0
end

local function cmd_loans(args)
  local settings, serr = settings_of(args)
  if not settings then return fail(serr) end
  production_guard(settings, args, false)
  local client, cerr = new_client(args)
  if not client then return fail(cerr) end
  local f, s, c = client:loans({ status = args.status, query = args.query })
  local all = setmetatable({}, cjson.array_mt)
  while true do
    local loan, err = f(s, c)
    c = loan
    if not loan then
      err = err or (type(s) == "table" and s.err) or nil
      if err then return fail(err) end
      break
    end
    if args.json then
      all[#all + 1] = loan
    else
      out(table.concat({ cell(loan.kiva_id), cell(loan.internal_loan_id), cell(loan.internal_client_id),
        cell(loan.status), cell(loan.loan_local_price), cell(loan.loan_currency), cell(loan.name) }, "\t"), "\n")
    end
  end
  if args.json then print_json(all) end
  return 0
end

local function cmd_ledger(args)
  local ledger = require "kiva.ledger"
  local settings, serr = settings_of(args)
  if not settings then return fail(serr) end
  local path = settings.ledger or "kiva-ledger.sqlite3"
  local action = args.action or "list"
  if (action == "show" or action == "resolve") and not args.key then
    return fail({ kind = "usage", message = "kiva ledger " .. action .. " needs a KEY" })
  end
  if action == "resolve" and args.verdict ~= "sent" and args.verdict ~= "unsent" then
    return fail({ kind = "usage", message = "kiva ledger resolve KEY sent|unsent" })
  end
  local f = io.open(path, "rb")
  if not f then return fail({ kind = "config", message = "no ledger at " .. path }) end
  f:close()
  local db, err = ledger.open(path, { lock_wait = action == "resolve" and (tonumber(args.lock_wait) or 30) or nil })
  if not db then return fail(err) end
  local code = 0
  if action == "list" then
    local rows = db:list(args.state)
    if args.json then
      print_json(setmetatable(rows, cjson.array_mt))
    else
      for _, r in ipairs(rows) do
        out(string.format("%-9s %-20s %s  %s\n", r.state, r.sent_at or r.updated_at or "", r.key, r.source or ""))
      end
      local counts = db:counts()
      local parts = {}
      for _, s in ipairs({ "sent", "pending", "rejected", "unknown", "sending" }) do
        if counts[s] then parts[#parts + 1] = s .. " " .. counts[s] end
      end
      out(#rows, " item(s)", #parts > 0 and (": " .. table.concat(parts, ", ")) or "", "\n")
    end
  elseif action == "show" then
    local row = db:get(args.key)
    if not row then
      fail({ kind = "input", message = "no item with key " .. args.key })
      code = 1
    else
      print_json(row)
    end
  else
    local before, rerr = db:resolve(args.key, args.verdict)
    if not before then
      code = fail(rerr)
      if rerr.kind == "input" then code = 1 end
    else
      out(string.format("%s: %s -> %s\n", args.key, before.state, args.verdict == "sent" and "sent" or "pending"))
    end
  end
  db:close()
  return code
end

local HANDLERS = {
  push = cmd_push, validate = cmd_validate, reconcile = cmd_reconcile, token = cmd_token,
  config = cmd_config, loans = cmd_loans, ledger = cmd_ledger,
}

--- Why a numeric option is unusable (a usage error, exit 2), or nil: --concurrency
-- an integer 1..64 (the client's range), --lock-wait a number of seconds 0..86400.
function M.check_numbers(args)
  local function shown(v) return (tostring(v):sub(1, 40):gsub("[%c\127]", "?")) end
  if args.concurrency ~= nil then
    local n = math.tointeger(tonumber(args.concurrency))
    if not n or n < 1 or n > 64 then
      return string.format("--concurrency must be a whole number from 1 to 64, got '%s'", shown(args.concurrency))
    end
  end
  if args.lock_wait ~= nil then
    local s = tonumber(args.lock_wait)
    if not s or s ~= s or s < 0 or s > 86400 then
      return string.format("--lock-wait must be a number of seconds from 0 to 86400, got '%s'", shown(args.lock_wait))
    end
  end
  return nil
end

--- Runs the command line `argv` (without the program name) and returns the exit status.
function M.main(argv)
  argv = argv or {}
  local list = {}
  for i = 1, #argv do list[i] = argv[i] end
  if list[1] == "sandbox" then
    return require("kiva.sandbox.cli").main(table.move(list, 2, #list, 1, {}))
  end
  local state = { parsers = {} }
  local parser = build_parser(state)
  local called, ok, args = pcall(parser.pparse, parser, list)
  if state.help then
    out(state.help:get_help(), "\n")
    return 0
  end
  if not called then
    err_line("internal error: ", tostring(ok))
    return 2
  end
  if not ok then
    local usage = parser
    for _, sub in ipairs(state.parsers) do
      if sub._name == list[1] then usage = sub end
    end
    io.stderr:write(usage:get_usage(), "\n\nkiva: ", tostring(args), "\n")
    return 2
  end
  if not args.command then
    out(parser:get_help(), "\n")
    return 2
  end
  local bad = M.check_numbers(args)
  if bad then
    io.stderr:write("kiva: ", bad, "\n")
    return 2
  end
  local handler = HANDLERS[args.command]
  local ran, code = pcall(handler, args)
  if not ran then
    err_line("internal error: ", require("kiva.errors").redact(tostring(code)))
    return 2
  end
  return code
end

return M
