import { describe, expect, it } from 'vitest';
import { SimulatedShell } from '../src/backends/simulated-shell.js';

function shell(): { type: (text: string) => void; output: () => string } {
  let out = '';
  const sh = new SimulatedShell({ hostname: 'vm1', cmdline: 'console=ttyS0 root=/dev/vda', write: (text) => (out += text) });
  return { type: (text) => sh.input(Buffer.from(text, 'latin1')), output: () => out };
}

describe('simulated serial shell (behaviour.md#serial-input)', () => {
  it('lets any login name in and answers echo, hostname and cat /proc/cmdline', () => {
    const sh = shell();
    sh.type('admin\r');
    sh.type('echo a  b\rhostname\ncat /proc/cmdline\r');
    expect(sh.output()).toBe(
      'admin\r\nadmin@vm1:~# ' +
        'echo a  b\r\na b\r\nadmin@vm1:~# ' +
        'hostname\r\nvm1\r\nadmin@vm1:~# ' +
        'cat /proc/cmdline\r\nconsole=ttyS0 root=/dev/vda\r\nadmin@vm1:~# ',
    );
  });

  it('erases with backspace, abandons a line on Ctrl-C and says when a command is unknown', () => {
    const sh = shell();
    sh.type('root\r');
    sh.type('ls\x7f\x7fwhoami\r');
    sh.type('rm -rf\x03');
    sh.type('frobnicate\r');
    expect(sh.output()).toContain('ls\b \b\b \bwhoami\r\nroot\r\n');
    expect(sh.output()).toContain('rm -rf^C\r\nroot@vm1:~# ');
    expect(sh.output()).toContain('sh: frobnicate: not found\r\n');
  });

  it('exit goes back to the login prompt', () => {
    const sh = shell();
    sh.type('root\rexit\r');
    expect(sh.output().endsWith('vm1 login: ')).toBe(true);
  });
});
