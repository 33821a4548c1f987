import { spawn } from 'node:child_process';
import type { FileHandle } from 'node:fs/promises';
import type { DataRegion } from '../../domain/data-region-stream.js';

export type { DataRegion } from '../../domain/data-region-stream.js';

/**
 * Walks the open file (fd 3) with lseek(2) SEEK_DATA (3) and SEEK_HOLE (4), which Perl's `sysseek`
 * passes through and Node's `fs` does not offer, printing one `start end` line per data region.
 * ENXIO (6) from SEEK_DATA means no data lies past the offset.
 */
const seekScript = [
  'open(my $f, "<&=", 3) or die "open: $!\\n";',
  'my $size = (stat($f))[7]; my $pos = 0;',
  'while ($pos < $size) {',
  '  my $data = sysseek($f, $pos, 3);',
  '  if (!defined $data) { last if $! == 6; die "SEEK_DATA: $!\\n"; }',
  '  my $hole = sysseek($f, $data, 4); defined $hole or die "SEEK_HOLE: $!\\n";',
  '  print 0 + $data, " ", 0 + $hole, "\\n"; $pos = $hole;',
  '}',
].join('\n');

/**
 * The data regions of an open file, as its file system reports them (SEEK_DATA/SEEK_HOLE), read by
 * `perl` (part of every Debian and Ubuntu base system) from the same open file. A file system that
 * cannot tell holes reports the whole file as data; `dataRegionsOf` refuses that answer when the
 * file has fewer blocks allocated than it claims data, rather than take holes for zeros written.
 */
export async function dataRegionsOf(handle: FileHandle): Promise<DataRegion[]> {
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn('perl', ['-e', seekScript], { stdio: ['ignore', 'pipe', 'pipe', handle.fd] });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code) => {
      if (code === 0) resolve(stdout);
      else reject(new Error(`reading the data regions failed (exit ${String(code)}): ${stderr.trim()}`));
    });
  });
  const regions = output
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const [start, end] = line.split(' ').map(Number);
      return { start: start ?? 0, end: end ?? 0 };
    });
  const stats = await handle.stat();
  const dataBytes = regions.reduce((sum, region) => sum + region.end - region.start, 0);
  // Allocation is in whole blocks, so a file that reports its holes never claims more data than it has blocks.
  if (dataBytes > stats.blocks * 512) {
    throw new Error(
      `the file system reports ${dataBytes} bytes of data in a file with ${stats.blocks * 512} bytes allocated: it does not report holes`,
    );
  }
  return regions;
}
