import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

/**
 * The web client. `npm run build:web` writes web/dist/, which the server serves from its own port.
 * `npm run dev:web` serves it with hot reload and forwards signaling to a running server
 * (PORT545_URL, default http://127.0.0.1:5450).
 */
const upstream = process.env.PORT545_URL ?? 'http://127.0.0.1:5450';

/**
 * The background blur's segmentation model and WebAssembly, from the @mediapipe/selfie_segmentation
 * package, served under /vendor/selfie-segmentation/ (the page fetches nothing from elsewhere).
 */
function segmentationAssets(): Plugin {
  const dir = dirname(createRequire(import.meta.url).resolve('@mediapipe/selfie_segmentation'));
  const files = readdirSync(dir).filter((f) => /\.(js|wasm|tflite|binarypb|data)$/.test(f));
  const prefix = '/vendor/selfie-segmentation/';
  return {
    name: 'port545-segmentation-assets',
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        const file = req.url?.startsWith(prefix) ? req.url.slice(prefix.length).split('?')[0] : undefined;
        if (!file || !files.includes(file)) return next();
        res.setHeader(
          'Content-Type',
          file.endsWith('.wasm') ? 'application/wasm' : 'application/octet-stream',
        );
        res.end(readFileSync(join(dir, file)));
      });
    },
    generateBundle() {
      for (const file of files) {
        this.emitFile({
          type: 'asset',
          fileName: `${prefix.slice(1)}${file}`,
          source: readFileSync(join(dir, file)),
        });
      }
    },
  };
}

export default defineConfig({
  plugins: [segmentationAssets()],
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
