-- wrk script: each request either places a limit buy far below the market (so it rests, with
-- a durable ack) or cancels the order this thread placed last. Every acknowledged request was
-- committed to SQLite (synchronous=FULL) before its response.
local token = os.getenv("COINAGE_TOKEN")
local market = os.getenv("COINAGE_MARKET") or "BTC-USDT"
local price = os.getenv("COINAGE_PRICE") or "20000.00"
local pending = {}
local counts = {}

local body = '{"market":"' .. market .. '","side":"buy","type":"limit","quantity":"0.001","price":"' .. price .. '"}'
local auth = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }

request = function()
  local id = table.remove(pending)
  if id then
    return wrk.format("DELETE", "/api/v1/orders/" .. id, auth)
  end
  return wrk.format("POST", "/api/v1/orders", auth, body)
end

response = function(status, headers, b)
  counts[status] = (counts[status] or 0) + 1
  if status == 201 then
    local id = b:match('"id":(%d+)')
    if id then table.insert(pending, id) end
  end
end

done = function(summary, latency, requests)
  io.write(string.format("  non-2xx/3xx responses: %d (of %d)\n", summary.errors.status, summary.requests))
end
