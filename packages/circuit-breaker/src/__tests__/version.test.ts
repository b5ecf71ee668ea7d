import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { CIRCUIT_BREAKER_PACKAGE } from '../version.js';

it('reports the name and version of package.json to OpenTelemetry', () => {
  const manifest = JSON.parse(
    readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
  ) as {
    name: string;
    version: string;
  };
  expect(CIRCUIT_BREAKER_PACKAGE).toEqual({ name: manifest.name, version: manifest.version });
});
