import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import jobs from '../../src/jobs/index.js';
import { MACHINES_DOC_PATH, renderMachinesDoc } from '../../scripts/gen-machines-doc.js';

test('docs/machines.md is what the machines generate (else: run npm run docs:machines)', () => {
  const committed = readFileSync(MACHINES_DOC_PATH, 'utf8');
  const generated = renderMachinesDoc(jobs);
  if (committed !== generated) {
    expect.fail('docs/machines.md differs from the job machines: run npm run docs:machines and commit the result');
  }
  // One diagram per registered job type.
  expect(committed.match(/```mermaid\nstateDiagram-v2\n/g)).toHaveLength(jobs.length);
  for (const job of jobs) expect(committed).toContain(`### ${job.type}\n`);
});
