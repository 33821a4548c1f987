// Builds the web console into dist/: index.html and content-hashed files under assets/, which the
// Manager serves at / (index.html uncached, assets cached for a year: a new build has new names).
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/',
  // JSX for Preact, without a plugin: the automatic runtime imports preact/jsx-runtime.
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    target: 'es2022',
    // The Content-Security-Policy allows no inline script, and no data: URLs for scripts.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    reportCompressedSize: false,
  },
});
