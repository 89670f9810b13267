// Builds a JavaScript plugin into a WebAssembly component with
// @bytecodealliance/componentize-js (pinned in package.json).
//
//   node build.mjs <source.js> <wit folder> <world> <out.wasm>
//
// The component gets no incoming-HTTP export; fetch() works only towards the
// hosts the gateway's config grants the plugin.
import { componentize } from '@bytecodealliance/componentize-js';
import { rename, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';

const [source, wit, world, out] = process.argv.slice(2);
if (!source || !wit || !world || !out) {
  console.error('usage: node build.mjs <source.js> <wit folder> <world> <out.wasm>');
  process.exit(2);
}
try {
  const { component } = await componentize({
    sourcePath: resolve(source),
    witPath: resolve(wit),
    worldName: world,
    disableFeatures: ['fetch-event'],
  });
  await writeFile(`${out}.tmp`, component);
  await rename(`${out}.tmp`, out);
  console.log(`built ${out}`);
} catch (e) {
  console.error(`cannot build ${source}: ${e.message ?? e}`);
  process.exit(1);
}
