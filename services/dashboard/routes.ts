/**
 * The lake dashboard at `/`: one HTML page, a plain ES module and a stylesheet, committed as they
 * are served (no bundler, no CDN — see dashboard.js for why). The page reads the lake through the
 * Query Data Service (`/v1/lake/…`) with the API key the user gives it; this route itself needs
 * no key. Its requests are logged at `warn` only, so a `?key=` in the address never reaches the
 * access log. A strict Content-Security-Policy allows only this origin.
 */
import { readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyReply } from 'fastify';

const FILES = {
  'index.html': 'text/html; charset=utf-8',
  'dashboard.js': 'text/javascript; charset=utf-8',
  'dashboard.css': 'text/css; charset=utf-8',
} as const;

const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

function load(): Record<keyof typeof FILES, Buffer> {
  return {
    'index.html': readFileSync(new URL('./index.html', import.meta.url)),
    'dashboard.js': readFileSync(new URL('./dashboard.js', import.meta.url)),
    'dashboard.css': readFileSync(new URL('./dashboard.css', import.meta.url)),
  };
}

/** Register `GET /` and `GET /dashboard/{dashboard.js,dashboard.css}` on `app`. */
export function registerDashboardRoutes(app: FastifyInstance): void {
  const files = load();
  const send = (name: keyof typeof FILES) => ({
    logLevel: 'warn' as const,
    handler: async (_req: unknown, reply: FastifyReply) =>
      reply
        .type(FILES[name])
        .header('cache-control', 'no-cache')
        .header('content-security-policy', CSP)
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'no-referrer')
        .send(files[name]),
  });
  app.get('/', send('index.html'));
  app.get('/dashboard/dashboard.js', send('dashboard.js'));
  app.get('/dashboard/dashboard.css', send('dashboard.css'));
}
