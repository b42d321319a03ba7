-- kiva.progress: a line that fits the terminal and is redrawn in place, live counts from
-- the first row read, no ETA before the rate is known; plain timed lines elsewhere.
local helper = require "helper"
local progress = require "kiva.progress"

local function sink()
  local s = { text = "" }
  function s:write(...) for _, v in ipairs({ ... }) do self.text = self.text .. v end end
  function s.flush() end
  return s
end

-- The lines a terminal shows: each "\r" returns to the column 0, "\27[K" erases the rest.
local function screen_of(text)
  local line = ""
  for chunk in (text .. "\r"):gmatch("(.-)\r") do
    chunk = chunk:gsub("\27%[K$", "")
    if chunk ~= "" then line = chunk end
  end
  return line
end

local function fake_clock()
  local c = { t = 100 }
  function c.now() return c.t end
  return c
end

describe("kiva.progress", function()
  after_each(helper.cleanup)

  it("on a terminal, redraws one line cut to the width and cleared to its end", function()
    for _, width in ipairs({ 40, 60, 80, 120 }) do
      local s, clock = sink(), fake_clock()
      local p = progress.new({ stream = s, tty = true, width = width, label = "repayments", clock = clock.now })
      p({ stage = "reading", read = 123456, valid = 123400, invalid = 56 })
      p({ stage = "sending", done = 0, total = 400000, sent = 0, rejected = 0, unknown = 0, retries = 0 })
      clock.t = clock.t + 10
      p({ stage = "sending", done = 250000, total = 400000, sent = 249000, rejected = 700, unknown = 300,
        retries = 12 })
      assert.is_nil(s.text:find("\n", 1, true), "a terminal line never breaks")
      for draw in s.text:gmatch("\r([^\r]*)") do
        assert.matches("\27%[K$", draw)
        assert.is_true(utf8.len(draw:gsub("\27%[K$", "")) < width, width .. ": " .. draw)
      end
      local last = screen_of(s.text)
      if width == 80 then   -- the counts before the bar
        assert.matches("^sending repayments 250000/400000, 700 rejected, 300 unknown, 12 retries", last)
      elseif width == 120 then
        assert.matches("^sending repayments %[#+%.*%] 250000/400000, 700 rejected, 300 unknown, 12 retries, "
          .. "25000%.0 items/s, ETA 6s$", last)
      end
    end
  end)

  it("shows the reading phase: rows read, valid and invalid", function()
    local s = sink()
    local p = progress.new({ stream = s, tty = true, width = 80, label = "loans" })
    p({ stage = "reading", read = 400, valid = 390, invalid = 10 })
    assert.equal("reading loans 400 rows, 390 valid, 10 invalid", screen_of(s.text))
  end)

  it("shows no rate and no ETA until the rate is known, then both", function()
    local s, clock = sink(), fake_clock()
    local p = progress.new({ stream = s, tty = true, width = 120, label = "repayments", clock = clock.now })
    p({ stage = "sending", done = 0, total = 5000 })
    clock.t = clock.t + 0.5
    p({ stage = "sending", done = 1, total = 5000 })
    assert.is_nil(screen_of(s.text):find("ETA", 1, true))
    assert.is_nil(screen_of(s.text):find("items/s", 1, true))
    clock.t = clock.t + 4.5
    p({ stage = "sending", done = 2500, total = 5000 })
    assert.matches("500%.0 items/s, ETA 5s", screen_of(s.text))
  end)

  it("erases the line at the end, so the run log starts on a clean line", function()
    local s = sink()
    local p = progress.new({ stream = s, tty = true, width = 80 })
    p(3, 10)                                   -- the (done, total) form of older callers
    assert.matches("3/10", screen_of(s.text))
    p.finish()
    assert.matches("\r\27%[K$", s.text)
  end)

  it("when not a terminal, writes a dated plain line at most every interval, and the last state", function()
    local s, clock = sink(), fake_clock()
    local p = progress.new({ stream = s, tty = false, interval = 5, label = "repayments", clock = clock.now })
    for i = 1, 100 do
      clock.t = clock.t + 0.1                   -- 10 s in all
      p({ stage = "sending", done = i, total = 100, rejected = 0, unknown = 0, retries = 0 })
    end
    p.finish()
    local lines = {}
    for l in s.text:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.is_true(#lines >= 2 and #lines <= 4, s.text)
    assert.is_nil(s.text:find("[\r\27]"))
    for _, l in ipairs(lines) do assert.matches("^%d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d sending repayments: ", l) end
    assert.matches("100/100", lines[#lines])
  end)

  describe("in a real terminal (tmux)", function()
    local function capture(width)
      local dir = helper.tmpdir()
      local sock = "kiva-progress-" .. width .. "-" .. tostring(os.time()) .. "-" .. math.random(1e6)
      helper.write(dir .. "/draw.lua", ([[
package.path = %q .. "/lua/?.lua;" .. package.path
package.cpath = %q .. "/?.so;" .. package.cpath
local p = require("kiva.progress").new({ label = "repayments" })
p({ stage = "reading", read = 4000, valid = 3990, invalid = 10 })
for i = 0, 5000, 250 do
  p({ stage = "sending", done = i, total = 5000, sent = i, rejected = 17, unknown = 250, retries = 3 })
end
local f = io.open(%q, "w") f:write("done") f:close()
]]):format(helper.root, helper.root .. "/" .. helper.build, dir .. "/done"))
      -- tmux itself runs without a sanitizer runtime (make check preloads one); the
      -- drawing script gets it back, as the sanitized core needs it
      local tmux = "env -u LD_PRELOAD tmux -L " .. sock .. " -f /dev/null "
      local preload = os.getenv("LD_PRELOAD")
      local inner = (preload and ("LD_PRELOAD=" .. helper.quote(preload) .. " ") or "") .. "lua5.4 "
        .. dir .. "/draw.lua 2>&1; sleep 60"
      assert(os.execute(tmux .. "new-session -d -x " .. width .. " -y 12 " .. helper.quote(inner)))
      for _ = 1, 100 do
        if helper.read(dir .. "/done") then break end
        require("kiva.core").sleep(0.1)
      end
      local pipe = io.popen(tmux .. "capture-pane -p")
      local text = pipe:read("a")
      pipe:close()
      os.execute(tmux .. "kill-server 2>/dev/null")
      return text
    end

    for _, width in ipairs({ 60, 80 }) do
      it("fits " .. width .. " columns: one line, no wrap, nothing left over", function()
        local text = capture(width)
        local lines = {}
        for l in text:gmatch("[^\n]*") do if l:match("%S") then lines[#lines + 1] = l end end
        assert.equal(1, #lines, text)
        assert.is_true(utf8.len(lines[1]) < width, lines[1])
        assert.matches("^sending repayments ", lines[1])
        assert.matches("5000/5000", lines[1])
      end)
    end
  end)
end)
