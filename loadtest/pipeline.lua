-- wrk script: TechEmpower-style pipelining, `depth` requests per write.
-- usage: wrk -s loadtest/pipeline.lua http://127.0.0.1:8080/plaintext -- 16
local depth = 16

init = function(args)
  depth = tonumber(args[1]) or depth
  local r = {}
  for i = 1, depth do
    r[i] = wrk.format(nil, nil, {["Host"] = "localhost"})
  end
  req = table.concat(r)
end

request = function()
  return req
end
