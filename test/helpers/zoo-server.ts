/**
 * Serves a folder laid out like the ONNX Model Zoo over HTTP on 127.0.0.1 (random port, Range support), for
 * tests that pull through a mirror (`FINETUNE_ZOO_MIRROR` / `mirror`). Wraps src/registry/serve-mirror.ts.
 *
 *   const zoo = await startZooServer();            // serves ../shared/zoo
 *   process.env.FINETUNE_ZOO_MIRROR = zoo.url;     // or pass { mirror: zoo.url }
 *   ... zoo.requests ...; await zoo.close();
 */
import { serveMirror } from '../../src/registry/serve-mirror.js';
import type { MirrorRequest, MirrorServer } from '../../src/registry/serve-mirror.js';
import { zooDir } from './shared.js';

export type { MirrorRequest, MirrorServer };

/** Starts a mirror of `root` (default ../shared/zoo) on 127.0.0.1; returns `{ url, port, requests, close }`. */
export function startZooServer(root: string = zooDir): Promise<MirrorServer> {
  return serveMirror(root, { host: '127.0.0.1', port: 0 });
}
