import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

/**
 * The web client. `npm run build:web` writes web/dist/, which the server serves from its own port.
 * `npm run dev:web` serves it with hot reload and forwards signaling to a running server
 * (PORT545_URL, default http://127.0.0.1:5450).
 */
const upstream = process.env.PORT545_URL ?? 'http://127.0.0.1:5450';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    reportCompressedSize: true,
  },
  server: {
    host: '127.0.0.1',
    // The signaling WebSocket, and the rooms' HTTP doors (files, a room's status) of the server behind.
    proxy: { '/ws': { target: upstream.replace(/^http/, 'ws'), ws: true }, '/rooms': { target: upstream } },
  },
});
