-- POST /api/behavior?user_id=&item_id=&behavior_type= over random users 1..USERS
-- and items 1..ITEMS (the seed's behavior.lua, plus the report line).
package.path = debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "?.lua;" .. package.path
require "report"
local users = tonumber(os.getenv("USERS") or "943")
local items = tonumber(os.getenv("ITEMS") or "1682")
local kinds = {"view", "click", "cart", "buy"}
local counter = 0
function setup(thread) counter = counter + 1; thread:set("id", counter) end
function init(args) math.randomseed(os.time() * 1000 + (id or 0)) end
request = function()
  return wrk.format("POST", "/api/behavior?user_id=" .. math.random(1, users) .. "&item_id=" ..
    math.random(1, items) .. "&behavior_type=" .. kinds[math.random(1, 4)])
end
done = report
