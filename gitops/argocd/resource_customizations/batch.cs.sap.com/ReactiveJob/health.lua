-- Health of a ReactiveJob (batch.cs.sap.com/v1alpha1) from the status reactivejob-operator
-- writes: state, plus the conditions Ready, Reconciling (a Job runs or waits), Stalled (the
-- newest Job failed, or the config cannot be read), and spec.suspend.
-- It reads them in kstatus's order (Flux, helm --wait), so those tools and Argo CD agree,
-- but for spec.suspend, which kstatus has no state for. Kueue's states Queued and Evicted
-- come with Reconciling=True: Progressing, as nobody has to act and an eviction is no failure.
--
-- Only the base and table libraries are used: a script in argocd-cm runs without string and
-- math unless resource.customizations.useOpenLibs.batch.cs.sap.com_ReactiveJob is "true".

local hs = {}
local meta = obj.metadata or {}
local status = obj.status or {}
local conditions = status.conditions or {}

local function condition(kind)
  for _, c in ipairs(conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function isTrue(c)
  return c ~= nil and c.status == "True"
end

-- "<state>: <reason>: <message>", leaving out what is empty or only repeats the state.
local function describe(c)
  local parts = {}
  local state = status.state
  if state ~= nil and state ~= "" then
    table.insert(parts, state)
  end
  if c ~= nil then
    if c.reason ~= nil and c.reason ~= "" and c.reason ~= state then
      table.insert(parts, c.reason)
    end
    if c.message ~= nil and c.message ~= "" then
      table.insert(parts, c.message)
    end
  end
  return table.concat(parts, ": ")
end

-- The Job a finished run is about: the condition messages come from the Job and omit it.
local function withJob(message)
  if status.currentJobName ~= nil and status.currentJobName ~= "" then
    return message .. "; current job " .. status.currentJobName
  end
  return message
end

if meta.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  local parts = { "Pending deletion" }
  if meta.finalizers ~= nil and #meta.finalizers > 0 then
    parts[1] = "Pending deletion; blocked by finalizers: " .. table.concat(meta.finalizers, ", ")
  end
  -- Only the operator's deletion states say why; an older state is stale by now.
  if status.state == "Deleting" or status.state == "DeletionBlocked" then
    table.insert(parts, describe(condition("Ready")))
  end
  hs.message = table.concat(parts, "; ")
  return hs
end

-- Until the operator has seen this generation, the status (if any) is about an older spec.
-- A ReactiveJob it never reconciled reads observedGeneration -1 (the CRD's status default).
local generation = meta.generation
local observed = status.observedGeneration
if type(observed) ~= "number" or observed < 1 or (generation ~= nil and observed ~= generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to reconcile"
  if generation ~= nil then
    hs.message = hs.message .. " generation " .. generation
  end
  if type(observed) == "number" and observed >= 1 then
    hs.message = hs.message .. " (the status is of generation " .. observed .. ")"
  end
  return hs
end

local ready = condition("Ready")
local reconciling = condition("Reconciling")
local stalled = condition("Stalled")

-- spec.suspend reads Suspended whatever the last run did, as Argo CD's own CronJob check
-- reads it; the message says whether a change is held and how the last run ended.
if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  if status.state == "Suspended" then
    hs.message = describe(ready)
  elseif isTrue(stalled) then
    hs.message = "No change held; last run: " .. withJob(describe(stalled))
  else
    hs.message = "No change held; last run: " .. withJob(describe(ready))
  end
  return hs
end

if isTrue(stalled) then
  hs.status = "Degraded"
  hs.message = withJob(describe(stalled))
elseif isTrue(reconciling) then
  hs.status = "Progressing"
  hs.message = describe(reconciling)
elseif isTrue(ready) then
  hs.status = "Healthy"
  hs.message = withJob(describe(ready))
else
  hs.status = "Progressing"
  hs.message = describe(ready)
  if hs.message == "" then
    hs.message = "Waiting for the operator to report the Ready condition"
  end
end
return hs
