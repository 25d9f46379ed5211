/**
 * The geometry conventions are listed in TypeScript (GEOMETRY_CONVENTIONS, which validates specs and --geometry) and
 * checked again in resample-kernels.js, which is plain JavaScript for the serve page and cannot import the list.
 * These tests fail when one list changes without the other.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { GEOMETRY_CONVENTIONS } from '../../src/image/preprocess-spec.js';
import { type GeometrySpec, resizeGeometry } from '../../src/image/resample-kernels.js';
import type { GeometryConvention } from '../../src/types.js';

// Compile-time: the list, the library's type and resample-kernels.d.ts's type name the same conventions
// (`npm run typecheck` fails otherwise).
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const listIsTheType: Same<(typeof GEOMETRY_CONVENTIONS)[number], GeometryConvention> = true;
const kernelsTypeIsTheType: Same<NonNullable<GeometrySpec['geometry']>, GeometryConvention> = true;

describe('geometry convention names', () => {
  it('resample-kernels.js checks exactly the names of GEOMETRY_CONVENTIONS', () => {
    const source = readFileSync(new URL('../../src/image/resample-kernels.js', import.meta.url), 'utf8');
    const check = source.split('\n').find((line) => line.includes('geometry !== '));
    assert.ok(check, 'resizeGeometry no longer checks geometry names with `geometry !== ...`: update this test');
    const checked = [...check.matchAll(/geometry !== '([^']+)'/g)].map((match) => match[1]);
    assert.deepEqual(checked.sort(), [...GEOMETRY_CONVENTIONS].sort());
    assert.ok(listIsTheType && kernelsTypeIsTheType);
  });

  it('resizeGeometry accepts every listed convention and rejects another name', () => {
    const spec = { resizeMode: 'shorter-side', resizeSize: 36, cropSize: 32 } as const;
    for (const geometry of GEOMETRY_CONVENTIONS) {
      const result = resizeGeometry(40, 50, { ...spec, geometry });
      assert.equal(result.cropSize, 32, geometry);
    }
    assert.throws(() => resizeGeometry(40, 50, { ...spec, geometry: 'pil' as GeometryConvention }), /unknown geometry pil/);
  });
});
