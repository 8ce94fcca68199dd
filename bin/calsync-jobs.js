#!/usr/bin/env node
// The calsync-jobs CLI. In a checkout (src/ present) it runs the TypeScript sources through tsx, so a
// stale dist/ never runs by mistake; the published package ships dist/ only and runs that.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// The AWS SDK warns on Node 20 about its future releases; keep the CLI's own output clean.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'src', 'cli', 'main.ts');
let cli;
if (existsSync(source)) {
  const { tsImport } = await import('tsx/esm/api');
  cli = await tsImport(pathToFileURL(source).href, import.meta.url);
} else {
  cli = await import(pathToFileURL(join(root, 'dist', 'src', 'cli', 'main.js')).href);
}
const code = await cli.main(process.argv.slice(2));
process.exit(code);
