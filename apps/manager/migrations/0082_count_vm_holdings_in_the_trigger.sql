-- The counts of what VMs hold (migration 0061) kept by statements of the trigger itself. Each upsert
-- was a SQL-language function called from the PL/pgSQL trigger, and PostgreSQL (before 18) parses
-- and plans a SQL function's body again in every transaction that calls it: twice per VM created
-- and per VM deleted. Written in the trigger's body, the upserts are planned once per connection and
-- their plans kept (ADR 0117). What is counted, and when, is unchanged. Kept on one line:
-- migrations are split at semicolons that end a line.
CREATE OR REPLACE FUNCTION count_vm_holdings() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND (OLD.project <> NEW.project OR OLD.vcpu_count <> NEW.vcpu_count OR OLD.memory_mib <> NEW.memory_mib)) THEN INSERT INTO project_holdings AS held (project, shard, vms, vcpu_count, memory_mib) VALUES (OLD.project, vm_holding_shard(OLD.id), -1, -OLD.vcpu_count, -OLD.memory_mib) ON CONFLICT (project, shard) DO UPDATE SET vms = held.vms + EXCLUDED.vms, vcpu_count = held.vcpu_count + EXCLUDED.vcpu_count, memory_mib = held.memory_mib + EXCLUDED.memory_mib; END IF; IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND (OLD.project <> NEW.project OR OLD.vcpu_count <> NEW.vcpu_count OR OLD.memory_mib <> NEW.memory_mib)) THEN INSERT INTO project_holdings AS held (project, shard, vms, vcpu_count, memory_mib) VALUES (NEW.project, vm_holding_shard(NEW.id), 1, NEW.vcpu_count, NEW.memory_mib) ON CONFLICT (project, shard) DO UPDATE SET vms = held.vms + EXCLUDED.vms, vcpu_count = held.vcpu_count + EXCLUDED.vcpu_count, memory_mib = held.memory_mib + EXCLUDED.memory_mib; END IF; IF TG_OP <> 'INSERT' AND vm_holds_resources(OLD.state) THEN INSERT INTO host_allocations AS held (host_id, vcpu_count, memory_mib) VALUES (OLD.host_id, -OLD.vcpu_count, -OLD.memory_mib) ON CONFLICT (host_id) DO UPDATE SET vcpu_count = held.vcpu_count + EXCLUDED.vcpu_count, memory_mib = held.memory_mib + EXCLUDED.memory_mib; END IF; IF TG_OP <> 'DELETE' AND vm_holds_resources(NEW.state) THEN INSERT INTO host_allocations AS held (host_id, vcpu_count, memory_mib) VALUES (NEW.host_id, NEW.vcpu_count, NEW.memory_mib) ON CONFLICT (host_id) DO UPDATE SET vcpu_count = held.vcpu_count + EXCLUDED.vcpu_count, memory_mib = held.memory_mib + EXCLUDED.memory_mib; END IF; RETURN NULL; END $$;

DROP FUNCTION add_project_holding(text, text, bigint, bigint, bigint);

DROP FUNCTION add_host_allocation(text, bigint, bigint);

-- No statement reads VMs by state through an index: the metrics' count by state reads every row,
-- and a state transition finds its row by id (ADR 0078). The index only made every write of a VM
-- row, its insert and each change of state, write one index entry more (ADR 0117).
DROP INDEX vms_state_idx;
