import { statfsSync } from 'node:fs';
import { cpus, freemem, platform, release, totalmem } from 'node:os';
import { capture } from './exec.js';

export interface Machine {
  cpuModel: string;
  cores: number;
  memoryBytes: number;
  freeMemoryBytes: number;
  node: string;
  os: string;
  diskFreeBytes: number | null;
  diskPath: string;
}

export function describeMachine(diskPath: string): Machine {
  const c = cpus();
  let diskFreeBytes: number | null = null;
  try {
    const s = statfsSync(diskPath);
    diskFreeBytes = s.bavail * s.bsize;
  } catch {
    diskFreeBytes = null;
  }
  return {
    cpuModel: c[0]?.model.trim() ?? 'unknown',
    cores: c.length,
    memoryBytes: totalmem(),
    freeMemoryBytes: freemem(),
    node: process.version,
    os: `${platform()} ${release()}`,
    diskFreeBytes,
    diskPath,
  };
}

/** First line of `cmd args` output (stdout, else stderr), or null when it cannot run. */
export async function toolVersion(cmd: string, args: string[]): Promise<string | null> {
  const r = await capture(cmd, args, { timeoutMs: 30_000 });
  if (!r.ok) return null;
  return (r.stdout.trim() || r.stderr.trim()).split('\n')[0] ?? null;
}
