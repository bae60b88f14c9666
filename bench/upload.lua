-- wrk script of the `upload` workload of `just bench`: every request is a POST of 1 MiB
-- (bench/app.py's `upload` reads it all and answers its length).
wrk.method = "POST"
wrk.body = string.rep("u", 1048576)
wrk.headers["Content-Type"] = "application/octet-stream"
