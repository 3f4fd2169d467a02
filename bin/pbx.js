#!/usr/bin/env node
// Thin launcher so `pbx` works from a checkout (after `npm run build`) and when installed.
import('../dist/cli/main.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/cli/main.js')) {
    console.error('pbx is not built yet: run `npm run build` (or `npm start`) first.');
    process.exit(1);
  }
  throw err;
});
