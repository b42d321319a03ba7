-- Bootstrap CLI: dispatches `kiva sandbox` until the full command lands.
local M = {}

function M.main(argv)
  local cmd = argv[1]
  if cmd == "sandbox" then
    local rest = table.move(argv, 2, #argv, 1, {})
    return require("kiva.sandbox.cli").main(rest)
  end
  io.stderr:write("kiva: unknown command ", tostring(cmd), "\n")
  return 2
end

return M
