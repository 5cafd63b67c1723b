-- wrk script for the XML-RPC calculator: POST /RPC2 add(2, 3) on every
-- connection, each answer checked (status 200, a methodResponse whose
-- value is 5 as <int> or <i4>). Prints "wrong: N" at the end. The HTTP
-- floor (a fixed 200 "ok") is run with it too, so that every server pays
-- the same checking; its answers count as wrong by design.
wrk.method = "POST"
wrk.path = "/RPC2"
wrk.headers["Content-Type"] = "text/xml"
wrk.body = "<?xml version='1.0'?>\n<methodCall>\n<methodName>add</methodName>\n<params>\n<param>\n<value><int>2</int></value>\n</param>\n<param>\n<value><int>3</int></value>\n</param>\n</params>\n</methodCall>\n"
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  wrong = 0
end

function response(status, headers, body)
  if status ~= 200 or not (body:find("<methodResponse>", 1, true)
      and (body:find("<int>5</int>", 1, true) or body:find("<i4>5</i4>", 1, true))) then
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
