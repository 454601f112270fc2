import { describe, expect, test } from 'vitest';
import { kernelAtLeast } from './kernel-version.ts';

describe('kernelAtLeast', () => {
  test.each([
    ['6.1.0-56-cloud-amd64', '5.8', true],
    ['6.1.0-56-cloud-amd64', '6.1', true],
    ['6.1.0-56-cloud-amd64', '6.2', false],
    ['5.10.0-35-cloud-amd64', '5.8', true],
    ['5.10.0-35-cloud-amd64', '5.9', true],
    ['5.10.0-35-cloud-amd64', '5.11', false],
    ['4.19.0-27-cloud-amd64', '5.8', false],
    ['6.12.107+deb13-cloud-amd64', '6.12', true],
    ['6.12.107+deb13-cloud-amd64', '6.13', false],
    ['7.0.0-1-cloud-amd64', '6.12', true],
  ] as const)('%s ≥ %s: %s', (release, min, expected) => {
    expect(kernelAtLeast(release, min)).toBe(expected);
  });
});
