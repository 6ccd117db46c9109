// KEDA ScaledObjects checked against KEDA's own schema (@kubernetes-models/keda, generated
// from KEDA's CRDs), which kubernetes-validate does not have; and strictly: a key the
// schema does not name is an error, as kubernetes-validate --strict does for built-in
// kinds (the CRD schema itself allows unknown keys, so a typo would pass silently).
// Input: a JSON array of manifests on stdin (scripts/validate-deploy renders them).

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';

const require = createRequire(import.meta.url);
const models = dirname(require.resolve('@kubernetes-models/keda/package.json'));

/** The property names of the interface a .d.ts file of the models declares first. */
function properties(file) {
  const text = readFileSync(join(models, 'keda.sh/v1alpha1', file), 'utf8');
  const body = text.slice(text.indexOf('export interface'), text.indexOf('\n}'));
  return new Set([...body.matchAll(/^\s+"([A-Za-z]+)"\??:/gm)].map((m) => m[1]));
}

const known = {
  spec: properties('ScaledObjectSpec.d.ts'),
  scaleTargetRef: properties('ScaleTarget.d.ts'),
  trigger: properties('ScaleTriggers.d.ts'),
};

function unknownKeys(object, allowed, where) {
  return Object.keys(object ?? {}).filter((k) => !allowed.has(k)).map((k) => `${where}.${k}`);
}

const manifests = JSON.parse(readFileSync(0, 'utf8'));
const problems = [];
let checked = 0;
for (const manifest of manifests.filter((m) => m.kind === 'ScaledObject')) {
  const name = `${manifest.metadata?.namespace}/${manifest.metadata?.name}`;
  try {
    new ScaledObject(manifest).validate();
  } catch (error) {
    problems.push(`${name}: ${error.message}`);
  }
  problems.push(...unknownKeys(manifest.spec, known.spec, `${name} spec`));
  problems.push(...unknownKeys(manifest.spec?.scaleTargetRef, known.scaleTargetRef, `${name} spec.scaleTargetRef`));
  for (const [i, trigger] of (manifest.spec?.triggers ?? []).entries()) {
    problems.push(...unknownKeys(trigger, known.trigger, `${name} spec.triggers[${i}]`));
  }
  checked += 1;
}
if (checked === 0) problems.push('no ScaledObject in the input');
if (problems.length) {
  console.error(`KEDA ScaledObject invalid:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`KEDA: ${checked} ScaledObject(s) valid against keda.sh/v1alpha1 (strict keys)`);
