-- What the VMs on each host hold (the CPU and memory of its VMs in a resource-holding state) and
-- what each project holds (its VMs, whatever their state, and their CPU and memory), kept up to date
-- as rows change instead of summed from every VM row on every create: placement and admission then
-- read one row per host and one per project, whatever the number of VMs (ADR 0019, amended).
-- Triggers keep them, so no write (of this build or an earlier one still running) can leave them out.
CREATE TABLE host_allocations (
  host_id    text PRIMARY KEY REFERENCES hosts (id) ON DELETE CASCADE,
  vcpu_count bigint NOT NULL,
  memory_mib bigint NOT NULL
);

-- A project's counts are spread over 16 rows (a VM counts in the row its id hashes to) and read as
-- their sum: creates in a project without a quota are admitted side by side, and a single row would
-- queue each one's insert behind the previous one's commit.
CREATE TABLE project_holdings (
  project    text NOT NULL REFERENCES projects (name) ON DELETE CASCADE,
  shard      smallint NOT NULL,
  vms        bigint NOT NULL,
  vcpu_count bigint NOT NULL,
  memory_mib bigint NOT NULL,
  PRIMARY KEY (project, shard)
);

-- The states in which a VM holds CPU and memory on its host: `resourceHoldingStates` in
-- src/domain/vm-state.ts (the VM repository contract checks that both agree, state by state).
-- Kept on one line each: migrations are split at semicolons that end a line.
CREATE FUNCTION vm_holds_resources(state text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT state IN ('pending', 'scheduled', 'starting', 'running', 'pausing', 'paused', 'stopping', 'unknown') $$;

CREATE FUNCTION add_host_allocation(host text, vcpus bigint, memory bigint) RETURNS void LANGUAGE sql AS $$ INSERT INTO host_allocations AS held (host_id, vcpu_count, memory_mib) VALUES (host, vcpus, memory) ON CONFLICT (host_id) DO UPDATE SET vcpu_count = held.vcpu_count + EXCLUDED.vcpu_count, memory_mib = held.memory_mib + EXCLUDED.memory_mib $$;

CREATE FUNCTION vm_holding_shard(vm_id text) RETURNS smallint LANGUAGE sql IMMUTABLE AS $$ SELECT (hashtext(vm_id) & 15)::smallint $$;

CREATE FUNCTION add_project_holding(name text, vm_id text, vms bigint, vcpus bigint, memory bigint) RETURNS void LANGUAGE sql AS $$ INSERT INTO project_holdings AS held (project, shard, vms, vcpu_count, memory_mib) VALUES (name, vm_holding_shard(vm_id), vms, vcpus, memory) ON CONFLICT (project, shard) DO UPDATE SET vms = held.vms + EXCLUDED.vms, vcpu_count = held.vcpu_count + EXCLUDED.vcpu_count, memory_mib = held.memory_mib + EXCLUDED.memory_mib $$;

CREATE FUNCTION count_vm_holdings() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND (OLD.project <> NEW.project OR OLD.vcpu_count <> NEW.vcpu_count OR OLD.memory_mib <> NEW.memory_mib)) THEN PERFORM add_project_holding(OLD.project, OLD.id, -1, -OLD.vcpu_count, -OLD.memory_mib); END IF; IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND (OLD.project <> NEW.project OR OLD.vcpu_count <> NEW.vcpu_count OR OLD.memory_mib <> NEW.memory_mib)) THEN PERFORM add_project_holding(NEW.project, NEW.id, 1, NEW.vcpu_count, NEW.memory_mib); END IF; IF TG_OP <> 'INSERT' AND vm_holds_resources(OLD.state) THEN PERFORM add_host_allocation(OLD.host_id, -OLD.vcpu_count, -OLD.memory_mib); END IF; IF TG_OP <> 'DELETE' AND vm_holds_resources(NEW.state) THEN PERFORM add_host_allocation(NEW.host_id, NEW.vcpu_count, NEW.memory_mib); END IF; RETURN NULL; END $$;

CREATE TRIGGER vms_count_holdings AFTER INSERT OR DELETE ON vms FOR EACH ROW EXECUTE FUNCTION count_vm_holdings();

-- An update counts only when it moves what a VM holds: most state changes (starting → running,
-- running → paused) do not, and write neither row.
CREATE TRIGGER vms_count_holdings_on_update AFTER UPDATE ON vms FOR EACH ROW WHEN (vm_holds_resources(OLD.state) <> vm_holds_resources(NEW.state) OR OLD.host_id <> NEW.host_id OR OLD.project <> NEW.project OR OLD.vcpu_count <> NEW.vcpu_count OR OLD.memory_mib <> NEW.memory_mib) EXECUTE FUNCTION count_vm_holdings();

-- What the rows hold now. The triggers above exist already and hold a lock that keeps other writers
-- out of `vms` until this migration commits, so nothing is counted twice or missed.
INSERT INTO host_allocations (host_id, vcpu_count, memory_mib) SELECT host_id, sum(vcpu_count), sum(memory_mib) FROM vms WHERE vm_holds_resources(state) GROUP BY host_id;

INSERT INTO project_holdings (project, shard, vms, vcpu_count, memory_mib) SELECT project, vm_holding_shard(id), count(*), sum(vcpu_count), sum(memory_mib) FROM vms GROUP BY project, vm_holding_shard(id);
