-- Small helpers shared by the bench scripts: shell, files, clocks, ports, peak RSS.
-- The bench must run before the rest of kiva works, so this uses only the standard
-- library and LuaSocket (for a free port and a sub-millisecond clock).
local M = {}

function M.quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

--- Runs a shell command; true when it exited 0.
function M.sh(cmd)
  local ok = os.execute(cmd)
  return ok == true
end

--- Standard output of a shell command (stderr not captured).
function M.capture(cmd)
  local p = io.popen(cmd, "r")
  if not p then return "" end
  local out = p:read("a") or ""
  p:close()
  return out
end

function M.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

function M.write(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
  return path
end

function M.exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

local has_socket, socket = pcall(require, "socket")

--- Seconds, with sub-millisecond resolution where LuaSocket or kiva.core is there.
function M.clock()
  local ok, core = pcall(require, "kiva.core")
  if ok and type(core) == "table" and core.monotonic then
    M.clock = core.monotonic
  elseif has_socket then
    M.clock = socket.gettime
  else
    M.clock = os.time
  end
  return M.clock()
end

function M.sleep(s)
  if has_socket then socket.sleep(s) else os.execute("sleep " .. s) end
end

--- A TCP port free on 127.0.0.1 right now.
function M.free_port()
  if not has_socket then return nil end
  local s = socket.tcp()
  s:setoption("reuseaddr", true)
  if not s:bind("127.0.0.1", 0) then s:close() return nil end
  local _, port = s:getsockname()
  s:close()
  return tonumber(port)
end

function M.port_open(port)
  if not has_socket then return true end
  local c = socket.tcp()
  c:settimeout(0.2)
  local ok = c:connect("127.0.0.1", port)
  c:close()
  return ok ~= nil
end

--- Stops a process a previous, interrupted bench run left behind: the pid recorded in
-- `pid_file`, only if its command line still names `marker` (our own prefix or file),
-- so a recycled pid is never touched.
function M.stop_stale(pid_file, marker)
  local pid = tonumber((M.read(pid_file) or ""):match("%d+"))
  if not pid then return end
  local cmdline = (M.read("/proc/" .. pid .. "/cmdline") or ""):gsub("%z", " ")
  if cmdline:find(marker, 1, true) then M.sh("kill " .. pid .. " 2>/dev/null") end
  os.remove(pid_file)
end

--- Peak resident set of this process in KiB (VmHWM), or nil off Linux.
function M.peak_rss_kib()
  local s = M.read("/proc/self/status") or ""
  return tonumber(s:match("VmHWM:%s*(%d+)"))
end

--- Runs `cmd` (a shell command line; end it with `exec prog ...` so that the process
-- measured is the program itself) under /usr/bin/time as one child process and
-- returns { cpu (user + sys s), user, sys, wall, rss_kib (the child's peak RSS),
-- code (exit status), out (its stdout) }, or nil, reason when /usr/bin/time is missing.
-- Its stderr goes to `err_file`.
function M.measure(cmd, err_file)
  if not M.exists("/usr/bin/time") then return nil, "/usr/bin/time missing (Debian package time)" end
  local tf = os.tmpname()
  local out = M.capture(string.format("/usr/bin/time -f 'user=%%U sys=%%S wall=%%e rss_kib=%%M exit=%%x' -o %s "
    .. "sh -c %s 2>%s", M.quote(tf), M.quote(cmd), M.quote(err_file or "/dev/null")))
  local line = (M.read(tf) or ""):match("user=[^\n]*")
  os.remove(tf)
  if not line then return nil, "no figures from /usr/bin/time" end
  local t = M.parse_kv(line)
  return { user = t.user, sys = t.sys, cpu = (t.user or 0) + (t.sys or 0), wall = t.wall, rss_kib = t.rss_kib,
    code = t.exit, out = out }
end

--- Parses "key=value key=value" into a table (numbers converted).
function M.parse_kv(line)
  local t = {}
  for k, v in line:gmatch("([%w_]+)=(%S+)") do t[k] = tonumber(v) or v end
  return t
end

--- Formats a table as one "key=value" line, keys sorted.
function M.format_kv(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    local v = t[k]
    if type(v) == "number" and math.type(v) == "float" then v = string.format("%.6g", v) end
    parts[#parts + 1] = k .. "=" .. tostring(v):gsub("%s", "_")
  end
  return table.concat(parts, " ")
end

return M
