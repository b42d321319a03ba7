-- kiva.files: whole files read and written with the reason when they cannot be,
-- and the modes named once.
local helper = require "helper"
local files = require "kiva.files"

describe("kiva.files", function()
  after_each(helper.cleanup)

  it("writes and reads back bytes as they are", function()
    local path = helper.tmpdir() .. "/x.bin"
    assert.is_true(files.write(path, "a\0b\r\n\255"))
    assert.equal("a\0b\r\n\255", files.read(path))
    assert.is_true(files.write(path, ""))
    assert.equal("", files.read(path))
  end)

  it("says why a file cannot be read or written, without raising", function()
    local text, err = files.read("/nonexistent/x")
    assert.is_nil(text)
    assert.matches("No such file", err)
    local ok, werr = files.write("/nonexistent/dir/x", "data")
    assert.is_nil(ok)
    assert.matches("No such file", werr)
  end)

  it("names the modes in octal", function()
    assert.equal(448, files.PRIVATE_DIR)      -- 0700
    assert.equal(384, files.PRIVATE_FILE)     -- 0600
    assert.equal(63, files.OTHERS_ANY)        -- 0077
    assert.equal(36, files.OTHERS_READ)       -- 0044
    assert.equal(18, files.OTHERS_WRITE)      -- 0022
  end)
end)
