/** Free loopback ports for tests: bind port 0, read the port, close. */
import { createServer } from 'node:net';

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function freePorts(n: number, host = '127.0.0.1'): Promise<number[]> {
  const out = new Set<number>();
  while (out.size < n) out.add(await freePort(host));
  return [...out];
}
