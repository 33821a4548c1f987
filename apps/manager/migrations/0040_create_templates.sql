-- Templates: named presets of a VM (images, size, boot arguments, restart policy) owned by a
-- project, names unique within it. An image cannot be deleted while a template names it, nor a
-- project while it owns one. A VM copies a template's values when it is created and records the
-- template's id and version, without a foreign key: changing or deleting the template never
-- changes a VM.
CREATE TABLE templates (
  id              text PRIMARY KEY,
  name            text NOT NULL,
  project         text NOT NULL CONSTRAINT templates_project_fkey REFERENCES projects (name),
  description     text NOT NULL DEFAULT '',
  kernel_image_id text NOT NULL CONSTRAINT templates_kernel_image_id_fkey REFERENCES images (id) ON DELETE RESTRICT,
  rootfs_image_id text NOT NULL CONSTRAINT templates_rootfs_image_id_fkey REFERENCES images (id) ON DELETE RESTRICT,
  vcpu_count      integer NOT NULL,
  memory_mib      integer NOT NULL,
  boot_args       text NOT NULL,
  restart_policy  text NOT NULL CONSTRAINT templates_restart_policy_check CHECK (restart_policy IN ('never', 'on-failure', 'always')),
  created_at      timestamptz NOT NULL,
  updated_at      timestamptz NOT NULL,
  version         integer NOT NULL DEFAULT 1,
  CONSTRAINT templates_project_name_key UNIQUE (project, name)
);

CREATE INDEX templates_project_id_idx ON templates (project, id);
CREATE INDEX templates_kernel_image_id_idx ON templates (kernel_image_id);
CREATE INDEX templates_rootfs_image_id_idx ON templates (rootfs_image_id);

ALTER TABLE vms ADD COLUMN template_id text;
ALTER TABLE vms ADD COLUMN template_version integer;

-- Events about objects that are neither a VM nor a host (a template) name them here.
ALTER TABLE events ADD COLUMN object_id text;
CREATE INDEX events_object_id_idx ON events (object_id, id) WHERE object_id IS NOT NULL;

-- A token that held every scope before templates existed (the admin token a Manager makes at its
-- first start, and tokens made as its equals) keeps holding every scope.
UPDATE api_tokens SET scopes = scopes || ARRAY['templates:read', 'templates:write']
  WHERE scopes @> ARRAY['vms:read', 'vms:write', 'images:read', 'images:write', 'events:read', 'hosts:admin', 'tokens:admin', 'projects:admin', 'audit:read']
    AND NOT scopes @> ARRAY['templates:write'];
