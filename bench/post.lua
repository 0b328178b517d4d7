-- POST a fixed JSON body (path and body from the environment) with the report hook.
local body = os.getenv("WRK_BODY") or "{}"
local token = os.getenv("WRK_TOKEN")
wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
if token then wrk.headers["Authorization"] = "Bearer " .. token end
dofile(os.getenv("WRK_REPORT"))
