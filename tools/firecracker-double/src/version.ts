/** Version facts of the emulated Firecracker (behaviour.md#cli, behaviour.md#snapshot-files). */
export const FC_VERSION = '1.16.1';
export const SNAPSHOT_VERSION = '10.0.0';
export const APP_NAME = 'Firecracker';
export const DEFAULT_INSTANCE_ID = 'anonymous-instance';
export const DEFAULT_API_SOCK = '/run/firecracker.socket';
export const DEFAULT_PAYLOAD_LIMIT = 51200;
export const DEFAULT_BOOT_ARGS =
  'reboot=k panic=1 nomodule 8250.nr_uarts=0 i8042.noaux i8042.nomux i8042.dumbkbd swiotlb=noforce';
