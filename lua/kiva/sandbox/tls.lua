-- TLS for `kiva sandbox --tls`: a LuaSec server context, and without --cert a
-- throwaway CA plus a server certificate for 127.0.0.1/localhost made by the
-- openssl command in a fresh private temporary directory.
local M = {}

--- s quoted for a POSIX shell (the openssl commands here, the export lines `kiva
-- sandbox` prints for the user's shell).
function M.shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
local quote = M.shell_quote

local function run(cmd)
  local ok = os.execute(cmd .. " >/dev/null 2>&1")
  return ok == true
end

--- Makes a CA and a server certificate for `host` (plus 127.0.0.1, ::1 and localhost).
-- Returns { dir, ca_file, cert_file, key_file } | nil, message.
function M.throwaway(host)
  local base = os.tmpname()
  os.remove(base)
  local dir = base .. "-kiva-sandbox-tls"
  -- private and new: mkdir without parents fails if someone made it first
  local made, merr = require("kiva.core").mkdir(dir, require("kiva.files").PRIVATE_DIR, false)
  if not made then return nil, merr end
  local f = function(name) return dir .. "/" .. name end
  local san = "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost"
  if host and host ~= "" and host ~= "127.0.0.1" and host ~= "localhost" and host ~= "0.0.0.0" and host ~= "*" then
    san = san .. (host:match("^[%d.]+$") and ",IP:" or ",DNS:") .. host
  end
  local steps = {
    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "
      .. quote("/CN=kiva sandbox throwaway CA") .. " -addext basicConstraints=critical,CA:TRUE"
      .. " -addext keyUsage=critical,keyCertSign,cRLSign"
      .. " -keyout " .. quote(f("ca.key")) .. " -out " .. quote(f("ca.pem")),
    "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj " .. quote("/CN=localhost")
      .. " -keyout " .. quote(f("server.key")) .. " -out " .. quote(f("server.csr")),
    "openssl x509 -req -in " .. quote(f("server.csr")) .. " -CA " .. quote(f("ca.pem"))
      .. " -CAkey " .. quote(f("ca.key")) .. " -CAcreateserial -days 2 -extfile " .. quote(f("ext.cnf"))
      .. " -out " .. quote(f("server.pem")),
  }
  local ext = io.open(f("ext.cnf"), "w")
  if not ext then
    M.remove(dir)
    return nil, "cannot write " .. f("ext.cnf")
  end
  ext:write(san, "\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n")
  ext:close()
  for _, cmd in ipairs(steps) do
    if not run("cd " .. quote(dir) .. " && " .. cmd) then
      M.remove(dir)
      return nil, "openssl failed making the throwaway certificate (is the openssl command installed?)"
    end
  end
  os.remove(f("ca.key")) -- nobody signs anything else with it
  return { dir = dir, ca_file = f("ca.pem"), cert_file = f("server.pem"), key_file = f("server.key") }
end

--- Removes a directory made by M.throwaway.
function M.remove(dir)
  if dir then run("rm -rf " .. quote(dir)) end
end

--- A LuaSec server context for cert/key files: context | nil, message.
function M.context(cert_file, key_file)
  local ok, ssl = pcall(require, "ssl")
  if not ok then return nil, "LuaSec (lua-sec) is not installed" end
  local ctx, err = ssl.newcontext {
    mode = "server",
    protocol = "any",
    certificate = cert_file,
    key = key_file,
    options = { "all", "no_sslv2", "no_sslv3", "no_tlsv1", "no_tlsv1_1" },
    alpn = { "http/1.1" },
  }
  if not ctx then return nil, "TLS setup failed: " .. tostring(err) end
  return ctx
end

return M
