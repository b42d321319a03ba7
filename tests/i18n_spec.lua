-- kiva.i18n: the operator's language from KIVA_LANG / LANG, and catalogues that cover
-- every message the run log, summary, progress and error hints use.
local helper = require "helper"
local i18n = require "kiva.i18n"

local function env(t) return function(k) return t[k] end end

-- Every literal tr("...") pattern in the modules, and the text tables they translate.
local function used_keys()
  local keys = {}
  local p = io.popen("cat " .. helper.root .. "/lua/kiva/*.lua")
  local src = p:read("a")
  p:close()
  for k in src:gmatch('tr%("(.-[^\\])"') do
    if k ~= "%d " then keys[k] = true end
  end
  for _, k in ipairs({ "%d rejected", "%d unknown", "%d retries" }) do keys[k] = true end
  for _, k in ipairs(require("kiva.report").MESSAGES) do keys[k] = true end
  for _, k in pairs(require("kiva.runlog").BATCH_WORDS) do keys[k] = true end
  for _, k in pairs(require("kiva.cli").HINTS) do keys[k] = true end
  return keys
end

local function placeholders(s)
  local list = {}
  for p in s:gmatch("%%[%d.]*[sdf]") do list[#list + 1] = p end
  return table.concat(list, " ")
end

describe("kiva.i18n", function()
  it("takes KIVA_LANG first, then LC_ALL, LC_MESSAGES, LANG; English otherwise", function()
    assert.equal("fr", i18n.language(env({ LANG = "fr_FR.UTF-8" })))
    assert.equal("es", i18n.language(env({ LANG = "es_MX.UTF-8" })))
    assert.equal("es", i18n.language(env({ KIVA_LANG = "es", LANG = "fr_FR.UTF-8" })))
    assert.equal("fr", i18n.language(env({ LC_ALL = "fr_BE", LANG = "es_ES" })))
    assert.equal("en", i18n.language(env({ LANG = "de_DE.UTF-8" })))
    assert.equal("en", i18n.language(env({ LANG = "C.UTF-8" })))
    assert.equal("en", i18n.language(env({})))
  end)

  it("formats in the language, and in English where a catalogue lacks the message", function()
    assert.equal("Arrêt : boom", i18n.translator("fr")("Stopped: %s", "boom"))
    assert.equal("Detenido: boom", i18n.translator("es")("Stopped: %s", "boom"))
    assert.equal("Stopped: boom", i18n.translator("en")("Stopped: %s", "boom"))
    assert.equal("no such message 3", i18n.translator("fr")("no such message %d", 3))
  end)

  it("has every message used in French and Spanish, with the same placeholders", function()
    local keys = used_keys()
    assert.is_true(next(keys) ~= nil)
    for _, lang in ipairs({ "fr", "es" }) do
      local cat = i18n.catalogue(lang)
      for k in pairs(keys) do
        assert.is_string(cat[k], lang .. " lacks: " .. k)
        assert.equal(placeholders(k), placeholders(cat[k]), lang .. ": " .. k)
      end
      for k, v in pairs(cat) do assert.equal(placeholders(k), placeholders(v), lang .. ": " .. k) end
    end
  end)
end)
