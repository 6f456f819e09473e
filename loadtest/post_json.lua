-- wrk script: pipelined POSTs of a small JSON body, `depth` per write.
-- usage: wrk -s loadtest/post_json.lua http://127.0.0.1:8080/in/typed -- 16
local depth = 16

init = function(args)
  depth = tonumber(args[1]) or depth
  local body = '{"message":"Hello, World!","n":42}'
  local headers = {["Host"] = "localhost", ["Content-Type"] = "application/json"}
  local r = {}
  for i = 1, depth do
    r[i] = wrk.format("POST", nil, headers, body)
  end
  req = table.concat(r)
end

request = function()
  return req
end
