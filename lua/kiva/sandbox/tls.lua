-- TLS for `kiva sandbox --tls`: a LuaSec server context, and without --cert a
-- throwaway CA plus a server certificate for 127.0.0.1/localhost made with luaossl
-- in a fresh private temporary directory.
local M = {}

--- s quoted for a POSIX shell (the export lines `kiva sandbox` prints for the user's
-- shell).
function M.shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
-- The files M.throwaway writes in its directory (M.remove removes exactly these).
local FILES = { "ca.pem", "server.pem", "server.key" }

local function new_key()
  return require("openssl.pkey").new { type = "EC", curve = "prime256v1" }
end

-- A certificate for `key` named CN=`cn`, valid for two days, with the extensions
-- `exts` ({ name, value } in openssl's config syntax), signed by `issuer` ({ cert,
-- key }) or by itself.
local function certificate(cn, key, exts, issuer)
  local x509 = require "openssl.x509"
  local extension = require "openssl.x509.extension"
  local subject = require("openssl.x509.name").new()
  subject:add("CN", cn)
  local cert = x509.new()
  cert:setVersion(3)
  cert:setSerial(require("openssl.bignum").fromBinary(require("openssl.rand").bytes(8)))
  cert:setSubject(subject)
  cert:setIssuer(issuer and issuer.cert:getSubject() or subject)
  local now = os.time()
  cert:setLifetime(now - 60, now + 2 * 86400)
  cert:setPublicKey(key)
  for _, e in ipairs(exts) do
    if e.san then cert:setSubjectAlt(e.san) else cert:addExtension(extension.new(e[1], e[2])) end
  end
  cert:sign(issuer and issuer.key or key)
  return cert
end

-- The server certificate's names: 127.0.0.1, ::1, localhost, and `host`.
local function alt_names(host)
  local san = require("openssl.x509.altname").new()
  san:add("IPAddress", "127.0.0.1")
  san:add("IPAddress", "::1")
  san:add("DNS", "localhost")
  if host and host ~= "" and host ~= "127.0.0.1" and host ~= "localhost" and host ~= "0.0.0.0" and host ~= "*" then
    san:add((host:match("^[%d.]+$") or host:find(":", 1, true)) and "IPAddress" or "DNS", host)
  end
  return san
end

--- Makes a CA and a server certificate for `host` (plus 127.0.0.1, ::1 and localhost)
-- with luaossl (Debian lua-luaossl), in a fresh private directory. The CA's key is
-- never written: nobody signs anything else with it.
-- @return { dir, ca_file, cert_file, key_file } | nil, message
function M.throwaway(host)
  local base = os.tmpname()
  os.remove(base)
  local dir = base .. "-kiva-sandbox-tls"
  -- private and new: mkdir without parents fails if someone made it first
  local made, merr = require("kiva.core").mkdir(dir, require("kiva.files").PRIVATE_DIR, false)
  if not made then return nil, merr end
  local ok, made_or_err = pcall(function()
    local ca_key, server_key = new_key(), new_key()
    local ca = certificate("kiva sandbox throwaway CA", ca_key, {
      { "basicConstraints", "critical,CA:TRUE" }, { "keyUsage", "critical,keyCertSign,cRLSign" } })
    local server = certificate("localhost", server_key, {
      { san = alt_names(host) }, { "basicConstraints", "CA:FALSE" }, { "keyUsage", "digitalSignature" },
      { "extendedKeyUsage", "serverAuth" } }, { cert = ca, key = ca_key })
    return { ["ca.pem"] = tostring(ca), ["server.pem"] = tostring(server),
      ["server.key"] = server_key:toPEM("privateKey") }
  end)
  if not ok then
    M.remove(dir)
    return nil, "cannot make the throwaway certificate: " .. tostring(made_or_err)
  end
  local files = require "kiva.files"
  for _, name in ipairs(FILES) do
    local path = dir .. "/" .. name
    local wrote, werr = files.write(path, made_or_err[name])
    if wrote then wrote, werr = require("kiva.core").chmod(path, files.PRIVATE_FILE) end
    if not wrote then
      M.remove(dir)
      return nil, "cannot write the throwaway certificate: " .. tostring(werr)
    end
  end
  return { dir = dir, ca_file = dir .. "/ca.pem", cert_file = dir .. "/server.pem", key_file = dir .. "/server.key" }
end

--- Removes a directory made by M.throwaway.
function M.remove(dir)
  if not dir then return end
  for _, name in ipairs(FILES) do os.remove(dir .. "/" .. name) end
  os.remove(dir)
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
