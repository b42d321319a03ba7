-- `kiva sandbox`: parses the options, builds the partner (portfolio, faults, state),
-- listens, prints the `export KIVA_...=` lines a shell can eval, then serves until
-- POST /__sandbox/shutdown or a signal (see kiva.sandbox.state for what a signal
-- may lose of the --state file).
local argparse = require "argparse"
local socket = require "socket"

local M = {}

local shell_quote = require("kiva.sandbox.tls").shell_quote

local function parser()
  local p = argparse("kiva sandbox", "A local Kiva Partner API for tests, demos and CI.")
  p:option("--host", "Address to listen on.", "127.0.0.1")
  p:option("--port", "Port to listen on; 0 picks a free one.", "0"):convert(math.tointeger)
  p:flag("--tls", "Serve HTTPS (a throwaway CA and certificate unless --cert/--key).")
  p:option("--cert", "Server certificate (PEM) for --tls.")
  p:option("--key", "Server private key (PEM) for --tls.")
  p:option("--ca", "CA file to print as KIVA_CA_FILE with --cert (default: the certificate).")
  p:option("--state", "Keep the state (what was applied) in this JSON file: read back at start, rewritten on change.")
  p:option("--faults", "Faults to inject into POST API calls, e.g. 503:0.1,429:0.05,drop_after:0.05.")
  p:option("--seed", "Seed for the fault decisions (default: random, printed on stderr).")
    :convert(math.tointeger)
  p:option("--token-ttl", "Access token lifetime in seconds.", "43200"):convert(math.tointeger)
  p:option("--client-id", "Client id to accept.", "kiva-sandbox")
  p:option("--client-secret", "Client secret to accept (default: a random throwaway one).")
  p:option("--partner-id", "Partner id of the tokens.", "1"):convert(math.tointeger)
  p:option("--scopes", "Scopes the partner holds (space-separated).",
    table.concat(require("kiva.sandbox.api").ALL_SCOPES, " "))
  p:option("--loans", "Number of loans in the generated portfolio (default 1000; 0 with --portfolio or --state).")
    :convert(math.tointeger)
  p:option("--portfolio", "JSON file: an array of extra loans (internal_loan_id, internal_client_id, status, ...).")
  p:option("--config", "JSON file: the partner's own config lists (activities, locales, themes, locations).")
  p:option("--csv-format", "Repayment upload format of the partner.", "three"):choices { "two", "three" }
  p:option("--slow-ms", "Delay of the `slow` fault, in milliseconds.", "1500"):convert(math.tointeger)
  p:flag("-v --verbose", "Log each request and fault on stderr.")
  return p
end

local function fail(msg)
  io.stderr:write("kiva sandbox: ", msg, "\n")
  return 2
end

-- The decoded JSON of a file named by an option | nil, message.
local function read_json(option, path)
  local text, err = require("kiva.files").read(path)
  if not text then return nil, option .. ": " .. tostring(err) end
  local decoded, derr = require("kiva.json").decode(text)
  if type(decoded) ~= "table" then return nil, option .. ": not JSON: " .. tostring(derr) end
  return decoded
end

-- What argparse cannot check. @return nil | message
local function check_args(args)
  if not args.port or args.port < 0 or args.port > 65535 then return "--port must be 0..65535" end
  if args.loans == nil then args.loans = (args.portfolio or args.state) and 0 or 1000 end
  for _, name in ipairs { "token_ttl", "partner_id", "loans", "slow_ms" } do
    if not args[name] or args[name] < 0 then
      return "--" .. name:gsub("_", "-") .. " must be a non-negative integer"
    end
  end
  if args.token_ttl < 1 then return "--token-ttl must be at least 1" end
  if (args.cert or args.key) and not args.tls then return "--cert/--key need --tls" end
  if (args.cert == nil) ~= (args.key == nil) then return "--cert and --key go together" end
  return nil
end

-- The loans the sandbox serves (--loans, --portfolio, --config, then what --state kept)
-- and its state. @return portfolio, state | nil, message
local function load_portfolio(args)
  local extra, lists, jerr
  if args.portfolio then
    extra, jerr = read_json("--portfolio", args.portfolio)
    if not extra then return nil, jerr end
  end
  if args.config then
    local doc
    doc, jerr = read_json("--config", args.config)
    if not doc then return nil, jerr end
    lists, jerr = require("kiva.sandbox.portfolio").read_config(doc)
    if not lists then return nil, "--config: " .. jerr end
  end
  local portfolio, perr = require("kiva.sandbox.portfolio").new(args.loans, extra, lists)
  if not portfolio then return nil, "--portfolio: " .. perr end
  local state = require("kiva.sandbox.state").new(args.state, socket.gettime)
  local loaded, lerr = state:load()
  if not loaded then return nil, "--state: " .. lerr end
  for _, loan in ipairs(state.loans) do portfolio:put(loan) end
  return portfolio, state
end

-- The TLS context for --tls: the given --cert/--key, or a throwaway CA and
-- certificate (removed at the end). @return { ctx, files, ca_file } | nil, message
local function tls_setup(args)
  local tls = require "kiva.sandbox.tls"
  local cert, key, files, ca_file = args.cert, args.key, nil, args.ca or args.cert
  if not cert then
    local made, terr = tls.throwaway(args.host)
    if not made then return nil, terr end
    files, cert, key, ca_file = made, made.cert_file, made.key_file, made.ca_file
  end
  local ctx, cerr = tls.context(cert, key)
  if not ctx then
    if files then tls.remove(files.dir) end
    return nil, cerr
  end
  return { ctx = ctx, files = files, ca_file = ca_file }
end

-- The base URL clients use: a wildcard host is reached on loopback.
local function base_url(args, port)
  local host = args.host
  if host == "0.0.0.0" or host == "*" then host = "127.0.0.1" end
  if host:find(":", 1, true) then host = "[" .. host .. "]" end
  return (args.tls and "https://" or "http://") .. host .. ":" .. port
end

-- The `export KIVA_...=` lines a shell evals to point kiva at the sandbox.
local function exports(args, argv, base, secret, ca_file)
  local out = {
    "export KIVA_AUTH_URL=" .. base .. "/oauth/token",
    "export KIVA_API_URL=" .. base,
    "export KIVA_CLIENT_ID=" .. shell_quote(args.client_id),
  }
  if table.concat(argv or {}, " "):find("--csv-format", 1, true) then
    out[#out + 1] = "export KIVA_CSV_FORMAT=" .. args.csv_format
  end
  out[#out + 1] = "export KIVA_CLIENT_SECRET=" .. shell_quote(secret)
  if ca_file then out[#out + 1] = "export KIVA_CA_FILE=" .. shell_quote(ca_file) end
  return table.concat(out, "\n") .. "\n"
end

-- Serves until stopped, then writes the whole state file. @return exit code
local function serve(srv, state, log)
  -- SIGTERM and SIGINT arrive through a signalfd the loop selects on, so a stop always
  -- writes the whole state file. Where that is unavailable, lua5.4 still turns SIGINT
  -- into an "interrupted!" error, caught below.
  local ran, rerr = pcall(srv.run, srv)
  srv:close()
  if srv.signals then srv.signals:close() end
  local code = 0
  if not ran and not tostring(rerr):find("interrupted!", 1, true) then
    log("stopped by an error: " .. tostring(rerr))
    code = 1
  end
  local saved, serr = state:write()
  if not saved then log("cannot write the state file: " .. tostring(serr)) end
  return code
end

local function log(msg) io.stderr:write("kiva sandbox: ", msg, "\n") end

-- Starts the sandbox the checked `args` describe and serves until stopped.
-- @return exit code
local function run(args, argv, random)
  local faults = require "kiva.sandbox.faults"
  local fault_list, ferr = faults.parse(args.faults)
  if not fault_list then return fail("--faults: " .. ferr) end
  local seed = args.seed or (string.unpack("<I4", random(4)))
  local portfolio, state = load_portfolio(args)
  if not portfolio then return fail(state) end
  local scopes = {}
  for s in args.scopes:gmatch("%S+") do scopes[#scopes + 1] = s end
  local tls, terr
  if args.tls then
    tls, terr = tls_setup(args)
    if not tls then return fail(terr) end
  end
  local tls_files = tls and tls.files

  local srv, serr
  local handler
  srv, serr = require("kiva.sandbox.server").new {
    host = args.host, port = args.port, tls = tls and tls.ctx, log = log,
    signals = require("kiva.core").signal_watch { "TERM", "INT" },
    handler = function(req) return handler(req) end,
    tick = function()
      local wait, werr = state:tick()
      if werr then log("cannot write the state file: " .. tostring(werr)) end
      return wait
    end,
  }
  if not srv then
    if tls_files then require("kiva.sandbox.tls").remove(tls_files.dir) end
    return fail(string.format("cannot listen on %s:%d: %s", args.host, args.port, tostring(serr)))
  end

  local base = base_url(args, srv:port())
  -- the sandbox's idea of now: real time, moved ahead by POST /__sandbox/clock
  local ahead = 0
  local function clock() return socket.gettime() + ahead end
  local secret = args.client_secret or (random(20):gsub(".", function(c) return string.format("%02x", c:byte()) end))
  handler = require("kiva.sandbox.api").new {
    client_id = args.client_id, client_secret = secret, partner_id = tostring(args.partner_id),
    scopes = scopes, token_ttl = args.token_ttl, api_url = base, auth_url = base .. "/oauth/token",
    csv_format = args.csv_format, slow_ms = args.slow_ms, faults = faults.new(fault_list, seed),
    state = state, portfolio = portfolio, clock = clock, random = random,
    advance_clock = function(seconds) ahead = ahead + seconds end,
    log = log, verbose = args.verbose, on_shutdown = function() srv:stop() end,
  }
  local wrote, werr = state:write()
  if not wrote then log("cannot write the state file: " .. tostring(werr)) end

  io.stdout:write(exports(args, argv, base, secret, tls and tls.ca_file))
  io.stdout:flush()
  log(string.format("listening on %s (partner %s, %d loans, %s format, seed %d%s)", base, args.partner_id,
    #portfolio.list, args.csv_format, seed, #fault_list > 0 and (", faults " .. args.faults) or ""))

  local code = serve(srv, state, log)
  if tls_files then require("kiva.sandbox.tls").remove(tls_files.dir) end
  if code == 0 then log("stopped") end
  return code
end

--- Runs `kiva sandbox` with the arguments after `sandbox`; returns the exit code.
function M.main(argv)
  local ok, args = parser():pparse(argv)
  if not ok then return fail(args .. "\n" .. parser():get_usage()) end
  local bad = check_args(args)
  if bad then return fail(bad) end
  local urandom = io.open("/dev/urandom", "rb")
  if not urandom then return fail("cannot open /dev/urandom") end
  local code = run(args, argv, function(n) return urandom:read(n) end)
  urandom:close()
  return code
end

return M
