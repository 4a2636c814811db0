/**
 * nginx started per test by deploy/services (`startNginx`): round-robin over two upstream
 * servers of the test, and a config given as text.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { startNginx } from '../../../deploy/services/manager.ts';
import type { RunningServer } from '../../../deploy/services/manager.ts';

async function backend(name: string): Promise<{ server: Server; address: string }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end(name);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, address: `127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe('nginx (per-test server)', { timeout: 60_000 }, () => {
  const cleanup: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  function track(s: RunningServer): RunningServer {
    cleanup.push(() => s.stop());
    return s;
  }

  test('requests are spread round-robin over the upstreams', async () => {
    const a = await backend('replica-a');
    const b = await backend('replica-b');
    cleanup.push(async () => {
      await Promise.all([a, b].map((x) => new Promise((resolve) => x.server.close(resolve))));
    });
    const nginx = track(await startNginx({ upstreams: [a.address, b.address] }));

    const answers: string[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await fetch(`${nginx.url}/caption`);
      assert.equal(res.status, 200);
      answers.push(await res.text());
    }
    assert.equal(answers.filter((x) => x === 'replica-a').length, 3);
    assert.equal(answers.filter((x) => x === 'replica-b').length, 3);
    for (let i = 1; i < answers.length; i++) assert.notEqual(answers[i], answers[i - 1], 'alternates');
  });

  test('a config given as text is served', async () => {
    const nginx = track(
      await startNginx({
        configText: ({ port, prefix }) => `worker_processes 1;
events { worker_connections 32; }
http {
  access_log ${prefix}/logs/access.log;
  client_body_temp_path ${prefix}/tmp/client_body;
  proxy_temp_path ${prefix}/tmp/proxy;
  fastcgi_temp_path ${prefix}/tmp/fastcgi;
  uwsgi_temp_path ${prefix}/tmp/uwsgi;
  scgi_temp_path ${prefix}/tmp/scgi;
  server {
    listen 127.0.0.1:${port};
    location = /healthz { default_type text/plain; return 200 "ok"; }
  }
}
`,
      }),
    );
    const res = await fetch(`${nginx.url}/healthz`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'ok');
  });
});
