-- Argo CD health of an mcphub.dev object: MCPServer, MCPGroup, AccessPolicy.
--
-- The same rules kstatus applies (and so Flux and `kubectl wait`), on the
-- conditions the operator writes:
--   status missing, or observedGeneration behind metadata.generation
--                                   -> Progressing (the operator has not seen this spec yet)
--   Stalled=True                    -> Degraded    (kstatus: it will not get better alone)
--   Degraded=True                   -> Degraded    (an MCPServer that stopped answering,
--                                                   or one whose Secret is missing)
--   Reconciling=True                -> Progressing
--   Ready=True                      -> Healthy
--   Ready=False or Unknown, or none -> Progressing (kstatus: still in progress)
-- Reconciling and Stalled are used when present, so the check works with
-- operators that write them and with those that do not.
local hs = {status = "Progressing", message = "Waiting for the operator to report status"}
if obj.status == nil then
  return hs
end

local generation = obj.metadata.generation
local observed = obj.status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local conditions = {}
if obj.status.conditions ~= nil then
  for _, condition in ipairs(obj.status.conditions) do
    conditions[condition.type] = condition
  end
end

local function describe(condition)
  local reason = condition.reason or condition.type
  if condition.message ~= nil and condition.message ~= "" then
    return reason .. ": " .. condition.message
  end
  return reason
end

local function holds(kind)
  return conditions[kind] ~= nil and conditions[kind].status == "True"
end

if holds("Stalled") then
  hs.status = "Degraded"
  hs.message = describe(conditions["Stalled"])
elseif holds("Degraded") then
  hs.status = "Degraded"
  hs.message = describe(conditions["Degraded"])
elseif holds("Reconciling") then
  hs.message = describe(conditions["Reconciling"])
elseif holds("Ready") then
  hs.status = "Healthy"
  hs.message = describe(conditions["Ready"])
elseif conditions["Ready"] ~= nil then
  hs.message = describe(conditions["Ready"])
end
return hs
