-- Shared test support, loaded by busted before the specs (see .busted).
-- Exposes the global-free module `require "helper"` with: tmpdir, read/write files,
-- run(cmd, opts) capturing output and exit code, and start_sandbox(args) / stop.
local M = {}

M.root = os.getenv("PWD") or "."
M.build = os.getenv("KIVA_BUILD") or "build"
M.lua = "lua5.4"

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
M.quote = shell_quote

local files = require "kiva.files"

--- The file's content, or nil when it cannot be read.
function M.read(path)
  return (files.read(path))
end

--- Writes the file (a failure fails the test); returns its path.
function M.write(path, data)
  assert(files.write(path, data))
  return path
end

--- All rows of kiva.source.rows(path, opts), as plain tables (a CSV row is a lazy
-- object: kiva.source.plain): a list of { row =, where = } or { err = }, and the
-- warnings said; or nil, err when the input cannot be opened.
function M.read_rows(path, opts)
  opts = opts or {}
  local warnings = {}
  opts.on_warning = function(w) warnings[#warnings + 1] = w end
  local it, err = require("kiva.source").rows(path, opts)
  if not it then return nil, err end
  local out = {}
  for row, where in it do
    if row then
      out[#out + 1] = { row = require("kiva.source").plain(row), where = where }
    else
      out[#out + 1] = { err = where }
    end
  end
  return out, warnings
end

--- How many file descriptors this process has open (its /proc/PID/fd).
function M.open_descriptors()
  local p = io.popen("ls /proc/" .. require("kiva.core").getpid() .. "/fd")
  local n = 0
  for _ in p:lines() do n = n + 1 end
  p:close()
  return n
end

--- Starts tests/http_server.lua on a free loopback port: { pid, url, stop() }.
function M.start_http_server()
  local core = require "kiva.core"
  local dir = M.tmpdir()
  local p = io.popen(M.lua .. " tests/http_server.lua >" .. dir .. "/port 2>" .. dir .. "/err & echo $!")
  local pid = tonumber(p:read("l"))
  p:close()
  local port
  for _ = 1, 100 do
    port = tonumber((M.read(dir .. "/port") or ""):match("%d+"))
    if port then break end
    core.sleep(0.05)
  end
  assert(port, "test server did not start: " .. (M.read(dir .. "/err") or ""))
  return { pid = pid, url = "http://127.0.0.1:" .. port, stop = function() core.kill(pid, 15) end }
end

local tmp_count = 0
--- A fresh directory under tests/tmp/, removed by M.cleanup().
function M.tmpdir()
  tmp_count = tmp_count + 1
  local p = os.tmpname()
  os.remove(p)
  local dir = p .. "-kiva-" .. tmp_count
  assert(require("kiva.core").mkdir(dir))
  M._tmpdirs = M._tmpdirs or {}
  M._tmpdirs[#M._tmpdirs + 1] = dir
  return dir
end

--- The Spanish workbooks of examples/excel-es (prestamos.xlsx, pagos.xlsx), built in
-- a fresh directory, which is returned.
function M.spanish_workbooks()
  local dir = M.tmpdir()
  local _, _, code = os.execute(M.lua .. " examples/excel-es/build_xlsx.lua " .. shell_quote(dir))
  assert(code == 0, "examples/excel-es/build_xlsx.lua failed")
  return dir
end

function M.cleanup()
  for _, d in ipairs(M._tmpdirs or {}) do os.execute("rm -rf " .. shell_quote(d)) end
  M._tmpdirs = {}
end

local KIVA_VARS = { "KIVA_CLIENT_ID", "KIVA_CLIENT_SECRET", "KIVA_CREDENTIALS", "KIVA_ENV",
  "KIVA_AUTH_URL", "KIVA_API_URL", "KIVA_AUDIENCE", "KIVA_PARTNER_ID", "KIVA_CA_FILE",
  "KIVA_LEDGER", "KIVA_CSV_FORMAT", "KIVA_DEBUG", "KIVA_ASSUME_YES", "KIVA_TOKEN_CACHE" }

--- Runs a shell command with a clean KIVA_* environment plus opts.env.
-- Returns { code = exit status, out = stdout, err = stderr }.
function M.run(cmd, opts)
  opts = opts or {}
  local parts = { "env" }
  for _, v in ipairs(KIVA_VARS) do parts[#parts + 1] = "-u " .. v end
  for k, v in pairs(opts.env or {}) do parts[#parts + 1] = k .. "=" .. shell_quote(v) end
  local dir = M.tmpdir()
  -- a run's ledger and caches default to the state directory: never the tester's own
  if not (opts.env and opts.env.XDG_STATE_HOME) then parts[#parts + 1] = "XDG_STATE_HOME=" .. shell_quote(dir) end
  local out, err = dir .. "/stdout", dir .. "/stderr"
  local line = table.concat(parts, " ") .. " sh -c " .. shell_quote(cmd)
    .. " >" .. out .. " 2>" .. err .. (opts.stdin and (" <" .. shell_quote(opts.stdin)) or " </dev/null")
  if opts.cwd then line = "cd " .. shell_quote(opts.cwd) .. " && " .. line end
  local _, _, code = os.execute(line)
  return { code = code, out = M.read(out) or "", err = M.read(err) or "" }
end

--- The command line that runs the checkout's ./kiva.
function M.kiva(args)
  return M.lua .. " " .. shell_quote(M.root .. "/kiva") .. " " .. args
end

local sleep = require("kiva.core").sleep

--- Starts `kiva sandbox --port 0 <args>` in the background and waits for its export lines.
-- Returns a table: env (KIVA_* variables to reach it), pid, url, state_file (the --state
-- argument, if any), state() (the decoded GET /__sandbox/state), stop() (clean stop),
-- kill(signal) and stderr().
function M.start_sandbox(args)
  local dir = M.tmpdir()
  local out = dir .. "/sandbox.out"
  local cmd = "KIVA_BUILD=" .. shell_quote(M.build) .. " " .. M.kiva("sandbox --port 0 " .. (args or ""))
    .. " >" .. out .. " 2>" .. dir .. "/sandbox.err & echo $!"
  local p = io.popen(cmd)
  local pid = tonumber(p:read("l"))
  p:close()
  local env = {}
  for _ = 1, 200 do
    local text = M.read(out) or ""
    if text:find("export KIVA_CLIENT_SECRET=", 1, true) and (not (args or ""):find("--tls", 1, true)
        or text:find("export KIVA_CA_FILE=", 1, true)) then
      for k, v in text:gmatch("export (KIVA_[%w_]+)=([^\n]*)") do
        if v:sub(1, 1) == "'" then v = v:sub(2, -2):gsub("'\\''", "'") end
        env[k] = v
      end
      break
    end
    sleep(0.05)
  end
  assert(env.KIVA_API_URL, "sandbox did not start: " .. (M.read(dir .. "/sandbox.err") or ""))
  local sb = { env = env, pid = pid, url = env.KIVA_API_URL, dir = dir,
    state_file = (args or ""):match("%-%-state%s+(%S+)") }
  -- a dead sandbox may linger as a zombie (its parent shell is gone and PID 1 may not
  -- reap), so read its state instead of trusting `kill -0`
  local function alive()
    local stat = M.read("/proc/" .. pid .. "/stat")
    return stat ~= nil and stat:match("%) (%a)") ~= "Z"
  end
  sb.alive = alive
  local function curl(method, path)
    -- LD_PRELOAD may carry the ASan runtime (make check): curl must not load it.
    local ca = env.KIVA_CA_FILE and (" --cacert " .. shell_quote(env.KIVA_CA_FILE)) or ""
    return "env -u LD_PRELOAD curl -s -m 5 -X " .. method .. ca .. " " .. shell_quote(sb.url .. path)
  end
  --- The sandbox's state (GET /__sandbox/state), decoded.
  function sb.state()
    local p2 = io.popen(curl("GET", "/__sandbox/state"))
    local text = p2:read("a")
    p2:close()
    return require("cjson").decode(text)
  end
  --- Stops the sandbox cleanly: SIGTERM reaches its loop, which writes its state file;
  -- SIGKILL when it has not stopped within 5 s.
  function sb.stop()
    if not alive() then return end
    os.execute("kill " .. pid .. " 2>/dev/null")
    for i = 1, 100 do
      if not alive() then return end
      if i == 100 then os.execute("kill -9 " .. pid .. " 2>/dev/null") end
      sleep(0.05)
    end
  end
  --- Sends SIGTERM (what a user's Ctrl-C or `kill` does) and waits for the exit.
  function sb.kill(signal)
    os.execute("kill -" .. (signal or "TERM") .. " " .. pid .. " 2>/dev/null")
    for _ = 1, 100 do
      if not alive() then return end
      sleep(0.05)
    end
  end
  function sb.stderr() return M.read(dir .. "/sandbox.err") or "" end
  return sb
end

--- One HTTP request with LuaSocket (opts: headers, token (bearer), body, or json: a
-- table sent as JSON). Returns status, decoded JSON (or nil), headers, raw body | nil, error.
function M.http(method, url, opts)
  local cjson = require "cjson.safe"
  local ltn12 = require "ltn12"
  opts = opts or {}
  local headers = {}
  for k, v in pairs(opts.headers or {}) do headers[k] = v end
  if opts.token then headers["Authorization"] = "Bearer " .. opts.token end
  local body = opts.body
  if opts.json then
    body = cjson.encode(opts.json)
    headers["Content-Type"] = headers["Content-Type"] or "application/json"
  end
  if body then headers["Content-Length"] = tostring(#body) end
  local sink = {}
  local ok, status, resp_headers = require("socket.http").request {
    method = method, url = url, headers = headers,
    source = body and ltn12.source.string(body) or nil, sink = ltn12.sink.table(sink),
  }
  if not ok then return nil, status end
  local text = table.concat(sink)
  return status, cjson.decode(text), resp_headers, text
end

--- A form body (application/x-www-form-urlencoded) of the table t.
function M.form(t)
  local parts = {}
  for k, v in pairs(t) do
    parts[#parts + 1] = k .. "=" .. tostring(v):gsub("[^%w%-%._~]", function(c)
      return string.format("%%%02X", c:byte())
    end)
  end
  return table.concat(parts, "&")
end

package.loaded.helper = M

-- A one-sheet workbook in a fresh directory (zip(1)), its sheet's rows given as XML.
function M.xlsx_workbook(rows_xml, prolog, shared)
  local dir = M.tmpdir()
  local parts = {
    ["xl/workbook.xml"] = '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
      .. 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
      .. '<sheet name="Loans" sheetId="1" r:id="rId1"/></sheets></workbook>',
    ["xl/_rels/workbook.xml.rels"] = '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
      .. 'relationships"><Relationship Id="rId1" Target="worksheets/sheet1.xml"/></Relationships>',
    ["xl/worksheets/sheet1.xml"] = (prolog or '<?xml version="1.0" encoding="UTF-8"?>')
      .. '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
      .. '<row r="1"><c r="A1" t="inlineStr"><is><t>Loan</t></is></c></row>'
      .. '<row r="2"><c r="A2" t="inlineStr"><is><t>L1</t></is></c></row>' .. rows_xml
      .. '</sheetData></worksheet>',
    ["xl/sharedStrings.xml"] = '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
      .. (shared or "<si><t>L9</t></si>") .. '</sst>',
  }
  assert(require("kiva.core").mkdir(dir .. "/w/xl/_rels"))
  assert(require("kiva.core").mkdir(dir .. "/w/xl/worksheets"))
  for name, body in pairs(parts) do M.write(dir .. "/w/" .. name, body) end
  assert(os.execute("cd " .. dir .. "/w && zip -q -X -r ../book.xlsx xl"))
  return dir .. "/book.xlsx"
end

return M
