/**
 * The engine's HTTP endpoints on one small server:
 *   GET /metrics  Prometheus text format (engine and process metrics)
 *   GET /livez    200 while the process is alive and the engine has not failed
 *   GET /readyz   200 while the engine is doing its job (see health.ts), 503 with reasons
 *   GET /health   both together, with details
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Probes } from './health.js';
import { METRICS_CONTENT_TYPE, scrape, type EngineMetrics } from './metrics.js';

export const ROUTES = ['/metrics', '/livez', '/readyz', '/health'] as const;

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
}

export function startHttpServer(probes: Probes, m: EngineMetrics, port: number, host?: string): Promise<Server> {
  const server = createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'application/json', allow: 'GET, HEAD' }).end(JSON.stringify({ error: 'method not allowed' }));
      return;
    }
    switch (url) {
      case '/metrics':
        scrape(m).then(
          (text) => res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE }).end(text),
          (e: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics collection failed: ${String(e)}\n`),
        );
        return;
      case '/livez': {
        const r = probes.livez();
        json(res, r.status === 'ok' ? 200 : 503, r);
        return;
      }
      case '/readyz': {
        const r = probes.readyz();
        json(res, r.status === 'ok' ? 200 : 503, r);
        return;
      }
      case '/health': {
        const h = probes.health();
        json(res, h.status === 'ok' ? 200 : 503, h);
        return;
      }
      default:
        json(res, 404, { error: 'not found', routes: ROUTES });
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

export function serverPort(s: Server): number {
  return (s.address() as AddressInfo).port;
}
