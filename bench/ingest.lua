-- wrk script: POST measurements with a unique measured_at per request, rotating
-- through device tokens. BATCH=N in the environment posts N measurements per request
-- to the batch endpoint instead of one to the single endpoint.
local tokens = {}
local counter = 0
local thread_count = 0
local batch = tonumber(os.getenv("BATCH") or "0")

function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
end

function init(args)
  for line in io.lines(os.getenv("TOKENS_FILE")) do tokens[#tokens + 1] = line end
  -- Milliseconds from 20 days ago (the server takes nothing older than its 30 days of
  -- raw readings): each run (OFFSET) and each thread writes its own 5.5-hour range, so
  -- no two requests share a (device, measured_at) and every value is new (for the
  -- first 40 runs of a benchmark; then the ranges come round again).
  local run = tonumber(os.getenv("OFFSET") or "0") % 40
  base = (os.time() - 20 * 86400) * 1000 + run * 4e7 + tid * 2e7
end

local function stamp(ms)
  local seconds = math.floor(ms / 1000)
  return os.date("!%Y-%m-%dT%H:%M:%S", seconds) .. string.format(".%03dZ", ms - seconds * 1000)
end

function request()
  counter = counter + 1
  local token = tokens[(counter % #tokens) + 1]
  local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}
  if batch == 0 then
    local body = string.format(
      '{"measured_at":"%s","values":{"temperature":21.5,"humidity":40.2}}', stamp(base + counter))
    return wrk.format("POST", "/api/v1/measurements", headers, body)
  end
  local items = {}
  local start = base + counter * batch
  for i = 1, batch do
    items[i] = string.format(
      '{"measured_at":"%s","values":{"temperature":%.1f,"humidity":%.1f}}',
      stamp(start + i), 20 + (i % 50) / 10, 40 + (i % 30) / 10)
  end
  return wrk.format("POST", "/api/v1/measurements/batch", headers,
    '{"measurements":[' .. table.concat(items, ",") .. ']}')
end

-- Report answers that were not 2xx, so a run that only measured errors is caught.
function done(summary, latency, requests)
  io.write(string.format("FAILURES %d\n", summary.errors.status))
end
