/** The temp folder most pipeline tests start from: a seeded test backbone, a shapes dataset and a FINETUNE_HOME. */
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { buildVggBackbone } from '../../src/onnx/test-backbones.js';
import { writeModel } from '../../src/onnx/write-model.js';
import { makeShapesDataset } from '../../scripts/lib/make-shapes.js';

export interface ShapesWorkspace {
  /** The folder (made when the test file loads, removed after its tests). */
  readonly dir: string;
  /** `<dir>/backbone.onnx`: buildVggBackbone at 32 px with `backboneSeed`. */
  readonly backbonePath: string;
  /** `<dir>/shapes`: makeShapesDataset with `perClass` images of `size` px per class. */
  readonly data: string;
  /** `<dir>/home`, for FINETUNE_HOME / the library's `home` option. */
  readonly home: string;
  /** `{ FINETUNE_HOME: home }` for the CLI. */
  readonly env: NodeJS.ProcessEnv;
}

export interface ShapesWorkspaceOptions {
  readonly perClass: number;
  readonly size: number;
  readonly backboneSeed: number;
}

/**
 * Registers before()/after() hooks in the calling test file that write the backbone and dataset and remove the folder.
 * `addFiles` runs after they are written: a file's own top-level before() cannot be used for that, since Node 20 runs
 * the top-level before() hooks of a file concurrently.
 */
export function useShapesWorkspace(
  prefix: string, options: ShapesWorkspaceOptions, addFiles?: (workspace: ShapesWorkspace) => Promise<void>,
): ShapesWorkspace {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const workspace = {
    dir, backbonePath: join(dir, 'backbone.onnx'), data: join(dir, 'shapes'), home: join(dir, 'home'),
    env: { FINETUNE_HOME: join(dir, 'home') },
  };
  before(async () => {
    await writeModel(workspace.backbonePath, buildVggBackbone({ inputSize: 32, seed: options.backboneSeed }).model);
    await makeShapesDataset(workspace.data, { perClass: options.perClass, size: options.size });
    await addFiles?.(workspace);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  return workspace;
}
