/** The requests the API thread hands to the VMM (one variant per endpoint). */
export type Body = Record<string, unknown>;

export type VmmAction =
  | { kind: 'GetInstanceInfo' | 'GetVersion' | 'GetMachineConfig' | 'GetFullVmConfig' | 'GetMmds' }
  | { kind: 'GetBalloon' | 'GetBalloonStats' | 'GetHintingStatus' | 'GetMemoryHotplug' }
  | { kind: 'InstanceStart' | 'FlushMetrics' | 'SendCtrlAltDel' | 'StopHinting' }
  | { kind: 'DeleteDrive' | 'DeleteNet' | 'DeletePmem'; id: string }
  | { kind: 'PutMmds' | 'PatchMmds'; value: unknown }
  | {
      kind:
        | 'PutBootSource'
        | 'PutDrive'
        | 'PatchDrive'
        | 'PutNet'
        | 'PatchNet'
        | 'PutPmem'
        | 'PatchPmem'
        | 'PutMachineConfig'
        | 'PatchMachineConfig'
        | 'PutCpuConfig'
        | 'PutVsock'
        | 'PutEntropy'
        | 'PutBalloon'
        | 'PatchBalloon'
        | 'PatchBalloonStats'
        | 'StartHinting'
        | 'PutMmdsConfig'
        | 'PutLogger'
        | 'PutMetrics'
        | 'PutSerial'
        | 'PutMemoryHotplug'
        | 'PatchMemoryHotplug'
        | 'CreateSnapshot'
        | 'LoadSnapshot'
        | 'PatchVm';
      body: Body;
    };

export type ActionKind = VmmAction['kind'];

export interface ParsedRequest {
  action: VmmAction;
  /** Set when a deprecated field/endpoint was used: header `Deprecation: true` + warn log. */
  deprecation?: string;
}
