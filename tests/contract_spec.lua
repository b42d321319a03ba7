-- kiva.contract: the kinds and their names, the limits of one call, the defaults.
local contract = require "kiva.contract"

describe("kiva.contract", function()
  it("names each kind in the CLI, the schemas, the mapping scripts and the ledger", function()
    assert.same({ "loans", "repayments", "journals" }, contract.KIND_ORDER)
    assert.same({ "loan_draft", "repayments", "journals" }, require("kiva.schema").kinds)
    for _, kind in ipairs(contract.KIND_ORDER) do
      local spec = contract.KINDS[kind]
      assert.is_string(spec.fn)
      assert.is_string(spec.ledger)
      assert.equal(kind, contract.kind_of(kind))
      assert.equal(kind, contract.kind_of(spec.payload))
    end
    assert.is_nil(contract.kind_of("loan"))
  end)

  it("keeps the defaults under the contract's limits", function()
    assert.equal(300, contract.MAX_BATCH)
    assert.equal(300, contract.MAX_PAGE)
    assert.is_true(contract.DEFAULT_BATCH <= contract.MAX_BATCH)
    assert.equal(contract.DEFAULT_BATCH, require("kiva.push").BATCH_SIZE)
    assert.equal(contract.MAX_BATCH, require("kiva.sandbox.api").MAX_BATCH)
  end)
end)
