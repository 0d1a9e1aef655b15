// Nx loads generators as JavaScript here (Node 20 cannot strip TypeScript types, and neither @swc-node/register
// nor ts-node is installed), so generators.json points at this file, which hands over to the built generator.
// Build it first: `npx nx run mixer-adapter-sdk:build`. The sources are src/generators/adapter.ts.
module.exports = require('../../dist/generators/adapter.js');
