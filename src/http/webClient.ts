import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

/** The built web client (Vite's output), from src/http or dist/http alike. */
export const WEB_ROOT = fileURLToPath(new URL('../../web/dist/', import.meta.url));

/**
 * Serves the web client from the same port as the API: its assets, and its page for `/`, for every
 * room URL `/r/<room>` and for the connection check `/check`. @fastify/static resolves paths inside
 * `root` only, so `..` cannot leave it.
 */
export async function registerWebClient(app: FastifyInstance, root = WEB_ROOT): Promise<void> {
  if (!existsSync(`${root}/index.html`)) {
    app.get('/', async (_request, reply) =>
      reply
        .type('text/plain; charset=utf-8')
        .send('port545 is running, but the web client is not built. Run: npm run build\n'),
    );
    return;
  }
  await app.register(fastifyStatic, { root, prefix: '/', index: ['index.html'], wildcard: true });
  app.get('/r/:room', async (_request, reply) => reply.sendFile('index.html'));
  app.get('/check', async (_request, reply) => reply.sendFile('index.html'));
}
