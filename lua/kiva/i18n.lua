--- kiva.i18n: the operator's language for what a run tells a person (summary, next
-- steps, common errors). English is the default and the key of every message: a message
-- missing from a catalogue prints in English, so a new message never prints blank.
-- The catalogues are plain tables of `string.format` patterns; a translation keeps the
-- English pattern's `%s`/`%d` in the same order.
local M = {}

M.LANGUAGES = { "en", "fr", "es" }

local CATALOGUES = {
  fr = require "kiva.i18n.fr",
  es = require "kiva.i18n.es",
}

--- The language for this process: `KIVA_LANG`, else `LC_ALL`, `LC_MESSAGES`, `LANG`
-- (as the C library reads them), each like "fr", "fr_FR.UTF-8", "es_MX"; "en" otherwise.
-- `getenv` defaults to os.getenv (tests pass their own).
function M.language(getenv)
  getenv = getenv or os.getenv
  for _, var in ipairs({ "KIVA_LANG", "LC_ALL", "LC_MESSAGES", "LANG" }) do
    local v = getenv(var)
    if v and v ~= "" then
      local code = v:lower():match("^(%a%a)[_.@-]?")
      if code and (code == "en" or CATALOGUES[code]) then return code end
      -- a set variable in another language (de_DE) means English, as C programs do
      return "en"
    end
  end
  return "en"
end

--- A translator for `lang`: `tr(english_pattern, ...)` → the formatted message in
-- that language (English when the catalogue lacks it).
function M.translator(lang)
  local catalogue = CATALOGUES[lang] or {}
  return function(key, ...)
    local pattern = catalogue[key] or key
    if select("#", ...) == 0 then return pattern end
    return string.format(pattern, ...)
  end
end

--- The catalogue of `lang` (a table English pattern → translation), for tests.
function M.catalogue(lang)
  return CATALOGUES[lang]
end

return M
