#!/usr/bin/env node
// Runs an SDK adapter package as an out-of-process mixer adapter: mixer-adapter-serve PACKAGE [--port N].
// Needs the SDK built (`npx nx run mixer-adapter-sdk:build`).
const { serveAdapterMain } = require('../dist/grpc/serve-cli.js');

serveAdapterMain(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  },
);
