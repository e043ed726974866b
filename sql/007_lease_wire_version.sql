-- Upgrades (docs/cluster.md, "Upgrades"): the lease names the wire protocol
-- version (protocol/version.hpp) and the release of the leading coordinator,
-- so that a node of another version says clearly why it cannot join, and a
-- standby replica of another version reports that it must not replace the
-- leader (its readiness). Defaults keep the writes of a release before this
-- migration valid: 0 = not recorded.
ALTER TABLE coordinator_lease ADD COLUMN IF NOT EXISTS wire_version INT NOT NULL DEFAULT 0;
ALTER TABLE coordinator_lease ADD COLUMN IF NOT EXISTS release TEXT NOT NULL DEFAULT '';
