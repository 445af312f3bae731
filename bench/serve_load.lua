-- wrk script for bench/serve_load.py: POSTs one KServe v2 infer request with
-- its tensor in Triton's binary-data extension, and prints one JSON line with
-- the results when done.
--   wrk -s serve_load.lua URL -- BODY_FILE JSON_HEADER_LENGTH
local body_file, header_length

function init(args)
  body_file, header_length = args[1], args[2]
  local f = assert(io.open(body_file, "rb"))
  wrk.body = f:read("*a")
  f:close()
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/octet-stream"
  wrk.headers["Inference-Header-Content-Length"] = header_length
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "rps": %.2f, "p50_ms": %.3f, "p99_ms": %.3f, "non2xx": %d, "socket_errors": %d}\n',
    summary.requests, seconds, summary.requests / seconds, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
