-- wrk: POST the survey (the JSON body in $BODY_FILE) to the path wrk was given.
local file = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"
