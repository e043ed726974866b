-- GET /api/recommend/{user}?limit=50&use_cache=CACHE over random users 1..USERS
-- (the seed's recommend.lua, plus the report line). Each wrk thread seeds its
-- own generator, so threads do not ask for the same users in lockstep.
package.path = debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "?.lua;" .. package.path
require "report"
local users = tonumber(os.getenv("USERS") or "943")
local cache = os.getenv("CACHE") or "false"
local counter = 0
function setup(thread) counter = counter + 1; thread:set("id", counter) end
function init(args) math.randomseed(os.time() * 1000 + (id or 0)) end
request = function()
  return wrk.format("GET", "/api/recommend/" .. math.random(1, users) .. "?limit=50&use_cache=" .. cache)
end
done = report
