--- kiva.tempdb: the private temporary SQLite database (through LuaDBI) that the run
-- store and the group_by store keep their rows in, so that neither holds a whole
-- export in memory. SQLite makes it on disk and removes it when it is closed.
local errors = require "kiva.errors"

local M = {}

--- Runs one statement that returns no rows. @return true | nil, message
function M.exec(db, sql)
  local st, err = db:prepare(sql)
  local done, xerr = false, nil
  if st then
    done, xerr = st:execute()
    st:close()
  end
  if not done then return nil, tostring(xerr or err) end
  return true
end

--- A new temporary database for `purpose` (named in errors), with the statements of
-- `schema` run on it, left in a transaction (autocommit off).
-- @return db | nil, err (kind "config" without LuaDBI, else "ledger")
function M.open(purpose, schema)
  local ok, DBI = pcall(require, "DBI")
  if not ok then return nil, errors.config(purpose .. " needs LuaDBI (Debian: lua-dbi-sqlite3): " .. DBI) end
  local db, err = DBI.Connect("SQLite3", "")   -- "": private, on disk, removed on close
  if not db then
    return nil, errors.ledger("cannot open a temporary database for " .. purpose .. ": " .. tostring(err))
  end
  db:autocommit(true)   -- the pragmas must run outside a transaction
  local statements = { "PRAGMA journal_mode=OFF", "PRAGMA synchronous=OFF" }
  for _, sql in ipairs(schema) do statements[#statements + 1] = sql end
  for _, sql in ipairs(statements) do
    local done, xerr = M.exec(db, sql)
    if not done then
      db:close()
      return nil, errors.ledger("cannot prepare the temporary database for " .. purpose .. ": " .. xerr)
    end
  end
  db:autocommit(false)
  return db
end

return M
