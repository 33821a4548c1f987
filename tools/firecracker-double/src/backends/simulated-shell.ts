/**
 * SIMULATION, not upstream behaviour: what the simulated guest answers on its serial console
 * (behaviour.md#serial-input). Upstream Firecracker only moves bytes between its stdin and the
 * guest's UART; what answers is the guest's own getty and shell. The simulated guest has neither,
 * so this plays a minimal one: a terminal line discipline (echo, backspace, Ctrl-C, Ctrl-U), a
 * login prompt that lets any name in, and a shell that knows a handful of commands.
 */

/** The commands the simulated shell answers; any other is `sh: <name>: not found`. */
export const simulatedShellCommands = ['echo', 'hostname', 'uname', 'whoami', 'cat /proc/cmdline', 'true', 'exit'] as const;

/** Longest input line kept; further bytes of the line are dropped (the terminal beeps). */
const maxLineBytes = 4096;

export interface SimulatedShellOptions {
  readonly hostname: string;
  readonly cmdline: string;
  /** Where the guest's output goes (the UART's transmit side). */
  readonly write: (text: string) => void;
}

/** A login prompt and a shell, fed one chunk of serial input at a time. */
export class SimulatedShell {
  private line = '';
  private user: string | null = null;

  constructor(private readonly options: SimulatedShellOptions) {}

  /** The prompt printed when a line ends: the login prompt until someone logged in. */
  get prompt(): string {
    return this.user === null ? `${this.options.hostname} login: ` : `${this.user}@${this.options.hostname}:~# `;
  }

  /** Handles bytes typed on the console, echoing and answering as a terminal and shell would. */
  input(bytes: Uint8Array): void {
    let out = '';
    for (const byte of bytes) {
      if (byte === 0x0d || byte === 0x0a) {
        out += '\r\n' + this.run(this.line);
        this.line = '';
      } else if (byte === 0x7f || byte === 0x08) {
        if (this.line.length > 0) {
          this.line = this.line.slice(0, -1);
          out += '\b \b';
        }
      } else if (byte === 0x03) {
        this.line = '';
        out += '^C\r\n' + this.prompt;
      } else if (byte === 0x15) {
        out += '\b \b'.repeat(this.line.length);
        this.line = '';
      } else if (byte === 0x04 && this.line === '') {
        out += '\r\n' + this.run('exit');
      } else if (byte >= 0x20 && byte < 0x7f && this.line.length < maxLineBytes) {
        const char = String.fromCharCode(byte);
        this.line += char;
        // No echo of a password would be right for a real getty; this one asks none.
        out += char;
      }
    }
    if (out !== '') this.options.write(out);
  }

  /** Runs one line and returns what it prints, ending with the next prompt. */
  private run(line: string): string {
    const text = line.trim();
    if (this.user === null) {
      if (text !== '') this.user = text;
      return this.prompt;
    }
    return this.answer(text) + this.prompt;
  }

  private answer(text: string): string {
    if (text === '') return '';
    const [name = '', ...args] = text.split(/\s+/);
    switch (name) {
      case 'echo':
        return `${args.join(' ')}\r\n`;
      case 'hostname':
        return `${this.options.hostname}\r\n`;
      case 'uname':
        return args.includes('-a') ? `Linux ${this.options.hostname} 6.1.0-simulated #1 SMP x86_64 GNU/Linux\r\n` : 'Linux\r\n';
      case 'whoami':
        return `${this.user ?? ''}\r\n`;
      case 'cat':
        return args[0] === '/proc/cmdline'
          ? `${this.options.cmdline}\r\n`
          : `cat: ${args[0] ?? ''}: No such file or directory\r\n`;
      case 'true':
        return '';
      case 'exit':
        this.user = null;
        return '\r\n';
      default:
        return `sh: ${name}: not found\r\n`;
    }
  }
}
