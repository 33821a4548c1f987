import { describe, expect, it } from 'vitest';
import { isSamePublishedPorts, publishedPortProblems, publishedPortsMaxCount } from './published-ports.js';

describe('publishedPortProblems', () => {
  it('accepts distinct ports in range, the same number under two protocols included', () => {
    expect(
      publishedPortProblems([
        { hostPort: 53, guestPort: 53, protocol: 'tcp' },
        { hostPort: 53, guestPort: 53, protocol: 'udp' },
        { hostPort: 65535, guestPort: 1, protocol: 'tcp' },
      ]),
    ).toEqual([]);
  });

  it('names a port out of range, a host port given twice and a reserved one', () => {
    expect(
      publishedPortProblems(
        [
          { hostPort: 0, guestPort: 80, protocol: 'tcp' },
          { hostPort: 8080, guestPort: 70000, protocol: 'tcp' },
          { hostPort: 8080, guestPort: 81, protocol: 'tcp' },
          { hostPort: 19090, guestPort: 80, protocol: 'tcp' },
        ],
        [{ protocol: 'tcp', port: 19090 }],
      ).map((problem) => problem.field),
    ).toEqual(['0/hostPort', '1/guestPort', '2/hostPort', '3/hostPort']);
  });

  it('refuses more than the limit', () => {
    const ports = Array.from({ length: publishedPortsMaxCount + 1 }, (_, index) => ({
      hostPort: 1000 + index,
      guestPort: 80,
      protocol: 'tcp' as const,
    }));
    expect(publishedPortProblems(ports)).toHaveLength(1);
  });
});

describe('isSamePublishedPorts', () => {
  it('ignores the order, not the guest port', () => {
    const a = { hostPort: 80, guestPort: 8080, protocol: 'tcp' as const };
    const b = { hostPort: 53, guestPort: 53, protocol: 'udp' as const };
    expect(isSamePublishedPorts([a, b], [b, a])).toBe(true);
    expect(isSamePublishedPorts([a], [{ ...a, guestPort: 8081 }])).toBe(false);
  });
});
