// Builds the app into ../api/static/, which the API serves at / (see api/ui.py).
import { defineConfig } from "vite";

declare const process: { env: Record<string, string | undefined> };
const api = process.env.KUBEFOUNDRY_API_URL ?? "http://127.0.0.1:3001";

export default defineConfig({
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "../api/static",
    emptyOutDir: true,
    target: "es2022",
    // One small bundle: no modulepreload polyfill (an inline script the CSP would refuse anyway).
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    reportCompressedSize: true,
  },
  // `npm run dev`: Vite's dev server with hot reload, the API behind it.
  server: { proxy: { "/api": { target: api, changeOrigin: false } } },
});
