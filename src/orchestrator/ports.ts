/** Port conflicts found before anything starts, named with the process that holds the port (Linux /proc). */
import { createServer } from 'node:net';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

export function portFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

/** The pid and command of the process listening on a TCP port, when /proc tells. */
export function listenerOf(port: number): { pid: number; command: string } | undefined {
  const inodes = new Set<string>();
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10 || cols[3] !== '0A') continue; // 0A = LISTEN
      if (parseInt(cols[1]!.split(':')[1]!, 16) === port) inodes.add(cols[9]!);
    }
  }
  if (!inodes.size) return undefined;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m && inodes.has(m[1]!)) {
          const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ').slice(0, 120);
          return { pid: Number(pid), command };
        }
      } catch {
        // process went away
      }
    }
  }
  return undefined;
}

/** Every conflict as a message that names the port, who wants it, who has it, and the fix. */
export async function portConflicts(ports: { port: number; host: string; who: string }[]): Promise<string[]> {
  const problems: string[] = [];
  for (const p of ports) {
    if (await portFree(p.port, p.host)) continue;
    const holder = listenerOf(p.port);
    problems.push(
      `port ${p.port} (${p.who}) is in use${holder ? ` by pid ${holder.pid} (${holder.command})` : ''}; stop that process or change the port in the config`,
    );
  }
  return problems;
}
