-- wrk script: GET /signup with valid app tokens from TOKENS (one a line), cycled, and the
-- redirect URL REDIRECT (already allowed by the service's configuration).
local reqs = {}
local i = 0

local function encode(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

function init(args)
  local redirect = encode(os.getenv("REDIRECT"))
  for token in io.lines(os.getenv("TOKENS")) do
    reqs[#reqs + 1] = wrk.format("GET", "/signup?token=" .. token .. "&redirectUrl=" .. redirect)
  end
  i = math.random(#reqs)
end

function request()
  i = i % #reqs + 1
  return reqs[i]
end
