local token = os.getenv("WRK_TOKEN")
if token then wrk.headers["Authorization"] = "Bearer " .. token end
dofile(os.getenv("WRK_REPORT"))
