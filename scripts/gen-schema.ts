/** Writes schema/job-envelope.v1.json from the zod schema. `npm run schema` after changing the envelope. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { envelopeJsonSchema } from '../src/queue/envelope.js';

const target = join(dirname(fileURLToPath(import.meta.url)), '..', 'schema', 'job-envelope.v1.json');
mkdirSync(dirname(target), { recursive: true });
writeFileSync(target, `${JSON.stringify(envelopeJsonSchema(), null, 2)}\n`);
console.log(`wrote ${target}`);
