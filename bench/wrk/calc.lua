-- wrk script for the REST calc: GET /api/soma/4/5 on every connection,
-- each answer checked against the class's body, byte for byte.
-- Prints "wrong: N" at the end (answers that were not 200 with that body).
wrk.path = "/api/soma/4/5"
local want = '{"A soma: ":9}'
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  wrong = 0
end

function response(status, headers, body)
  if status ~= 200 or body ~= want then
    wrong = wrong + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do
    total = total + t:get("wrong")
  end
  io.write(string.format("wrong: %d\n", total))
end
