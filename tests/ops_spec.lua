-- ops: the crontab, the systemd service and timer, and the script they run,
-- checked to parse (systemd-analyze verify) and to run kiva as a monthly cron job should.
local helper = require "helper"

local OPS = helper.root .. "/ops/"

local function have(cmd) return os.execute("command -v " .. cmd .. " >/dev/null 2>&1") end

-- One field of a crontab time: *, n, a-b, lists and /steps, within [lo, hi].
local function cron_field_ok(field, lo, hi)
  for part in field:gmatch("[^,]+") do
    local range, step = part:match("^([^/]+)/(%d+)$")
    range = range or part
    if step and tonumber(step) < 1 then return false end
    if range ~= "*" then
      local a, b = range:match("^(%d+)%-(%d+)$")
      a, b = tonumber(a or range:match("^(%d+)$")), tonumber(b or a or range:match("^(%d+)$"))
      if not a or a < lo or b > hi or a > b then return false end
    end
  end
  return true
end

describe("ops", function()
  after_each(helper.cleanup)

  it("has a crontab of variables and entries with five valid time fields, % escaped", function()
    local bounds = { { 0, 59 }, { 0, 23 }, { 1, 31 }, { 1, 12 }, { 0, 7 } }
    local entries = 0
    for line in helper.read(OPS .. "kiva.crontab"):gmatch("[^\n]+") do
      if not line:match("^%s*#") and line:match("%S") then
        if not line:match("^[%a_][%w_]*=") then
          local fields = {}
          for f in line:gmatch("%S+") do fields[#fields + 1] = f end
          assert.is_true(#fields > 5, line)
          for i = 1, 5 do assert.is_true(cron_field_ok(fields[i], bounds[i][1], bounds[i][2]), line) end
          local command = line:match("^%s*%S+%s+%S+%s+%S+%s+%S+%s+%S+%s+(.+)$")
          assert.is_nil(command:gsub("\\%%", ""):find("%", 1, true), "unescaped % ends a cron command: " .. line)
          assert.truthy(command:find("kiva-monthly.sh", 1, true))
          entries = entries + 1
        end
      end
    end
    assert.equal(1, entries)
  end)

  it("has a systemd service and timer that systemd-analyze verify accepts", function()
    if not have("systemd-analyze") then
      -- no systemd on this machine: at least the sections and keys that matter
      local timer = helper.read(OPS .. "kiva-monthly.timer")
      assert.matches("\n%[Timer%]\nOnCalendar=", timer)
      return
    end
    local dir = helper.tmpdir()
    -- verify checks that ExecStart= exists: point it at the checkout's script
    local service = helper.read(OPS .. "kiva-monthly.service")
      :gsub("/usr/local/bin/kiva%-monthly%.sh", OPS .. "kiva-monthly.sh")
    helper.write(dir .. "/kiva-monthly.service", service)
    helper.write(dir .. "/kiva-monthly.timer", helper.read(OPS .. "kiva-monthly.timer"))
    local r = helper.run("cd " .. helper.quote(dir) .. " && env -u LD_PRELOAD systemd-analyze verify "
      .. "./kiva-monthly.service ./kiva-monthly.timer")
    assert.equal(0, r.code, r.out .. r.err)
    assert.equal("", r.err)
    local calendar = helper.read(OPS .. "kiva-monthly.timer"):match("OnCalendar=([^\n]+)")
    r = helper.run("env -u LD_PRELOAD systemd-analyze calendar " .. helper.quote(calendar))
    assert.equal(0, r.code, r.err)
  end)

  it("runs kiva push for the previous month, quiet, logged, confirmed", function()
    local dir = helper.tmpdir()
    assert(require("kiva.core").mkdir(dir .. "/bin"))
    helper.write(dir .. "/bin/kiva", "#!/bin/sh\nprintf '%s\\n' \"$@\" > " .. helper.quote(dir .. "/args") .. "\n")
    assert(os.execute("chmod +x " .. dir .. "/bin/kiva"))
    local r = helper.run("PATH=" .. helper.quote(dir .. "/bin") .. ":$PATH sh "
      .. helper.quote(OPS .. "kiva-monthly.sh"), { env = { KIVA_HOME = dir, KIVA_LOG = dir .. "/kiva.log" } })
    assert.equal(0, r.code, r.err)
    local args = helper.read(dir .. "/args")
    local y, m = tonumber(os.date("%Y")), tonumber(os.date("%m")) - 1
    if m == 0 then y, m = y - 1, 12 end
    local period = string.format("%04d%%-%02d", y, m)
    assert.matches("^push\nrepayments\n", args)
    assert.matches("\n%-%-period\n" .. period .. "\n", args)
    assert.matches("\nexports/repayments%-" .. period .. "%.csv\n", args)
    for _, flag in ipairs({ "--yes", "--quiet", "--log", "--problems" }) do
      assert.truthy(args:find("\n" .. flag .. "\n", 1, true), flag)
    end
  end)
end)
