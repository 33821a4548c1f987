import { describe, expect, it } from 'vitest';
import type { ConsoleCloseReason } from '@hearth/contracts';
import { createFakeAgent, type FakeAgent } from '../../adapters/fake/fake-agent-context.js';
import { appErrorOf, testSpec, testVmId } from '../../adapters/fake/fake-fixtures.js';
import { FakeSerialConsoles } from '../../adapters/fake/fake-serial-consoles.js';
import { FakeTimers } from '../../adapters/fake/fake-timers.js';
import { vmPaths } from '../../domain/vm-paths.js';
import { applyVm } from './apply-vm.js';
import { ConsoleAttachments, type ConsoleClient } from './console-attachments.js';
import { stopVm } from './stop-vm.js';

const paths = vmPaths('/srv/fc', testVmId);

class RecordingClient implements ConsoleClient {
  received = '';
  buffered = 0;
  closedWith: ConsoleCloseReason | undefined;

  send(bytes: Uint8Array): void {
    this.received += Buffer.from(bytes).toString('latin1');
  }

  bufferedBytes(): number {
    return this.buffered;
  }

  close(reason: ConsoleCloseReason): void {
    this.closedWith = reason;
  }
}

async function runningVm(): Promise<{
  agent: FakeAgent;
  consoles: FakeSerialConsoles;
  timers: FakeTimers;
  attachments: ConsoleAttachments;
}> {
  const agent = createFakeAgent();
  await applyVm(agent.context, testVmId, testSpec);
  const consoles = new FakeSerialConsoles();
  consoles.listen(paths.consoleFifo);
  const timers = new FakeTimers();
  const attachments = new ConsoleAttachments(agent.context, consoles, timers, {
    maxClientsPerVm: 2,
    maxBufferedBytes: 100,
    liveCheckIntervalMs: 1_000,
  });
  return { agent, consoles, timers, attachments };
}

describe('ConsoleAttachments', () => {
  it('sends the end of the log, then live output, and types into the VMM stdin FIFO', async () => {
    const { consoles, attachments } = await runningVm();
    consoles.print(paths.stdoutLog, 'boot log line\r\nvm login: ');
    const client = new RecordingClient();

    const session = await attachments.attach(testVmId, 10, client);
    consoles.print(paths.stdoutLog, 'root\r\n');
    const isTyped = session.type(Buffer.from('root\r'));

    expect(client.received).toBe('vm login: root\r\n');
    expect(isTyped).toBe(true);
    expect(consoles.readInput(paths.consoleFifo)).toBe('root\r');
  });

  it('records the console FIFO before the VMM reads it', async () => {
    const { agent } = await runningVm();

    const record = await agent.records.get(testVmId);

    expect(record?.consoleFifoPath).toBe(paths.consoleFifo);
    expect(await agent.files.exists(paths.consoleFifo)).toBe(true);
  });

  it('refuses an unknown VM with VM_NOT_FOUND and a stopped one with VMM_NOT_RUNNING', async () => {
    const { agent, attachments } = await runningVm();
    await stopVm(agent.context, testVmId);

    const stopped = await appErrorOf(attachments.attach(testVmId, 0, new RecordingClient()));
    await agent.records.remove(testVmId);
    const unknown = await appErrorOf(attachments.attach(testVmId, 0, new RecordingClient()));

    expect(stopped.code).toBe('VMM_NOT_RUNNING');
    expect(unknown.code).toBe('VM_NOT_FOUND');
  });

  it('replaces the oldest client when one more than the cap attaches', async () => {
    const { consoles, attachments } = await runningVm();
    const clients = [new RecordingClient(), new RecordingClient(), new RecordingClient()];

    for (const client of clients) await attachments.attach(testVmId, 0, client);

    expect(clients.map((client) => client.closedWith)).toEqual(['replaced', undefined, undefined]);
    expect(attachments.countOf(testVmId)).toBe(2);
    expect(consoles.followerCount(paths.stdoutLog)).toBe(2);
    expect(consoles.openInputs).toBe(2);
  });

  it('drops a client that leaves more output unread than allowed, instead of buffering it', async () => {
    const { consoles, attachments } = await runningVm();
    const slow = new RecordingClient();
    const fast = new RecordingClient();
    await attachments.attach(testVmId, 0, slow);
    await attachments.attach(testVmId, 0, fast);
    slow.buffered = 90;

    consoles.print(paths.stdoutLog, 'x'.repeat(20));

    expect(slow.closedWith).toBe('too_slow');
    expect(slow.received).toBe('');
    expect(fast.received).toBe('x'.repeat(20));
    expect(attachments.countOf(testVmId)).toBe(1);
  });

  it('ends the attachments of a VMM that is gone at the next check', async () => {
    const { agent, timers, attachments } = await runningVm();
    const client = new RecordingClient();
    await attachments.attach(testVmId, 0, client);
    for (const process of agent.vmm.liveProcesses) process.isAlive = false;

    timers.runNext();
    await attachments.checkLiveness();

    expect(client.closedWith).toBe('vm_stopped');
    expect(attachments.countOf(testVmId)).toBe(0);
  });

  it('a client that detaches stops following and closes its input', async () => {
    const { consoles, attachments } = await runningVm();
    const session = await attachments.attach(testVmId, 0, new RecordingClient());

    session.detach();

    expect(consoles.followerCount(paths.stdoutLog)).toBe(0);
    expect(consoles.openInputs).toBe(0);
    expect(session.type(Buffer.from('x'))).toBe(false);
  });

  it('attaches output-only to a VMM whose stdin nobody can write (started before it had a FIFO)', async () => {
    const { consoles, attachments } = await runningVm();
    consoles.stopListening(paths.consoleFifo);
    const client = new RecordingClient();

    const session = await attachments.attach(testVmId, 0, client);
    consoles.print(paths.stdoutLog, 'still printing');

    expect(session.type(Buffer.from('x'))).toBe(false);
    expect(client.received).toBe('still printing');
  });
});
