-- Every image, VM and VM event belongs to a project; what existed goes to `default`. Names are
-- unique within a project (so that a taken name in another project reveals nothing). Events keep
-- their project after the VM is gone; host events have none (hosts are shared infrastructure).
ALTER TABLE images ADD COLUMN project text NOT NULL DEFAULT 'default' REFERENCES projects (name);
ALTER TABLE images ALTER COLUMN project DROP DEFAULT;
ALTER TABLE images DROP CONSTRAINT images_kind_name_key;
ALTER TABLE images ADD CONSTRAINT images_project_kind_name_key UNIQUE (project, kind, name);
CREATE INDEX images_project_id_idx ON images (project, id);

ALTER TABLE vms ADD COLUMN project text NOT NULL DEFAULT 'default' REFERENCES projects (name);
ALTER TABLE vms ALTER COLUMN project DROP DEFAULT;
ALTER TABLE vms DROP CONSTRAINT vms_name_key;
ALTER TABLE vms ADD CONSTRAINT vms_project_name_key UNIQUE (project, name);
CREATE INDEX vms_project_id_idx ON vms (project, id);

ALTER TABLE events ADD COLUMN project text;
UPDATE events SET project = vms.project FROM vms WHERE events.vm_id = vms.id;
UPDATE events SET project = 'default' WHERE vm_id IS NOT NULL AND project IS NULL;
CREATE INDEX events_project_id_idx ON events (project, id);
