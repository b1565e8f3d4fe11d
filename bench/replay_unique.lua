-- wrk script: signed webhook deliveries from EVENTS (gen_events.py output), each sent once
-- while the file lasts. Each wrk thread starts at its own share of the file, so two threads
-- never deliver the same event (a duplicate is cheaper to store than a new event).
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local reqs = {}
local i = 0

function init(args)
  for line in io.lines(os.getenv("EVENTS")) do
    local ev_body = line:match('"body": "(.-)", "sig"')
    local ev_sig = line:match('"sig": "(.-)"}')
    reqs[#reqs + 1] = wrk.format("POST", "/webhooks/stripe",
      {["Content-Type"] = "application/json", ["Stripe-Signature"] = ev_sig},
      (ev_body:gsub('\\"', '"')))
  end
  local share = math.floor(#reqs / tonumber(os.getenv("THREADS") or "2"))
  i = id * share
end

function request()
  i = i % #reqs + 1
  return reqs[i]
end
