import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { findCommand, missingRequirements, writeEmptyExt4, writeFakeKernel } from '@hearth/testkit';
import { Hearth } from '@hearth/sdk';
import { startStack, type Stack } from './support/stack.js';

const chromiumPath = findCommand('chromium');
// Debian's chromium package, which `npm test` installs as root.
const skipReason = missingRequirements({ root: true, database: true, commands: ['ip', 'mkfs.ext4', 'chromium'] });

/** Longest wait for anything the page shows (a VM's whole create takes well under a second with the double). */
const uiTimeoutMs = 15_000;

describe.skipIf(skipReason)(`the web console in a real browser${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let stack: Stack;
  let browser: Browser;
  let page: Page;
  /** Messages the browser logged about its Content-Security-Policy (a blocked script or style). */
  const policyViolations: string[] = [];

  beforeAll(async () => {
    stack = await startStack();
    // After the stack, not beside it: on 2 cores the Manager's start has a deadline to keep.
    // As root, Chromium runs only without its sandbox.
    browser = await chromium.launch({ executablePath: chromiumPath!, headless: true, args: ['--no-sandbox'] });
    const hearth = new Hearth({ baseUrl: stack.managerUrl, token: stack.adminToken });
    writeFakeKernel(path.join(stack.imageRoot, 'vmlinux'));
    writeEmptyExt4(path.join(stack.imageRoot, 'base.ext4'));
    await hearth.images.register({ kind: 'kernel', name: 'vmlinux', hostPath: 'vmlinux' });
    await hearth.images.register({ kind: 'rootfs', name: 'base', hostPath: 'base.ext4' });
    page = await browser.newPage();
    page.setDefaultTimeout(uiTimeoutMs);
    page.on('console', (message) => {
      if (/Content.Security.Policy/i.test(message.text())) policyViolations.push(message.text());
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
  });

  it('signs in with a token, shows hosts and images, creates a VM that comes up live, types into its console, shows its log, deletes it, and signs out', async () => {
    await page.goto(stack.managerUrl);
    await page.fill('#token', stack.adminToken);
    await page.click('button[type=submit]');
    await page.waitForSelector('header.top >> text=Sign out');
    expect(await page.evaluate("sessionStorage.getItem('hearth.token')")).toBe(stack.adminToken);
    // Survives only if the page is never loaded again: everything below must come without a reload.
    await page.evaluate("window.hearthTestMarker = 'same page'");
    await page.waitForSelector('[data-testid=live-indicator]:text("live")');

    await page.click('header.top a:text("Hosts")');
    await page.waitForSelector('[data-testid=host-list] .health-healthy');
    expect(await page.locator('[data-testid=host-list] progress').count()).toBe(2);
    await page.click('header.top a:text("Images")');
    await page.waitForSelector('[data-testid=image-list] tbody tr >> nth=1');
    await page.click('header.top a:text("VMs")');

    await page.click('a.button:text("Create VM")');
    await page.selectOption('#vm-kernel', { label: 'vmlinux (default)' });
    await page.selectOption('#vm-rootfs', { label: 'base (default)' });
    // A name the Manager refuses: its problem is shown with the code and the correlation id.
    await page.fill('#vm-name', 'Not a valid name!');
    await page.click('button[type=submit]');
    await page.waitForSelector('[data-testid=error-code]:text("VALIDATION_FAILED")');
    expect(await page.textContent('[data-testid=correlation-id]')).toMatch(/\S{8,}/);

    // A limit in the notation the CLI takes, refused in the page before anything is sent when it is not.
    await page.fill('#vm-rate-limits', 'disk.ops=500/1000');
    await page.fill('#vm-name', 'console-1');
    await page.click('button[type=submit]');
    await page.waitForSelector('text=disk.ops=500/1000: the device is net-rx, net-tx or drive');
    await page.fill('#vm-rate-limits', 'drive.ops=500/1000');
    await page.click('button[type=submit]');
    // Created with wait=false, so it shows up pending and moves to running on its events alone.
    const row = 'tr[data-vm-name="console-1"]';
    await page.waitForSelector(`${row} .state-running`);
    expect(await page.textContent(`${row} td:nth-child(3)`)).toMatch(/^host_/);
    expect(await page.textContent(`${row} td:nth-child(4)`)).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    const limited = (await stack.api<{ items: { rateLimits: unknown }[] }>('GET', '/v1/vms?name=console-1')).body.items[0];
    expect(limited?.rateLimits).toEqual({ drive: { ops: { size: 500, refillTimeMs: 1000 } } });

    await page.click(`${row} a`);
    await page.waitForSelector('[data-testid=steps] li');
    await page.click('a.tab:text("Console")');
    await page.waitForSelector('[data-testid=console-status]:text("Live:")');
    // The terminal's rows as text (xterm.js renders a row as spans): the guest's prompt arrives live,
    // and what is typed reaches the guest (the double's simulated getty and shell answer).
    const terminalShows = (text: string) =>
      // Runs in the page (a function, since the page's policy forbids evaluating strings there).
      page.waitForFunction(
        (wanted) =>
          (
            globalThis as unknown as { document: { querySelector(selector: string): { textContent: string | null } | null } }
          ).document
            .querySelector('.xterm-rows')
            ?.textContent?.includes(wanted) === true,
        text,
      );
    await terminalShows('login:');
    await page.click('.xterm');
    await page.keyboard.type('root\recho typed-in-the-browser\r');
    await terminalShows('typed-in-the-browser');
    await page.click('a.tab:text("Logs")');
    await page.waitForSelector('[data-testid=vm-log]:text("Linux version")');

    // Each action as the VM's state offers it, and the state it leads to, shown live; then its events.
    for (const [action, state] of [
      ['pause', 'paused'],
      ['resume', 'running'],
      ['stop', 'stopped'],
      ['start', 'running'],
    ] as const) {
      await page.click(`button:text-is("${action}")`);
      await page.waitForSelector(`p .state-${state}`);
    }
    await page.click('a.tab:text("Events")');
    await page.waitForSelector('[data-testid=vm-events] td:text-is("paused → running")');
    await page.waitForSelector('[data-testid=vm-events] td:text-is("stopping → stopped")');

    page.once('dialog', (dialog) => void dialog.accept().catch(() => undefined));
    await page.click('button.danger:text("delete")');
    await page.waitForSelector('[data-testid=live-indicator]');
    await page.waitForSelector(row, { state: 'detached' });
    expect((await stack.api<{ items: unknown[] }>('GET', '/v1/vms')).body.items).toEqual([]);
    expect(await page.evaluate('window.hearthTestMarker')).toBe('same page');

    await page.click('header.top button:text("Sign out")');
    await page.waitForSelector('#token');
    expect(await page.evaluate("sessionStorage.getItem('hearth.token')")).toBeNull();
    expect(policyViolations).toEqual([]);
  }, 90_000);

  it('creates a template and a VM from it, snapshots that VM, clones the snapshot, and cordons and drains the host', async () => {
    // Signed out, whatever the test before left.
    await page.evaluate('sessionStorage.clear()');
    await page.goto(stack.managerUrl);
    await page.fill('#token', stack.adminToken);
    await page.click('button[type=submit]');
    await page.waitForSelector('header.top >> text=Sign out');

    await page.click('header.top a:text("Templates")');
    // A template with network settings, in the notation the CLI's flags take.
    await page.fill('#template-name', 'fenced');
    await page.selectOption('#template-kernel', { label: 'vmlinux (default)' });
    await page.selectOption('#template-rootfs', { label: 'base (default)' });
    await page.selectOption('#template-egress', 'allow_list');
    await page.fill('#template-egress-rules', '203.0.113.0/24:tcp:443\n0.0.0.0/0:udp:53');
    await page.fill('#template-shared-network', 'backend');
    await page.fill('#template-rate-limits', 'net-tx.bandwidth=1250000/100 drive.ops=500/1000');
    await page.click('[data-testid=template-form] button[type=submit]');
    await page.waitForSelector(
      'tr[data-template-name="fenced"] [data-testid=template-network]:text("limits net-tx.bandwidth=1250000/100")',
    );
    const fenced = (
      await stack.api<{ items: { egress: unknown; sharedNetwork: string | null; rateLimits: unknown }[] }>(
        'GET',
        '/v1/templates?name=fenced',
      )
    ).body.items[0];
    expect(fenced).toMatchObject({
      egress: {
        mode: 'allow_list',
        rules: [
          { cidr: '203.0.113.0/24', protocol: 'tcp', ports: [443] },
          { cidr: '0.0.0.0/0', protocol: 'udp', ports: [53] },
        ],
      },
      sharedNetwork: 'backend',
      rateLimits: {
        networkTx: { bandwidth: { size: 1_250_000, refillTimeMs: 100 } },
        drive: { ops: { size: 500, refillTimeMs: 1000 } },
      },
    });
    // The form is empty again for the next one.
    expect(await page.inputValue('#template-rate-limits')).toBe('');

    await page.fill('#template-name', 'small');
    await page.selectOption('#template-kernel', { label: 'vmlinux (default)' });
    await page.selectOption('#template-rootfs', { label: 'base (default)' });
    await page.click('[data-testid=template-form] button[type=submit]');
    await page.click('tr[data-template-name="small"] a:text("Create VM")');
    await page.waitForSelector('#vm-template option[value^="tpl_"]', { state: 'attached' });
    expect(await page.inputValue('#vm-template')).toMatch(/^tpl_/);
    await page.fill('#vm-name', 'from-template');
    await page.click('button[type=submit]');
    await page.waitForSelector('tr[data-vm-name="from-template"] .state-running');

    await page.click('tr[data-vm-name="from-template"] a');
    await page.click('a.tab:text("Snapshots")');
    await page.click('button:text("Take snapshot")');
    // Taken while the guest is paused; answered once the snapshot is ready.
    await page.waitForSelector('[data-testid=snapshot-list] .state:text("ready")');
    await page.click('[data-testid=snapshot-list] a:text("Clone")');
    await page.waitForSelector('#vm-snapshot option[value^="snap_"]', { state: 'attached' });
    expect(await page.inputValue('#vm-snapshot')).toMatch(/^snap_/);
    await page.fill('#vm-name', 'clone');
    await page.click('button[type=submit]');
    await page.waitForSelector('tr[data-vm-name="clone"] .state-running');
    const clone = (
      await stack.api<{ items: { name: string; restoredFrom: { snapshotId: string } | null }[] }>('GET', '/v1/vms?name=clone')
    ).body.items[0];
    expect(clone?.restoredFrom?.snapshotId).toMatch(/^snap_/);

    await page.click('header.top a:text("Hosts")');
    await page.click('[data-testid=host-list] .card button:text-is("cordon")');
    await page.waitForSelector('[data-testid=host-list] .health-cordoned');
    expect((await stack.api<{ items: { isCordoned: boolean }[] }>('GET', '/v1/hosts')).body.items[0]?.isCordoned).toBe(true);
    await page.click('[data-testid=host-list] .card button:text-is("uncordon")');
    await page.waitForSelector('[data-testid=host-list] .health-cordoned', { state: 'detached' });
    // Drain asks first, then cordons the host and stops its two VMs, and says so.
    page.once('dialog', (dialog) => void dialog.accept().catch(() => undefined));
    await page.click('[data-testid=host-list] .card button:text-is("drain")');
    await page.waitForSelector('[data-testid=drain-report]:text("2 stopped, 0 failed")');
    await page.waitForSelector('[data-testid=host-list] .health-cordoned');
    expect(policyViolations).toEqual([]);
  }, 90_000);
});
