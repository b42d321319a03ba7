-- Builds the example's SQLite database from mis.sql with LuaSQL (Debian
-- lua-sql-sqlite3), so no binary file is kept in the repository.
--   usage: lua5.4 examples/sqlite/build_db.lua [OUT.sqlite3]
local luasql = require "luasql.sqlite3"

local here = (arg[0]:match("^(.*)/[^/]*$") or ".")
local out = arg[1] or (here .. "/mis.sqlite3")
local f = assert(io.open(here .. "/mis.sql", "rb"))
local script = f:read("a")
f:close()
os.remove(out)

local env = luasql.sqlite3()
local conn = assert(env:connect(out))
-- statements end with ";" at the end of a line; "--" comments are dropped
script = script:gsub("%-%-[^\n]*", "")
for statement in script:gmatch("(.-);%s*\n") do
  if statement:find("%S") then assert(conn:execute(statement)) end
end
conn:close()
env:close()
print(out)
