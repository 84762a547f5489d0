/**
 * A test HTTP server on a free loopback port: the one way the helpers' servers (hostile
 * registries, the fault and referrers proxies, the token server) listen and stop.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

export interface LoopbackServer {
  /** `127.0.0.1:<port>`. */
  readonly host: string;
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** Closes the server and every connection it holds. */
  stop(): Promise<void>;
}

/** `serveLoopback` answers every request with `handle`; a handler that rejects has its connection destroyed. */
export async function serveLoopback(handle: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>): Promise<LoopbackServer> {
  const server = createServer((req, res) => {
    void Promise.resolve(handle(req, res)).catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const host = `127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    host,
    url: `http://${host}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
