-- wrk script for B3: POSTs the same request bodies kiva.client sends (one JSON body per
-- line of $WRK_BODIES, cycled), with the same headers, over keep-alive connections.
--   WRK_BODIES=FILE WRK_TOKEN=... wrk -t1 -cN -dS -s bench/wrk_post.lua https://host:port/path
-- luacheck: globals wrk init request done
local requests, n, i = {}, 0, 0

function init()
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. (os.getenv("WRK_TOKEN") or "")
  local limit = tonumber(os.getenv("WRK_MAX_BODIES") or "") or 2000
  for line in io.lines(os.getenv("WRK_BODIES")) do
    n = n + 1
    requests[n] = wrk.format(nil, nil, nil, line)
    if n >= limit then break end
  end
end

function request()
  i = i % n + 1
  return requests[i]
end

function done(summary)
  io.write(string.format("wrk_requests=%d wrk_seconds=%.4f wrk_errors=%d\n", summary.requests,
    summary.duration / 1e6, summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.status + summary.errors.timeout))
end
