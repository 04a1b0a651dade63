-- wrk script: POSTs one MNIST-sized sample (784 features in [0, 1), 4 decimals) per request to the path in
-- ENGINE_PATH (/predict or /learn), with the bearer token in ENGINE_TOKEN and a label for /learn.
-- Each thread cycles through 64 different bodies. Latency percentiles are printed by done().
local path = os.getenv("ENGINE_PATH") or "/predict"
local token = os.getenv("ENGINE_TOKEN") or ""
local bodies = {}
local counter = 0

function init(args)
  math.randomseed(12345 + (tonumber(args[1]) or 0))
  for b = 1, 64 do
    local parts = {}
    for i = 1, 784 do parts[i] = string.format("%.4f", math.random()) end
    local body = '{"features":[[' .. table.concat(parts, ",") .. ']]'
    if path == "/learn" then body = body .. ',"labels":[' .. (b % 10) .. ']' end
    bodies[b] = body .. '}'
  end
end

function request()
  counter = counter + 1
  local headers = { ["Content-Type"] = "application/json" }
  if token ~= "" then headers["Authorization"] = "Bearer " .. token end
  return wrk.format("POST", path, headers, bodies[(counter % 64) + 1])
end

function done(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT path=%s requests=%d seconds=%.2f rps=%.0f p50_ms=%.3f p99_ms=%.3f errors=%d\n",
    path, summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, errors))
end
