"""HemoDay: a family's shared transfusion diary, synced offline-first with WatermelonDB clients."""
