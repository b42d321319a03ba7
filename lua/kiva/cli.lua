--- kiva.cli: the `kiva` command. `main(argv)` parses, runs and returns the exit status
-- (0 done, 1 items invalid/rejected/unknown, 2 usage or configuration, 3 authentication,
-- 4 network gave up); it never calls os.exit. All printing of the project happens here.
local argparse = require "argparse"
local json = require "kiva.json"
local files = require "kiva.files"
local contract = require "kiva.contract"

local M = {}

local errors = require "kiva.errors"

local function out(...) io.stdout:write(...) end

-- JSON numbers arrive as floats; ids print as integers. Kiva's text (loan names...)
-- is printed with its control characters escaped.
local function cell(v)
  if v == nil then return "" end
  if math.type(v) == "float" and math.tointeger(v) then return tostring(math.tointeger(v)) end
  return require("kiva.text").printable(v)
end
local function err_line(...) io.stderr:write("kiva: ", ...); io.stderr:write("\n") end

-- What the operator can do about the common errors, in their language (kiva.i18n).
local HINTS = {
  auth = "The client id or secret was refused: check KIVA_CLIENT_ID and KIVA_CLIENT_SECRET (or --credentials).",
  forbidden = "These credentials lack the permission for this call: ask Kiva to add the scope.",
  config = "Check the settings named above (kiva COMMAND --help, README: Configuration).",
  input = "Check the file named above.",
  network = "Kiva could not be reached or is busy: run the same command again later; nothing is sent twice.",
  server = "Kiva could not be reached or is busy: run the same command again later; nothing is sent twice.",
  rate_limited = "Kiva could not be reached or is busy: run the same command again later; nothing is sent twice.",
  locked = "Another kiva run holds the ledger: let it finish, or wait longer with --lock-wait.",
}

M.HINTS = HINTS

local function fail(err)
  local message = type(err) == "table" and (err.message or err.kind) or tostring(err)
  err_line(require("kiva.text").printable(message))
  local hint = type(err) == "table" and HINTS[err.kind]
  if hint then
    local i18n = require "kiva.i18n"
    err_line(i18n.translator(i18n.language())(hint))
  end
  return errors.exit_code(err)
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
    .. "       --report report.json --problems problems.xlsx\n"
    .. "  kiva push repayments --mapping mfi.lua --input repayments.csv --yes --quiet --log /var/log/kiva.log\n"
    .. "       (cron: prints nothing when every repayment went through)\n"
    .. "Running the same command again sends nothing new: the ledger remembers what was sent.",
  validate = "Examples:\n  kiva validate loans --mapping mfi.lua --input loans.csv --problems problems.xlsx\n"
    .. "  kiva validate repayments --mapping mfi.lua --input repayments.csv --json | jq .counts\n"
    .. "  kiva validate loan_draft --json draft.json",
  completion = "Examples:\n  kiva completion bash > ~/.local/share/bash-completion/completions/kiva\n"
    .. "  kiva completion zsh > ~/.zfunc/_kiva\n"
    .. "  kiva completion fish > ~/.config/fish/completions/kiva.fish",
  reconcile = "Example:\n  kiva reconcile --mapping mfi.lua --input repayments-2026-10.csv --report reconcile.json\n"
    .. "Lists loans Kiva expects a repayment line for (payingBack, defaulted) that the export lacks,\n"
    .. "lines for loans Kiva does not expect, and amounts above the loan's local price.",
  ledger = "Examples:\n  kiva ledger list --state unknown\n"
    .. "  kiva ledger show repayment/123/2026-10/L-1001/C-77\n"
    .. "  kiva ledger show repayment/123/2026-10/L-1001/C-77 --json\n"
    .. "  kiva ledger resolve repayment/123/2026-10/L-1001/C-77 sent   # after checking PA2\n"
    .. "  kiva ledger resolve --batch 20261105T020000-003 sent          # a whole repayment batch\n"
    .. "  kiva ledger resolve --from-report report.json unsent          # every unknown item of a run\n"
    .. "  kiva ledger backup ledger-2026-11.sqlite3                      # a consistent copy\n"
    .. "The ledger lives in $XDG_STATE_HOME/kiva/ (else ~/.local/state/kiva/), one per API host and partner.",
}

-- Where the calls go (interface.md's configuration table): every command that reaches Kiva.
local function add_target(cmd)
  cmd:option("--credentials", "File of client_id= / client_secret= lines (mode 600).")
  cmd:option("--env", "stage or production (default stage)."):choices({ "stage", "production" })
  cmd:option("--auth-url", "Token URL.")
  cmd:option("--api-url", "API base URL.")
  cmd:option("--audience", "OAuth2 audience (default the API base URL).")
  cmd:option("--partner-id", "Partner id (default: from the token).")
  cmd:option("--ca-file", "CA bundle for TLS.")
end

local function add_ledger(cmd)
  cmd:option("--ledger", "Ledger file (default: one per target under $XDG_STATE_HOME/kiva/).")
  cmd:option("--lock-wait", "Seconds to wait for another run holding the ledger (default 30).")
end

local function add_csv_format(cmd)
  cmd:option("--csv-format", "Repayment format two|three (default three)."):choices({ "two", "three" })
end

-- What a run prints and where: push, validate and reconcile.
local function add_output(cmd, json_flag)
  cmd:option("--report", "Write the JSON report here (- for stdout).")
  cmd:flag("-q --quiet", "Print nothing when every item was sent or already sent; otherwise only the run log.")
  cmd:option("--log", "Append the run log to this file, each line with its date and time.")
  if json_flag then cmd:flag("--json", "Print the JSON report on stdout (the run log goes to stderr).") end
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

  p:flag("--version", "Print the versions of kiva, Lua, libcurl, OpenSSL and SQLite, and exit.")

  local c = helpful(p:command("token", "Check the credentials: partner id, scopes, expiry."))
  c:epilog(EXAMPLES.token)
  c:flag("--json", "Print JSON.")
  add_target(c)

  c = helpful(p:command("config", "Kiva's configuration lists."))
  c:epilog(EXAMPLES.config)
  c:argument("name", "activities|locales|themes|locations"):choices({ "activities", "locales", "themes", "locations" })
  c:flag("--json", "Print JSON.")
  add_target(c)

  c = helpful(p:command("loans", "The partner's loans."))
  c:epilog(EXAMPLES.loans)
  c:option("--status", "Only loans in this status (e.g. payingBack).")
  c:option("--query", "Search as PA2's search bar does.")
  c:flag("--json", "Print JSON.")
  add_target(c)

  c = helpful(p:command("push", "Map an export and send what the ledger has not sent."))
  c:epilog(EXAMPLES.push)
  c:argument("what", table.concat(contract.KIND_ORDER, "|")):choices(contract.KIND_ORDER)
  c:option("--mapping", "Mapping script (Lua)."):count(1)
  c:option("--input", "MIS export (csv, tsv, xlsx, json, jsonl)."):count(1)
  c:flag("--dry-run", "Map, validate and write the payloads under --out; send nothing.")
  c:option("--out", "Directory for --dry-run payloads.", "kiva-out")
  c:option("--problems", "Write the problems for Excel here: FILE.xlsx (a workbook) or FILE.csv.")
  c:option("--period", "Repayment period YYYY-MM (default: the month of the export's payment dates).")
  c:flag("--resend-changed", "Resend items changed since they were sent.")
  c:flag("--strict", "Treat warnings (what PA2 needs before publishing) as errors.")
  add_output(c, true)
  add_target(c)
  add_ledger(c)
  add_csv_format(c)
  c:option("--concurrency", "Requests in flight (default 4).")
  c:flag("--yes", "Confirm sending to production without asking.")

  c = helpful(p:command("validate", "Map and validate without sending; or validate a JSON body."))
  c:epilog(EXAMPLES.validate)
  c:argument("what", "loans|repayments|journals (with --mapping), loan_draft|repayments|journals (with --json)")
    :choices({ "loans", "repayments", "journals", "loan_draft" })
  c:option("--mapping", "Mapping script (Lua).")
  c:option("--input", "MIS export.")
  -- `--json FILE` validates a request body (as before); `--json` alone prints the report.
  c:option("--json", "With FILE: a request body in JSON to validate. Alone: print the JSON report on stdout.")
    :args("?")
  c:option("--problems", "Write the problems for Excel here: FILE.xlsx (a workbook) or FILE.csv.")
  c:flag("--strict", "Treat warnings (what PA2 needs before publishing) as errors.")
  add_output(c, false)
  add_target(c)
  add_csv_format(c)

  c = helpful(p:command("reconcile", "Compare a repayment export with the loans Kiva expects."))
  c:epilog(EXAMPLES.reconcile)
  c:option("--mapping", "Mapping script (Lua)."):count(1)
  c:option("--input", "MIS repayment export."):count(1)
  c:option("--period", "Repayment period YYYY-MM.")
  add_output(c, true)
  add_target(c)
  add_csv_format(c)

  c = helpful(p:command("ledger", "What was sent: list, show KEY, resolve KEY sent|unsent, backup FILE."))
  c:epilog(EXAMPLES.ledger)
  c:argument("action", "list|show|resolve|backup"):choices({ "list", "show", "resolve", "backup" }):args("?")
  c:argument("key", "Item key (backup: the file to write)."):args("?")
  c:argument("verdict", "sent|unsent (for resolve)."):args("?")
  c:option("--state", "list: only items in this state.")
  c:option("--batch", "resolve: every unknown item of this batch (as a run reported it) or upload id.")
  c:option("--from-report", "resolve: every unknown item listed in this run report (--report FILE of a push).")
  c:flag("--force", "resolve: allow marking a sent item unsent (the next run sends it again).")
  c:flag("--json", "Print JSON.")
  add_target(c)
  add_ledger(c)

  c = helpful(p:command("completion", "A shell completion script for bash, zsh or fish."))
  c:epilog(EXAMPLES.completion)
  c:argument("shell", "bash|zsh|fish"):choices({ "bash", "zsh", "fish" })

  require("kiva.cli_start").add_commands(p, helpful)
  helpful(p:command("sandbox", "A local Kiva for tests and demos (see kiva sandbox --help)."))
  return p
end

-- The settings of interface.md from flags + environment (no credentials needed):
-- resolved once per command, then handed to the client, the guard and the ledger.
local function settings_of(args)
  local config = require "kiva.config"
  return config.resolve({
    credentials = args.credentials, env = args.env, auth_url = args.auth_url, api_url = args.api_url,
    audience = args.audience, partner_id = args.partner_id, ca_file = args.ca_file, ledger = args.ledger,
    csv_format = args.csv_format,
  })
end

local function client_opts(args)
  local o = { concurrency = math.tointeger(tonumber(args.concurrency)) }
  if os.getenv("KIVA_DEBUG") == "1" then
    o.on_log = function(level, message)
      if type(message) == "table" then message = json.encode(errors.redact(message)) end
      io.stderr:write("kiva: ", tostring(level), ": ",
        require("kiva.text").printable(errors.redact(tostring(message))), "\n")
    end
  end
  return o
end

local function new_client(settings, args)
  return require("kiva.client").with_settings(settings, client_opts(args))
end

-- Says where requests go, before any leaves; production (any of Kiva's production
-- hosts, whatever --env says) is never reached by accident: sending there needs
-- --yes, KIVA_ASSUME_YES=1 or "yes" typed on a terminal.
local function production_guard(settings, args, sends)
  local config = require "kiva.config"
  -- under --quiet the run log (and --log) carry the target; production still asks below
  if not args.quiet or (settings.production and sends) then err_line("target: ", config.target_line(settings)) end
  if not settings.production or not sends then return true end
  if args.yes or os.getenv("KIVA_ASSUME_YES") == "1" then return true end
  local core = require "kiva.core"
  if not core.isatty(0) then
    return nil, errors.usage("refusing to send to Kiva's production without --yes (or KIVA_ASSUME_YES=1) "
      .. "when stdin is not a terminal")
  end
  io.stderr:write("Send to Kiva's PRODUCTION? Type yes: ")
  local answer = io.stdin:read("l")
  if answer ~= "yes" then return nil, errors.usage("not confirmed; nothing sent") end
  return true
end

local function partner_of(settings, client)
  if settings.partner_id then return settings.partner_id end
  local info, err = client:token_info()
  if not info then return nil, err end
  if not info.partner_id then return nil, errors.new("auth", "the token carries no partner id") end
  return tostring(info.partner_id)
end

-- The ledger's path: --ledger / KIVA_LEDGER, else the target's own under the state directory.
local function ledger_path(settings, partner)
  if settings.ledger then return settings.ledger end
  return require("kiva.ledger").default_path(settings.api_url, partner)
end

local function valid_period(p)
  local y, m = tostring(p):match("^(%d%d%d%d)%-(%d%d)$")
  return y and tonumber(m) >= 1 and tonumber(m) <= 12
end

local function write_outputs(args, result)
  local report = require "kiva.report"
  if args.report and args.report ~= "-" then
    local ok, e = report.write_json(args.report, result)
    if not ok then return nil, e end
  end
  if args.problems then
    -- French- and Spanish-locale Excel splits CSV on ";" (their decimal mark is ",")
    local lang = require("kiva.i18n").language()
    local delimiter = (lang == "fr" or lang == "es") and ";" or ","
    local ok, e = report.write_problems(args.problems, result, { delimiter = delimiter })
    if not ok then return nil, e end
  end
  return true
end

-- `--json` alone (push, reconcile: a flag; validate: an option whose FILE is optional)
-- or `--report -`: the report document goes to stdout and the run log to stderr.
local function json_to_stdout(args)
  return args.json == true or (type(args.json) == "table" and args.json[1] == nil) or args.report == "-"
end

--- Begins a run's output: the clock, the translator and, unless --quiet, the progress
-- display on stderr. `opts` (the push options) gets its on_progress.
local function start_run(args, settings, opts)
  local core = require "kiva.core"
  local run = { args = args, settings = settings, opts = opts, started_at = os.time(), clock = core.monotonic(),
    tr = require("kiva.i18n").translator(require("kiva.i18n").language()) }
  if not args.quiet then
    run.progress = require("kiva.progress").new({ label = args.what, tr = run.tr })
    if opts then opts.on_progress = run.progress end
  end
  return run
end

--- Ends a run: prints the run log (stdout, or stderr when the JSON report is on stdout;
-- nothing under --quiet when no person is needed), writes --report/--problems/--log,
-- and returns the exit status (`code`, or that of a file that could not be written).
-- `body`: lines to print instead of the push summary (reconcile).
local function finish_run(run, result, code, body)
  local core = require "kiva.core"
  local report, runlog = require "kiva.report", require "kiva.runlog"
  local args, settings = run.args, run.settings or {}
  if run.progress then run.progress.finish() end
  -- what the run log and the report say of the run, where push.run did not say it
  local target = result.target or {}
  local partner = run.opts and run.opts.partner_id ~= "-" and run.opts.partner_id or settings.partner_id
  result.target = { env = target.env or settings.env or "stage", api_url = target.api_url or settings.api_url,
    partner_id = target.partner_id or partner, auth_url = target.auth_url or settings.auth_url,
    ledger = target.ledger or (result.command == "push" and not result.dry_run and settings.ledger or nil) }
  result.started_at = result.started_at or run.started_at
  result.finished_at = result.finished_at or os.time()
  result.duration = result.duration or (core.monotonic() - run.clock)
  local to_json = json_to_stdout(args)
  local ok, werr = write_outputs(args, result)
  local lines = runlog.lines(result, { tr = run.tr, version = require("kiva")._VERSION, code = code,
    report = ok and args.report or nil, problems = ok and args.problems or nil, json = to_json, body = body })
  local human = to_json and io.stderr or io.stdout
  if not (args.quiet and not runlog.needs_person(result)) then
    human:write(table.concat(lines, "\n"), "\n")
  end
  if to_json then out(json.encode(report.to_table(result)), "\n") end
  if args.log then
    args.logged = true
    local logged, lerr = runlog.append(args.log, lines)
    if not logged and ok then ok, werr = nil, lerr end
  end
  if not ok then return fail(werr) end
  -- The log (stdout) already says "Stopped: ..."; stderr gets it too, for cron mail and
  -- for logs that keep stdout apart, but not when both are the terminal.
  if result.fatal and human == io.stdout and not (args.quiet and not runlog.needs_person(result))
      and not (core.isatty(1) and core.isatty(2)) then
    err_line(report.message_of(result.fatal))
  end
  return code
end

-- SIGINT/SIGTERM reach the run as a request to stop (the run settles what is in
-- flight, prints its summary and exits 130/143) instead of killing it mid-write.
local function stop_on_signals()
  local core = require "kiva.core"
  local watch = core.signal_watch { "INT", "TERM" }
  local stop
  return function()
    if not stop then
      local sig = watch:read()
      if sig then stop = errors.new("interrupted", "stopped by SIG" .. sig .. " (the items not sent stay pending "
        .. "for the next run)", { signal = sig }) end
    end
    return stop
  end, watch
end

-- Kiva's config lists (for ctx.activity and the like) are kept a day beside the
-- ledger, one file per API host and partner, so a cron run does not fetch them each
-- time and a dry run finds what the last push fetched. nil when there is nowhere.
local function config_cache_path(settings, ledger_file, partner)
  local ledger = require "kiva.ledger"
  local dir = ledger_file and (ledger_file:match("^(.*)/[^/]*$") or ".") or ledger.state_dir()
  if not dir then return nil end
  if not ledger_file then require("kiva.core").mkdir(dir, files.PRIVATE_DIR, true) end
  return dir .. "/" .. ledger.target_name(settings.api_url, partner) .. ".config.json"
end

local function cmd_push(args, validate_only)
  local push = require "kiva.push"
  local ledger = require "kiva.ledger"
  local settings, serr = settings_of(args)
  if not settings then return fail(serr) end
  if args.period and not valid_period(args.period) then return fail(errors.usage("--period must be YYYY-MM")) end
  local dry = args.dry_run or validate_only
  local opts = { kind = args.what, mapping = args.mapping, input = args.input, period = args.period,
    resend_changed = args.resend_changed, csv_format = settings.csv_format, out = args.out, strict = args.strict,
    validate_only = validate_only, dry_run = args.dry_run, partner_id = settings.partner_id or (dry and "-" or nil) }
  local config = require "kiva.config"
  local db, watch
  if dry then
    -- Lookups (ctx.activity ...) may need Kiva's lists; use credentials when there are some.
    if config.require_credentials(settings) then
      production_guard(settings, args, false)   -- Kiva's lists may be fetched: say from where
      opts.client = new_client(settings, args)
    end
    -- lists a push of the same target cached are used without credentials
    opts.config_cache = config_cache_path(settings, settings.ledger, settings.partner_id or "any")
  else
    local ok, gerr = production_guard(settings, args, true)
    if not ok then return fail(gerr) end
    local client, cerr = new_client(settings, args)
    if not client then return fail(cerr) end
    opts.client = client
    local partner, perr = partner_of(settings, client)
    if not partner then client:close(); return fail(perr) end
    opts.partner_id = partner
    local path, lperr = ledger_path(settings, partner)
    if not path then client:close(); return fail(lperr) end
    local lerr
    db, lerr = ledger.open(path, { lock_wait = tonumber(args.lock_wait) or 30 })
    if not db then client:close(); return fail(lerr) end
    if db.created == "new" then
      err_line("new ledger ", path, ": the first run for this target (nothing it sent before is known here)")
    elseif db.created == "empty" then
      err_line("the ledger ", path, " was empty: nothing sent before is known here")
    end
    opts.ledger = db
    opts.config_cache = config_cache_path(settings, path, partner)
    opts.target = { env = settings.env, api_url = settings.api_url, auth_url = settings.auth_url,
      partner_id = partner, ledger = path, production = settings.production }
  end
  opts.should_stop, watch = stop_on_signals()
  local run = start_run(args, settings, opts)
  local result = push.run(opts)
  watch:close()
  if db then db:close() end
  if opts.client then opts.client:close() end
  local code = finish_run(run, result, push.exit_code(result))
  push.close(result)
  return code
end

local function cmd_validate_json(args)
  local kiva = require "kiva"
  local kind = contract.KINDS[contract.kind_of(args.what)].payload
  local text, ferr = files.read(args.json)
  if not text then return fail({ kind = "input", message = "cannot read " .. args.json .. ": " .. tostring(ferr) }) end
  local value, derr = json.decode(text)
  if value == nil then
    out(require("kiva.text").printable(args.json), ": not JSON: ", tostring(derr), "\n")
    return 1
  end
  local settings = settings_of(args) or {}
  local ok, errs, warnings = kiva.validate(kind, value, { csv_format = settings.csv_format, strict = args.strict })
  local printable = require("kiva.text").printable
  for _, e in ipairs(errs or {}) do
    out(printable(args.json), ": ", printable(e.path or ""), ": ", printable(e.message), "\n")
  end
  for _, w in ipairs(warnings or {}) do
    out(printable(args.json), ": warning: ", printable(w.path or ""), ": ", printable(w.message), "\n")
  end
  if ok then
    out(args.json, ": valid ", kind, #warnings > 0 and string.format(" (%d warning(s))", #warnings) or "", "\n")
    return 0
  end
  out(string.format("%d error(s)%s\n", #errs, #warnings > 0 and string.format(", %d warning(s)", #warnings) or ""))
  return 1
end

local function cmd_validate(args)
  if type(args.json) == "table" and args.json[1] then
    args.json = args.json[1]
    return cmd_validate_json(args)
  end
  if not args.mapping or not args.input then
    return fail({ kind = "usage", message = "validate needs --mapping and --input, or --json FILE" })
  end
  args.what = contract.kind_of(args.what)
  return cmd_push(args, true)
end

local function cmd_reconcile(args)
  local reconcile = require "kiva.reconcile"
  local report = require "kiva.report"
  local settings, serr = settings_of(args)
  if not settings then return fail(serr) end
  production_guard(settings, args, false)
  local client, cerr = new_client(settings, args)
  if not client then return fail(cerr) end
  local run = start_run(args, settings, nil)
  local result = reconcile.run({ mapping = args.mapping, input = args.input, client = client,
    csv_format = settings.csv_format, period = args.period, partner_id = settings.partner_id or "-" })
  if client.close then client:close() end
  if result.fatal then
    return finish_run(run, result, errors.exit_code(result.fatal))
  end
  local printable = require("kiva.text").printable
  local body = { string.format("Kiva expects repayments for %d loan(s); the export has %d valid line(s), %d invalid.",
    result.expected or 0, result.counts.valid, result.counts.invalid) }
  for _, e in ipairs(result.items) do
    if e.status == "invalid" then
      local msgs = {}
      for _, p in ipairs(e.errors or {}) do msgs[#msgs + 1] = report.message_of(p) end
      body[#body + 1] = "invalid " .. printable(e.where) .. ": " .. table.concat(msgs, "; ")
    end
  end
  if #result.findings == 0 then
    body[#body + 1] = "The export and Kiva agree."
  else
    for line in reconcile.table(result):gmatch("[^\n]+") do body[#body + 1] = printable(line) end
  end
  return finish_run(run, result, reconcile.exit_code(result), body)
end

local function print_json(v)
  out(json.encode(v), "\n")
end

local function cmd_token(args)
  local settings, serr = settings_of(args)
  if not settings then return fail(serr) end
  production_guard(settings, args, false)
  local client, cerr = new_client(settings, args)
  if not client then return fail(cerr) end
  local info, err = client:token_info()
  if not info then return fail(err) end
  if args.json then
    print_json({ partner_id = info.partner_id, scopes = info.scopes, expires_at = info.expires_at })
  else
    local scopes = cell(type(info.scopes) == "table" and table.concat(info.scopes, " ") or info.scopes)
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
  local client, cerr = new_client(settings, args)
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
  local client, cerr = new_client(settings, args)
  if not client then return fail(cerr) end
  local f, s, c = client:loans({ status = args.status, query = args.query })
  local all = json.array()
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

-- Which ledger a `kiva ledger` command reads: --ledger / KIVA_LEDGER, else the
-- target's (its partner id from --partner-id, KIVA_PARTNER_ID, or the token).
local function ledger_of(settings, args)
  if settings.ledger then return settings.ledger end
  local partner = settings.partner_id
  if not partner then
    local config = require "kiva.config"
    if not config.require_credentials(settings) then
      return nil, errors.usage("which ledger? Give --partner-id (or KIVA_PARTNER_ID) with the API URL of the run, "
        .. "or --ledger FILE; ledgers live in " .. tostring(require("kiva.ledger").state_dir())
        .. ", one per API host and partner")
    end
    local client, cerr = new_client(settings, args)
    if not client then return nil, cerr end
    local perr
    partner, perr = partner_of(settings, client)
    client:close()
    if not partner then return nil, perr end
  end
  return ledger_path(settings, partner)
end

-- The keys of the unknown items a run's JSON report lists.
local function unknown_keys_of(path)
  local text, ferr = files.read(path)
  if not text then return nil, errors.input(path, "cannot read the report " .. path .. ": " .. tostring(ferr)) end
  local doc = json.decode(text)
  if type(doc) ~= "table" or type(doc.items) ~= "table" then
    return nil, errors.input(path, path .. " is not a kiva run report (no items list)")
  end
  local keys = {}
  for _, item in ipairs(doc.items) do
    if type(item) == "table" and item.status == "unknown" and type(item.key) == "string" then
      keys[#keys + 1] = item.key
    end
  end
  return keys
end

local function resolve_items(db, args)
  local verdict = (args.batch or args.from_report) and args.key or args.verdict
  if verdict ~= "sent" and verdict ~= "unsent" then
    return nil, errors.usage("kiva ledger resolve KEY sent|unsent, --batch ID sent|unsent or --from-report FILE "
      .. "sent|unsent")
  end
  local opts = { force = args.force }
  local rows, err
  if args.batch then
    rows, err = db:resolve_batch(args.batch, verdict, opts)
  elseif args.from_report then
    local keys, kerr = unknown_keys_of(args.from_report)
    if not keys then return nil, kerr end
    rows, err = db:resolve_keys(keys, verdict, opts)
  else
    if not args.key then
      return nil, errors.usage("kiva ledger resolve needs a KEY, --batch ID or --from-report FILE")
    end
    local row
    row, err = db:resolve(args.key, verdict, opts)
    rows = row and { row } or nil
  end
  if not rows then return nil, err end
  for _, row in ipairs(rows) do
    out(string.format("%s: %s -> %s\n", row.key, row.state, verdict == "sent" and "sent" or "pending"))
  end
  if verdict == "unsent" then
    out(string.format("%d item(s) will be sent by the next run.\n", #rows))
  else
    out(string.format("%d item(s) recorded as sent; they will not be sent again.\n", #rows))
  end
  return true
end

local function cmd_ledger(args)
  local ledger = require "kiva.ledger"
  local settings, serr = settings_of(args)
  if not settings then return fail(serr) end
  local action = args.action or "list"
  if action == "show" and not args.key then return fail(errors.usage("kiva ledger show needs a KEY")) end
  if action == "backup" and not args.key then return fail(errors.usage("kiva ledger backup needs a FILE to write")) end
  local path, perr = ledger_of(settings, args)
  if not path then return fail(perr) end
  local db, err = ledger.open(path, { create = false,
    lock_wait = action == "resolve" and (tonumber(args.lock_wait) or 30) or nil })
  if not db then return fail(err) end
  local code = 0
  if action == "list" then
    local rows = db:list(args.state)
    if args.json then
      print_json(json.array(rows))
    else
      for _, r in ipairs(rows) do
        out(string.format("%-9s %-20s %s  %s\n", r.state, r.sent_at or r.updated_at or "", cell(r.key), cell(r.source)))
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
      fail(errors.input(nil, "no item with key " .. args.key))
      code = 1
    elseif args.json then
      print_json(row)
    else
      out(require("kiva.report").ledger_item_text(row))
    end
  elseif action == "backup" then
    local ok, berr = db:backup(args.key)
    if ok then out("ledger ", path, " copied to ", args.key, "\n") else code = fail(berr) end
  else
    local ok, rerr = resolve_items(db, args)
    if not ok then
      code = fail(rerr)
      if rerr.kind == "input" then code = 1 end
    end
  end
  db:close()
  return code
end

-- One line per component, as bug reports need them.
local function versions_text()
  local core = require "kiva.core"
  local v = core.library_versions()
  local sqlite = "unavailable"
  local okl, luasql = pcall(require, "luasql.sqlite3")
  if okl then
    local env = luasql.sqlite3()
    local conn = env:connect(":memory:")
    if conn then
      local cur = conn:execute("SELECT sqlite_version()")
      sqlite = cur and cur:fetch() or sqlite
      if cur then cur:close() end
      conn:close()
    end
    env:close()
  end
  return string.format("kiva %s\n%s\nlibcurl %s\nOpenSSL %s\nSQLite %s\nlibzip %s\n", require("kiva")._VERSION,
    v.lua, v.curl, v.openssl, sqlite, v.zip)
end

local HANDLERS = {
  push = cmd_push, validate = cmd_validate, reconcile = cmd_reconcile, token = cmd_token,
  config = cmd_config, loans = cmd_loans, ledger = cmd_ledger,
  inspect = function(args) return require("kiva.cli_start").inspect(args, out, fail) end,
  init = function(args) return require("kiva.cli_start").init(args, out, fail) end,
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
  if args.version then
    out(versions_text())
    return 0
  end
  if not args.command then
    out(parser:get_help(), "\n")
    return 2
  end
  if args.command == "completion" then
    out(parser["get_" .. args.shell .. "_complete"](parser))
    return 0
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
    code = 2
  end
  -- A run that stopped before its run log (no credentials, a locked ledger...) still
  -- leaves a line in the --log history; the reason went to stderr (the cron mail).
  if args.log and not args.logged then
    require("kiva.runlog").append(args.log, { string.format("== kiva %s: %s %s stopped before the run, exit %d "
      .. "(the reason is in the command's error output)", require("kiva")._VERSION, args.command,
      args.what or "", code) })
  end
  return code
end

return M
