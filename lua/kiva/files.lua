--- kiva.files: whole-file reading and writing, and the file modes kiva uses, named
-- once (written in octal, as chmod(1) spells them).
local M = {}

--- Modes and masks (integers).
M.PRIVATE_DIR = tonumber("700", 8)    -- the state and cache directories
M.PRIVATE_FILE = tonumber("600", 8)   -- token cache, credentials
M.OTHERS_ANY = tonumber("077", 8)     -- any bit for group or others: a secret file others could touch
M.OTHERS_READ = tonumber("044", 8)    -- readable by group or others
M.OTHERS_WRITE = tonumber("022", 8)   -- writable by group or others

--- The whole content of the file at `path`. @return text | nil, message
function M.read(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local text, rerr = f:read("a")
  f:close()
  if not text then return nil, path .. ": " .. tostring(rerr) end
  return text
end

--- Writes `data` as the whole content of the file at `path`. @return true | nil, message
function M.write(path, data)
  local f, err = io.open(path, "wb")
  if not f then return nil, err end
  local ok, werr = f:write(data)
  local closed, cerr = f:close()
  if not ok or not closed then return nil, path .. ": " .. tostring(werr or cerr) end
  return true
end

return M
