-- POST an order for one of N SKUs chosen at random (BENCH-S0..N-1), pickup at one hall.
local n = tonumber(os.getenv("WRK_SPREAD") or "1000")
local token = os.getenv("WRK_TOKEN")
local hall = os.getenv("WRK_HALL") or "DL-HM"
math.randomseed(os.time())
request = function()
  local sku = "BENCH-S" .. math.random(0, n - 1)
  local body = '{"lines":[{"sku":"' .. sku .. '","quantity":1}],"delivery":{"type":"pickup","location":"' .. hall .. '"}}'
  local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}
  return wrk.format("POST", "/api/v1/orders", headers, body)
end
dofile(os.getenv("WRK_REPORT"))
