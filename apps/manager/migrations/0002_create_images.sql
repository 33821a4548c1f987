-- Registered image files (kernels and root file systems) inside the image root.
CREATE TABLE images (
  id         text PRIMARY KEY,
  kind       text NOT NULL CONSTRAINT images_kind_check CHECK (kind IN ('kernel', 'rootfs')),
  name       text NOT NULL,
  host_path  text NOT NULL,
  sha256     text NOT NULL,
  size_bytes bigint NOT NULL,
  created_at timestamptz NOT NULL,
  CONSTRAINT images_kind_name_key UNIQUE (kind, name)
);
