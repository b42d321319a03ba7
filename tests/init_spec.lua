-- kiva (init.lua): the public module of interface.md, its parts loaded on first use.
local kiva = require "kiva"

describe("kiva", function()
  it("has one version, the C core's too", function()
    assert.matches("^%d+%.%d+%.%d+$", kiva._VERSION)
    assert.equal(kiva._VERSION, require("kiva.core").version)
  end)

  it("gives kiva.source, kiva.map and kiva.errors on first use", function()
    assert.equal(require("kiva.source"), kiva.source)
    assert.equal(require("kiva.map"), kiva.map)
    assert.equal(require("kiva.errors"), kiva.errors)
    assert.is_nil(kiva.no_such_part)
  end)

  it("validates and encodes a body, keys in canonical order", function()
    local ok, errs = kiva.validate("repayments", { repayments = { { loan_id = "L1", client_id = "C1", amount = -3 } } })
    assert.is_nil(ok)
    assert.equal("repayments[1].amount", errs[1].path)
    local _, jerrs = kiva.validate("journals", { journals = {} })
    assert.equal("journals", jerrs[1].path)   -- an empty list is read as a list, and refused
    assert.equal('{"repayments":[{"amount":10,"client_id":"C1","loan_id":"L1"}]}',
      kiva.encode("repayments", { repayments = { { loan_id = "L1", client_id = "C1", amount = 10 } } }))
  end)

  it("makes a client, or says why not without raising", function()
    local c, err = kiva.client { env = "stage", api_url = "http://example.org" }
    assert.is_nil(c)
    assert.equal("config", err.kind)
  end)
end)
