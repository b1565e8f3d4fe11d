-- wrk script: GET /signup/{id} for the signup ids in IDS (one a line), cycled.
local reqs = {}
local i = 0

function init(args)
  for id in io.lines(os.getenv("IDS")) do
    reqs[#reqs + 1] = wrk.format("GET", "/signup/" .. id)
  end
  i = math.random(#reqs)
end

function request()
  i = i % #reqs + 1
  return reqs[i]
end
