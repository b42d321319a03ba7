--- kiva.text: text from outside (server messages, cell values, loan names) made safe to
-- print. A terminal obeys escape sequences, a log viewer shows stray carriage returns as
-- overwritten lines, and Excel breaks a cell at a line feed: every printer of the
-- project passes outside text through `printable` first.
local M = {}

local NAMED = { ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

-- C1 controls (U+0080..U+009F, which some terminals obey as CSI, OSC...), line and
-- paragraph separators, and the bidirectional overrides that can make a line read
-- differently from what it holds (U+202A..U+202E, U+2066..U+2069).
local function escape_wide(ch)
  local cp = utf8.codepoint(ch)
  return string.format("\\u{%X}", cp)
end

--- `s` with every control character written as an escape: `\n`, `\r`, `\t`,
-- `\x1B`-style for the other C0 bytes and DEL, `\u{85}`-style for C1 controls, U+2028,
-- U+2029 and the bidi controls. Non-strings are turned into strings first; nil gives "".
-- Printable text (UTF-8 included) comes back unchanged, and the same object when nothing
-- needed escaping.
function M.printable(s)
  if s == nil then return "" end
  if type(s) ~= "string" then s = tostring(s) end
  if not s:find("[%z\1-\31\127\194\226]") then return s end
  s = s:gsub("[%z\1-\31\127]", function(c)
    return NAMED[c] or string.format("\\x%02X", c:byte())
  end)
  s = s:gsub("\194[\128-\159]", escape_wide)
  s = s:gsub("\226\128[\168-\174]", escape_wide)
  s = s:gsub("\226\129[\166-\169]", escape_wide)
  return s
end

return M
