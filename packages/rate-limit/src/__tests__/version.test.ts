import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RATE_LIMIT_PACKAGE } from '../version.js';

describe('RATE_LIMIT_PACKAGE', () => {
  it('names the package and version OpenTelemetry reports, as package.json does', () => {
    const manifest = JSON.parse(
      readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
    ) as {
      name: string;
      version: string;
    };
    expect(RATE_LIMIT_PACKAGE).toEqual({ name: manifest.name, version: manifest.version });
  });
});
