-- kiva.validate / kiva.core.schema_compile: the payload corpus under
-- tests/data/payloads/ (every valid payload passes; every invalid one fails with
-- exactly the errors its .expect.json names), plus the shapes only Lua can build.
local cjson = require "cjson"
local core = require "kiva.core"
local kiva = require "kiva"
local schema = require "kiva.schema"

local corpus = "tests/data/payloads"

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function list(dir)
  local names = {}
  local p = assert(io.popen("ls " .. dir .. " 2>/dev/null"))
  for name in p:lines() do
    if name:match("%.json$") and not name:match("%.expect%.json$") then names[#names + 1] = name end
  end
  p:close()
  return names
end

local function expectation(path)
  local f = io.open((path:gsub("%.json$", ".expect.json")), "rb")
  if not f then return { opts = {}, errors = {} } end
  local e = cjson.decode(f:read("a"))
  f:close()
  return e
end

local function describe_errors(errs)
  local out = {}
  for _, e in ipairs(errs or {}) do out[#out + 1] = e.path .. ": " .. e.message end
  return table.concat(out, "\n")
end

local function find(errs, path, rule)
  for _, e in ipairs(errs) do
    if e.path == path and e.message:sub(1, #rule + 1) == rule .. ":" then return e end
  end
end

local function draft()
  return cjson.decode(read(corpus .. "/loan_draft/valid/individual.json"))
end

describe("payload corpus", function()
  for _, kind in ipairs(schema.kinds) do
    for _, name in ipairs(list(corpus .. "/" .. kind .. "/valid")) do
      it(kind .. "/valid/" .. name .. " passes", function()
        local path = corpus .. "/" .. kind .. "/valid/" .. name
        local ok, errs = kiva.validate(kind, cjson.decode(read(path)), expectation(path).opts)
        assert.is_true(ok, describe_errors(errs))
      end)
    end

    local invalid = list(corpus .. "/" .. kind .. "/invalid")
    it(kind .. " has invalid payloads", function()
      assert.is_true(#invalid >= 5)
    end)
    for _, name in ipairs(invalid) do
      it(kind .. "/invalid/" .. name .. " fails with exactly the expected errors", function()
        local path = corpus .. "/" .. kind .. "/invalid/" .. name
        local want = expectation(path)
        assert.is_true(#want.errors > 0, "no .expect.json for " .. name)
        local ok, errs = kiva.validate(kind, cjson.decode(read(path)), want.opts)
        assert.is_nil(ok)
        for _, w in ipairs(want.errors) do
          assert.is_truthy(find(errs, w.path, w.rule),
            ("expected %s at %s, got:\n%s"):format(w.rule, w.path, describe_errors(errs)))
        end
        assert.are.equal(#want.errors, #errs, describe_errors(errs))
      end)
    end
  end
end)

describe("kiva.schema.encode checked item by item", function()
  -- the whole-body path it must agree with, byte for byte and error for error
  local function whole(kind, value, opts)
    local compiled = schema.compiled(kind)
    local o = { kind = kind, csv_format = opts.csv_format or "three", currency = opts.currency,
      strict = opts.strict, today = opts.today }
    local ok, errs = compiled:validate(value, o)
    if not ok then return nil, errs end
    return compiled:encode(value)
  end

  for _, kind in ipairs(schema.kinds) do
    for _, validity in ipairs({ "valid", "invalid" }) do
      for _, name in ipairs(list(corpus .. "/" .. kind .. "/" .. validity)) do
        it(kind .. "/" .. validity .. "/" .. name .. ": the same bytes, or the same errors", function()
          local path = corpus .. "/" .. kind .. "/" .. validity .. "/" .. name
          local opts = expectation(path).opts or {}
          for _, strict in ipairs({ false, true }) do
            opts.strict = strict
            local want, want_errs = whole(kind, cjson.decode(read(path)), opts)
            local got, err = schema.encode(kind, cjson.decode(read(path)), opts)
            assert.equal(want, got)
            if not want then assert.same(want_errs, err.errors) end
          end
        end)
      end
    end
  end

  it("leaves repeated lines, two-column bodies with client ids and odd shapes to the whole body", function()
    local line = { loan_id = "L1", client_id = "C1", amount = 10 }
    local function both(value, opts)
      local want, want_errs = whole("repayments", value, opts or {})
      local got, err = schema.encode("repayments", value, opts)
      assert.equal(want, got)
      if not want then assert.same(want_errs, err.errors) end
      return got
    end
    assert.is_nil(schema.checked_body("repayments", { repayments = { line, line } }))
    assert.is_nil(both({ repayments = { line, line } }))
    assert.is_nil(schema.checked_body("repayments", { repayments = { line } }, { csv_format = "two" }))
    assert.matches('"client_id":"C1"', both({ repayments = { line } }, { csv_format = "two" }))
    assert.is_nil(schema.checked_body("repayments", { repayments = { line }, extra = 1 }))
    both({ repayments = { line }, extra = 1 })
    assert.is_nil(schema.checked_body("repayments", { repayments = {} }))
    both({ repayments = {} })
    local two = { loan_id = "L2", client_id = "C1", amount = 10.5 }
    local body = { repayments = { line, two } }
    assert.equal(both(body), schema.checked_body("repayments", body))
  end)
end)

describe("validation", function()
  it("reports every violation, not the first, with the value found", function()
    local d = draft()
    d.activity_id = "12"
    d.entreps[1].gender = "F"
    d.entreps[1].amount = -3
    d.schedule[2].date = "2024-02-30"
    local ok, errs = kiva.validate("loan_draft", d)
    assert.is_nil(ok)
    assert.are.equal(4, #errs, describe_errors(errs))
    assert.matches('found "12"', find(errs, "activity_id", "type").message, 1, true)
    assert.matches('found "F"', find(errs, "entreps[1].gender", "enum").message, 1, true)
    assert.matches("found -3", find(errs, "entreps[1].amount", "exclusiveMinimum").message, 1, true)
    assert.matches('found "2024-02-30"', find(errs, "schedule[2].date", "format").message, 1, true)
  end)

  it("knows leap years", function()
    local d = draft()
    for _, case in ipairs({ { "2024-02-29", true }, { "2000-02-29", true }, { "2023-02-29", false },
                            { "2100-02-29", false }, { "2024-04-31", false }, { "2024-13-01", false },
                            { "2024-1-05", false }, { "0000-01-01", false } }) do
      d.disburse_time = case[1]
      local _, errs = kiva.validate("loan_draft", d)
      errs = errs or {}
      if case[2] then
        assert.is_nil(find(errs, "disburse_time", "format"), case[1])
      else
        assert.is_truthy(find(errs, "disburse_time", "format"), case[1])
      end
    end
  end)

  it("accepts a float with an integral value as an integer, not 3.5", function()
    local d = draft()
    d.activity_id = 120.0
    assert.is_true(kiva.validate("loan_draft", d))
    d.activity_id = 120.5
    local _, errs = kiva.validate("loan_draft", d)
    assert.matches("expected integer, found 120.5", errs[1].message, 1, true)
  end)

  it("refuses NaN and infinities", function()
    local d = draft()
    d.entreps[1].amount = 0 / 0
    local _, errs = kiva.validate("loan_draft", d)
    assert.is_truthy(find(errs, "entreps[1].amount", "type"))
    assert.are.equal(1, #errs, describe_errors(errs))
    d.entreps[1].amount = math.huge
    _, errs = kiva.validate("loan_draft", d)
    assert.matches("found an infinite number", find(errs, "entreps[1].amount", "type").message)
    assert.are.equal(1, #errs, describe_errors(errs))
  end)

  it("requires arrays to be proper sequences and objects to have string keys", function()
    local d = draft()
    d.schedule[14] = { date = "2025-06-01", principal = 1 }
    local _, errs = kiva.validate("loan_draft", d)
    assert.matches("hole", find(errs, "schedule", "type").message)

    d = draft()
    d.entreps.extra = true
    _, errs = kiva.validate("loan_draft", d)
    assert.matches('found key "extra"', find(errs, "entreps", "type").message, 1, true)

    d = draft()
    d.entreps[1][1] = "x"
    _, errs = kiva.validate("loan_draft", d)
    assert.is_truthy(find(errs, "entreps[1]", "type"), describe_errors(errs))

    d = draft()
    d.entreps = { first = d.entreps[1] }
    _, errs = kiva.validate("loan_draft", d)
    assert.matches("expected array, found an object", find(errs, "entreps", "type").message, 1, true)
  end)

  it("compares the schedule total exactly in minor units", function()
    local d = draft()
    -- 0.1 added 10 times is 0.9999999999999999 in floats; in cents it is 100
    d.entreps[1].amount = 1
    d.schedule = {}
    for i = 1, 10 do d.schedule[i] = { date = ("2024-02-%02d"):format(i + 10), principal = 0.1 } end
    assert.is_true(kiva.validate("loan_draft", d))
    d.schedule[10].principal = 0.11
    local _, errs = kiva.validate("loan_draft", d)
    assert.matches("(1), found a total of 1.01", find(errs, "schedule", "sum").message, 1, true)
  end)

  it("judges decimals by the currency's minor unit", function()
    local d = draft()
    d.currency = "JPY"
    d.entreps[1].amount = 1000
    d.schedule = { { date = "2024-02-01", principal = 1000, interest = 0.5 } }
    local _, errs = kiva.validate("loan_draft", d)
    assert.are.equal(1, #errs, describe_errors(errs))
    assert.matches("JPY amounts have at most 0 decimal", find(errs, "schedule[1].interest", "decimals").message)
    d.currency = "KWD"
    d.entreps[1].amount = 1000.125
    d.schedule[1].principal = 1000.125
    assert.is_true(kiva.validate("loan_draft", d))
  end)

  it("accepts tabs and newlines only where text is multi-line", function()
    local d = draft()
    d.description = "line 1\n\tline 2\r\n"
    assert.is_true(kiva.validate("loan_draft", d))
    d.description = "bell \7"
    local _, errs = kiva.validate("loan_draft", d)
    assert.is_truthy(find(errs, "description", "control"))
    d = draft()
    d.entreps[1].first_name = "Ma\nria"
    _, errs = kiva.validate("loan_draft", d)
    assert.is_truthy(find(errs, "entreps[1].first_name", "control"))
  end)

  it("counts lengths in characters, not bytes", function()
    local d = draft()
    d.location = ("é"):rep(200)   -- 400 bytes, 200 characters: the limit
    assert.is_true(kiva.validate("loan_draft", d))
  end)

  it("checks the image under a size limit", function()
    local d = draft()
    d.image_encoded = "data:image/jpeg;base64," .. ("/9j/"):rep(4 * 1024 * 1024)
    local _, errs = kiva.validate("loan_draft", d)
    assert.matches("limit", find(errs, "image_encoded", "image").message)
  end)

  it("applies csv_format: two-column reports need no client ids", function()
    local body = { repayments = { { loan_id = "L-1", amount = 10 } } }
    assert.is_true(kiva.validate("repayments", body, { csv_format = "two" }))
    local _, errs = kiva.validate("repayments", body)
    assert.is_truthy(find(errs, "repayments[1].client_id", "required"))
    body = { journals = { { internal_loan_id = "L-1", subject = "s", body = "b" } } }
    assert.is_true(kiva.validate("journals", body, { csv_format = "two" }))
    assert.is_nil(kiva.validate("journals", body, { csv_format = "three" }))
  end)

  it("raises for an unknown kind or csv_format: those are programming errors", function()
    assert.has_error(function() kiva.validate("loans", {}) end)
    assert.has_error(function() kiva.validate("repayments", {}, { csv_format = "four" }) end)
  end)

  it("reports values that are not JSON", function()
    local d = draft()
    d.loanuse = print
    local _, errs = kiva.validate("loan_draft", d)
    assert.matches("found a function", find(errs, "loanuse", "type").message)
  end)

  it("ignores metatables: tables are read raw", function()
    local d = draft()
    local currency = d.currency
    d.currency = nil
    setmetatable(d, { __index = { currency = currency } })
    local _, _, warnings = kiva.validate("loan_draft", d)
    assert.is_truthy(find(warnings, "currency", "publish"))
  end)
end)

describe("schema compiler", function()
  it("refuses an unknown keyword at load time", function()
    local c, msg, code = core.schema_compile({ type = "object",
                                               properties = { a = { type = "string", minlength = 1 } } })
    assert.is_nil(c)
    assert.are.equal("UNKNOWN_KEYWORD", code)
    assert.matches('properties/a: unknown keyword "minlength"', msg, 1, true)
    local c2, _, code2 = core.schema_compile({ type = "string", format = "email" })
    assert.is_nil(c2)
    assert.are.equal("UNKNOWN_KEYWORD", code2)
  end)

  it("refuses malformed keywords", function()
    for _, bad in ipairs({ { type = "text" }, { pattern = "(" }, { minItems = -1 }, { enum = {} },
                           { ["then"] = { type = "string" } }, { additionalProperties = { type = "string" } },
                           { required = { 1 } }, 42 }) do
      local c, _, code = core.schema_compile(bad)
      assert.is_nil(c)
      assert.are.equal("BAD_SCHEMA", code)
    end
  end)

  it("compiles the shipped schemas", function()
    for _, kind in ipairs(schema.kinds) do
      assert.are.equal("userdata", type(schema.compiled(kind)))
    end
  end)

  it("supports if/then/else", function()
    local c = assert(core.schema_compile({
      type = "object",
      ["if"] = { properties = { kind = { const = "group" } }, required = { "kind" } },
      ["then"] = { required = { "group_name" } },
      ["else"] = { properties = { group_name = false } },
    }))
    assert.is_true(c:validate({ kind = "group", group_name = "G" }))
    local _, errs = c:validate({ kind = "group" })
    assert.are.equal("group_name", errs[1].path)
    assert.is_true(c:validate({ kind = "individual" }))
    _, errs = c:validate({ kind = "individual", group_name = "G" })
    assert.matches("^false:", errs[1].message)
  end)

  it("supports oneOf: exactly one alternative", function()
    local c = assert(core.schema_compile({ oneOf = { { type = "integer" }, { type = "number", minimum = 10 } } }))
    assert.is_true(c:validate(3))
    assert.is_true(c:validate(10.5))
    local _, errs = c:validate(12)
    assert.matches("^oneOf: matches 2", errs[1].message)
    _, errs = c:validate("x")
    assert.matches("^oneOf: matches none", errs[1].message)
  end)

  it("supports const, maximum, and type lists with null", function()
    local c = assert(core.schema_compile({ type = { "integer", "null" }, maximum = 5 }))
    assert.is_true(c:validate(5))
    assert.is_true(c:validate(cjson.null))
    local _, errs = c:validate(6)
    assert.matches("^maximum: must be at most 5, found 6", errs[1].message)
    c = assert(core.schema_compile({ const = "x" }))
    assert.is_true(c:validate("x"))
    _, errs = c:validate(cjson.null)
    assert.matches('^const: must be "x", found null', errs[1].message)
  end)

  it("bounds the walk of a table that contains itself", function()
    local c = assert(core.schema_compile({}))
    local t = {}
    t.self = t
    local ok, errs = c:validate(t)
    assert.is_nil(ok)
    assert.matches("^depth:", errs[1].message)
  end)

  it("names the path of a deep finding: keys, indexes, odd and long keys", function()
    local c = assert(core.schema_compile({}))
    -- 60 levels of "k<i>", then an array, then a value that is no JSON
    local leaf = { 1, { x = print } }
    local t = leaf
    for i = 60, 1, -1 do t = { ["k" .. i] = t } end
    local _, errs = c:validate(t)
    local parts = {}
    for i = 1, 60 do parts[i] = "k" .. i end
    assert.are.same({ { path = table.concat(parts, ".") .. "[2].x",
      message = "type: not a JSON value, found a function" } }, errs)
    -- control bytes in a key are shown as '?', a key that is no UTF-8 by a marker
    _, errs = c:validate({ ["a\1b"] = { ["\xFF"] = { ["é"] = { 0 / 0 } } } })
    assert.are.equal("a?b.<invalid UTF-8 key>.é[1]", errs[1].path)
    -- a path is cut at 511 bytes
    local long = string.rep("q", 300)
    _, errs = c:validate({ [long] = { [long] = { bad = 0 / 0 } } })
    assert.are.equal((long .. "." .. long):sub(1, 511), errs[1].path)
    -- past 64 levels: the depth finding at the 64th key
    t = { x = 1 }
    for _ = 1, 70 do t = { a = t } end
    _, errs = c:validate(t)
    assert.are.same({ { path = string.rep("a", 64, "."), message = "depth: nested deeper than 64 levels" } }, errs)
  end)

  it("finds every property of a large object, whatever the names", function()
    local props, value, names = {}, {}, { "é", "a\"q", "", "x y", "Z", "\u{2028}" }
    for i = 1, 40 do names[#names + 1] = "p" .. i end
    for _, name in ipairs(names) do props[name] = { type = "integer" } end
    local c = assert(core.schema_compile({ type = "object", additionalProperties = false, properties = props }))
    for i, name in ipairs(names) do value[name] = i end
    assert.is_true((c:validate(value)))
    value["é"], value.p40, value["p41"] = "x", "y", 1
    local _, errs = c:validate(value)
    assert.are.same({ { path = "p40", message = 'type: expected integer, found "y"' },
      { path = "p41", message = "additionalProperties: unknown property, not allowed here" },
      { path = "é", message = 'type: expected integer, found "x"' } }, errs)
  end)

  it("frees a closed schema once and refuses its use", function()
    local c = assert(core.schema_compile({ type = "string" }))
    c:close()
    c:close()
    assert.has_error(function() c:validate("x") end)
    -- luacheck cannot parse <close> yet: load the chunk that uses it
    local closed = assert(load([[
      local core = ...
      local kept
      do local s <close> = assert(core.schema_compile({ type = "string" })); kept = s end
      return kept
    ]]))(core)
    assert.has_error(function() closed:validate("x") end)
    collectgarbage()
  end)
end)

describe("errors and warnings", function()
  local minimal = { entreps = { { client_id = "CL-5502", loan_id = "PR-2024-0102", first_name = "François",
    last_name = "Ndiaye", gender = "male", amount = 75000 } } }
  local function paths(findings)
    local out = {}
    for _, e in ipairs(findings) do out[#out + 1] = e.path end
    return out
  end

  it("a partial draft is valid: what PA2 needs to publish comes back as warnings", function()
    local ok, errs, warnings = kiva.validate("loan_draft", minimal)
    assert.is_true(ok)
    assert.is_nil(errs)
    assert.are.same({ "activity_id", "currency", "description", "disburse_time", "image_encoded", "loanuse",
      "location", "schedule" }, paths(warnings))
    assert.matches("^publish: PA2 needs schedule", find(warnings, "schedule", "publish").message)
    assert.are.equal('{"entreps":[{"amount":75000,"client_id":"CL-5502","first_name":"François",'
      .. '"gender":"male","last_name":"Ndiaye","loan_id":"PR-2024-0102"}]}', kiva.encode("loan_draft", minimal))
  end)

  it("strict makes warnings errors, in validate and encode", function()
    local ok, errs, warnings = kiva.validate("loan_draft", minimal, { strict = true })
    assert.is_nil(ok)
    assert.are.equal(8, #errs)
    assert.are.same({}, warnings)
    local json, err = kiva.encode("loan_draft", minimal, { strict = true })
    assert.is_nil(json)
    assert.are.equal("validation", err.kind)
  end)

  it("a complete draft has no warnings; a valid one returns an empty list", function()
    local ok, errs, warnings = kiva.validate("loan_draft", draft(), { today = "2024-01-20" })
    assert.is_true(ok)
    assert.is_nil(errs)
    assert.are.same({}, warnings)
  end)

  it("warns about a disbursal far in the future or long past, not a near one", function()
    local d = draft()
    d.disburse_time = "2029-10-14"
    d.schedule = nil
    local ok, _, warnings = kiva.validate("loan_draft", d, { today = "2026-10-14" })
    assert.is_true(ok)
    assert.matches("^date: disbursal 1096 days in the future", find(warnings, "disburse_time", "date").message)
    d.disburse_time = "2024-01-10"
    ok, _, warnings = kiva.validate("loan_draft", d, { today = "2025-06-01" })
    assert.is_true(ok)
    assert.matches("^date: disbursal 508 days ago", find(warnings, "disburse_time", "date").message)
    _, _, warnings = kiva.validate("loan_draft", d, { today = "2024-01-25" })
    assert.is_nil(find(warnings, "disburse_time", "date"))
  end)

  it("warns about a very large amount for the currency", function()
    local d = draft()   -- PHP
    d.entreps[1].amount = 1500000
    local _, errs, warnings = kiva.validate("loan_draft", d, { today = "2024-01-20" })
    assert.is_truthy(find(errs, "schedule", "sum"))   -- still an error: the schedule no longer totals
    assert.matches("^large: 1500000 PHP is about 26785 USD", find(warnings, "entreps[1].amount", "large").message)
  end)

  it("what is sent must be right: errors stay errors without currency or schedule", function()
    local d = { entreps = { { client_id = "C", loan_id = "L", first_name = "A", last_name = "B", gender = "male",
      amount = -5 } }, disburse_time = "2024-02-30", group_name = "G" }
    local ok, errs = kiva.validate("loan_draft", d)
    assert.is_nil(ok)
    assert.are.same({ "disburse_time", "entreps[1].amount", "group_name" }, paths(errs))
  end)

  it("a group loan without group_name is warned about", function()
    local d = cjson.decode(read(corpus .. "/loan_draft/valid/group.json"))
    d.group_name = nil
    local ok, _, warnings = kiva.validate("loan_draft", d, { today = "2024-01-20" })
    assert.is_true(ok)
    assert.is_truthy(find(warnings, "group_name", "publish"))
  end)

  it("orders errors by path in document order: keys as encoded, indexes by number", function()
    local d = { entreps = {}, zz = 1, aa = 2 }
    for i = 1, 12 do
      d.entreps[i] = { client_id = "C" .. i, loan_id = "L" .. i, first_name = "A", last_name = "B",
        gender = "male", amount = 0, ["x" .. i] = true }
    end
    local _, errs = kiva.validate("loan_draft", d)
    local p = paths(errs)
    assert.are.equal("aa", p[1])
    assert.are.equal("entreps[1].amount", p[2])
    assert.are.equal("entreps[1].x1", p[3])
    assert.are.equal("entreps[2].amount", p[4])
    assert.are.equal("entreps[12].x12", p[#p - 1])
    assert.are.equal("zz", p[#p])
  end)

  it("gives the same bytes every run, whatever the hash order of the process", function()
    local script = [[
      local kiva = require "kiva"
      local d = { entreps = { { client_id = "", loan_id = 5, first_name = "=x", gender = "m", amount = 1.5,
        q = 1, r = 2, s = 3, t = 4 } }, currency = "xof", a = 1, b = 2, c = 3, d = 4, e = 5, schedule = {} }
      local _, errs, warns = kiva.validate("loan_draft", d)
      for _, e in ipairs(errs) do io.write("E ", e.path, " ", e.message, "\n") end
      for _, e in ipairs(warns) do io.write("W ", e.path, " ", e.message, "\n") end
    ]]
    local helper = require "helper"
    local file = helper.write(helper.tmpdir() .. "/order.lua", script)
    local cmd = ("lua5.4 -e 'package.path=\"lua/?.lua;lua/?/init.lua;\"..package.path "
      .. "package.cpath=\"%s/?.so;\"..package.cpath' %s"):format(helper.build, file)
    local first = helper.run(cmd)
    assert.are.equal(0, first.code, first.err)
    assert.matches("E a additionalProperties", first.out)
    for _ = 1, 4 do
      assert.are.equal(first.out, helper.run(cmd).out)
    end
  end)
end)
