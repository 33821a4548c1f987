-- The shared network a VM joined (a name within its project): guests of one host reach each other
-- only when both joined the same one. Null: none, the guest reaches no other guest.
ALTER TABLE vms ADD COLUMN shared_network text;
