-- wrk script that sends one workload's request on every connection and
-- checks every answer; the workload is named after `--`:
--   wrk ... -s bench/wrk/check.lua http://127.0.0.1:PORT -- calc
--   calc: GET /api/soma/4/5, the class's body byte for byte;
--   rpc:  POST /RPC2 add(2, 3), status 200 and a methodResponse whose
--         value is 5 as <int> or <i4>. The HTTP floor (a fixed 200 "ok")
--         is run with it too, so every server pays the same checking; its
--         answers count as wrong by design.
-- Prints "wrong: N" at the end (answers that failed the check).
local workloads = {
  calc = {
    path = "/api/soma/4/5",
    ok = function(status, body)
      return status == 200 and body == '{"A soma: ":9}'
    end,
  },
  rpc = {
    method = "POST",
    path = "/RPC2",
    content_type = "text/xml",
    body = "<?xml version='1.0'?>\n<methodCall>\n<methodName>add</methodName>\n<params>\n<param>\n<value><int>2</int></value>\n</param>\n<param>\n<value><int>3</int></value>\n</param>\n</params>\n</methodCall>\n",
    ok = function(status, body)
      return status == 200 and body:find("<methodResponse>", 1, true) ~= nil
        and (body:find("<int>5</int>", 1, true) or body:find("<i4>5</i4>", 1, true)) ~= nil
    end,
  },
}
local threads = {}
local check

function setup(thread)
  table.insert(threads, thread)
end

-- Runs in each thread before its request is built (wrk.init formats it
-- after calling this).
function init(args)
  local w = workloads[args[1]]
  if w == nil then
    error("name a workload after --: calc or rpc")
  end
  wrong = 0
  check = w.ok
  wrk.method = w.method or "GET"
  wrk.path = w.path
  wrk.body = w.body
  if w.content_type then
    wrk.headers["Content-Type"] = w.content_type
  end
end

function response(status, headers, body)
  if not check(status, body) then
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
