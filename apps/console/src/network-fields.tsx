import { isEgressList, type NetworkForm } from './network-request.js';

/**
 * The network fields of a form (egress, shared network, rate limits), in the CLI's notation.
 * `idPrefix` names their inputs (`<prefix>-egress`, `<prefix>-egress-rules`,
 * `<prefix>-shared-network`, `<prefix>-rate-limits`). Left empty, a field means what a VM gets
 * without it, or with `isFromTemplate`, the template's value.
 */
export function NetworkFields(props: {
  readonly idPrefix: string;
  readonly form: NetworkForm;
  readonly set: (field: keyof NetworkForm) => (event: Event) => void;
  readonly isFromTemplate: boolean;
}) {
  const { idPrefix, form, set, isFromTemplate } = props;
  return (
    <>
      <label for={`${idPrefix}-egress`}>Egress</label>
      <select id={`${idPrefix}-egress`} name="egressMode" value={form.egressMode} onChange={set('egressMode')}>
        <option value="">{isFromTemplate ? 'the template’s' : 'allow everything (the default)'}</option>
        <option value="allow_all">allow everything</option>
        <option value="deny_all">deny everything beyond the host</option>
        <option value="allow_list">allow only the rules below</option>
        <option value="deny_list">deny the rules below, allow the rest</option>
      </select>
      <label for={`${idPrefix}-egress-rules`}>Egress rules (CIDR[:tcp|udp[:port,port…]], apart by spaces)</label>
      <textarea
        id={`${idPrefix}-egress-rules`}
        name="egressRules"
        rows={2}
        placeholder="203.0.113.0/24:tcp:80,443 0.0.0.0/0:udp:53"
        value={form.egressRules}
        onInput={set('egressRules')}
        disabled={!isEgressList(form.egressMode)}
      />
      <label for={`${idPrefix}-shared-network`}>Shared network</label>
      <input
        id={`${idPrefix}-shared-network`}
        name="sharedNetwork"
        placeholder={isFromTemplate ? 'the template’s' : 'none'}
        pattern="[a-z0-9][a-z0-9\-]*"
        maxLength={63}
        value={form.sharedNetwork}
        onInput={set('sharedNetwork')}
      />
      <label for={`${idPrefix}-rate-limits`}>Rate limits (DEVICE.BUCKET=SIZE/REFILL_MS[+BURST], apart by spaces)</label>
      <input
        id={`${idPrefix}-rate-limits`}
        name="rateLimits"
        placeholder="net-tx.bandwidth=1250000/100 drive.ops=500/1000"
        value={form.rateLimits}
        onInput={set('rateLimits')}
      />
    </>
  );
}
